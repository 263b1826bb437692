//! What the core tells the outside about its work, for metrics: it knows nothing of how they
//! are kept.

/// Told about what the service does, for metrics; the core knows nothing of how they are kept.
pub trait Observer: Send + Sync + std::fmt::Debug {
    fn token_issued(&self) {}
    fn rate_limited(&self) {}
    /// A background store call (`audit`, `usage`, `signing_keys`, `prune`, `revocations`,
    /// `prune_revocations`) failed or missed its deadline.
    fn store_write_failed(&self, _job: &'static str) {}
    /// Audit events were dropped: the buffer was full while the store could not take them.
    fn audit_dropped(&self, _events: u64) {}
    /// A batch of audit events was committed with requests waiting for it (durable audit).
    fn audit_committed(&self, _events: u64) {}
}

/// Tells no one.
#[derive(Debug)]
pub struct Unobserved;

impl Observer for Unobserved {}
