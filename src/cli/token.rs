//! `rescind token …`: mint tokens (for integration and load tests), inspect
//! them, and revoke one without the admin listener.

use std::io::{BufWriter, Read as _, Write as _};

use clap::Subcommand;
use serde_json::json;

use super::client::parse_id;
use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::clock::{Clock as _, SystemClock};
use crate::domain::presenter::Presenter;
use crate::domain::revocation::RevocationOutcome;
use crate::domain::token::{PresentedToken, TokenHash};
use crate::provisioning::{self, GrantTemplate};
use crate::server;
use crate::storage::StoreError;

/// Grants stored per transaction by `token issue --count`.
const ISSUE_BATCH: usize = 5_000;

/// The largest value `token inspect` reads from standard input.
const INSPECT_LIMIT: u64 = 64 * 1024;

/// What `token revoke` reads beyond the longest token: room for whitespace
/// around it (a trailing newline, a pasted indent).
const SURROUNDING_WHITESPACE: usize = 1024;

/// The parameter name the revocation endpoint's body holds the token under.
const TOKEN_PARAMETER: &str = "token=";

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
        /// The authorisation server's login session (OpenID Connect `sid`)
        /// the grants belong to: 1 to 255 visible ASCII characters.
        #[arg(long = "session", value_name = "SID")]
        session: Option<String>,
        /// The device the grants are given to (a Matrix device id, an
        /// install): 1 to 255 visible ASCII characters.
        #[arg(long = "device", value_name = "ID")]
        device: Option<String>,
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
    /// Revoke the whole grant of one token read from standard input (never
    /// an argument: `ps` and shell history show those), as the revocation
    /// endpoint does, with an audit record (presenter `operator`, reason
    /// `operator_request`) and an event. Surrounding whitespace is ignored.
    /// Prints the outcome: `revoked`, `already_revoked` or `unknown_token`.
    Revoke,
}

pub async fn run(command: TokenCommand, settings: &Settings) -> Result<(), CliError> {
    match command {
        TokenCommand::Issue {
            client,
            subject,
            scope,
            session,
            device,
            access_ttl,
            refresh_ttl,
            count,
        } => {
            let client_id = parse_id(&client)?;
            let origin = super::grant::parse_origin(session.as_deref(), device.as_deref())?;
            let access_ttl = access_ttl.map_or(settings.tokens.access_ttl.as_secs(), u64::from);
            let refresh_ttl = refresh_ttl.map_or(settings.tokens.refresh_ttl.as_secs(), u64::from);
            let template = GrantTemplate {
                client_id,
                subject,
                scope,
                origin,
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
        TokenCommand::Revoke => revoke(settings).await,
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
            "session_id": record.origin.session_id.as_ref().map(ToString::to_string),
            "device_id": record.origin.device_id.as_ref().map(ToString::to_string),
            "revoked_at": record.revoked_at.map(|at| at.to_rfc3339()),
        }),
        None => json!({
            "found": false, "active": false, "kind": null, "grant_id": null, "client_id": null,
            "session_id": null, "device_id": null, "revoked_at": null,
        }),
    };
    print_json(&report)
}

/// The longest token the revocation endpoint can receive: a body of
/// `server.body_limit` bytes holding nothing but `token=` and the token. A
/// longer one could never have been presented there, so it is refused as a
/// mistake (the wrong file piped in) rather than looked up.
fn longest_token(settings: &Settings) -> usize {
    settings
        .server
        .body_limit
        .saturating_sub(TOKEN_PARAMETER.len())
}

