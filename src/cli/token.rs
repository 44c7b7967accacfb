//! `rescind token …`: mint tokens (for integration and load tests) and inspect them.

use std::io::{BufWriter, Read as _, Write as _};

use clap::Subcommand;
use serde_json::json;

use super::client::parse_id;
use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::clock::{Clock as _, SystemClock};
use crate::domain::token::TokenHash;
use crate::provisioning::{self, GrantTemplate};
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
        /// Access token lifetime in seconds (default: the configured one).
        #[arg(long, value_name = "SECS")]
        access_ttl: Option<u32>,
        /// Refresh token lifetime in seconds (default: the configured one).
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
        TokenCommand::Issue {
            client,
            subject,
            scope,
            access_ttl,
            refresh_ttl,
            count,
        } => {
            let client_id = parse_id(&client)?;
            let access_ttl = access_ttl.map_or(settings.tokens.access_ttl.as_secs(), u64::from);
            let refresh_ttl = refresh_ttl.map_or(settings.tokens.refresh_ttl.as_secs(), u64::from);
            let template = GrantTemplate {
                client_id,
                subject,
                scope,
                access_ttl_secs: access_ttl,
                refresh_ttl_secs: refresh_ttl,
            };
            let request = IssueRequest {
                template,
                count: count as usize,
            };
            issue(settings, request).await
        }
        TokenCommand::Inspect => inspect(settings).await,
    }
}

struct IssueRequest {
    template: GrantTemplate,
    count: usize,
}

async fn issue(settings: &Settings, request: IssueRequest) -> Result<(), CliError> {
    let store = server::open_store(settings).await?;
    provisioning::check_client_may_receive_grants(store.as_ref(), &request.template.client_id)
        .await?;
    let format = super::token_format(settings)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut remaining = request.count;
    while remaining > 0 {
        let batch = remaining.min(ISSUE_BATCH);
        remaining -= batch;
        let minted = provisioning::issue_grants(
            store.as_ref(),
            &format,
            &request.template,
            batch,
            SystemClock.now(),
        )
        .await?;
        for grant in minted {
            let line = serde_json::to_string(&grant.view(request.template.access_ttl_secs))
                .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    Ok(())
}

async fn inspect(settings: &Settings) -> Result<(), CliError> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(INSPECT_LIMIT)
        .read_to_end(&mut input)?;
    let text = String::from_utf8(input)
        .map_err(|_| CliError::Usage("the token is not valid UTF-8".to_owned()))?;
    let token = text
        .strip_suffix('\n')
        .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
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
