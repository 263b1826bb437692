use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota as Gcra, RateLimiter};

use super::clock::Clock;
use super::error::RateLimited;

/// `N` requests per `window`, e.g. `100/15s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RatePolicy {
    pub requests: NonZeroU32,
    pub window: Duration,
}

impl fmt::Display for RatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.requests, self.window.as_secs())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a rate limit looks like `100/15s`: a positive count, a slash, a positive number of seconds"
)]
pub struct InvalidRatePolicy;

impl FromStr for RatePolicy {
    type Err = InvalidRatePolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, window) = s.split_once('/').ok_or(InvalidRatePolicy)?;
        let requests = count.trim().parse().map_err(|_| InvalidRatePolicy)?;
        let secs: u64 = window
            .trim()
            .strip_suffix('s')
            .unwrap_or(window.trim())
            .parse()
            .map_err(|_| InvalidRatePolicy)?;
        if secs == 0 {
            return Err(InvalidRatePolicy);
        }
        Ok(Self {
            requests,
            window: Duration::from_secs(secs),
        })
    }
}

/// What an admitted request leaves of the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    pub window: Duration,
}

impl Allowance {
    /// Whole seconds until the quota is full again (the IETF `RateLimit` header's `t`).
    pub fn reset_secs(&self) -> u64 {
        let used = u64::from(self.limit.saturating_sub(self.remaining));
        let nanos = self.window.as_nanos() * u128::from(used) / u128::from(self.limit.max(1));
        u64::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
    }
}

/// Adapts the injected [`Clock`] to governor, so tests move rate windows without sleeping.
#[derive(Debug, Clone)]
struct GovernorClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        let now = self.0.now();
        Duration::new(
            u64::try_from(now.timestamp()).unwrap_or(0),
            now.timestamp_subsec_nanos(),
        )
    }
}

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, GovernorClock, StateInformationMiddleware>;

/// Where per-account quotas are kept: in this process, or shared by every instance.
#[async_trait::async_trait]
pub trait Quota: Send + Sync + fmt::Debug {
    /// The deployment's policy, for accounts without one of their own.
    fn policy(&self) -> RatePolicy;
    /// Spends one request from `account`'s quota: `policy` if the account has its own, else
    /// the deployment's.
    async fn spend(
        &self,
        account: &str,
        policy: Option<RatePolicy>,
    ) -> Result<Allowance, RateLimited>;
    /// Lets go of accounts whose quota is full again.
    fn forget_idle(&self) {}
}

/// Per-account quotas in this process: the deployment's policy, and a limiter for each policy
/// accounts were given of their own (few: an administrator sets them).
#[derive(Debug)]
pub struct AccountLimiters {
    default: AccountLimiter,
    own: std::sync::RwLock<std::collections::HashMap<RatePolicy, Arc<AccountLimiter>>>,
    clock: Arc<dyn Clock>,
}

impl AccountLimiters {
    pub fn new(policy: RatePolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            default: AccountLimiter::new(policy, clock.clone()),
            own: Default::default(),
            clock,
        }
    }

    pub fn check(
        &self,
        account: &str,
        policy: Option<RatePolicy>,
    ) -> Result<Allowance, RateLimited> {
        match policy {
            Some(policy) if policy != self.default.policy => self.limiter(policy).check(account),
            _ => self.default.check(account),
        }
    }

    fn limiter(&self, policy: RatePolicy) -> Arc<AccountLimiter> {
        let known = self
            .own
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&policy)
            .cloned();
        known.unwrap_or_else(|| {
            let mut own = self.own.write().unwrap_or_else(|p| p.into_inner());
            own.entry(policy)
                .or_insert_with(|| Arc::new(AccountLimiter::new(policy, self.clock.clone())))
                .clone()
        })
    }
}

#[async_trait::async_trait]
impl Quota for AccountLimiters {
    fn policy(&self) -> RatePolicy {
        self.default.policy
    }

    async fn spend(
        &self,
        account: &str,
        policy: Option<RatePolicy>,
    ) -> Result<Allowance, RateLimited> {
        self.check(account, policy)
    }

    fn forget_idle(&self) {
        self.default.forget_idle();
        let own = self.own.read().unwrap_or_else(|p| p.into_inner());
        for limiter in own.values() {
            limiter.forget_idle();
        }
    }
}

/// Per-account GCRA limiter: a burst of `requests`, refilled evenly over `window`.
pub struct AccountLimiter {
    /// Named in the `RateLimit` headers (`account`, `failed-auth`).
    name: &'static str,
    policy: RatePolicy,
    limiter: KeyedLimiter,
}

