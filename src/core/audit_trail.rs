//! The audit trail as the service keeps it: events buffered off the request path, refusals at a
//! limit summarised per client and window, written in bounded chunks by the bookkeeping task,
//! kept for the retention period. With durable audit (`--audit durable`), a token's event is
//! committed before its request is answered: every request waiting when a batch is written is
//! released by that one commit (group commit).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::apikey::KeyId;
use super::audit::{AuditBatch, AuditBuffer, AuditEvent, Caller, Outcome, RefusalDigest};
use super::clock::Clock;
use super::error::CoreError;
use super::observer::Observer;
use super::scope::Catalogue;
use super::store::{KeyStore, StoreError};

/// A prune may take this many write deadlines before it stops for the minute.
const PRUNE_DEADLINE_FACTOR: u32 = 4;

/// Audit batches written per transaction (some 4,000 events): each write stays well inside
/// its deadline even on a slow database, and a backlog drains a chunk at a time.
const AUDIT_BATCHES_PER_WRITE: usize = 16;

/// Refusals during a store outage are summarised per client over this window.
const OUTAGE_SUMMARY_WINDOW: chrono::Duration = chrono::Duration::seconds(10);

/// Audit events kept while the database cannot take them: some 100,000 events.
const MAX_PENDING_AUDIT_BYTES: usize = 16 << 20;

/// A request waiting for its event's commit gives up after this many write deadlines, in case
/// the writer is gone: a write takes at most two (its budget, and the chunk under way when that
/// runs out), and one may wait behind a buffered flush and the commit under way.
const COMMIT_WAIT_DEADLINES: u32 = 6;

/// How many times the writer lets other requests run before it takes a batch, while it grows.
const GATHER_YIELDS: u32 = 4;

/// What became of a batch of events whose requests wait for it: `None` while it is open or
/// being written.
type Settled = Option<Result<(), CommitFailed>>;

/// Why a batch of waiting events was not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommitFailed {
    /// The store did not answer within the write deadline.
    TimedOut,
    /// The store refused the write.
    Refused,
}

impl From<CommitFailed> for CoreError {
    fn from(failed: CommitFailed) -> Self {
        let err = match failed {
            CommitFailed::TimedOut => StoreError::TimedOut,
            CommitFailed::Refused => {
                StoreError::Unavailable("the audit trail could not be written".into())
            }
        };
        CoreError::Unavailable(err)
    }
}

/// The events whose requests wait for their commit (durable audit), all in the one batch the
/// writer takes next, and what the writer needs: it runs as a task of its own, started by the
/// first request that finds none at work, on that request's thread (the requests that thread
/// has ready join the batch first), and has each commit made on the home runtime.
#[derive(Debug)]
struct Commits {
    store: Arc<dyn KeyStore>,
    /// The runtime the trail was made on, the service's own: it runs until the last flush,
    /// after every actix worker's runtime has ended. `None` when made outside any runtime:
    /// commits are then made on the writer's.
    home: Option<tokio::runtime::Handle>,
    observer: Arc<dyn Observer>,
    write_deadline: std::time::Duration,
    /// The trail's: one write at a time, buffered or not.
    flushing: Arc<tokio::sync::Mutex<()>>,
    open: Mutex<OpenBatch>,
    /// A writer is at work, and will take every event recorded before it stops.
    writing: AtomicBool,
    /// Events recorded and not yet settled, for tests and metrics.
    unsettled: AtomicUsize,
    /// Names the events' scopes, in each new batch.
    scopes: Arc<Catalogue>,
}

