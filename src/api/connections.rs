//! Open connections per client. `--max-connections` bounds them all; this bounds each client's
//! share, so that one client holding idle keep-alive connections cannot take every slot. The
//! client is the TCP peer; a trusted proxy speaks for many clients and is not capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::client::TrustedProxies;

/// Counts each client's open connections.
#[derive(Debug)]
pub struct ConnectionLimit {
    per_client: usize,
    proxies: TrustedProxies,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Held for as long as a connection is open (actix keeps it with the connection's data and
/// drops it when the connection closes).
#[derive(Debug)]
pub struct Admitted {
    limit: Arc<ConnectionLimit>,
    client: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

impl ConnectionLimit {
    pub fn new(per_client: usize, proxies: TrustedProxies) -> Arc<Self> {
        Arc::new(Self {
            per_client,
            proxies,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Admits one more connection from `client`, or says no (`None`) when it holds its share.
    /// Trusted proxies are always admitted, and not counted.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Option<Option<Admitted>> {
        let client = client.to_canonical();
        // 0: no cap.
        if self.per_client == 0 || self.proxies.trusts(client) {
            return Some(None);
        }
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(client).or_default();
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(Some(Admitted {
            limit: self.clone(),
            client,
        }))
    }

    /// For actix's `on_connect`: a connection beyond its client's share is shut down at once
    /// (the client sees it closed); an admitted one carries its [`Admitted`] until it closes.
    pub fn on_connect(
        self: &Arc<Self>,
        connection: &dyn std::any::Any,
        data: &mut actix_web::dev::Extensions,
    ) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        match self.admit(peer.ip()) {
            Some(Some(admitted)) => {
                data.insert(admitted);
            }
            Some(None) => {}
            None => {
                tracing::debug!(client = %peer.ip(), "connection refused: the client holds its share");
                let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_share_and_gets_it_back_on_close() {
        let limit = ConnectionLimit::new(2, TrustedProxies::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limit.admit(a).unwrap();
        let _second = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none(), "a third from the same client");
        assert!(limit.admit(b).is_some(), "another client is not affected");
        drop(first);
        assert!(
            limit.admit(a).is_some(),
            "a closed connection frees its slot"
        );
    }

    #[test]
    fn trusted_proxies_speak_for_many_and_are_not_capped() {
        let proxies = TrustedProxies::new(&["127.0.0.1".parse().unwrap()]);
        let limit = ConnectionLimit::new(1, proxies);
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..5).map(|_| limit.admit(proxy)).collect();
        assert!(held.iter().all(Option::is_some));
    }
}
