//! Per-account quotas shared by every instance, kept in Redis and spent by one atomic script
//! (GCRA, with Redis's clock so instances' clocks need not agree). If Redis cannot be reached,
//! each instance falls back to its own local quota: logged, never an error for the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::RwLock;

use crate::core::clock::Clock;
use crate::core::error::RateLimited;
use crate::core::ratelimit::{AccountLimiters, Allowance, Quota, RatePolicy};

/// GCRA in one round trip. KEYS[1]: the account's key. ARGV[1]: emission interval (µs),
/// ARGV[2]: burst. Returns {allowed, remaining, wait µs}.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now + window - new_tat) / interval), 0}
";

/// How long a quota check may wait for Redis before the local fallback answers.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is skipped after a failure, in milliseconds.
const BREAK_MS: i64 = 1000;
/// Seconds between "Redis unreachable" warnings, so an outage does not flood the log.
const WARN_EVERY_SECS: i64 = 10;

/// Timeouts and back-off of the connection manager: an answer within [`REDIS_TIMEOUT`] (or the
/// local fallback answers), a connection attempt within four times that, and reconnection
/// attempts 50 ms, 100 ms, 200 ms apart, never more than a second.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(REDIS_TIMEOUT)
        .set_connection_timeout(REDIS_TIMEOUT * 4)
        .set_factor(50)
        .set_exponent_base(2)
        .set_number_of_retries(3)
        .set_max_delay(1000)
}

/// The first connection, within the connection timeout.
async fn client_connect(client: &redis::Client) -> Result<ConnectionManager, String> {
    client
        .get_connection_manager_with_config(manager_config())
        .await
        .map_err(|err| err.to_string())
}

pub struct RedisQuota {
    client: redis::Client,
    connection: Arc<RwLock<Option<ConnectionManager>>>,
    /// Until when (ms after `started`) Redis is skipped after a failure: an outage costs each
    /// request nothing, rather than a timeout.
    skip_until_ms: AtomicI64,
    /// What `skip_until_ms` counts from. Real time, not the injected clock: the pause times
    /// I/O back-off, as the response timeout does, and a test's manual clock would hold it shut.
    started: tokio::time::Instant,
    /// A first connection is being made in the background.
    connecting: Arc<std::sync::atomic::AtomicBool>,
    script: redis::Script,
    prefix: String,
    policy: RatePolicy,
    fallback: AccountLimiters,
    clock: Arc<dyn Clock>,
    last_warning: AtomicI64,
}

impl std::fmt::Debug for RedisQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQuota")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RedisQuota {
    /// A shared quota on `url`. An unreachable Redis is not fatal: until it answers, the
    /// local fallback limits.
    pub async fn connect(
        url: &str,
        prefix: &str,
        policy: RatePolicy,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(url).map_err(|err| anyhow::anyhow!("KEYMINT_REDIS_URL: {err}"))?;
        let quota = Self {
            client,
            connection: Arc::new(RwLock::new(None)),
            skip_until_ms: AtomicI64::new(0),
            started: tokio::time::Instant::now(),
            connecting: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            script: redis::Script::new(GCRA),
            prefix: prefix.to_owned(),
            policy,
            fallback: AccountLimiters::new(policy, clock.clone()),
            clock,
            last_warning: AtomicI64::new(i64::MIN),
        };
        match client_connect(&quota.client).await {
            Ok(connection) => {
                *quota.connection.write().await = Some(connection);
                tracing::info!("shared rate limits: Redis connected");
            }
            Err(why) => {
                quota.warn(&why);
                quota.connect_in_background();
            }
        }
        Ok(quota)
    }

    /// The one way to (re)connect, in the background, one attempt at a time: a new manager with
    /// the timeouts and back-off of [`manager_config`].
    fn connect_in_background(&self) {
        if self.connecting.swap(true, Ordering::SeqCst) {
            return;
        }
        let (client, slot, flag) = (
            self.client.clone(),
            self.connection.clone(),
            self.connecting.clone(),
        );
        tokio::spawn(async move {
            if let Ok(connection) = client
                .get_connection_manager_with_config(manager_config())
                .await
            {
                *slot.write().await = Some(connection);
                tracing::info!("shared rate limits: Redis connected");
            }
            flag.store(false, Ordering::SeqCst);
        });
    }

    fn warn(&self, why: &str) {
        let now = self.clock.now().timestamp();
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_SECS
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                reason = why,
                "Redis unreachable: rate limits are per instance until it is back"
            );
        }
    }

    /// After a failure, Redis is left alone for a second: an outage costs each request
    /// nothing, rather than a timeout, while a new connection is made.
    fn trip(&self, why: &str) {
        self.warn(why);
        self.skip_until_ms.store(
            self.elapsed_ms().saturating_add(BREAK_MS),
            Ordering::Relaxed,
        );
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    async fn shared(
        &self,
        account: &str,
        policy: RatePolicy,
    ) -> Option<Result<Allowance, RateLimited>> {
        if self.elapsed_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let Some(connection) = self.connection.read().await.clone() else {
            self.trip("not connected");
            self.connect_in_background();
            return None;
        };
        let interval = policy.window / policy.requests.get();
        let mut connection = connection;
        let mut invocation = self.script.key(format!("{}{account}", self.prefix));
        invocation
            .arg(
                u64::try_from(interval.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            )
            .arg(policy.requests.get());
        // The manager bounds the answer (its response timeout). After a failure it is replaced:
        // a manager whose own reconnection failed reports that failure for good, rather than
        // trying again (tests/api/shared_limits.rs shows it).
        let answer = invocation
            .invoke_async::<(i64, i64, i64)>(&mut connection)
            .await;
        let (allowed, remaining, wait_micros) = match answer {
            Ok(answer) => answer,
            Err(err) => {
                *self.connection.write().await = None;
                self.trip(&err.to_string());
                self.connect_in_background();
                return None;
            }
        };
        let limit = policy.requests.get();
        Some(if allowed == 1 {
            Ok(Allowance {
                limit,
                remaining: u32::try_from(remaining).unwrap_or(0),
                window: policy.window,
            })
        } else {
            Err(RateLimited {
                policy: "account",
                limit,
                window: policy.window,
                retry_after: Duration::from_micros(u64::try_from(wait_micros).unwrap_or(0)),
            })
        })
    }
}

#[async_trait]
impl Quota for RedisQuota {
    fn policy(&self) -> RatePolicy {
        self.policy
    }

    async fn spend(
        &self,
        account: &str,
        policy: Option<RatePolicy>,
    ) -> Result<Allowance, RateLimited> {
        match self.shared(account, policy.unwrap_or(self.policy)).await {
            Some(answer) => answer,
            None => self.fallback.check(account, policy),
        }
    }

    fn forget_idle(&self) {
        Quota::forget_idle(&self.fallback);
    }
}
