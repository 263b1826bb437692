//! The audit trail: every token issued, every token request refused and every token revoked,
//! every change an administrator made, with who asked, from where and why; never a secret.
//! Token events are buffered and written in batches, off the request path.
//!
//! A batch is stored as one row holding a JSON array of events, each a positional array
//! `[at_micros, dialect, outcome, reason, account, key_id, scopes, jti, client_ip]`, with a
//! tenth member `count` when the event stands for several refusals or is followed by an
//! eleventh, `actor`, the admin key that made a change: one row write per second of traffic
//! instead of one per token (measured: a row per event cost several microseconds of database
//! time per token, more than issuing it).
//!
//! Refusals at a limit (429s) are not written one by one, or a client would grow the trail at
//! the rate it sends: the first of each client's window is written as it happens, the rest as
//! one event carrying their `count` when the window ends ([`RefusalDigest`]).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use super::apikey::KeyId;
use super::scope::{Catalogue, ScopeSet};
use chrono::{DateTime, Utc};

/// Who is asking, as far as the transport can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The dialect the request came in through (its registry name).
    pub dialect: &'static str,
    pub client_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Issued,
    Refused,
    /// A token (its `jti`) revoked before its expiry, by its own account or an administrator.
    Revoked,
    /// An account created with its keys (the administrator's change, as all below).
    AccountCreated,
    /// An account's API key (`key_id`) revoked.
    KeyRevoked,
    /// A slot's key replaced by a new one (`key_id`).
    KeyRotated,
    /// An admin key (`key_id`) created.
    AdminKeyCreated,
    /// An admin key (`key_id`) revoked.
    AdminKeyRevoked,
    /// A signing key made (its algorithm and `kid` in `reason`).
    SigningKeyRotated,
    /// An account's settings changed (`reason` lists the changes, `scopes` the new scopes).
    AccountUpdated,
    /// An account deleted (its keys' revocations are recorded beside it).
    AccountDeleted,
}

impl Outcome {
    const ALL: [Outcome; 11] = [
        Outcome::Issued,
        Outcome::Refused,
        Outcome::Revoked,
        Outcome::AccountCreated,
        Outcome::KeyRevoked,
        Outcome::KeyRotated,
        Outcome::AdminKeyCreated,
        Outcome::AdminKeyRevoked,
        Outcome::SigningKeyRotated,
        Outcome::AccountUpdated,
        Outcome::AccountDeleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Refused => "refused",
            Outcome::Revoked => "revoked",
            Outcome::AccountCreated => "account_created",
            Outcome::KeyRevoked => "key_revoked",
            Outcome::KeyRotated => "key_rotated",
            Outcome::AdminKeyCreated => "admin_key_created",
            Outcome::AdminKeyRevoked => "admin_key_revoked",
            Outcome::SigningKeyRotated => "signing_key_rotated",
            Outcome::AccountUpdated => "account_updated",
            Outcome::AccountDeleted => "account_deleted",
        }
    }
}

impl Outcome {
    /// Every outcome, in the order the trail's documents list them.
    pub fn all() -> impl Iterator<Item = Outcome> {
        Outcome::ALL.into_iter()
    }
}

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, UnknownOutcome> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == s)
            .ok_or(UnknownOutcome)
    }
}

/// A name that is none of [`Outcome::all`]'s; the message lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownOutcome;