impl fmt::Debug for AccountLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountLimiter")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl AccountLimiter {
    pub fn new(policy: RatePolicy, clock: Arc<dyn Clock>) -> Self {
        Self::named("account", policy, clock)
    }

    pub fn named(name: &'static str, policy: RatePolicy, clock: Arc<dyn Clock>) -> Self {
        let period = policy.window / policy.requests.get();
        let quota = Gcra::with_period(period.max(Duration::from_nanos(1)))
            .expect("period is positive")
            .allow_burst(policy.requests);
        let limiter = RateLimiter::<String, _, _, NoOpMiddleware<Duration>>::new(
            quota,
            DefaultKeyedStateStore::default(),
            GovernorClock(clock),
        )
        .with_middleware::<StateInformationMiddleware>();
        Self {
            name,
            policy,
            limiter,
        }
    }

    pub fn policy(&self) -> RatePolicy {
        self.policy
    }

    pub fn check(&self, account: &str) -> Result<Allowance, RateLimited> {
        let limit = self.policy.requests.get();
        match self.limiter.check_key(&account.to_owned()) {
            Ok(snapshot) => Ok(Allowance {
                limit,
                remaining: snapshot.remaining_burst_capacity(),
                window: self.policy.window,
            }),
            Err(not_until) => {
                let now = governor::clock::Clock::now(self.limiter.clock());
                Err(RateLimited {
                    policy: self.name,
                    limit,
                    window: self.policy.window,
                    retry_after: not_until.wait_time_from(now),
                })
            }
        }
    }

    /// Forgets accounts whose quota is full again, bounding memory.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

/// Brute-force protection: each failed authentication from a client address spends from that
/// address's quota; once it is spent, the address is refused (429) until it refills, before
/// any key is even looked at.
#[derive(Debug)]
pub struct FailureGate {
    failures: AccountLimiter,
    blocked: std::sync::Mutex<std::collections::HashMap<IpAddr, (DateTime<Utc>, RateLimited)>>,
    clock: Arc<dyn Clock>,
}

impl FailureGate {
    pub fn new(policy: RatePolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            failures: AccountLimiter::named("failed-auth", policy, clock.clone()),
            blocked: Default::default(),
            clock,
        }
    }

    /// Refuses an address whose failures are spent.
    pub fn check(&self, ip: IpAddr) -> Result<(), RateLimited> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now();
        match blocked.get(&ip) {
            Some((until, limited)) if *until > now => Err(RateLimited {
                retry_after: (*until - now).to_std().unwrap_or_default(),
                ..*limited
            }),
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, ip: IpAddr) {
        if let Err(limited) = self.failures.check(&ip.to_string()) {
            let until = self.clock.now()
                + chrono::Duration::from_std(limited.retry_after).unwrap_or_default();
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() > 100_000 {
                let now = self.clock.now();
                blocked.retain(|_, (until, _)| *until > now);
            }
            blocked.insert(ip, (until, limited));
        }
    }

    pub fn forget_idle(&self) {
        self.failures.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::core::clock::ManualClock;

    fn limiter(policy: &str) -> (AccountLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        ));
        (
            AccountLimiter::new(policy.parse().unwrap(), clock.clone()),
            clock,
        )
    }

    #[test]
    fn policies_parse_from_count_and_window() {
        let policy = RatePolicy {
            requests: NonZeroU32::new(100).unwrap(),
            window: Duration::from_secs(15),
        };
        assert_eq!("100/15s".parse(), Ok(policy));
        assert_eq!("100/15".parse(), Ok(policy));
        for bad in ["", "100", "0/15s", "100/0s", "x/15s", "100/xs", "-1/15s"] {
            assert!(bad.parse::<RatePolicy>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_full_burst_is_admitted_then_refused_with_a_retry_time() {
        let (limiter, _) = limiter("3/15s");
        assert_eq!(limiter.check("acme").unwrap().remaining, 2);
        assert_eq!(limiter.check("acme").unwrap().remaining, 1);
        assert_eq!(limiter.check("acme").unwrap().remaining, 0);
        let refused = limiter.check("acme").unwrap_err();
        assert_eq!(refused.limit, 3);
        assert_eq!(refused.retry_after, Duration::from_secs(5));
        assert_eq!(refused.retry_after_secs(), 5);
    }

    #[test]
    fn accounts_have_separate_quotas() {
        let (limiter, _) = limiter("1/15s");
        assert!(limiter.check("acme").is_ok());
        assert!(limiter.check("acme").is_err());
        assert!(limiter.check("globex").is_ok());
    }

    #[test]
    fn an_accounts_own_policy_replaces_the_deployments() {
        let clock = Arc::new(ManualClock::new(
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        ));
        let limiters = AccountLimiters::new("3/15s".parse().unwrap(), clock);
        let own = Some("1/15s".parse().unwrap());
        assert_eq!(limiters.check("acme", own).unwrap().limit, 1);
        assert!(limiters.check("acme", own).is_err());
        assert_eq!(limiters.check("globex", None).unwrap().limit, 3);
    }

    #[test]
    fn the_quota_refills_as_the_clock_moves() {
        let (limiter, clock) = limiter("3/15s");
        for _ in 0..3 {
            limiter.check("acme").unwrap();
        }
        assert!(limiter.check("acme").is_err());
        clock.advance(chrono::Duration::seconds(5));
        assert!(limiter.check("acme").is_ok());
        clock.advance(chrono::Duration::seconds(15));
        assert_eq!(limiter.check("acme").unwrap().remaining, 2);
    }
}