/// Reads the token to revoke: whitespace around it is dropped; nothing,
/// invalid UTF-8, or more than `longest` bytes is refused with a message
/// that quotes none of the input.
fn read_token(input: impl std::io::Read, longest: usize) -> Result<PresentedToken, CliError> {
    let bound = longest + SURROUNDING_WHITESPACE;
    let too_long = || {
        CliError::Usage(format!(
            "the token on standard input is longer than the {longest} bytes the revocation \
             endpoint accepts (server.body_limit)"
        ))
    };
    let mut raw = Vec::new();
    input
        .take(u64::try_from(bound + 1).unwrap_or(u64::MAX))
        .read_to_end(&mut raw)?;
    if raw.len() > bound {
        return Err(too_long());
    }
    let text = String::from_utf8(raw)
        .map_err(|_| CliError::Usage("the token is not valid UTF-8".to_owned()))?;
    let token = text.trim();
    if token.len() > longest {
        return Err(too_long());
    }
    PresentedToken::parse(token.to_owned()).ok_or_else(|| {
        CliError::Usage("no token on standard input: pipe the token to revoke in".to_owned())
    })
}

/// `token revoke`: the revocation use case the endpoint runs, for the
/// operator as presenter, then the outcome as JSON. An unknown token is not
/// a failure (nothing is left to revoke), but it is named, unlike the
/// endpoint's answer: an operator needs to know a paste went wrong.
async fn revoke(settings: &Settings) -> Result<(), CliError> {
    let token = read_token(std::io::stdin().lock(), longest_token(settings))?;
    let store = server::open_store(settings).await?;
    let revoker = super::revoker(settings, &store)?;
    let outcome = revoker
        .revoke(&Presenter::Operator, &token, &super::request_id())
        .await?;
    let report = match outcome {
        RevocationOutcome::Revoked { grant_id, .. } => {
            super::notify_instances(store.as_ref()).await;
            json!({ "outcome": "revoked", "grant_id": grant_id.to_string() })
        }
        RevocationOutcome::AlreadyRevoked => {
            json!({ "outcome": "already_revoked", "grant_id": null })
        }
        RevocationOutcome::Unknown => json!({ "outcome": "unknown_token", "grant_id": null }),
        // An operator is no client: never foreign, never stale.
        RevocationOutcome::ForeignRejected | RevocationOutcome::StalePresenter => {
            return Err(StoreError::Corrupt("the store refused an operator's revocation").into());
        }
    };
    print_json(&report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "rat_0123456789abcdefghijABCDEFGHIJ_000000";

    fn read(input: &[u8], longest: usize) -> Result<String, String> {
        read_token(input, longest)
            .map(|token| token.expose().to_owned())
            .map_err(|error| error.to_string())
    }

    #[test]
    fn whitespace_around_the_token_is_dropped() {
        for input in [
            TOKEN.to_owned(),
            format!("{TOKEN}\n"),
            format!("{TOKEN}\r\n"),
            format!("  {TOKEN} \t\n\n"),
        ] {
            assert_eq!(
                read(input.as_bytes(), 100).as_deref(),
                Ok(TOKEN),
                "{input:?}"
            );
        }
    }

    #[test]
    fn nothing_but_whitespace_is_refused() {
        for input in ["", "\n", "  \r\n\t"] {
            let error = read(input.as_bytes(), 100).err().unwrap_or_default();
            assert!(
                error.contains("no token on standard input"),
                "{input:?}: {error}"
            );
        }
    }

    #[test]
    fn the_longest_token_is_accepted_and_one_byte_more_is_refused() {
        let longest = "x".repeat(64);
        assert_eq!(
            read(format!("{longest}\n").as_bytes(), 64),
            Ok(longest.clone())
        );
        let longer = format!("{longest}y");
        let error = read(longer.as_bytes(), 64).err().unwrap_or_default();
        assert!(error.contains("longer than the 64 bytes"), "{error}");
        assert!(!error.contains(&longer));
        // Far more than the bound: refused without reading it all.
        let flood = vec![b'x'; 64 + SURROUNDING_WHITESPACE + 10];
        assert!(read(&flood, 64).is_err());
    }

    #[test]
    fn invalid_utf8_is_refused_without_quoting_it() {
        let error = read(b"rat_\xff\xfe\n", 100).err().unwrap_or_default();
        assert_eq!(error, "the token is not valid UTF-8");
    }

    #[test]
    fn the_longest_token_is_what_the_endpoint_s_body_limit_holds() {
        let mut settings = Settings::default();
        settings.server.body_limit = 16_384;
        assert_eq!(longest_token(&settings), 16_384 - "token=".len());
    }
}
