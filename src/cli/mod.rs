//! The command line (interface fixed by the core issue; scripts rely on it).
//! Every command prints JSON on standard output and, on failure, one line on
//! standard error with a non-zero exit.

mod client;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Settings};
use crate::server::{self, Server, StartupError};
use crate::storage::StoreError;

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
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Mint and inspect tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
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
        Command::Migrate => {
            let mut settings = settings;
            settings.database.migrate_on_start = true;
            server::open_store(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Client(command) => client::run(command, &settings).await,
        Command::Token(command) => token::run(command, &settings).await,
    }
}

async fn serve(settings: &Settings) -> Result<(), CliError> {
    let store = server::open_store(settings).await?;
    let listener = std::net::TcpListener::bind(settings.server.listen).map_err(|e| {
        CliError::Usage(format!("cannot listen on {}: {e}", settings.server.listen))
    })?;
    let server = Server::build(settings, store.clone(), listener)?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(
        listen = %format_args!("{scheme}://{}", server.local_addr()?),
        issuer = %settings.issuer,
        database = if settings.database_url().starts_with("sqlite:") { "sqlite" } else { "postgres" },
        "rescind is serving"
    );
    server.run(server::shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Prints one JSON value as a line on standard output.
fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    Ok(())
}
