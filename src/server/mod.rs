//! Startup: the same code for `rescind serve` and for the tests, which bind
//! port 0 and pass their own listener and shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use crate::config::Settings;
use crate::domain::clock::Clock;
use crate::domain::minted::TokenFormat;
use crate::events::backlog::Backlog;
use crate::events::webhooks::Dispatcher;
use crate::events::{Events, follower, notifier};
use crate::http::admin::AdminState;
use crate::http::{self, AppState, Edge, Services};
use crate::limits::Limiter;
use crate::metrics::Metrics;
use crate::retention::Retention;
use crate::scanning::Scanners;
use crate::shared_signals::push::Pusher;
use crate::storage::{Store, StoreError};
use crate::tls::{self, TlsError};
use crate::transport::{self, Connections};

mod listen;
mod parts;
mod store;

pub use listen::shutdown_signal;
pub use store::{log_migration, open_store};

use listen::{Transport, forget_idle_limits, serve};
use parts::{
    UseCases, edge, limiter, logout_receiver, secret_verifier, transmitter, webhook_dispatcher,
};
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
    /// `None` while shared signals are off.
    pusher: Option<Pusher>,
    /// The open connections of both listeners, and their bound.
    connections: Arc<Connections>,
    header_timeout: Duration,
}

struct AdminListener {
    router: Router,
    listener: std::net::TcpListener,
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
        let UseCases {
            events,
            revoker,
            authenticator,
            token_revocation,
            introspector,
            administration,
        } = UseCases::build(settings, &store, &verifier, &clock, &format);
        let limiter = Arc::new(limiter(settings));
        let metrics = Arc::new(Metrics::new());
        let retention = Retention {
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            settings: settings.retention.clone(),
        };
        let outbound = crate::outbound::client().map_err(StartupError::HttpClient)?;
        let dispatcher =
            webhook_dispatcher(settings, &store, &clock, &events, &outbound, &metrics)?;
        let logout = logout_receiver(settings, &store, &revoker, &clock, &outbound);
        let transmitter = transmitter(settings, &store, &clock, &events, &metrics)?;
        let pusher = transmitter.clone().map(|transmitter| Pusher {
            transmitter,
            client: outbound.clone(),
        });
        let services = Services {
            transmitter,
            administration,
            authenticator,
            logout,
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
            pusher,
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
        if let Some(pusher) = self.pusher {
            background.push(tokio::spawn(pusher.run()));
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
