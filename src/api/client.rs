//! Who the client is. Only the TCP peer is known for sure; behind a gateway the peer is the
//! gateway, and the client is the address the gateway vouches for in `X-Forwarded-For`. That
//! header is read only when the peer is a configured trusted proxy, as nginx's realip module and
//! Traefik's `forwardedHeaders.trustedIPs` do: anyone else could write anything in it.

use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderName, HeaderValue};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// One `--trusted-proxies` entry: a CIDR block, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(IpNet);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a trusted proxy is an address or a CIDR block, such as 10.0.0.0/8 or ::1")]
pub struct BadProxyNet;

impl FromStr for ProxyNet {
    type Err = BadProxyNet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(|net| ProxyNet(net.trunc()))
            .map_err(|_| BadProxyNet)
    }
}

/// The proxies whose forwarded headers are believed; none by default.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: &[ProxyNet]) -> Self {
        Self(nets.iter().map(|net| net.0).collect())
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the request came straight from a trusted proxy, whose forwarded headers may
    /// then be read.
    pub fn peer_is_trusted(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|peer| self.trusts(peer.ip()))
    }

    /// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
    /// rightmost `X-Forwarded-For` address that is not itself a trusted proxy (each proxy
    /// appends the address it saw, so everything left of that could be the client's invention).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let mut client = req.peer_addr()?.ip().to_canonical();
        if !self.trusts(client) {
            return Some(client);
        }
        let values: Vec<&HeaderValue> = req.headers().get_all(X_FORWARDED_FOR).collect();
        // Split as bytes: a client could put a byte that is not ASCII in its own part, and the
        // address the proxy appended after it must still be read.
        for hop in values
            .iter()
            .rev()
            .flat_map(|value| value.as_bytes().rsplit(|b| *b == b','))
        {
            match std::str::from_utf8(hop).ok().and_then(parse_hop) {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return Some(ip),
                // Unreadable: stop at the last proxy that could be believed.
                None => return Some(client),
            }
        }
        Some(client)
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1` or `[2001:db8::1]:567`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        let nets: Vec<ProxyNet> = list.iter().map(|s| s.parse().unwrap()).collect();
        TrustedProxies::new(&nets)
    }

    fn request(peer: &str, forwarded: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        for value in forwarded {
            req = req.append_header((X_FORWARDED_FOR, *value));
        }
        req.to_http_request()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_client_is_the_peer_whatever_it_claims() {
        let req = request("203.0.113.9:4000", &["198.51.100.1"]);
        assert_eq!(TrustedProxies::default().client_ip(&req), ip("203.0.113.9"));
    }

    #[test]
    fn an_untrusted_peer_cannot_speak_for_others() {
        let req = request("203.0.113.9:4000", &["198.51.100.1"]);
        assert_eq!(proxies(&["10.0.0.0/8"]).client_ip(&req), ip("203.0.113.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_address_it_appended() {
        // The client wrote 1.1.1.1 itself; nginx appended what it saw, 198.51.100.7.
        let req = request("127.0.0.1:5000", &["1.1.1.1, 198.51.100.7"]);
        assert_eq!(proxies(&["127.0.0.1"]).client_ip(&req), ip("198.51.100.7"));
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right_across_repeated_headers() {
        let req = request("10.0.0.2:5000", &["1.1.1.1, 198.51.100.7", "10.0.0.1"]);
        assert_eq!(proxies(&["10.0.0.0/8"]).client_ip(&req), ip("198.51.100.7"));
    }

    #[test]
    fn a_client_cannot_hide_the_appended_address_behind_a_byte_that_is_not_ascii() {
        let value = HeaderValue::from_bytes(b"\xff, 198.51.100.7").unwrap();
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .append_header((X_FORWARDED_FOR, value))
            .to_http_request();
        assert_eq!(proxies(&["127.0.0.1"]).client_ip(&req), ip("198.51.100.7"));
    }

    #[test]
    fn a_trusted_proxy_that_forwards_nothing_is_the_client() {
        let req = request("127.0.0.1:5000", &[]);
        assert_eq!(proxies(&["127.0.0.1"]).client_ip(&req), ip("127.0.0.1"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_believable_address() {
        let req = request("127.0.0.1:5000", &["not-an-address"]);
        assert_eq!(proxies(&["127.0.0.1"]).client_ip(&req), ip("127.0.0.1"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_read() {
        let req = request("[::ffff:127.0.0.1]:5000", &["[2001:db8::5]:443"]);
        assert_eq!(proxies(&["127.0.0.1"]).client_ip(&req), ip("2001:db8::5"));
        let req = request("127.0.0.1:5000", &["198.51.100.7:1234"]);
        assert_eq!(proxies(&["127.0.0.1"]).client_ip(&req), ip("198.51.100.7"));
    }

    #[test]
    fn proxy_entries_are_addresses_or_blocks() {
        assert!("10.0.0.0/8".parse::<ProxyNet>().is_ok());
        assert!("::1".parse::<ProxyNet>().is_ok());
        assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
        assert!("nginx".parse::<ProxyNet>().is_err());
    }
}
