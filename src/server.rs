//! Startup: the same code for `rescind serve` and for the tests, which bind
//! port 0 and pass their own listener and shutdown signal.

use secrecy::ExposeSecret as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use hyper_util::rt::TokioTimer;

use crate::auth::{self, Authenticator, CredentialCache, SecretVerifier};
use crate::config::Settings;
use crate::domain::clock::Clock;
use crate::domain::minted::TokenFormat;
use crate::domain::webhook::Backoff;
use crate::events::backlog::Backlog;
use crate::events::webhooks::{Dispatcher, Endpoint};
use crate::events::{Events, follower, notifier};
use crate::http::admin::AdminState;
use crate::http::guard::Guard;
use crate::http::peer::TrustedProxies;
use crate::http::{self, AppState, Edge, Services};
use crate::introspection::Introspector;
use crate::introspection::cache::AnswerCache;
use crate::limits::{LimitSettings, Limiter};
use crate::metrics::Metrics;
use crate::retention::Retention;
use crate::revocation::{Revoker, TokenRevocation};
use crate::scanning::Scanners;
use crate::shared_signals::{PollBounds, Transmitter, TransmitterParts};
use crate::signing::SigningKeySource;
use crate::storage::{
    self, ContractSteps, MigrationReport, PoolSettings, Readiness, Store, StoreError,
};
use crate::tls::{self, TlsError};
use crate::transport::{self, Connections, CountingAcceptor};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("invalid token prefixes: {0}")]
    TokenFormat(#[from] crate::domain::minted::PrefixError),
    #[error("cannot prepare client secret verification: {0}")]
    Hasher(argon2::password_hash::Error),
    #[error("the admin listener needs admin.token_hash (make one with `rescind admin hash-token`)")]
    AdminWithoutToken,
    #[error("cannot use the listening socket: {0}")]
    Listener(#[source] std::io::Error),
    #[error("cannot read {key}: {source}")]
    SecretFile { key: String, source: std::io::Error },
    #[error("invalid configuration: `{0}`: the secret must be at least 32 bytes")]
    ShortSecret(String),
    #[error("{0} is not a URL")]
    WebhookUrl(String),
    #[error("cannot open the shared signals signing key: {0}")]
    SigningKey(#[from] crate::signing::KeyStoreError),
    #[error("cannot build the outbound HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// A server ready to run: the public listener, and the admin listener when
/// one is configured.
pub struct Server {
    router: Router,
    listener: std::net::TcpListener,
    admin: Option<AdminListener>,
    admin_state: Option<AdminState>,
    edge: Edge,
    tls: Option<RustlsConfig>,
    /// The files `tls` was loaded from, followed for changes.
    certificate: Option<tls::CertificateFiles>,
    reload_interval: Duration,
    retention: Retention,
    shutdown_grace: Duration,
    limiter: Arc<Limiter>,
    store: Arc<dyn Store>,
    events: Events,
    poll_interval: Duration,
    /// `None` without configured webhooks.
    dispatcher: Option<Dispatcher>,
    /// The open connections of both listeners, and their bound.
    connections: Arc<Connections>,
    header_timeout: Duration,
}

struct AdminListener {
    router: Router,
    listener: std::net::TcpListener,
}

/// Opens the store named by the configuration, creating the data directory
/// for the embedded default, and applies migrations when configured to.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartupError> {
    tls::install_crypto_provider();
    if settings.database.url.is_none() {
        crate::private_files::create_private_dir(&settings.data_dir).map_err(|source| {
            StartupError::DataDir {
                path: settings.data_dir.display().to_string(),
                source,
            }
        })?;
    }
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        timeout: settings.database.timeout,
    };
    let store = storage::open(settings.database_url().expose_secret(), &pool).await?;
    if settings.database.migrate_on_start {
        let report = store.migrate(ContractSteps::HoldBack).await?;
        log_migration(&report);
    }
    Ok(store)
}

/// Tells the operator what a migration run left to do: contract steps held
/// back, or a schema this binary cannot serve.
pub fn log_migration(report: &MigrationReport) {
    if !report.applied.is_empty() {
        tracing::info!(applied = ?report.applied, "migrations applied");
    }
    if let Some(first) = report.held_back.first() {
        tracing::warn!(
            contract_step = first,
            held_back = ?report.held_back,
            "contract migrations are held back: run `rescind migrate --force` once no \
             instance of the previous release runs"
        );
    }
    if let Readiness::SchemaIncompatible {
        contracted,
        supported,
        ..
    } = report.compatibility
    {
        tracing::error!(
            contracted,
            supported,
            "a newer release applied a contract migration this binary cannot run on: \
             it stays unready; run the newer release"
        );
    }
}

/// The use cases the token endpoints, the scanners and the admin API
/// share, built here and nowhere else.
struct UseCases {
    revoker: Revoker,
    authenticator: Authenticator,
    token_revocation: TokenRevocation,
    introspector: Introspector,
}

impl UseCases {
    fn build(
        settings: &Settings,
        store: &Arc<dyn Store>,
        verifier: &SecretVerifier,
        clock: &Arc<dyn Clock>,
        events: &Events,
        format: &TokenFormat,
    ) -> Self {
        let revoker = Revoker::new(
            store.clone(),
            format.clone(),
            settings.policy.foreign,
            clock.clone(),
            events.clone(),
        );
        let cache = CredentialCache::new(settings.auth.cache_ttl, settings.auth.cache_capacity);
        let authenticator =
            Authenticator::new(store.clone(), verifier.clone(), cache, clock.clone());
        let token_revocation = TokenRevocation::new(
            revoker.clone(),
            authenticator.clone(),
            settings.policy.anonymous,
        );
        let introspector = Introspector::new(
            store.clone(),
            authenticator.clone(),
            format.clone(),
            clock.clone(),
            events.clone(),
        );
        Self {
            revoker,
            authenticator,
            token_revocation,
            introspector,
        }
    }
}

/// The Shared Signals transmitter when `ssf.enabled`, its signing keys
/// opened (a key generated on first start) from the data folder.
fn transmitter(
    settings: &Settings,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    events: &Events,
    metrics: &Arc<Metrics>,
) -> Result<Option<Transmitter>, StartupError> {
    let ssf = &settings.ssf;
    if !ssf.enabled {
        return Ok(None);
    }
    let source = match &ssf.key_file {
        Some(path) => SigningKeySource::File(path.clone()),
        None => SigningKeySource::Generate(ssf.algorithm),
    };
    let keys = crate::signing::store::open(
        &settings.data_dir.join(crate::signing::store::FOLDER),
        &source,
        ssf.rotation_overlap,
        clock.now(),
    )?;
    Ok(Some(Transmitter::new(TransmitterParts {
        store: store.clone(),
        outbox: store.clone(),
        keys: Arc::new(keys),
        clock: clock.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        issuer: settings.issuer.clone(),
        issuer_base: settings.issuer_base().to_owned(),
        bounds: PollBounds::from_settings(ssf),
    })))
}

impl Server {
    /// Builds the services and the public router over `store`, and prepares
    /// TLS. The admin listener is added with [`Self::with_admin`]. Every
    /// use case reads the time from `clock` (the wall clock in production;
    /// tests pass one they can move).
    pub fn build(
        settings: &Settings,
        store: Arc<dyn Store>,
        listener: std::net::TcpListener,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        tls::install_crypto_provider();
        listener
            .set_nonblocking(true)
            .map_err(StartupError::Listener)?;
        let verifier = secret_verifier(settings)?;
        let format = TokenFormat::new(
            &settings.tokens.access_prefix,
            &settings.tokens.refresh_prefix,
        )?;
        let events = Events::new(AnswerCache::new(
            settings.introspection.cache_ttl,
            settings.introspection.cache_capacity,
        ));
        let UseCases {
            revoker,
            authenticator,
            token_revocation,
            introspector,
        } = UseCases::build(settings, &store, &verifier, &clock, &events, &format);
        let limiter = Arc::new(limiter(settings));
        let metrics = Arc::new(Metrics::new());
        let retention = Retention {
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            settings: settings.retention.clone(),
        };
        let outbound = Dispatcher::client().map_err(StartupError::HttpClient)?;
        let dispatcher =
            webhook_dispatcher(settings, &store, &clock, &events, &outbound, &metrics)?;
        let transmitter = transmitter(settings, &store, &clock, &events, &metrics)?;
        let services = Services {
            transmitter,
            store: store.clone(),
            authenticator,
            revoker,
            token_revocation,
            introspector,
            metrics: metrics.clone(),
            limiter: limiter.clone(),
            backlog: Arc::new(Backlog::from_settings(
                settings,
                store.clone(),
                store.clone(),
                &events,
                &clock,
            )),
            clock,
            format,
            events: events.clone(),
            scanners: Scanners::from_settings(&settings.secret_scanning, &outbound),
        };
        let state = AppState::new(settings, &services);
        let edge = edge(settings, &metrics);
        let router = http::router(state.clone(), settings.issuer_path(), &edge);
        let admin_state = AdminState::new(settings, services, state, verifier);
        let certificate = tls::certificate_files(settings)?;
        let tls = certificate
            .as_ref()
            .map(tls::CertificateFiles::load)
            .transpose()?
            .map(RustlsConfig::from_config);
        Ok(Self {
            router,
            listener,
            admin: None,
            admin_state,
            edge,
            tls,
            certificate,
            reload_interval: settings.tls.reload_interval,
            retention,
            shutdown_grace: settings.server.shutdown_grace,
            limiter,
            store,
            events,
            poll_interval: settings.events.poll_interval,
            dispatcher,
            connections: Connections::new(
                transport::effective_bound(
                    settings.server.max_connections,
                    settings.database.max_connections,
                    transport::open_files_limit(),
                ),
                metrics,
            ),
            header_timeout: settings.server.header_timeout,
        })
    }

    /// Serves the admin API on `listener` too. Refused without
    /// `admin.token_hash`: no admin listener starts unauthenticated.
    pub fn with_admin(mut self, listener: std::net::TcpListener) -> Result<Self, StartupError> {
        let Some(state) = self.admin_state.clone() else {
            return Err(StartupError::AdminWithoutToken);
        };
        listener
            .set_nonblocking(true)
            .map_err(StartupError::Listener)?;
        // The admin API's calls may be long (bulk revocations): no time
        // bound, only the concurrency limit.
        let mut edge = self.edge.clone();
        edge.guard = edge.guard.for_listener_without_timeout();
        self.admin = Some(AdminListener {
            router: http::admin::router(&state, &edge),
            listener,
        });
        Ok(self)
    }

    /// The admin listener's address, when there is one.
    pub fn admin_addr(&self) -> Result<Option<SocketAddr>, StartupError> {
        self.admin
            .as_ref()
            .map(|admin| admin.listener.local_addr().map_err(StartupError::Listener))
            .transpose()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, StartupError> {
        self.listener.local_addr().map_err(StartupError::Listener)
    }

    /// Whether the server speaks TLS itself.
    #[must_use]
    pub const fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish within the configured grace period.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let handle = Handle::new();
        let grace = self.shutdown_grace;
        let trigger = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: draining in-flight requests"
            );
            trigger.graceful_shutdown(Some(grace));
        });
        let mut background = vec![
            tokio::spawn(forget_idle_limits(self.limiter.clone())),
            tokio::spawn(self.retention.run_forever()),
            tokio::spawn(follower::run(
                self.events.clone(),
                self.store.clone(),
                self.poll_interval,
            )),
            tokio::spawn(notifier::run(self.events.clone(), self.store.clone())),
        ];
        if let Some(dispatcher) = self.dispatcher {
            background.push(tokio::spawn(dispatcher.run()));
        }
        if let (Some(files), Some(config)) = (self.certificate, self.tls.clone()) {
            let interval = self.reload_interval;
            background.push(tokio::spawn(tls::follow_certificate_files(
                files,
                interval,
                move |fresh| config.reload_from_config(fresh),
            )));
        }
        let transport = Transport {
            tls: self.tls,
            connections: self.connections,
            header_timeout: self.header_timeout,
        };
        let public = serve(self.listener, self.router, &transport, handle.clone());
        let served = if let Some(admin) = self.admin {
            let admin = serve(admin.listener, admin.router, &transport, handle);
            tokio::try_join!(public, admin).map(|_| ())
        } else {
            public.await
        };
        for task in background {
            task.abort();
        }
        served
    }
}

