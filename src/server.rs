//! Startup: the same code for `rescind serve` and for the tests, which bind
//! port 0 and pass their own listener and shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use hyper_util::rt::TokioTimer;

use crate::auth::{Authenticator, CredentialCache, SecretVerifier};
use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::minted::TokenFormat;
use crate::http::{self, AppState};
use crate::revocation::Revoker;
use crate::storage::{self, PoolSettings, Store, StoreError};
use crate::tls::{self, TlsError};

/// How long a client may take to send its request headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
    #[error("cannot use the listening socket: {0}")]
    Listener(#[source] std::io::Error),
}

/// A server ready to run.
pub struct Server {
    router: Router,
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    shutdown_grace: Duration,
}

/// Opens the store named by the configuration, creating the data directory
/// for the embedded default, and applies migrations when configured to.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartupError> {
    tls::install_crypto_provider();
    if settings.database.url.is_none() {
        create_private_dir(&settings.data_dir).map_err(|source| StartupError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
    }
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        timeout: settings.database.timeout,
    };
    let store = storage::open(&settings.database_url(), &pool).await?;
    if settings.database.migrate_on_start {
        store.migrate().await?;
    }
    Ok(store)
}

/// Creates `dir` readable by its owner only: it holds the token and secret
/// hashes and the TLS key.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

impl Server {
    /// Builds the services and the router over `store`, and prepares TLS.
    pub fn build(
        settings: &Settings,
        store: Arc<dyn Store>,
        listener: std::net::TcpListener,
    ) -> Result<Self, StartupError> {
        tls::install_crypto_provider();
        listener
            .set_nonblocking(true)
            .map_err(StartupError::Listener)?;
        let concurrency = settings.auth.argon2_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        let verifier = SecretVerifier::new(concurrency).map_err(StartupError::Hasher)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let format = TokenFormat::new(
            &settings.tokens.access_prefix,
            &settings.tokens.refresh_prefix,
        )?;
        let revoker = Revoker::new(store.clone(), format, settings.policy.foreign, clock);
        let cache = CredentialCache::new(settings.auth.cache_ttl, settings.auth.cache_capacity);
        let authenticator = Authenticator::new(store.clone(), verifier, cache);
        let state = AppState::new(settings, store, authenticator, revoker);
        let router = http::router(state, settings.issuer_path());
        let tls = tls::server_config(settings)?.map(RustlsConfig::from_config);
        Ok(Self {
            router,
            listener,
            tls,
            shutdown_grace: settings.server.shutdown_grace,
        })
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
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        if let Some(tls) = self.tls {
            let mut server = axum_server::from_tcp_rustls(self.listener, tls)?.handle(handle);
            guard_header_reads(server.http_builder());
            server.serve(service).await
        } else {
            let mut server = axum_server::from_tcp(self.listener)?.handle(handle);
            guard_header_reads(server.http_builder());
            server.serve(service).await
        }
    }
}

/// Bounds how long a client may take to send its request headers (slowloris).
fn guard_header_reads(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
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
