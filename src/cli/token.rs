//! `rescind token …`: mint tokens (for integration and load tests) and inspect them.

use std::io::{BufWriter, Read as _, Write as _};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use clap::Subcommand;
use serde_json::json;

use super::client::{parse_id, unknown};
use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::client::ClientId;
use crate::domain::clock::{Clock as _, SystemClock};
use crate::domain::grant::{GrantId, NewGrant, NewToken};
use crate::domain::minted::TokenFormat;
use crate::domain::token::{TokenHash, TokenKind};
use crate::server;

/// Grants stored per transaction by `token issue --count`.
const ISSUE_BATCH: usize = 5_000;

/// The largest value `token inspect` reads from standard input.
const INSPECT_LIMIT: u64 = 64 * 1024;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint grants, each with an access and a refresh token; one JSON object per line.
    Issue {
        #[arg(long = "client", value_name = "ID")]
        client: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        scope: Option<String>,
        /// Access token lifetime in seconds (default: tokens.access_ttl).
        #[arg(long, value_name = "SECS")]
        access_ttl: Option<u32>,
        /// Refresh token lifetime in seconds (default: tokens.refresh_ttl).
        #[arg(long, value_name = "SECS")]
        refresh_ttl: Option<u32>,
        /// How many grants to mint (batched, for seeding load tests).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
    },
    /// Look up one token read from standard input (a trailing newline is ignored).
    Inspect,
}

pub async fn run(command: TokenCommand, settings: &Settings) -> Result<(), CliError> {
    match command {
        TokenCommand::Issue { client, subject, scope, access_ttl, refresh_ttl, count } => {
            let client_id = parse_id(&client)?;
            let access_ttl = access_ttl.map_or(settings.tokens.access_ttl.as_secs(), u64::from);
            let refresh_ttl = refresh_ttl.map_or(settings.tokens.refresh_ttl.as_secs(), u64::from);
            let request = IssueRequest { client_id, subject, scope, access_ttl, refresh_ttl, count };
            issue(settings, request).await
        }
        TokenCommand::Inspect => inspect(settings).await,
    }
}

struct IssueRequest {
    client_id: ClientId,
    subject: String,
    scope: Option<String>,
    access_ttl: u64,
    refresh_ttl: u64,
    count: u32,
}

async fn issue(settings: &Settings, request: IssueRequest) -> Result<(), CliError> {
    let store = server::open_store(settings).await?;
    match store.find_client(&request.client_id).await? {
        None => return Err(unknown(&request.client_id)),
        Some(client) if client.disabled => {
            return Err(CliError::Usage(format!("client {:?} is disabled", request.client_id.as_str())));
        }
        Some(_) => {}
    }
    let format = TokenFormat::new(&settings.tokens.access_prefix, &settings.tokens.refresh_prefix)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let mut rng = rand::rngs::OsRng;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut remaining = request.count as usize;
    while remaining > 0 {
        let batch = remaining.min(ISSUE_BATCH);
        remaining -= batch;
        let now = SystemClock.now();
        let mut grants = Vec::with_capacity(batch);
        let mut lines = Vec::with_capacity(batch);
        for _ in 0..batch {
            let access = format.mint(TokenKind::Access, &mut rng);
            let refresh = format.mint(TokenKind::Refresh, &mut rng);
            let grant = NewGrant {
                id: GrantId::generate(),
                client_id: request.client_id.clone(),
                subject: request.subject.clone(),
                scope: request.scope.clone(),
                created_at: now,
                tokens: vec![
                    new_token(&access, TokenKind::Access, now, request.access_ttl),
                    new_token(&refresh, TokenKind::Refresh, now, request.refresh_ttl),
                ],
            };
            lines.push(json!({
                "grant_id": grant.id.to_string(),
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": request.access_ttl,
            }));
            grants.push(grant);
        }
        store.issue_grants(&grants).await?;
        // Printed only once stored, so every printed token exists.
        for line in lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    Ok(())
}

fn new_token(value: &str, kind: TokenKind, now: DateTime<Utc>, ttl_secs: u64) -> NewToken {
    let ttl = ChronoDuration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    NewToken { hash: TokenHash::of(value), kind, expires_at: now.checked_add_signed(ttl).unwrap_or(DateTime::<Utc>::MAX_UTC) }
}

async fn inspect(settings: &Settings) -> Result<(), CliError> {
    let mut input = Vec::new();
    std::io::stdin().take(INSPECT_LIMIT).read_to_end(&mut input)?;
    let text = String::from_utf8(input).map_err(|_| CliError::Usage("the token is not valid UTF-8".to_owned()))?;
    let token = text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    let store = server::open_store(settings).await?;
    let found = store.find_token(&TokenHash::of(token)).await?;
    let now = SystemClock.now();
    let report = match found {
        Some(record) => json!({
            "found": true,
            "active": record.is_active(now),
            "kind": record.kind.as_str(),
            "grant_id": record.grant_id.to_string(),
            "client_id": record.client_id.as_str(),
            "revoked_at": record.revoked_at.map(|at| at.to_rfc3339()),
        }),
        None => json!({
            "found": false, "active": false, "kind": null, "grant_id": null, "client_id": null, "revoked_at": null,
        }),
    };
    print_json(&report)
}