impl Commits {
    /// Writes, in one go, every event waiting for its commit, and tells their requests what
    /// became of them; events recorded meanwhile go to the next batch. The caller holds
    /// `flushing`, so that one write is under way at a time.
    async fn commit_waiting(&self) {
        let (batches, settled) = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            if open.events.is_empty() {
                return;
            }
            let next = OpenBatch::new(self.scopes.clone());
            let mut taken = std::mem::replace(&mut *open, next);
            (taken.events.take(), taken.settled)
        };
        let count: usize = batches.iter().map(|b| b.count).sum();
        let deadline = self.write_deadline;
        let outcome = match write(&*self.store, deadline, batches, deadline).await {
            Ok(left) if left.is_empty() => Ok(()),
            Ok(_) | Err((StoreError::TimedOut, _)) => Err(CommitFailed::TimedOut),
            Err(_) => Err(CommitFailed::Refused),
        };
        match outcome {
            Ok(()) => self.observer.audit_committed(count as u64),
            Err(failed) => {
                tracing::warn!(
                    ?failed,
                    count,
                    "could not commit audit events: their requests are refused"
                );
                self.observer.store_write_failed("audit");
            }
        }
        self.unsettled.fetch_sub(count, Ordering::Relaxed);
        settled.send_replace(Some(outcome));
    }

    /// Lets the requests ready on this thread record their events before the batch is taken:
    /// each yield runs them (and polls for newly readable connections), while the batch grows,
    /// up to [`GATHER_YIELDS`] times. One commit then releases nearly every request waiting, at
    /// the cost of microseconds (measured: 16 requests a commit without, 32 with, at 32
    /// connections; a third more tokens a second).
    async fn gather(&self) {
        let waiting = || {
            self.open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .events
                .pending()
        };
        let mut seen = waiting();
        for _ in 0..GATHER_YIELDS {
            tokio::task::yield_now().await;
            let now = waiting();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// The writer: commits until no event waits. An event recorded just as it stops either
    /// finds `writing` false and starts the next writer, or is seen here and written.
    async fn write_while_waiting(mut at_work: AtWork) {
        loop {
            let commits = at_work.0.clone();
            commits.gather().await;
            // The commit is a task of the home runtime, which this writer only waits for. This
            // writer's runtime is an actix worker's, ended at shutdown once that worker's own
            // requests are answered, while the batch holds other workers' requests too: a commit
            // made here would be dropped with it mid-write, and those requests refused although
            // their events may be on record. Gathering stays on this thread, where its ready
            // requests join the batch; the commit costs a hop to the home runtime and back.
            let committing = commits.clone();
            let home = commits
                .home
                .clone()
                .unwrap_or_else(tokio::runtime::Handle::current);
            let committed = home
                .spawn(async move {
                    let _one_at_a_time = committing.flushing.lock().await;
                    committing.commit_waiting().await;
                })
                .await;
            drop(at_work);
            // The home runtime is shutting down (nothing more can be committed), or the store
            // panicked: the next request starts another writer.
            if committed.is_err() {
                return;
            }
            let waiting = !commits
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .events
                .is_empty();
            if !waiting || commits.writing.swap(true, Ordering::AcqRel) {
                return;
            }
            at_work = AtWork(commits);
        }
    }
}

/// A writer at work: `writing` until dropped, however the writer ends (a panic under the
/// store, or its runtime going away, even before the task first ran: the task owns it), so
/// that the next request starts another writer.
struct AtWork(Arc<Commits>);

impl Drop for AtWork {
    fn drop(&mut self) {
        self.0.writing.store(false, Ordering::Release);
    }
}

#[derive(Debug)]
struct OpenBatch {
    /// Never sheds: each event's request waits for it, so memory is bounded by connections.
    events: AuditBuffer,
    /// Tells every request with an event in `events` what became of them.
    settled: tokio::sync::watch::Sender<Settled>,
}

impl OpenBatch {
    fn new(scopes: Arc<Catalogue>) -> Self {
        Self {
            events: AuditBuffer::new(usize::MAX, scopes),
            settled: tokio::sync::watch::Sender::new(None),
        }
    }
}

/// Every token issued and every request refused, on its way to the store.
#[derive(Debug)]
pub struct AuditTrail {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
    buffer: Mutex<AuditBuffer>,
    /// Refusals at a limit, summarised rather than written one by one.
    refusals: Mutex<RefusalDigest>,
    /// The last write failed: no early writes until a regular one succeeds.
    failing: AtomicBool,
    /// Events dropped so far that have been reported.
    dropped_said: AtomicUsize,
    /// How long events are kept; `None`: for ever.
    retention: Option<chrono::Duration>,
    /// How long one store call may take before it is given up (and retried).
    write_deadline: std::time::Duration,
    /// Held while a flush takes and writes the buffer, or the writer commits waiting events.
    flushing: Arc<tokio::sync::Mutex<()>>,
    /// Durable audit: the events requests wait for. `None`: buffered audit, where nothing waits.
    commits: Option<Arc<Commits>>,
}

impl AuditTrail {
    pub fn new(
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        observer: Arc<dyn Observer>,
        write_deadline: std::time::Duration,
        retention: Option<chrono::Duration>,
        scopes: Arc<Catalogue>,
        durable: bool,
    ) -> Self {
        let flushing = Arc::new(tokio::sync::Mutex::new(()));
        let commits = durable.then(|| {
            Arc::new(Commits {
                store: store.clone(),
                home: tokio::runtime::Handle::try_current().ok(),
                observer: observer.clone(),
                write_deadline,
                flushing: flushing.clone(),
                open: Mutex::new(OpenBatch::new(scopes.clone())),
                writing: AtomicBool::new(false),
                unsettled: AtomicUsize::new(0),
                scopes: scopes.clone(),
            })
        });
        Self {
            store,
            clock,
            observer,
            buffer: Mutex::new(AuditBuffer::new(MAX_PENDING_AUDIT_BYTES, scopes)),
            refusals: Mutex::new(RefusalDigest::default()),
            failing: AtomicBool::new(false),
            dropped_said: AtomicUsize::new(0),
            retention,
            write_deadline,
            flushing,
            commits,
        }
    }

    /// Whether tokens wait for their events' commit (`--audit durable`).
    pub fn is_durable(&self) -> bool {
        self.commits.is_some()
    }

    /// Events whose requests wait for their commit (durable audit; always 0 when buffered).
    pub fn awaiting_commit(&self) -> usize {
        self.commits
            .as_ref()
            .map_or(0, |commits| commits.unsettled.load(Ordering::Relaxed))
    }

    /// How long events are kept; `None`: for ever.
    pub fn retention(&self) -> Option<chrono::Duration> {
        self.retention
    }

    /// Buffers one event for the next write.
    pub fn record(&self, event: AuditEvent) {
        self.buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&event);
    }

    /// Records an event a request's answer depends on (a token issued, a token revoked). When
    /// durable, returns once it is committed, with the whole batch the writer took with it, or
    /// fails `Unavailable` if that write failed (the event is then dropped, not retried: the
    /// request is refused). When buffered, it is [`record`](Self::record).
    pub async fn commit(&self, event: AuditEvent) -> Result<(), CoreError> {
        let Some(commits) = &self.commits else {
            self.record(event);
            return Ok(());
        };
        // Recorded and subscribed under one lock: the batch it joins is the batch it hears of.
        let mut settled = {
            let mut open = commits.open.lock().unwrap_or_else(|p| p.into_inner());
            open.events.record(&event);
            commits.unsettled.fetch_add(1, Ordering::Relaxed);
            open.settled.subscribe()
        };
        if !commits.writing.swap(true, Ordering::AcqRel) {
            tokio::spawn(Commits::write_while_waiting(AtWork(commits.clone())));
        }
        let waiting = settled.wait_for(Option::is_some);
        let settled = match tokio::time::timeout(
            self.write_deadline * COMMIT_WAIT_DEADLINES,
            waiting,
        )
        .await
        {
            Ok(Ok(settled)) => settled.unwrap_or(Err(CommitFailed::TimedOut)),
            // The writer is gone (shutting down) or stuck: not known to be on record, so the
            // token is not answered.
            Ok(Err(_)) | Err(_) => Err(CommitFailed::TimedOut),
        };
        settled.map_err(CoreError::from)
    }

    /// Commits the events requests wait for (durable audit), with `flushing` held.
    async fn commit_waiting(&self) {
        if let Some(commits) = &self.commits {
            commits.commit_waiting().await;
        }
    }

    /// Records a refusal; `owner` is the account and key it concerns, where known.
    pub fn refusal(
        &self,
        caller: &Caller,
        err: &CoreError,
        owner: Option<&(Arc<str>, KeyId)>,
        claimed_key: Option<KeyId>,
    ) {
        let event = AuditEvent {
            at: self.clock.now(),
            dialect: Cow::Borrowed(caller.dialect),
            outcome: Outcome::Refused,
            reason: Some(Cow::Borrowed(err.reason())),
            account: owner.map(|(account, _)| account.clone()),
            key_id: owner.map(|(_, id)| *id).or(claimed_key),
            scopes: None,
            jti: None,
            client_ip: caller.client_ip,
            count: 1,
            actor: None,
        };
        // A client refused at a limit gets one event a window, not one a request; so does one
        // refused because the store is away.
        let window = match err {
            CoreError::RateLimited(limited) => {
                Some(chrono::Duration::from_std(limited.window).unwrap_or(chrono::Duration::MAX))
            }
            CoreError::Unavailable(_) => Some(OUTAGE_SUMMARY_WINDOW),
            _ => None,
        };
        if let Some(window) = window {
            let admitted = self
                .refusals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .admit(&event, window);
            if !admitted {
                return;
            }
        }
        self.record(event);
    }

    /// Records the summaries of refusal windows that have closed (all of them at shutdown).
    fn close_windows(&self, all: bool) {
        let closed = {
            let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
            if all {
                refusals.drain()
            } else {
                refusals.closed(self.clock.now())
            }
        };
        for summary in closed {
            self.record(summary);
        }
    }

    /// At shutdown: every summary still open goes to the buffer, then everything is written,
    /// once and within the write deadline; what could not be written is said to be lost.
    pub async fn flush_at_shutdown(&self) {
        let _one_at_a_time = self.flushing.lock().await;
        self.commit_waiting().await;
        self.close_windows(true);
        let batches = self.buffer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let count: usize = batches.iter().map(|b| b.count).sum();
        if count == 0 {
            return;
        }
        let (err, left) = match self.write(batches, self.write_deadline).await {
            Ok(left) if left.is_empty() => return,
            Ok(left) => (StoreError::TimedOut, left),
            Err(failed) => failed,
        };
        let lost: usize = left.iter().map(|b| b.count).sum();
        tracing::error!(error = ?err, lost, of = count, "could not write the last audit events before shutting down");
    }

    /// Writes audit batches: see [`write`].
    async fn write(
        &self,
        batches: VecDeque<AuditBatch>,
        budget: std::time::Duration,
    ) -> Result<VecDeque<AuditBatch>, (StoreError, VecDeque<AuditBatch>)> {
        write(&*self.store, self.write_deadline, batches, budget).await
    }

    /// Whether a full batch of audit events is waiting (see [`AuditBuffer::has_full_batch`])
    /// and the store took the last write: a failing store is retried at the regular pace only.
    pub fn batch_full(&self) -> bool {
        !self.failing.load(Ordering::Relaxed)
            && self
                .buffer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .has_full_batch()
    }

    /// Writes the buffered audit events, a batch per database row; called every few dozen
    /// milliseconds (sooner under load), off the request path. If the database refuses, the events stay buffered
    /// for the next try (the oldest are dropped beyond [`MAX_PENDING_AUDIT_BYTES`]).
    /// Returns once every event recorded before the call is written or put back: a flush that
    /// finds another in progress waits for it first (else the events that one took would still
    /// be on their way when this one returned).
    pub async fn flush(&self) {
        let _one_at_a_time = self.flushing.lock().await;
        self.commit_waiting().await;
        self.close_windows(false);
        let batches = self.buffer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if !batches.is_empty() {
            let written = self.write(batches, self.write_deadline).await;
            self.failing.store(written.is_err(), Ordering::Relaxed);
            let left = match written {
                Ok(left) => left,
                Err((err, left)) => {
                    let count: usize = left.iter().map(|b| b.count).sum();
                    tracing::warn!(error = ?err, count, "could not write audit events; will retry");
                    self.observer.store_write_failed("audit");
                    left
                }
            };
            // What the budget or a failure left goes back, ahead of newer events.
            if !left.is_empty() {
                self.buffer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .put_back(left);
            }
        }
        // Dropped while this write was under way, or by the put-back: counted and said once.
        let dropped = self
            .buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .dropped();
        let before = self.dropped_said.swap(dropped, Ordering::Relaxed);
        if dropped > before {
            let newly = dropped - before;
            self.observer.audit_dropped(newly as u64);
            tracing::warn!(
                dropped = newly,
                total = dropped,
                "audit buffer full while the store could not take it: the oldest events were dropped"
            );
        }
    }

    /// Deletes the audit events older than the retention period; called every minute.
    pub async fn prune(&self) {
        let Some(retention) = self.retention else {
            return;
        };
        let before = self.clock.now() - retention;
        // Bounded as a whole (each slice is too): what is left is pruned next minute, and a
        // shutdown never waits on a long backlog.
        let pruning = self.store.prune_audit(before);
        match tokio::time::timeout(self.write_deadline * PRUNE_DEADLINE_FACTOR, pruning).await {
            Ok(Ok(0)) => {}
            Ok(Ok(rows)) => tracing::debug!(rows, %before, "pruned the audit trail"),
            Ok(Err(err)) => {
                self.observer.store_write_failed("prune");
                tracing::warn!(error = %err, "could not prune the audit trail");
            }
            Err(_) => tracing::info!("pruning the audit trail goes on next minute"),
        }
    }
}

