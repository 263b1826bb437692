//! Prometheus metrics: requests and latency by dialect and outcome, tokens issued, rate-limit
//! rejections, key-cache hits and misses. One registry, owned by the application and injected.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::core::observer::Observer;
use crate::store::cache::CacheObserver;

/// Which background write: `audit`, `usage`, `signing_keys`, `prune`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    dialect: &'static str,
    /// The HTTP status: `200`, `401`, `429`, ...
    outcome: u16,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    tokens_issued: Counter<u64, AtomicU64>,
    rate_limited: Counter<u64, AtomicU64>,
    cache_hits: Counter<u64, AtomicU64>,
    cache_misses: Counter<u64, AtomicU64>,
    store_failures: Family<JobLabels, Counter>,
    audit_dropped: Counter<u64, AtomicU64>,
    audit_commits: Counter<u64, AtomicU64>,
    audit_committed_events: Counter<u64, AtomicU64>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("keymint");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let tokens_issued = Counter::default();
        let rate_limited = Counter::default();
        let cache_hits = Counter::default();
        let cache_misses = Counter::default();
        let store_failures = Family::<JobLabels, Counter>::default();
        let audit_dropped = Counter::default();
        let audit_commits = Counter::default();
        let audit_committed_events = Counter::default();
        registry.register(
            "audit_commits",
            "Audit writes that released the requests waiting for them (--audit durable)",
            audit_commits.clone(),
        );
        registry.register(
            "audit_committed_events",
            "Audit events those writes committed: per commit, how many requests one write released",
            audit_committed_events.clone(),
        );
        registry.register(
            "store_write_failures",
            "Background writes that failed or missed their deadline (and were retried), by job",
            store_failures.clone(),
        );
        registry.register(
            "audit_events_dropped",
            "Audit events dropped because the buffer was full while the store could not take them",
            audit_dropped.clone(),
        );
        registry.register(
            "http_requests",
            "Requests answered, by dialect and HTTP status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by dialect and HTTP status",
            latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Tokens signed and returned",
            tokens_issued.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused because the account's quota was spent",
            rate_limited.clone(),
        );
        registry.register(
            "key_cache_hits",
            "Key lookups served from memory",
            cache_hits.clone(),
        );
        registry.register(
            "key_cache_misses",
            "Key lookups that went to the database",
            cache_misses.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tokens_issued,
            rate_limited,
            cache_hits,
            cache_misses,
            store_failures,
            audit_dropped,
            audit_commits,
            audit_committed_events,
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe_request(&self, dialect: &'static str, status: u16, elapsed: Duration) {
        let labels = RequestLabels {
            dialect,
            outcome: status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl Observer for Metrics {
    fn token_issued(&self) {
        self.tokens_issued.inc();
    }

    fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    fn store_write_failed(&self, job: &'static str) {
        self.store_failures.get_or_create(&JobLabels { job }).inc();
    }

    fn audit_dropped(&self, events: u64) {
        self.audit_dropped.inc_by(events);
    }

    fn audit_committed(&self, events: u64) {
        self.audit_commits.inc();
        self.audit_committed_events.inc_by(events);
    }
}

impl CacheObserver for Metrics {
    fn hit(&self) {
        self.cache_hits.inc();
    }

    fn miss(&self) {
        self.cache_misses.inc();
    }
}