/// What both listeners serve connections with.
struct Transport {
    tls: Option<RustlsConfig>,
    connections: Arc<Connections>,
    header_timeout: Duration,
}

/// The layers around the public listener's routes.
fn edge(settings: &Settings, metrics: &Arc<Metrics>) -> Edge {
    Edge {
        metrics: metrics.clone(),
        proxies: Arc::new(TrustedProxies::new(
            settings.trusted_proxies(),
            settings.server.forwarded_header,
        )),
        guard: Guard::new(
            settings.server.max_concurrent_requests,
            Some(settings.server.request_timeout),
            settings.server.retry_after.as_secs(),
            metrics.clone(),
        ),
    }
}

/// Serves one listener until `handle` shuts it down: HTTP/1.1 only, every
/// connection counted against the bound, with a header-read timeout.
///
/// HTTP/1.1 only, on purpose: a revocation is one small request, so HTTP/2's
/// multiplexing buys nothing, and serving it would bring a second set of
/// limits to get right (streams per connection, its own idle and header
/// timeouts, resets). hyper's automatic protocol detection also waits for a
/// connection's first bytes before any timeout runs, which kept connections
/// that never sent a byte open for ever. TLS offers `http/1.1` alone by ALPN,
/// and a prior-knowledge HTTP/2 preface is an invalid HTTP/1.1 request.
async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    transport: &Transport,
    handle: Handle<SocketAddr>,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let counting = CountingAcceptor(transport.connections.clone());
    if let Some(tls) = &transport.tls {
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls.clone())
            .handshake_timeout(transport.header_timeout)
            .acceptor(counting);
        let mut server = axum_server::from_tcp(listener)?
            .acceptor(acceptor)
            .handle(handle)
            .http1_only();
        guard_header_reads(server.http_builder(), transport.header_timeout);
        server.serve(service).await
    } else {
        let mut server = axum_server::from_tcp(listener)?
            .acceptor(counting)
            .handle(handle)
            .http1_only();
        guard_header_reads(server.http_builder(), transport.header_timeout);
        server.serve(service).await
    }
}

