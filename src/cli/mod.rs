//! The command line (interface fixed by the core issue; scripts rely on it).
//! Every command prints JSON on standard output and, on failure, one line on
//! standard error with a non-zero exit.

mod client;
mod config;
mod grant;
mod healthcheck;
mod migrate;
mod receiver;
mod token;

use secrecy::ExposeSecret as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Settings};
use crate::domain::clock::SystemClock;
use crate::domain::minted::TokenFormat;
use crate::events::Events;
use crate::revocation::Revoker;
use crate::server::{self, Server, StartupError};
use crate::storage::{EventStore, Store, StoreError};

/// Rescind: an OAuth 2.0 token revocation server (RFC 7009, RFC 8414).
#[derive(Debug, Parser)]
#[command(name = "rescind", version, about)]
pub struct Cli {
    /// TOML configuration file (see config/rescind.example.toml).
    #[arg(long, global = true, value_name = "FILE", env = crate::config::CONFIG_FILE_ENV)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the revocation and metadata endpoints.
    Serve,
    /// Apply pending database migrations, then exit. Contract steps (which
    /// the previous release cannot run on) are held back unless forced, or
    /// the database is new.
    Migrate {
        /// Also apply contract steps: only once no instance of the previous
        /// release runs.
        #[arg(long)]
        force: bool,
    },
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Revoke grants in bulk.
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// Mint and inspect tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Manage Shared Signals receivers (see docs/shared-signals.md).
    #[command(subcommand)]
    Receiver(receiver::ReceiverCommand),
    /// Admin API helpers.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 when this configuration's server answers `/health/ready` with
    /// 200 (its own TLS, self-signed included, or plain HTTP in proxy mode):
    /// a container health check for an image without a shell.
    Healthcheck,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file, environment, defaults) and print the
    /// values in force as JSON, secrets redacted. Exit 2 naming the first bad key.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Read an admin bearer token on standard input and print its argon2id
    /// hash, for `admin.token_hash`. The token itself is never printed.
    HashToken,
}

/// A command failure, printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Startup(#[from] StartupError),
    #[error("database error: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("{0}")]
    Provisioning(#[from] crate::provisioning::ProvisioningError),
    /// The database was contracted past what this binary runs on.
    #[error("{0}")]
    Incompatible(String),
    /// `healthcheck`: the server is not ready or does not answer.
    #[error("{0}")]
    Unhealthy(String),
}

impl CliError {
    /// 2 for a bad configuration or bad arguments, 1 for everything else.
    #[must_use]
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Runs one command with a loaded, validated configuration.
pub async fn run(command: Command, settings: Settings) -> Result<(), CliError> {
    match command {
        Command::Serve => serve(&settings).await,
        Command::Migrate { force } => migrate::run(settings, force).await,
        Command::Client(command) => client::run(command, &settings).await,
        Command::Grant(command) => grant::run(command, &settings).await,
        Command::Token(command) => token::run(command, &settings).await,
        Command::Receiver(command) => receiver::run(command, &settings).await,
        Command::Admin(AdminCommand::HashToken) => hash_admin_token(),
        Command::Config(ConfigCommand::Check) => config::check(&settings),
        Command::Healthcheck => healthcheck::run(&settings).await,
    }
}

/// The shortest admin token accepted: 32 characters.
const MIN_ADMIN_TOKEN: usize = 32;

fn hash_admin_token() -> Result<(), CliError> {
    use std::io::Read as _;
    let mut input = Vec::new();
    std::io::stdin().take(4096).read_to_end(&mut input)?;
    let text = String::from_utf8(input)
        .map_err(|_| CliError::Usage("the token is not valid UTF-8".to_owned()))?;
    let token = text.trim_end_matches(['\n', '\r']);
    if token.len() < MIN_ADMIN_TOKEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::Usage(format!(
            "the admin token must be at least {MIN_ADMIN_TOKEN} characters without spaces \
             (try: openssl rand -base64 32)"
        )));
    }
    let hash =
        crate::auth::hash_secret(&crate::domain::secret::ClientSecret::new(token.to_owned()))
            .map_err(|error| CliError::Usage(format!("cannot hash the token: {error}")))?;
    print_json(&serde_json::json!({ "token_hash": hash.as_phc() }))
}

async fn serve(settings: &Settings) -> Result<(), CliError> {
    // Before the listeners: the connection bound is set under this limit.
    if let Some(limit) = crate::transport::raise_open_files_limit() {
        tracing::debug!(open_files_limit = limit, "open-files limit");
    }
    let store = server::open_store(settings).await?;
    let listener = std::net::TcpListener::bind(settings.server.listen).map_err(|e| {
        CliError::Usage(format!("cannot listen on {}: {e}", settings.server.listen))
    })?;
    let mut server = Server::build(settings, store.clone(), listener, Arc::new(SystemClock))?;
    if let Some(admin) = settings.admin.listen {
        let listener = std::net::TcpListener::bind(admin)
            .map_err(|e| CliError::Usage(format!("cannot listen on {admin}: {e}")))?;
        server = server.with_admin(listener)?;
    }
    let scheme = if server.is_tls() { "https" } else { "http" };
    if let Some(admin) = server.admin_addr()? {
        tracing::info!(listen = %format_args!("{scheme}://{admin}"), "admin API is serving");
    }
    tracing::info!(
        listen = %format_args!("{scheme}://{}", server.local_addr()?),
        issuer = %settings.issuer,
        database = if settings.database_url().expose_secret().starts_with("sqlite:") { "sqlite" } else { "postgres" },
        "rescind is serving"
    );
    server.run(server::shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The revocation use case as the server builds it, for commands that
/// revoke: the same batches, audit records and outbox events.
fn revoker(settings: &Settings, store: &Arc<dyn Store>) -> Result<Revoker, CliError> {
    let format = token_format(settings)?;
    // This process serves no introspection: nothing to tell of its
    // revocations but the other instances (through the outbox).
    let events = Events::new(Vec::new());
    Ok(Revoker::new(
        store.clone(),
        format,
        settings.policy.foreign,
        Arc::new(SystemClock),
        events,
    ))
}

/// The configured token format (prefixes).
fn token_format(settings: &Settings) -> Result<TokenFormat, CliError> {
    TokenFormat::new(
        &settings.tokens.access_prefix,
        &settings.tokens.refresh_prefix,
    )
    .map_err(|error| CliError::Usage(error.to_string()))
}

/// The request id of a command's audit records: `cli-` and a random part,
/// so they are told apart from the admin API's.
fn request_id() -> String {
    format!("cli-{}", uuid::Uuid::new_v4().simple())
}

/// Tells running instances at once that revocations were committed, so
/// they drop cached introspection answers without waiting for their next
/// poll of the outbox (which finds the events anyway).
async fn notify_instances(store: &dyn EventStore) {
    if let Err(error) = store.notify_changes().await {
        tracing::warn!(%error, "cannot notify the running instances; they poll the outbox");
    }
}

/// Prints one JSON value as a line on standard output.
fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    Ok(())
}