/// Writes audit batches a chunk ([`AUDIT_BATCHES_PER_WRITE`]) per transaction, each chunk
/// given up after the write deadline (the database gives it up too), until they are all
/// written or `budget` is spent. Returns what is left: after the budget, `Ok`; after a
/// failure, `Err`, the failed chunk included. (A deadline that fires after the database
/// committed means a chunk is written twice: at least once, never lost.)
async fn write(
    store: &dyn KeyStore,
    write_deadline: std::time::Duration,
    mut batches: VecDeque<AuditBatch>,
    budget: std::time::Duration,
) -> Result<VecDeque<AuditBatch>, (StoreError, VecDeque<AuditBatch>)> {
    let started = std::time::Instant::now();
    while !batches.is_empty() && started.elapsed() < budget {
        let chunk = batches.len().min(AUDIT_BATCHES_PER_WRITE);
        let writing = store.record_audit(&batches.make_contiguous()[..chunk]);
        match tokio::time::timeout(write_deadline, writing).await {
            Ok(Ok(())) => {
                batches.drain(..chunk);
            }
            Ok(Err(err)) => return Err((err, batches)),
            Err(_) => return Err((StoreError::TimedOut, batches)),
        }
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::core::adminkey::{AdminKeyInfo, NewAdminKey, StoredAdminKey};
    use crate::core::audit::{AuditEntry, AuditQuery, StoredEvent, decode_batch};
    use crate::core::audit_chain::{ChainEnd, ChainedBatch};
    use crate::core::clock::SystemClock;
    use crate::core::keyring::{KeyPairRecord, SigningAlg};
    use crate::core::observer::Unobserved;
    use crate::core::scope::ScopeSet;
    use crate::core::settings::{AccountSettings, SettingsChange};
    use crate::core::slot::KeySlot;
    use crate::core::store::{
        AccountRange, AccountRecord, ChangeWatch, KeyInfo, NewKey, StoredKey,
    };

    /// A store each of whose audit writes says it started, then waits for a go-ahead (a permit
    /// of `go`) before it keeps what it was given.
    #[derive(Debug)]
    struct HeldAuditStore {
        started: tokio::sync::mpsc::UnboundedSender<()>,
        go: tokio::sync::Semaphore,
        written: Mutex<Vec<StoredEvent>>,
    }

    impl HeldAuditStore {
        fn new() -> (Arc<Self>, tokio::sync::mpsc::UnboundedReceiver<()>) {
            let (started, writes) = tokio::sync::mpsc::unbounded_channel();
            let store = Self {
                started,
                go: tokio::sync::Semaphore::new(0),
                written: Mutex::new(Vec::new()),
            };
            (Arc::new(store), writes)
        }

        /// The `jti`s of the events written, in order.
        fn written_jtis(&self) -> Vec<u128> {
            let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            written
                .iter()
                .filter_map(|event| event.jti.map(|jti| jti.as_u128()))
                .collect()
        }
    }

    #[async_trait::async_trait]
    impl KeyStore for HeldAuditStore {
        async fn record_audit(&self, batches: &[AuditBatch]) -> Result<(), StoreError> {
            let _ = self.started.send(());
            self.go.acquire().await.expect("never closed").forget();
            let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            for batch in batches {
                written.extend(decode_batch(&batch.events).expect("a batch as encoded"));
            }
            Ok(())
        }
        async fn create_account(
            &self,
            _: &str,
            _: &AccountSettings,
            _: &[NewKey],
            _: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn update_account(
            &self,
            _: &str,
            _: &SettingsChange,
        ) -> Result<AccountRecord, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn delete_account(
            &self,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<Vec<KeyId>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn find_key(&self, _: &KeyId) -> Result<Option<StoredKey>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn rotate_key(
            &self,
            _: &str,
            _: Option<&KeyId>,
            _: &NewKey,
            _: Option<DateTime<Utc>>,
            _: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn current_key(&self, _: &str, _: KeySlot) -> Result<Option<KeyId>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn slot_scopes(&self, _: &str, _: KeySlot) -> Result<Option<ScopeSet>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn list_keys(&self, _: &str, _: DateTime<Utc>) -> Result<Vec<KeyInfo>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn revoke_key(&self, _: &KeyId, _: DateTime<Utc>) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn find_account(&self, _: &str) -> Result<Option<AccountRecord>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn list_accounts(
            &self,
            _: &AccountRange<'_>,
        ) -> Result<Vec<AccountRecord>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn create_admin_key(
            &self,
            _: &NewAdminKey,
            _: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn find_admin_key(&self, _: &KeyId) -> Result<Option<StoredAdminKey>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn list_admin_keys(&self) -> Result<Vec<AdminKeyInfo>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn revoke_admin_key(&self, _: &KeyId, _: DateTime<Utc>) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn record_usage(&self, _: &[(KeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn signing_secret(&self, _: &[u8], _: DateTime<Utc>) -> Result<Vec<u8>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn seal_signing_secrets(&self, _: bool) -> Result<u64, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn signing_keys(&self, _: SigningAlg) -> Result<Vec<KeyPairRecord>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn add_signing_key(&self, _: &KeyPairRecord) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn add_first_signing_key(&self, _: &KeyPairRecord) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn revoke_signing_key(
            &self,
            _: &str,
            _: DateTime<Utc>,
            _: Option<&KeyPairRecord>,
        ) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn prune_audit(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn audit_chain_ends(
            &self,
        ) -> Result<(Option<ChainEnd>, Option<ChainEnd>), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn audit_batches_after(
            &self,
            _: i64,
            _: u32,
        ) -> Result<Vec<ChainedBatch>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn audit_events(&self, _: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn revoke_token(
            &self,
            _: Uuid,
            _: &str,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn revoked_tokens(
            &self,
            _: DateTime<Utc>,
        ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn prune_revoked_tokens(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn ping(&self) -> Result<(), StoreError> {
            unreachable!("only the audit trail is written")
        }
        async fn watch(&self) -> Result<Box<dyn ChangeWatch>, StoreError> {
            unreachable!("only the audit trail is written")
        }
    }

    /// A token's event, told apart by its `jti`.
    fn issued(jti: u128) -> AuditEvent {
        AuditEvent {
            at: Utc::now(),
            dialect: Cow::Borrowed("volubile"),
            outcome: Outcome::Issued,
            reason: None,
            account: Some(Arc::from("acme")),
            key_id: None,
            scopes: None,
            jti: Some(Uuid::from_u128(jti)),
            client_ip: None,
            count: 1,
            actor: None,
        }
    }

    #[tokio::test]
    async fn a_commit_under_way_is_made_though_the_runtime_of_the_writer_that_took_it_ends() {
        // Arrange: a worker's runtime, on a thread of its own as actix runs each, whose request
        // starts the writer there; that runtime then runs on, its request answered, until told
        // to stop.
        let (store, mut writes) = HeldAuditStore::new();
        let trail = Arc::new(AuditTrail::new(
            store.clone(),
            Arc::new(SystemClock),
            Arc::new(Unobserved),
            std::time::Duration::from_secs(10),
            None,
            Arc::new(Catalogue::example()),
            true,
        ));
        let (answered, worker_answer) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = std::thread::spawn({
            let trail = trail.clone();
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    let _ = answered.send(trail.commit(issued(1)).await);
                    let _ = stopped.await;
                });
                // Dropped with every task it runs.
            }
        });
        writes
            .recv()
            .await
            .expect("the worker's event is being written");
        // Another worker's request, here on the test's runtime, joins the next batch.
        let other = tokio::spawn({
            let trail = trail.clone();
            async move { trail.commit(issued(2)).await }
        });
        while trail.awaiting_commit() < 2 {
            tokio::task::yield_now().await;
        }
        store.go.add_permits(1);
        assert!(worker_answer.await.expect("the worker answers").is_ok());
        writes
            .recv()
            .await
            .expect("the other event is being written");

        // Act: the worker's runtime ends while the writer it runs commits the other's batch.
        stop.send(()).expect("the worker waits to stop");
        tokio::task::spawn_blocking(move || worker.join())
            .await
            .expect("joined")
            .expect("the worker stops cleanly");
        store.go.add_permits(1);

        // Assert: the other request is answered as committed, and it is.
        let answer = other.await.expect("the other request ends");
        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(store.written_jtis(), [1, 2]);
    }
}
