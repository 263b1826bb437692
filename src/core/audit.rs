//! The audit trail: every token issued and every token request refused, with who asked, from
//! where and why; never a secret. Events are buffered and written in batches, off the request path.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// Who is asking, as far as the transport can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The dialect the request came in through (`volubile`, `origoid`, ...).
    pub dialect: &'static str,
    pub client_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Issued,
    Refused,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Refused => "refused",
        }
    }
}

impl FromStr for Outcome {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "issued" => Ok(Outcome::Issued),
            "refused" => Ok(Outcome::Refused),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub dialect: String,
    pub outcome: Outcome,
    /// Why a request was refused (`invalid_credentials`, `rate_limited`, ...); `None` if issued.
    pub reason: Option<String>,
    pub account: Option<String>,
    /// The key presented, when it could be read (the public id, never the key).
    pub key_id: Option<String>,
    pub scopes: Option<String>,
    pub jti: Option<String>,
    pub client_ip: Option<String>,
}

/// Which events to read back.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub account: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// `--since` takes an RFC 3339 time or an age such as `15m`, `2h`, `7d`.
pub fn parse_since(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let invalid = || format!("{raw:?} is neither an RFC 3339 time nor an age like 15m, 2h or 7d");
    let (count, unit) = raw.split_at(raw.len().saturating_sub(1));
    let count: i64 = count.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    Ok(now - chrono::Duration::seconds(count.saturating_mul(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(parse_since("2h", now), Ok(now - chrono::Duration::hours(2)));
        assert_eq!(parse_since("7d", now), Ok(now - chrono::Duration::days(7)));
        assert_eq!(
            parse_since("2027-01-15T08:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2027-01-15T08:00:00+00:00"
        );
        for bad in ["", "h", "2x", "yesterday"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
