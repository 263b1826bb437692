use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr so that `--json` output on stdout stays machine-readable.
/// `RUST_LOG` overrides the default level.
pub fn init(default_level: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let lines = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        // Dynamic: a plain `filter_fn` is asked once per call site and its answer cached.
        .with(
            lines.with_filter(tracing_subscriber::filter::dynamic_filter_fn(|meta, _| {
                !meta.is_event()
                    || !meta.target().starts_with(HTTP_PARSER)
                    || PARSER_LINES.admit(unix_secs())
            })),
        )
        .try_init();
}

/// Where actix logs a line at ERROR for every malformed request it cannot parse: a client
/// could fill the disk with them.
const HTTP_PARSER: &str = "actix_http";
/// Lines from it let through per minute; the rest are counted and reported once a minute.
const PARSER_LINES_PER_MINUTE: u64 = 10;

static PARSER_LINES: Throttle = Throttle::new(PARSER_LINES_PER_MINUTE);

/// Lines about failed requests (a store outage answers every request with 503): at most this
/// many a minute, the rest counted and reported once a minute.
pub const REQUEST_ERROR_LINES_PER_MINUTE: u64 = 20;
pub static REQUEST_ERROR_LINES: Throttle = Throttle::new(REQUEST_ERROR_LINES_PER_MINUTE);

/// Whether a line about a failed request may be logged now (see [`REQUEST_ERROR_LINES`]).
pub fn request_error_line() -> bool {
    REQUEST_ERROR_LINES.admit(unix_secs())
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// At most `per_minute` admissions in each minute; the rest are counted.
pub struct Throttle {
    per_minute: u64,
    /// When the current window began (unix seconds): at the first admission after the last
    /// window ended, not on a calendar minute, so that a flood straddling one is not let
    /// through twice.
    window_start: AtomicU64,
    admitted: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    const fn new(per_minute: u64) -> Self {
        Self {
            per_minute,
            window_start: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    fn admit(&self, now_secs: u64) -> bool {
        let start = self.window_start.load(Ordering::Relaxed);
        // Only the caller that moves the start clears the count.
        if now_secs >= start.saturating_add(60)
            && self
                .window_start
                .compare_exchange(start, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.admitted.store(0, Ordering::Relaxed);
        }
        if self.admitted.fetch_add(1, Ordering::Relaxed) < self.per_minute {
            return true;
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn take_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

/// Says how many lines were held back since the last report (called every minute).
pub fn report_suppressed() {
    let suppressed = PARSER_LINES.take_suppressed();
    if suppressed > 0 {
        tracing::warn!(
            suppressed,
            "malformed requests: log lines from the HTTP parser held back (at most {PARSER_LINES_PER_MINUTE} a minute)"
        );
    }
    let suppressed = REQUEST_ERROR_LINES.take_suppressed();
    if suppressed > 0 {
        tracing::warn!(
            suppressed,
            "failed requests: log lines held back (at most {REQUEST_ERROR_LINES_PER_MINUTE} a minute)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_through_its_quota_each_minute_and_counts_the_rest() {
        let throttle = Throttle::new(3);
        let admitted = (0..10).filter(|_| throttle.admit(600)).count();
        assert_eq!(admitted, 3);
        assert_eq!(throttle.take_suppressed(), 7);
        assert_eq!(throttle.take_suppressed(), 0);
        assert!(throttle.admit(660), "a new minute, a new quota");
    }

    #[test]
    fn a_throttle_minute_starts_at_its_first_admission_not_on_the_clock() {
        let throttle = Throttle::new(3);
        let early = (0..5).filter(|_| throttle.admit(659)).count();
        let late = (0..5).filter(|_| throttle.admit(661)).count();
        assert_eq!(
            early + late,
            3,
            "a flood across the minute at 660 s gets one quota"
        );
        assert!(!throttle.admit(718), "the minute from 659 s is not over");
        assert!(throttle.admit(719), "and then a new one starts");
    }
}