impl fmt::Display for UnknownOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an outcome; one of:")?;
        for outcome in Outcome::ALL {
            write!(f, " {outcome}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownOutcome {}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the trail. Building one on the request path allocates nothing but the
/// account's reference count. `Scopes` is how it holds the token's scopes: a set while it is
/// recorded, the names as written once read back ([`StoredEvent`]), so that the trail keeps
/// names the catalogue has dropped since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent<Scopes = ScopeSet> {
    pub at: DateTime<Utc>,
    /// The dialect's registry name: static when recorded, owned when read back.
    pub dialect: Cow<'static, str>,
    pub outcome: Outcome,
    /// Why a request was refused (`invalid_credentials`, `rate_limited`, ...); `None` if issued.
    pub reason: Option<Cow<'static, str>>,
    pub account: Option<Arc<str>>,
    /// The key presented, when it could be read (the public id, never the key).
    pub key_id: Option<KeyId>,
    pub scopes: Option<Scopes>,
    pub jti: Option<uuid::Uuid>,
    pub client_ip: Option<IpAddr>,
    /// How many requests the event stands for: 1, or more for a summary of refusals at a limit.
    pub count: u32,
    /// The admin key that made a change, or was refused one; `None` for token requests and for
    /// the operator's command line (its `dialect` is `cli`).
    pub actor: Option<KeyId>,
}

/// An event as read back from the trail: its scopes are the names written then, space-separated.
pub type StoredEvent = AuditEvent<String>;

impl AuditEvent {
    /// The event as it reads back once written with `scopes`.
    pub fn stored(&self, scopes: &Catalogue) -> StoredEvent {
        AuditEvent {
            at: self.at,
            dialect: self.dialect.clone(),
            outcome: self.outcome,
            reason: self.reason.clone(),
            account: self.account.clone(),
            key_id: self.key_id,
            scopes: self.scopes.map(|set| scopes.display(set).to_string()),
            jti: self.jti,
            client_ip: self.client_ip,
            count: self.count,
            actor: self.actor,
        }
    }
}

/// Appends one event as a positional JSON array, its scopes named by `scopes`.
fn write_row(out: &mut Vec<u8>, e: &AuditEvent, scopes: &Catalogue) {
    let mut row = super::json::Writer::array(out);
    row.integer(e.at.timestamp_micros());
    row.plain(&e.dialect);
    row.plain(e.outcome.as_str());
    match &e.reason {
        Some(reason) => row.plain(reason),
        None => row.null(),
    };
    match &e.account {
        Some(account) => row.string(account),
        None => row.null(),
    };
    match &e.key_id {
        Some(id) => row.plain(id.as_str()),
        None => row.null(),
    };
    match &e.scopes {
        Some(set) => row.words(scopes.names_of(*set)),
        None => row.null(),
    };
    match &e.jti {
        Some(jti) => row.uuid(jti),
        None => row.null(),
    };
    match &e.client_ip {
        Some(ip) => row.ip(ip),
        None => row.null(),
    };
    if e.count != 1 || e.actor.is_some() {
        row.integer(i64::from(e.count));
    }
    if let Some(actor) = &e.actor {
        row.plain(actor.as_str());
    }
    row.close_array();
}

/// A stored row as read back, before its fields are checked; rows written before summaries
/// existed have no `count`, rows of token requests no `actor`.
#[derive(serde::Deserialize)]
struct RawRow(
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    #[serde(default = "one")] u32,
    #[serde(default)] Option<String>,
);

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable audit batch: {0}")]
pub struct CorruptBatch(String);

/// Events written in one go: their stored form, a JSON array oldest first, and the newest
/// event's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBatch {
    pub events: String,
    pub count: usize,
    /// Its oldest event's time: a listing resumed before it need not read the batch.
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// The stored form of some events, their scopes named by `scopes`.
pub fn encode_batch<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
    scopes: &Arc<Catalogue>,
) -> AuditBatch {
    let mut buffer = AuditBuffer::new(usize::MAX, scopes.clone());
    for event in events {
        buffer.record(event);
    }
    buffer.take().pop_front().unwrap_or_else(|| AuditBatch {
        events: "[]".to_owned(),
        count: 0,
        first_at: DateTime::UNIX_EPOCH,
        last_at: DateTime::UNIX_EPOCH,
    })
}

/// Events per stored row: a row is written in one step of the database's thread, and a step
/// this size (some 30 KiB) holds up requests sharing its core for well under a millisecond.
pub const MAX_BATCH_EVENTS: usize = 256;

/// Events waiting to be written, already in their stored form: encoding on the request path
/// costs a fraction of a microsecond, and leaves the writer nothing to do but write, in short
/// bursts that do not hold up requests sharing its core.
pub struct AuditBuffer {
    /// The batch being filled: `[` and the events so far, comma-separated, unclosed.
    open: Vec<u8>,
    count: usize,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// Batches the store has not taken yet (it was unreachable), oldest first.
    waiting: std::collections::VecDeque<AuditBatch>,
    /// Their size.
    waiting_bytes: usize,
    /// Beyond this many bytes waiting, the oldest batches are dropped (and said so), whatever
    /// keeps the store from taking them: refused, slow or blocked writes alike.
    max_bytes: usize,
    dropped: usize,
    /// Batches filled to [`MAX_BATCH_EVENTS`] since the last [`take`](Self::take).
    filled: usize,
    /// Names the events' scopes.
    scopes: Arc<Catalogue>,
}

