//! `/admin/grants` and `/admin/revocations`: hand grants over from another
//! authorisation server, add tokens on refresh rotation, mint tokens, and
//! revoke every grant of a subject or client.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::body::{self, check_text};
use super::clients::parse_client_id;
use super::error::AdminError;
use super::{AdminState, answer, created};
use crate::domain::audit::GrantFilter;
use crate::domain::grant::{GrantId, NewGrant, NewToken};
use crate::domain::revocation::RevocationReason;
use crate::domain::token::{TokenHash, TokenKind};
use crate::http::observe::RequestId;
use crate::provisioning::{self, GrantTemplate};

/// Tokens per call at most (registering or adding).
const MAX_TOKENS: usize = 1000;
/// Grants minted per call at most.
const MAX_MINT: u32 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenField {
    /// The raw value (hashed at once, never stored) …
    token: Option<String>,
    /// … or its SHA-256, 64 hex digits.
    token_hash: Option<String>,
    kind: KindField,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum KindField {
    Access,
    Refresh,
}

impl TokenField {
    fn into_new_token(self) -> Result<NewToken, AdminError> {
        let hash = match (self.token, self.token_hash) {
            (Some(token), None) if !token.is_empty() && token.len() <= 4096 => {
                TokenHash::of(&token)
            }
            (None, Some(hex)) => parse_hash(&hex)?,
            _ => {
                return Err(AdminError::invalid_request(
                    "each token needs exactly one of token (1 to 4096 bytes) or token_hash",
                ));
            }
        };
        Ok(NewToken {
            hash,
            kind: match self.kind {
                KindField::Access => TokenKind::Access,
                KindField::Refresh => TokenKind::Refresh,
            },
            expires_at: self.expires_at,
        })
    }
}

fn parse_hash(hex: &str) -> Result<TokenHash, AdminError> {
    let bad = || AdminError::invalid_request("token_hash must be 64 hexadecimal digits");
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| bad())?;
    }
    TokenHash::from_stored(&bytes).ok_or_else(bad)
}

fn tokens(fields: Vec<TokenField>) -> Result<Vec<NewToken>, AdminError> {
    if fields.is_empty() || fields.len() > MAX_TOKENS {
        return Err(AdminError::invalid_request(
            "tokens must hold 1 to 1000 entries",
        ));
    }
    fields.into_iter().map(TokenField::into_new_token).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRegistration {
    /// Generated when absent.
    grant_id: Option<uuid::Uuid>,
    client_id: String,
    subject: String,
    scope: Option<String>,
    tokens: Vec<TokenField>,
}

/// `POST /admin/grants`: stores a grant and its tokens (raw values are
/// hashed on arrival). `409` when a token is already registered.
pub async fn register(State(admin): State<AdminState>, body: Body) -> Response {
    answer(
        async {
            let registration: GrantRegistration = body::json(body).await?;
            let client_id = parse_client_id(&registration.client_id)?;
            check_text("subject", &registration.subject, 1024)?;
            if let Some(scope) = &registration.scope {
                check_text("scope", scope, 4096)?;
            }
            let grant = NewGrant {
                id: registration
                    .grant_id
                    .map_or_else(GrantId::generate, GrantId::from_uuid),
                client_id,
                subject: registration.subject,
                scope: registration.scope,
                created_at: admin.services.clock.now(),
                tokens: tokens(registration.tokens)?,
            };
            provisioning::register_grant(admin.services.store.as_ref(), &grant)
                .await
                .map_err(|error| admin.refused(error))?;
            Ok(created(&json!({
                "grant_id": grant.id.to_string(),
                "tokens": grant.tokens.len(),
            })))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenAdditions {
    tokens: Vec<TokenField>,
}

/// `POST /admin/grants/{id}/tokens`: refresh rotation. A revoked grant
/// gets no new token (`409`).
pub async fn add_tokens(
    State(admin): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    answer(
        async {
            let grant_id = uuid::Uuid::parse_str(&id)
                .map(GrantId::from_uuid)
                .map_err(|_| AdminError::invalid_request("the grant id must be a UUID"))?;
            let additions: TokenAdditions = body::json(body).await?;
            let new_tokens = tokens(additions.tokens)?;
            provisioning::add_tokens(
                admin.services.store.as_ref(),
                grant_id,
                &new_tokens,
                admin.services.clock.now(),
            )
            .await
            .map_err(|error| admin.refused(error))?;
            Ok(created(&json!({
                "grant_id": grant_id.to_string(),
                "tokens": new_tokens.len(),
            })))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    client_id: String,
    subject: String,
    scope: Option<String>,
    /// Seconds; the configured `tokens.access_ttl` when absent.
    access_ttl: Option<u32>,
    /// Seconds; the configured `tokens.refresh_ttl` when absent.
    refresh_ttl: Option<u32>,
    count: Option<u32>,
}

/// `POST /admin/grants/issue`: `rescind token issue` over HTTP. The minted
/// values are in this answer only.
pub async fn issue(State(admin): State<AdminState>, body: Body) -> Response {
    answer(
        async {
            let request: MintRequest = body::json(body).await?;
            let client_id = parse_client_id(&request.client_id)?;
            check_text("subject", &request.subject, 1024)?;
            if let Some(scope) = &request.scope {
                check_text("scope", scope, 4096)?;
            }
            let count = request.count.unwrap_or(1);
            if !(1..=MAX_MINT).contains(&count) {
                return Err(AdminError::invalid_request(
                    "count must be between 1 and 1000",
                ));
            }
            let store = admin.services.store.as_ref();
            let failed = |error| admin.refused(error);
            provisioning::check_client_may_receive_grants(store, &client_id)
                .await
                .map_err(failed)?;
            let template = GrantTemplate {
                client_id,
                subject: request.subject,
                scope: request.scope,
                access_ttl_secs: request.access_ttl.map_or(admin.access_ttl_secs, u64::from),
                refresh_ttl_secs: request
                    .refresh_ttl
                    .map_or(admin.refresh_ttl_secs, u64::from),
            };
            let minted = provisioning::issue_grants(
                store,
                &admin.services.format,
                &template,
                count as usize,
                admin.services.clock.now(),
            )
            .await
            .map_err(failed)?;
            let grants: Vec<_> = minted
                .iter()
                .map(|grant| grant.to_json(template.access_ttl_secs))
                .collect();
            Ok(created(&json!({ "grants": grants })))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkRequest {
    subject: Option<String>,
    client_id: Option<String>,
}

/// `POST /admin/revocations`: revokes every live grant of a subject, of a
/// client, or of a subject at one client, in batches of 500 (one
/// transaction each, one audit record per grant, reason `admin_bulk`).
pub async fn revoke_all(
    State(admin): State<AdminState>,
    Extension(request_id): Extension<RequestId>,
    body: Body,
) -> Response {
    answer(
        async {
            let request: BulkRequest = body::json(body).await?;
            if let Some(subject) = &request.subject {
                check_text("subject", subject, 1024)?;
            }
            let client_id = request
                .client_id
                .as_deref()
                .map(parse_client_id)
                .transpose()?;
            let filter = GrantFilter::new(client_id, request.subject).ok_or_else(|| {
                AdminError::invalid_request("name a subject, a client_id, or both")
            })?;
            let revoked = admin
                .services
                .revoker
                .revoke_grants(&filter, RevocationReason::AdminBulk, request_id.as_str())
                .await
                .map_err(|error| admin.unavailable(&error))?;
            tracing::info!(revoked_grants = revoked, "bulk revocation");
            Ok(Json(json!({ "revoked_grants": revoked })))
        }
        .await,
    )
}