/// The argon2 verifier, its concurrency configured or derived from the CPUs
/// and the cgroup memory limit.
fn secret_verifier(settings: &Settings) -> Result<SecretVerifier, StartupError> {
    let concurrency = settings.auth.argon2_concurrency.unwrap_or_else(|| {
        let (derived, memory_limit) = auth::concurrency::from_machine();
        tracing::info!(
            argon2_concurrency = derived,
            memory_limit,
            "argon2 concurrency derived from the CPUs and the cgroup memory limit"
        );
        derived
    });
    SecretVerifier::new(concurrency).map_err(StartupError::Hasher)
}

/// The abuse-control limits of `settings`.
fn limiter(settings: &Settings) -> Limiter {
    let limits = &settings.rate_limit;
    Limiter::new(LimitSettings {
        window: limits.window,
        failed_auth_per_client: limits.failed_auth_per_client,
        failed_auth_per_address: limits.failed_auth_per_address,
        requests_per_address: limits.requests_per_address,
        requests_per_client: limits.requests_per_client,
        public_reports_per_minute: settings.secret_scanning.public_reports_per_minute,
        failed_signatures_per_minute: settings.secret_scanning.failed_signatures_per_minute,
    })
}

/// The webhook dispatcher for the configured endpoints; `None` without any.
fn webhook_dispatcher(
    settings: &Settings,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    events: &Events,
    client: &reqwest::Client,
    metrics: &Arc<Metrics>,
) -> Result<Option<Dispatcher>, StartupError> {
    if settings.events.webhooks.is_empty() {
        return Ok(None);
    }
    let mut endpoints = Vec::new();
    for (index, webhook) in settings.events.webhooks.iter().enumerate() {
        let secret = match (&webhook.secret, &webhook.secret_file) {
            (Some(secret), _) => secret.expose_secret().as_bytes().to_vec(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\r', '\n']).as_bytes().to_vec())
                .map_err(|source| StartupError::SecretFile {
                    key: format!("events.webhooks[{index}].secret_file"),
                    source,
                })?,
            // Validation requires one of the two.
            (None, None) => Vec::new(),
        };
        // Checked for `secret` by validation already; a file is read here.
        if secret.len() < crate::config::MIN_WEBHOOK_SECRET {
            return Err(StartupError::ShortSecret(format!(
                "events.webhooks[{index}].secret_file"
            )));
        }
        endpoints.push(Endpoint {
            name: webhook.name.clone(),
            // Validated as a URL already.
            url: reqwest::Url::parse(&webhook.url)
                .map_err(|_| StartupError::WebhookUrl(format!("events.webhooks[{index}].url")))?,
            secret,
            timeout: webhook.timeout,
            backoff: Backoff {
                initial: webhook.retry_initial,
                max: webhook.retry_max,
                max_attempts: webhook.max_attempts,
            },
        });
    }
    Ok(Some(Dispatcher {
        events: events.clone(),
        store: store.clone(),
        clock: clock.clone(),
        endpoints,
        issuer: settings.issuer.clone(),
        client: client.clone(),
        metrics: metrics.clone(),
    }))
}

/// Drops rate-limit state for callers not seen for a window, once a window.
async fn forget_idle_limits(limiter: Arc<Limiter>) {
    let mut ticks = tokio::time::interval(limiter.window());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        limiter.forget_idle();
    }
}

/// Bounds how long a client may take to send a request's headers
/// (slowloris). hyper starts this timer when it starts waiting for a request
/// (at the connection's start, and after each answer), so it also closes a
/// connection that sends nothing, and an idle kept-alive one.
fn guard_header_reads(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