/// Debug shows the counts, not megabytes of events.
impl std::fmt::Debug for AuditBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditBuffer")
            .field("open_events", &self.count)
            .field("waiting_batches", &self.waiting.len())
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl AuditBuffer {
    /// A buffer keeping at most `max_bytes` of events waiting, their scopes named by `scopes`.
    pub fn new(max_bytes: usize, scopes: Arc<Catalogue>) -> Self {
        Self {
            open: Vec::new(),
            count: 0,
            first_at: DateTime::<Utc>::MAX_UTC,
            last_at: DateTime::UNIX_EPOCH,
            waiting: Default::default(),
            waiting_bytes: 0,
            max_bytes,
            dropped: 0,
            filled: 0,
            scopes,
        }
    }

    pub fn record(&mut self, event: &AuditEvent) {
        self.open.push(if self.count == 0 { b'[' } else { b',' });
        write_row(&mut self.open, event, &self.scopes);
        self.count += 1;
        self.first_at = self.first_at.min(event.at);
        self.last_at = self.last_at.max(event.at);
        if self.count >= MAX_BATCH_EVENTS {
            self.seal();
            self.filled += 1;
        }
    }

    /// Whether a batch has filled up since the last [`take`](Self::take): worth writing before
    /// the next regular flush, so that under load each write stays short. Batches put back
    /// after a failed write do not count (they wait for the regular flush).
    pub fn has_full_batch(&self) -> bool {
        self.filled > 0
    }

    fn seal(&mut self) {
        if self.count > 0 {
            let mut events = std::mem::take(&mut self.open);
            events.push(b']');
            self.waiting_bytes += events.len();
            self.waiting.push_back(AuditBatch {
                // Only JSON text is ever written: strings come whole from serde_json or `plain`.
                events: String::from_utf8(events).unwrap_or_default(),
                count: std::mem::take(&mut self.count),
                first_at: std::mem::replace(&mut self.first_at, DateTime::<Utc>::MAX_UTC),
                last_at: std::mem::replace(&mut self.last_at, DateTime::UNIX_EPOCH),
            });
            self.shed();
        }
    }

    /// Drops the oldest batches beyond the byte limit.
    fn shed(&mut self) {
        while self.waiting_bytes > self.max_bytes {
            let Some(oldest) = self.waiting.pop_front() else {
                break;
            };
            self.waiting_bytes -= oldest.events.len();
            self.dropped += oldest.count;
        }
    }

    /// Everything waiting, oldest first, the open batch closed.
    pub fn take(&mut self) -> std::collections::VecDeque<AuditBatch> {
        self.seal();
        self.filled = 0;
        self.waiting_bytes = 0;
        std::mem::take(&mut self.waiting)
    }

    /// Puts back batches the store refused, ahead of newer ones, dropping the oldest beyond
    /// the byte limit. Returns how many events have been dropped so far.
    pub fn put_back(&mut self, mut batches: std::collections::VecDeque<AuditBatch>) -> usize {
        batches.append(&mut self.waiting);
        self.waiting = batches;
        self.waiting_bytes = self.waiting.iter().map(|b| b.events.len()).sum();
        self.shed();
        self.dropped
    }

    /// Events dropped so far for want of room.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Events waiting to be written, the open batch included.
    pub fn pending(&self) -> usize {
        self.count + self.waiting.iter().map(|b| b.count).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.waiting.is_empty()
    }
}

/// Reads a stored batch back, oldest first.
pub fn decode_batch(text: &str) -> Result<Vec<StoredEvent>, CorruptBatch> {
    let rows: Vec<RawRow> =
        serde_json::from_str(text).map_err(|err| CorruptBatch(err.to_string()))?;
    rows.into_iter().map(decode_row).collect()
}

