use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::api::docs::Documents;
use crate::api::security::SecurityHeaders;
use crate::api::{self, AppState, Routes};
use crate::cli::ServeArgs;
use crate::core::clock::Clock;
use crate::core::keyring::{KeyPairRecord, Keyring, SigningAlg};
use crate::core::ratelimit::{AccountLimiter, FailureGate, Quota};
use crate::core::routes::RouteTable;
use crate::core::service::TokenService;
use crate::core::token::{SigningSecret, TokenAuthority, TokenSigner};
use crate::metrics::Metrics;
use crate::redis_quota::RedisQuota;
use crate::store::cache::CachedStore;
use crate::store::{self, KeyStore};

/// A built, bound, not yet running server. Binding happens in `build`, so tests can ask for
/// port 0 and read the port before the first request.
pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` on its own address, with that address's port.
    metrics_server: Option<(u16, Server)>,
    tokens: Arc<TokenService>,
    store: Arc<dyn KeyStore>,
    max_token_lifetime: chrono::Duration,
}

/// The bookkeeping clock (10 ms).
const TICK: Duration = Duration::from_millis(10);
/// How often buffered audit events are written (50 ms), and sooner, at the next tick, once a
/// full batch is waiting: under load each write is then a short burst (one or two rows of
/// 256 events) that barely delays requests sharing its core. Writing every 50 ms regardless
/// had made bursts of 4,000 events at 80,000 tokens a second, and held p99 above 2 ms
/// (bench/results.md).
const AUDIT_INTERVAL_TICKS: u64 = 5;
/// How often signing keys are reloaded from the store (5 s): well inside the smallest sensible
/// activation delay, so every instance publishes a new key long before it signs with it.
const KEY_RELOAD_INTERVAL_TICKS: u64 = 500;
/// How often the revocation list is reloaded from the store whatever was announced (1 s): a
/// revocation whose announcement was missed is honoured within the second the issue asks of
/// announced ones, and expired revocations leave memory. One indexed read.
const REVOCATION_RELOAD_INTERVAL_TICKS: u64 = 100;
/// How often last-used times are written.
const USAGE_INTERVAL: Duration = Duration::from_secs(1);
/// How often idle quotas are forgotten, and the audit trail and expired revocations pruned.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

/// The signing secret kept in a file, without its trailing newline. A file others may read is
/// worth a warning: the secret mints every account's tokens.
fn read_secret_file(path: &std::path::Path) -> anyhow::Result<SigningSecret> {
    let mut bytes = std::fs::read(path).map_err(|err| {
        anyhow::anyhow!("reading --signing-secret-file {}: {err}", path.display())
    })?;
    while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        bytes.pop();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0) {
            tracing::warn!(
                file = %path.display(),
                "the signing secret file is readable by other users: chmod 600 it"
            );
        }
    }
    Ok(SigningSecret::unchecked(bytes))
}

/// Raises the soft open-files limit to the hard one (a process starts with 1,024 on many hosts,
/// which a few idle keep-alive connections exhaust), and returns the soft limit now in force.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "could not raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Descriptors kept for everything but client connections: database pools, the change feed,
/// logs, the metrics listener.
const RESERVED_DESCRIPTORS: u64 = 256;

/// As many connections as the open-files limit leaves room for, at most 25,000 (actix's own
/// default per worker).
fn default_max_connections() -> usize {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS).clamp(64, 25_000)).unwrap_or(25_000)
}

/// A listener of its own for `/metrics` (one worker: a scrape every few seconds).
fn metrics_server(bind: &str, metrics: Arc<Metrics>) -> anyhow::Result<(u16, Server)> {
    let listener =
        TcpListener::bind(bind).map_err(|err| anyhow::anyhow!("--metrics-bind {bind}: {err}"))?;
    let address = listener.local_addr()?;
    let metrics = web::Data::from(metrics);
    let server = HttpServer::new(move || {
        App::new().app_data(metrics.clone()).route(
            "/metrics",
            web::get().to(|metrics: web::Data<Metrics>| async move {
                api::keymint::handlers::metrics_page(&metrics)
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    tracing::info!(%address, "metrics on http://{address}/metrics");
    Ok((address.port(), server))
}

/// The background jobs, each a task of its own so that none waits on another: a write blocked
/// by a locked table delays neither key reloads nor the other writes. Each run is bounded by
/// the store deadline.
fn bookkeeping(
    tokens: &Arc<TokenService>,
    max_token_lifetime: chrono::Duration,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let audit = every(TICK, stopped, tokens, |tokens, tick| async move {
        if tick.is_multiple_of(AUDIT_INTERVAL_TICKS) || tokens.audit().batch_full() {
            tokens.audit().flush().await;
        }
    });
    let usage = every(USAGE_INTERVAL, stopped, tokens, |tokens, _| async move {
        tokens.usage().flush().await;
    });
    let keys = every(TICK, stopped, tokens, move |tokens, tick| async move {
        if tick.is_multiple_of(KEY_RELOAD_INTERVAL_TICKS) {
            tokens.reload_signing_keys(max_token_lifetime).await;
        } else {
            tokens
                .reload_signing_keys_on_change(max_token_lifetime)
                .await;
        }
    });
    let revocations = every(TICK, stopped, tokens, |tokens, tick| async move {
        if tick.is_multiple_of(REVOCATION_RELOAD_INTERVAL_TICKS) {
            tokens.reload_revocations().await;
        } else {
            tokens.reload_revocations_on_change().await;
        }
    });
    let housekeeping = every(
        HOUSEKEEPING_INTERVAL,
        stopped,
        tokens,
        |tokens, _| async move {
            tokens.housekeeping();
            tokens.audit().prune().await;
            tokens.prune_revoked_tokens().await;
            crate::telemetry::report_suppressed();
        },
    );
    vec![audit, usage, keys, revocations, housekeeping]
}

/// Runs `job` every `period` (counting its runs) until told to stop; never mid-run.
fn every<F, Fut>(
    period: Duration,
    stopped: &tokio::sync::watch::Receiver<bool>,
    tokens: &Arc<TokenService>,
    job: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Arc<TokenService>, u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut stopped = stopped.clone();
    let tokens = tokens.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut runs: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            runs += 1;
            job(tokens.clone(), runs).await;
        }
    })
}

impl Application {
    pub async fn build(
        settings: ServeArgs,
        database_url: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let routes = settings.routes.load()?;
        let options = settings.store_options(routes.scopes().clone());
        let store = store::connect_with(database_url, options).await?;
        Self::assemble(settings, routes, store, clock).await
    }

    /// Builds on a store already open, which must have been opened with the routes file's
    /// scopes (`settings.store_options`).
    pub async fn with_store(
        settings: ServeArgs,
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let routes = settings.routes.load()?;
        Self::assemble(settings, routes, store, clock).await
    }

    async fn assemble(
        settings: ServeArgs,
        routes_table: RouteTable,
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let cache = CachedStore::wrap(store, settings.key_cache_ttl, Some(metrics.clone())).await;
        let store: Arc<dyn KeyStore> = cache.clone();
        let given = match (&settings.signing_secret, &settings.signing_secret_file) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(path)) => Some(read_secret_file(path)?),
            (None, None) => None,
        };
        let secret = match given {
            Some(secret) => secret.checked().map_err(|err| {
                anyhow::anyhow!("KEYMINT_SIGNING_SECRET / --signing-secret-file: {err}")
            })?,
            None => {
                let shared = store
                    .signing_secret(SigningSecret::generate().expose(), clock.now())
                    .await?;
                SigningSecret::new(shared)?
            }
        };
        let lifetimes = settings.lifetimes.clone();
        let max_token_lifetime = lifetimes.longest();
        let authority = TokenAuthority {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            max_lifetime: max_token_lifetime,
            scopes: routes_table.scopes().clone(),
        };
        let signer = match settings.signing_alg {
            SigningAlg::Hs256 => TokenSigner::hs256(&secret, authority),
            alg => {
                let mut records = store.signing_keys(alg).await?;
                if records.is_empty() {
                    let first = KeyPairRecord::generate(alg, clock.now(), clock.now())?;
                    // Instances starting together each propose one; one is recorded.
                    store.add_first_signing_key(&first).await?;
                    records = store.signing_keys(alg).await?;
                    if records.iter().any(|r| r.kid == first.kid) {
                        tracing::info!(kid = %first.kid, %alg, "generated the first signing key");
                    }
                    if records.is_empty() {
                        anyhow::bail!(
                            "no {alg} signing keys are stored, though the first was made before \
                             (table signing_key_genesis): restore signing_keys, or delete the \
                             {alg} row of signing_key_genesis to start afresh (every token \
                             signed so far is then refused)"
                        );
                    }
                }
                TokenSigner::asymmetric(Keyring::new(alg, records, max_token_lifetime)?, authority)
            }
        };
        let limiter: Box<dyn Quota> = match &settings.redis_url {
            Some(url) => Box::new(
                RedisQuota::connect(
                    url,
                    &settings.redis_prefix,
                    settings.rate_limit,
                    clock.clone(),
                )
                .await?,
            ),
            None => Box::new(AccountLimiter::new(settings.rate_limit, clock.clone())),
        };
        let failures = FailureGate::new(settings.failed_auth_limit, clock.clone());
        let tokens = Arc::new(
            TokenService::new(store.clone(), signer, limiter, clock)
                .with_failure_gate(failures)
                .with_token_cache(settings.token_cache)
                .with_audit_retention(settings.audit_retention.0)
                .with_store_timeout(settings.store_timeout)
                .observed_by(metrics.clone()),
        );
        // Before the first request: a token revoked before this start is refused from it. If
        // the database is away, bookkeeping keeps trying, and no token is accepted meanwhile.
        tokens.reload_revocations().await;

        let dialects = api::select(&settings.dialects).map_err(anyhow::Error::msg)?;
        let documents: Vec<_> = dialects
            .iter()
            .map(|d| (*d, api::document(d, &lifetimes, routes_table.scopes())))
            .collect();
        let routes = web::Data::new(Routes::new(&documents));
        let docs = web::Data::new(Documents::new(&documents, settings.public_url.clone()));
        let security = web::Data::new(SecurityHeaders::new(settings.public_url.as_ref()));
        let state = web::Data::new(AppState {
            tokens: tokens.clone(),
            store: store.clone(),
            metrics,
            lifetimes,
            routes: routes_table,
            gateway: settings.forward_auth_gateway,
            proxies: api::client::TrustedProxies::new(&settings.trusted_proxies),
            metrics_elsewhere: settings.metrics_bind.is_some(),
            store_timeout: settings.store_timeout,
            body_timeout: settings.body_timeout,
        });
        let metrics_server = match &settings.metrics_bind {
            Some(bind) => Some(metrics_server(bind, state.metrics.clone())?),
            None => None,
        };
        let cors_origins = settings.cors_origins.clone();

        let listener = TcpListener::bind(&settings.bind)?;
        let address = listener.local_addr()?;
        let per_client = api::connections::ConnectionLimit::new(
            settings.max_connections_per_client,
            api::client::TrustedProxies::new(&settings.trusted_proxies),
        );
        let mut server = HttpServer::new(move || {
            let app = App::new()
                .app_data(state.clone())
                .app_data(routes.clone())
                .app_data(docs.clone())
                .app_data(security.clone());
            // Token endpoints first: the router tries routes in order, and the documents'
            // patterns are regular expressions.
            api::configure(app, &dialects)
                .configure(|cfg| api::docs::configure(cfg, &dialects))
                .default_service(web::to(api::unmatched_request))
                .wrap(api::cors(&cors_origins))
                .wrap(actix_web::middleware::from_fn(api::request_id::middleware))
                .wrap(actix_web::middleware::from_fn(api::security::middleware))
        })
        .on_connect(move |connection, data| per_client.on_connect(connection, data))
        .listen(listener)?;
        let workers = settings.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let max_connections = settings
            .max_connections
            .unwrap_or_else(default_max_connections);
        // actix counts per worker.
        server = server
            .workers(workers)
            .max_connections(max_connections.div_ceil(workers).max(1));
        tracing::info!(%address, "keymint listening on http://{address}");
        Ok(Self {
            port: address.port(),
            server: server.run(),
            metrics_server,
            tokens,
            store,
            max_token_lifetime,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on with `--metrics-bind`.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    /// The (cached) store the server uses; changes made through it are seen at once.
    pub fn store(&self) -> Arc<dyn KeyStore> {
        self.store.clone()
    }

    /// The running service, for tests that drive bookkeeping directly.
    pub fn tokens(&self) -> Arc<TokenService> {
        self.tokens.clone()
    }

    /// Serves until SIGINT/SIGTERM, letting in-flight requests finish, with background
    /// bookkeeping (key last-used times, idle quota cleanup) alongside.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let jobs = bookkeeping(&self.tokens, self.max_token_lifetime, &stopped);
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        if let Some((running, handle)) = metrics {
            handle.stop(true).await;
            let _ = running.await;
        }
        // Each job stops between its runs, and each run is bounded by the store deadline:
        // a run cut short would lose what it had taken.
        let _ = stop.send(true);
        for job in jobs {
            let _ = job.await;
        }
        self.tokens.usage().flush().await;
        self.tokens.audit().flush_at_shutdown().await;
        result
    }
}