fn decode_row(row: RawRow) -> Result<StoredEvent, CorruptBatch> {
    let RawRow(at, dialect, outcome, reason, account, key_id, scopes, jti, client_ip, count, actor) =
        row;
    let bad = |what: &str| CorruptBatch(what.to_owned());
    Ok(AuditEvent {
        at: DateTime::from_timestamp_micros(at).ok_or_else(|| bad("time"))?,
        dialect: Cow::Owned(dialect),
        outcome: outcome.parse().map_err(|_| bad("outcome"))?,
        reason: reason.map(Cow::Owned),
        account: account.map(Arc::from),
        key_id: key_id
            .map(|id| id.parse().map_err(|_| bad("key id")))
            .transpose()?,
        scopes,
        jti: jti.map(|j| j.parse().map_err(|_| bad("jti"))).transpose()?,
        client_ip: client_ip
            .map(|ip| ip.parse().map_err(|_| bad("client ip")))
            .transpose()?,
        count,
        actor: actor
            .map(|id| id.parse().map_err(|_| bad("actor")))
            .transpose()?,
    })
}

/// Who a refusal at a limit is summarised for: the limit, the client address, the account.
type DigestKey = (Cow<'static, str>, Option<IpAddr>, Option<Arc<str>>);

/// Refusals at a limit, summarised per client and window: the first is recorded as it
/// happens, the rest counted and recorded as one event (with their `count`) once the window
/// has passed.
#[derive(Debug, Default)]
pub struct RefusalDigest {
    open: std::collections::HashMap<DigestKey, Summary>,
    /// Closed windows are looked for at most once a second: the map may be large.
    next_scan: Option<DateTime<Utc>>,
    /// Summaries of windows found closed by a later refusal, not yet handed over.
    due: Vec<AuditEvent>,
}

#[derive(Debug)]
struct Summary {
    closes_at: DateTime<Utc>,
    /// The latest refusal held back, with how many it stands for.
    held: Option<AuditEvent>,
}

/// Clients summarised at once, at most: beyond it, refusals are recorded one by one again
/// rather than letting a flood of addresses grow the digest.
const MAX_DIGESTED_CLIENTS: usize = 100_000;

impl RefusalDigest {
    /// Whether `event`, a refusal at a limit with this `window`, should be recorded now; if
    /// not, it is held in its client's summary.
    pub fn admit(&mut self, event: &AuditEvent, window: chrono::Duration) -> bool {
        let key = (
            event.reason.clone().unwrap_or_default(),
            event.client_ip,
            event.account.clone(),
        );
        if let Some(summary) = self.open.get_mut(&key) {
            if event.at < summary.closes_at {
                let count = summary.held.as_ref().map_or(0, |held| held.count);
                summary.held = Some(AuditEvent {
                    count: count.saturating_add(event.count),
                    ..event.clone()
                });
                return false;
            }
            // That window has passed: its summary is due, and this refusal opens the next.
            self.due.extend(summary.held.take());
            summary.closes_at = event.at + window;
            return true;
        }
        if self.open.len() < MAX_DIGESTED_CLIENTS {
            let summary = Summary {
                closes_at: event.at + window,
                held: None,
            };
            self.open.insert(key, summary);
        }
        true
    }

    /// The summaries of windows that have passed by `now`, to be recorded.
    pub fn closed(&mut self, now: DateTime<Utc>) -> Vec<AuditEvent> {
        let mut closed = std::mem::take(&mut self.due);
        if self.open.is_empty() || self.next_scan.is_some_and(|at| now < at) {
            return closed;
        }
        self.next_scan = Some(now + chrono::Duration::seconds(1));
        self.open.retain(|_, summary| {
            if summary.closes_at > now {
                return true;
            }
            closed.extend(summary.held.take());
            false
        });
        closed
    }

    /// Every summary still open, at shutdown.
    pub fn drain(&mut self) -> Vec<AuditEvent> {
        let mut all = std::mem::take(&mut self.due);
        all.extend(self.open.drain().filter_map(|(_, summary)| summary.held));
        all
    }
}

/// Which events to read back.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub account: Option<String>,
    pub outcome: Option<Outcome>,
    pub since: Option<DateTime<Utc>>,
    /// Only events listed after this one (older in listing order); from the newest if `None`.
    pub before: Option<AuditPosition>,
    pub limit: u32,
}

/// Where an event stands in the trail, in the order listings read it, greatest (newest)
/// first: its time, then the row it was written in, then its place in that row. Rows written
/// later never move an event already listed, so a listing resumed from a position neither
/// repeats nor skips what was there when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditPosition {
    pub at_micros: i64,
    pub row: i64,
    pub index: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor of the audit trail: pass next_cursor back as it came")]
pub struct InvalidPosition;

/// The positions [`AuditPosition`] reads back from its text, as a regular expression.
pub const POSITION_PATTERN: &str = "^[0-9]{1,18}-[0-9]{1,18}-[0-9]{1,9}$";

impl FromStr for AuditPosition {
    type Err = InvalidPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('-');
        // As POSITION_PATTERN says: digits only, few enough to fit.
        let mut next = |most: usize| {
            parts
                .next()
                .filter(|part| {
                    (1..=most).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
                })
                .ok_or(InvalidPosition)
        };
        let position = AuditPosition {
            at_micros: next(18)?.parse().map_err(|_| InvalidPosition)?,
            row: next(18)?.parse().map_err(|_| InvalidPosition)?,
            index: next(9)?.parse().map_err(|_| InvalidPosition)?,
        };
        match parts.next() {
            None => Ok(position),
            Some(_) => Err(InvalidPosition),
        }
    }
}

impl fmt::Display for AuditPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.at_micros, self.row, self.index)
    }
}

/// An event read back, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub position: AuditPosition,
    pub event: StoredEvent,
}

/// The ages [`parse_since`] takes (up to some 2,700 years), as a regular expression.
pub const AGE_PATTERN: &str = "^[0-9]{1,6}[smhd]$";

/// `--since` takes an RFC 3339 time or an age such as `15m`, `2h`, `7d`.
pub fn parse_since(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let invalid = || format!("{raw:?} is neither an RFC 3339 time nor an age like 15m, 2h or 7d");
    // The last character, whatever its width: a byte index could fall inside it.
    let (count, unit) = match raw.char_indices().next_back() {
        Some((last, _)) => raw.split_at(last),
        None => return Err(invalid()),
    };
    // As AGE_PATTERN says: no sign, at most six digits.
    if !(1..=6).contains(&count.len()) || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let count: i64 = count.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    count
        .checked_mul(seconds)
        .and_then(chrono::Duration::try_seconds)
        .and_then(|age| now.checked_sub_signed(age))
        .ok_or_else(|| format!("{raw:?} reaches back further than time goes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> Arc<Catalogue> {
        Arc::new(Catalogue::example())
    }

    fn stored(events: &[AuditEvent]) -> Vec<StoredEvent> {
        events.iter().map(|e| e.stored(&scopes())).collect()
    }

    fn event(outcome: Outcome) -> AuditEvent {
        AuditEvent {
            at: DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap(),
            dialect: Cow::Borrowed("volubile"),
            outcome,
            reason: (outcome == Outcome::Refused).then_some(Cow::Borrowed("rate_limited")),
            account: Some(Arc::from("acme")),
            key_id: Some("AbCdEfGhIjK".parse().unwrap()),
            scopes: Some(scopes().all()),
            jti: Some(uuid::Uuid::from_u128(7)),
            client_ip: Some("2001:db8::1".parse().unwrap()),
            count: 1,
            actor: None,
        }
    }

    #[test]
    fn a_batch_reads_back_as_it_was_written() {
        let revoked = AuditEvent {
            scopes: None,
            ..event(Outcome::Revoked)
        };
        let events = vec![event(Outcome::Issued), event(Outcome::Refused), revoked];
        let written = encode_batch(&events, &scopes()).events;
        assert_eq!(decode_batch(&written).unwrap(), stored(&events));
        assert!(
            written.starts_with(
                r#"[[1800000000123456,"volubile","issued",null,"acme","AbCdEfGhIjK","calls:read calls:write "#
            )
        );
    }

    #[test]
    fn a_summary_keeps_its_count_and_old_rows_read_as_one_each() {
        let summary = AuditEvent {
            count: 41,
            ..event(Outcome::Refused)
        };
        let written = encode_batch([&summary], &scopes()).events;
        assert!(written.ends_with(",41]]"), "{written}");
        assert_eq!(decode_batch(&written).unwrap(), stored(&[summary]));
        let old = r#"[[1,"volubile","issued",null,null,null,null,null,null]]"#;
        assert_eq!(decode_batch(old).unwrap()[0].count, 1);
    }

    #[test]
    fn refusals_at_a_limit_are_one_event_then_one_summary_per_window() {
        let mut digest = RefusalDigest::default();
        let window = chrono::Duration::seconds(60);
        let first = event(Outcome::Refused);
        let later = |secs| AuditEvent {
            at: first.at + chrono::Duration::seconds(secs),
            ..first.clone()
        };
        assert!(digest.admit(&first, window));
        for secs in 1..=10 {
            assert!(!digest.admit(&later(secs), window));
        }
        assert!(digest.closed(later(59).at).is_empty(), "the window is open");
        let closed = digest.closed(later(60).at);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].count, closed[0].at), (10, later(10).at));
        // Another client is summarised apart; the next window starts afresh.
        let elsewhere = AuditEvent {
            client_ip: Some("192.0.2.1".parse().unwrap()),
            ..later(61)
        };
        assert!(digest.admit(&elsewhere, window));
        assert!(digest.admit(&later(61), window));
        assert!(!digest.admit(&later(62), window));
        // A refusal after that window, before anyone asked: the summary is due, not lost.
        assert!(digest.admit(&later(130), window));
        let closed = digest.closed(later(131).at);
        assert_eq!(closed.iter().map(|e| e.count).collect::<Vec<_>>(), [1]);
        assert!(
            digest.closed(later(500).at).is_empty(),
            "nothing else was held back"
        );
    }

    #[test]
    fn an_administrators_change_names_its_actor_and_reads_back() {
        let created = AuditEvent {
            dialect: Cow::Borrowed("admin"),
            outcome: Outcome::AccountCreated,
            reason: None,
            jti: None,
            actor: Some("ZyXwVuTsRqP".parse().unwrap()),
            ..event(Outcome::Issued)
        };
        let written = encode_batch([&created], &scopes()).events;
        assert!(
            written.ends_with(r#","2001:db8::1",1,"ZyXwVuTsRqP"]]"#),
            "{written}"
        );
        assert_eq!(decode_batch(&written).unwrap(), stored(&[created]));
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse(), Ok(outcome));
        }
    }

    #[test]
    fn an_event_with_nothing_known_reads_back_too() {
        let bare = AuditEvent {
            account: None,
            key_id: None,
            scopes: None,
            jti: None,
            client_ip: None,
            ..event(Outcome::Refused)
        };
        assert_eq!(
            decode_batch(&encode_batch([&bare], &scopes()).events).unwrap(),
            stored(&[bare])
        );
        assert_eq!(decode_batch("[]").unwrap(), vec![]);
    }

    #[test]
    fn a_buffer_hands_over_what_it_holds_once() {
        let mut buffer = AuditBuffer::new(usize::MAX, scopes());
        assert!(buffer.take().is_empty());
        buffer.record(&event(Outcome::Issued));
        buffer.record(&event(Outcome::Refused));
        let batches = buffer.take();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].count, 2);
        assert_eq!(batches[0].last_at, event(Outcome::Issued).at);
        assert_eq!(decode_batch(&batches[0].events).unwrap().len(), 2);
        assert!(buffer.is_empty());
        assert!(buffer.take().is_empty());
    }

    #[test]
    fn batches_are_cut_at_their_size_limit() {
        let mut buffer = AuditBuffer::new(usize::MAX, scopes());
        for _ in 0..MAX_BATCH_EVENTS + 1 {
            buffer.record(&event(Outcome::Issued));
        }
        let counts: Vec<_> = buffer.take().iter().map(|b| b.count).collect();
        assert_eq!(counts, [MAX_BATCH_EVENTS, 1]);
    }

    #[test]
    fn a_full_batch_asks_to_be_written_early_but_a_refused_one_does_not() {
        let mut buffer = AuditBuffer::new(usize::MAX, scopes());
        for _ in 0..MAX_BATCH_EVENTS - 1 {
            buffer.record(&event(Outcome::Issued));
        }
        assert!(!buffer.has_full_batch());
        buffer.record(&event(Outcome::Issued));
        assert!(buffer.has_full_batch());
        let refused = buffer.take();
        assert!(!buffer.has_full_batch());
        buffer.put_back(refused);
        assert!(
            !buffer.has_full_batch(),
            "a failing store is retried at the regular pace"
        );
    }

    #[test]
    fn refused_batches_go_back_ahead_of_newer_ones_and_the_oldest_drop_beyond_the_limit() {
        let one_batch = encode_batch([&event(Outcome::Issued)], &scopes())
            .events
            .len();
        // Room for two batches (a refusal, with its reason, is a little longer).
        let mut buffer = AuditBuffer::new(2 * one_batch + 50, scopes());
        let mut refused = std::collections::VecDeque::new();
        for _ in 0..3 {
            buffer.record(&event(Outcome::Issued));
            refused.extend(buffer.take());
        }
        buffer.record(&event(Outcome::Refused));
        let newer = buffer.take();
        assert_eq!(buffer.put_back(newer), 0);
        assert_eq!(buffer.put_back(refused), 2, "two batches over the limit");
        let kept = buffer.take();
        assert_eq!(kept.len(), 2);
        let last = decode_batch(&kept[1].events).unwrap();
        assert_eq!(
            last[0].outcome,
            Outcome::Refused,
            "the newest batch is last"
        );
    }

    #[test]
    fn the_buffer_stays_bounded_even_when_nothing_is_ever_put_back() {
        // A write that never returns: batches are taken by nobody, and new ones keep coming.
        let one_batch = {
            let mut probe = AuditBuffer::new(usize::MAX, scopes());
            for _ in 0..MAX_BATCH_EVENTS {
                probe.record(&event(Outcome::Issued));
            }
            probe.take()[0].events.len()
        };
        let mut buffer = AuditBuffer::new(3 * one_batch, scopes());
        for _ in 0..10 * MAX_BATCH_EVENTS {
            buffer.record(&event(Outcome::Issued));
        }
        assert_eq!(buffer.pending(), 3 * MAX_BATCH_EVENTS);
        assert_eq!(buffer.dropped(), 7 * MAX_BATCH_EVENTS);
    }

    #[test]
    fn a_damaged_batch_is_reported_not_guessed() {
        for bad in [
            "",
            "{}",
            r#"[[1,"volubile","maybe",null,null,null,null,null,null]]"#,
            r#"[[1,"volubile","issued",null,null,"short",null,null,null]]"#,
            r#"[[1,"volubile","issued",null,null,null,7,null,null]]"#,
        ] {
            assert!(decode_batch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_names_read_back_as_written_whatever_the_catalogue_says_now() {
        let reports = Arc::new(Catalogue::new(["reports:read", "reports:export"]).unwrap());
        let issued = AuditEvent {
            scopes: Some(reports.parse_set("reports:export").unwrap()),
            ..event(Outcome::Issued)
        };
        let read = decode_batch(&encode_batch([&issued], &reports).events).unwrap();
        assert_eq!(read[0].scopes.as_deref(), Some("reports:export"));
    }

    #[test]
    fn a_position_reads_back_as_written_and_orders_newest_greatest() {
        let position = AuditPosition {
            at_micros: 1_800_000_000_123_456,
            row: 42,
            index: 7,
        };
        assert_eq!(position.to_string(), "1800000000123456-42-7");
        assert_eq!(position.to_string().parse(), Ok(position));
        let same_time_later_row = AuditPosition {
            row: 43,
            index: 0,
            ..position
        };
        assert!(same_time_later_row > position);
        for bad in [
            "",
            "1-2",
            "1-2-3-4",
            "-1-2-3",
            "1--3",
            "a-b-c",
            "1-2-9999999999",
            "+1-2-3",
            "1234567890123456789-2-3",
            "1 -2-3",
        ] {
            assert!(bad.parse::<AuditPosition>().is_err(), "{bad:?}");
        }
    }

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
        for bad in [
            "",
            "h",
            "2x",
            "yesterday",
            "99999999999999d",
            "9223372036854775807s",
            "1234567s",
            "\u{80}",
            "1\u{e9}",
            "-1h",
            "+1h",
        ] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
