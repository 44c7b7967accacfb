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
use utoipa::ToSchema;

use super::body::{self, check_text};
use super::clients::parse_client_id;
use super::error::AdminError;
use super::schema::{self, MAX_MINT, MAX_SCOPE, MAX_SUBJECT, MAX_TOKEN, MAX_TOKENS};
use super::views::{BulkRevoked, ErrorBody, MintedGrants, TokensStored};
use super::{AdminState, answer, created};
use crate::domain::audit::{GrantCriteria, GrantFilter};
use crate::domain::grant::{GrantId, GrantOrigin, NewGrant, NewToken};
use crate::domain::revocation::RevocationReason;
use crate::domain::session::{DeviceId, LabelError, SessionId};
use crate::domain::token::{TokenHash, TokenKind};
use crate::http::observe::RequestId;
use crate::provisioning::GrantTemplate;

/// One token: exactly one of `token` and `token_hash` (a `null` one counts
/// as absent).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenField {
    /// The raw value, 1 to 4096 characters (hashed at once, never stored) …
    #[schema(schema_with = schema::optional_token)]
    token: Option<String>,
    /// … or its SHA-256, 64 hex digits.
    #[schema(schema_with = schema::optional_token_hash)]
    token_hash: Option<String>,
    kind: TokenKindField,
    expires_at: DateTime<Utc>,
}

/// The token kind.
#[derive(Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKindField {
    Access,
    Refresh,
}

impl TokenField {
    fn into_new_token(self) -> Result<NewToken, AdminError> {
        let hash = match (self.token, self.token_hash) {
            (Some(token), None) if !token.is_empty() && token.chars().count() <= MAX_TOKEN => {
                TokenHash::of(&token)
            }
            (None, Some(hex)) => parse_hash(&hex)?,
            _ => {
                return Err(AdminError::invalid_request(
                    "each token needs exactly one of token (1 to 4096 characters) or token_hash",
                ));
            }
        };
        Ok(NewToken {
            hash,
            kind: match self.kind {
                TokenKindField::Access => TokenKind::Access,
                TokenKindField::Refresh => TokenKind::Refresh,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRegistration {
    /// Generated when absent.
    grant_id: Option<uuid::Uuid>,
    #[schema(schema_with = schema::client_id)]
    client_id: String,
    /// The user (or other subject) the grant was given by: 1 to 1024
    /// characters without control characters.
    #[schema(schema_with = schema::subject)]
    subject: String,
    /// 1 to 4096 characters without control characters.
    #[schema(schema_with = schema::optional_scope)]
    scope: Option<String>,
    /// The authorisation server's login session (OpenID Connect `sid`): 1 to
    /// 255 visible ASCII characters.
    #[schema(schema_with = schema::optional_label)]
    session_id: Option<String>,
    /// The device the grant is given to (a Matrix device id, an install):
    /// 1 to 255 visible ASCII characters.
    #[schema(schema_with = schema::optional_label)]
    device_id: Option<String>,
    /// 1 to 1000 tokens.
    #[schema(min_items = 1, max_items = 1000)]
    tokens: Vec<TokenField>,
}

/// The login session and device a grant is given in, from their fields (a
/// `null` one counts as absent).
fn grant_origin(
    session_id: Option<&str>,
    device_id: Option<&str>,
) -> Result<GrantOrigin, AdminError> {
    Ok(GrantOrigin {
        session_id: parse_label("session_id", session_id, SessionId::parse)?,
        device_id: parse_label("device_id", device_id, DeviceId::parse)?,
    })
}

/// A label field, `None` when absent; refused with the field's name and the
/// rule it broke (never its value).
fn parse_label<T>(
    field: &'static str,
    raw: Option<&str>,
    parse: fn(&str) -> Result<T, LabelError>,
) -> Result<Option<T>, AdminError> {
    raw.map(parse)
        .transpose()
        .map_err(|why| AdminError::invalid_request(format!("{field} {why}")))
}

/// Store a grant handed over by another authorisation server, with its
/// tokens (raw values are hashed on arrival, never stored).
#[utoipa::path(post, path = "/admin/grants", operation_id = "register_grant", tag = "grants",
    request_body = GrantRegistration,
    responses(
        (status = 201, description = "Stored", body = TokensStored),
        (status = 400, description = "Invalid grant or token", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "A token is already registered, or the client is disabled", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn register(State(admin): State<AdminState>, body: Body) -> Response {
    answer(
        async {
            let registration: GrantRegistration = body::json(body).await?;
            let client_id = parse_client_id(&registration.client_id)?;
            check_text("subject", &registration.subject, MAX_SUBJECT)?;
            if let Some(scope) = &registration.scope {
                check_text("scope", scope, MAX_SCOPE)?;
            }
            let grant = NewGrant {
                id: registration
                    .grant_id
                    .map_or_else(GrantId::generate, GrantId::from_uuid),
                client_id,
                subject: registration.subject,
                scope: registration.scope,
                origin: grant_origin(
                    registration.session_id.as_deref(),
                    registration.device_id.as_deref(),
                )?,
                created_at: admin.services.clock.now(),
                tokens: tokens(registration.tokens)?,
            };
            admin
                .services
                .administration
                .register_grant(&grant)
                .await
                .map_err(|error| admin.refused(error))?;
            Ok(created(&TokensStored {
                grant_id: grant.id.to_string(),
                tokens: grant.tokens.len(),
            }))
        }
        .await,
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenAdditions {
    /// 1 to 1000 tokens.
    #[schema(min_items = 1, max_items = 1000)]
    tokens: Vec<TokenField>,
}

/// Add tokens to a live grant (refresh rotation). A revoked grant gets none.
#[utoipa::path(post, path = "/admin/grants/{id}/tokens", operation_id = "add_grant_tokens", tag = "grants",
    params(("id" = uuid::Uuid, Path, description = "The grant id")),
    request_body = TokenAdditions,
    responses(
        (status = 201, description = "Stored", body = TokensStored),
        (status = 400, description = "Invalid token", body = ErrorBody),
        (status = 404, description = "No such grant", body = ErrorBody),
        (status = 409, description = "The grant is revoked, or a token is already registered", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
            admin
                .services
                .administration
                .add_tokens(grant_id, &new_tokens, admin.services.clock.now())
                .await
                .map_err(|error| admin.refused(error))?;
            Ok(created(&TokensStored {
                grant_id: grant_id.to_string(),
                tokens: new_tokens.len(),
            }))
        }
        .await,
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    #[schema(schema_with = schema::client_id)]
    client_id: String,
    /// 1 to 1024 characters without control characters.
    #[schema(schema_with = schema::subject)]
    subject: String,
    /// 1 to 4096 characters without control characters.
    #[schema(schema_with = schema::optional_scope)]
    scope: Option<String>,
    /// The authorisation server's login session (OpenID Connect `sid`): 1 to
    /// 255 visible ASCII characters.
    #[schema(schema_with = schema::optional_label)]
    session_id: Option<String>,
    /// The device the grant is given to (a Matrix device id, an install):
    /// 1 to 255 visible ASCII characters.
    #[schema(schema_with = schema::optional_label)]
    device_id: Option<String>,
    /// Seconds; the configured `tokens.access_ttl` when absent.
    #[serde(default, deserialize_with = "body::whole_u32")]
    #[schema(schema_with = schema::optional_ttl)]
    access_ttl: Option<u32>,
    /// Seconds; the configured `tokens.refresh_ttl` when absent.
    #[serde(default, deserialize_with = "body::whole_u32")]
    #[schema(schema_with = schema::optional_ttl)]
    refresh_ttl: Option<u32>,
    /// 1 to 1000 grants; 1 when absent.
    #[serde(default, deserialize_with = "body::whole_u32")]
    #[schema(schema_with = schema::optional_count)]
    count: Option<u32>,
}

/// Mint grants of one access and one refresh token each (`rescind token
/// issue` over HTTP). The values are in this answer only.
#[utoipa::path(post, path = "/admin/grants/issue", operation_id = "issue_grants", tag = "grants",
    request_body = MintRequest,
    responses(
        (status = 201, description = "Minted", body = MintedGrants),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "The client is disabled", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn issue(State(admin): State<AdminState>, body: Body) -> Response {
    answer(
        async {
            let request: MintRequest = body::json(body).await?;
            let client_id = parse_client_id(&request.client_id)?;
            check_text("subject", &request.subject, MAX_SUBJECT)?;
            if let Some(scope) = &request.scope {
                check_text("scope", scope, MAX_SCOPE)?;
            }
            let origin = grant_origin(request.session_id.as_deref(), request.device_id.as_deref())?;
            let count = request.count.unwrap_or(1);
            if !(1..=MAX_MINT).contains(&count) {
                return Err(AdminError::invalid_request(
                    "count must be between 1 and 1000",
                ));
            }
            let failed = |error| admin.refused(error);
            let template = GrantTemplate {
                client_id,
                subject: request.subject,
                scope: request.scope,
                origin,
                access_ttl_secs: request.access_ttl.map_or(admin.access_ttl_secs, u64::from),
                refresh_ttl_secs: request
                    .refresh_ttl
                    .map_or(admin.refresh_ttl_secs, u64::from),
            };
            let minted = admin
                .services
                .administration
                .issue_grants(&template, count as usize, admin.services.clock.now())
                .await
                .map_err(failed)?;
            let grants = minted
                .iter()
                .map(|grant| grant.view(template.access_ttl_secs))
                .collect();
            Ok(created(&MintedGrants { grants }))
        }
        .await,
    )
}

/// At least one field (a `null` one counts as absent); a grant must match
/// every field given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// 1 to 1024 characters without control characters.
    #[schema(schema_with = schema::optional_subject)]
    subject: Option<String>,
    #[schema(schema_with = schema::optional_client_id)]
    client_id: Option<String>,
    /// Grants given in this login session (OpenID Connect `sid`).
    #[schema(schema_with = schema::optional_label)]
    session_id: Option<String>,
    /// Grants given to this device.
    #[schema(schema_with = schema::optional_label)]
    device_id: Option<String>,
}

/// Revoke every live grant of a subject, of a client, of a login session,
/// of a device, or of any combination (a grant must match them all): in
/// batches of 500 (one transaction each), one audit record
/// per grant (presenter `admin`, reason `admin_bulk`). Safe to repeat.
#[utoipa::path(post, path = "/admin/revocations", operation_id = "revoke_grants", tag = "revocations",
    request_body = BulkRequest,
    responses(
        (status = 200, description = "Revoked", body = BulkRevoked),
        (status = 400, description = "No field given, or a field is invalid", body = ErrorBody),
        (status = 503, description = "The database failed; batches already committed stay revoked", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn revoke_all(
    State(admin): State<AdminState>,
    Extension(request_id): Extension<RequestId>,
    body: Body,
) -> Response {
    answer(
        async {
            let request: BulkRequest = body::json(body).await?;
            if let Some(subject) = &request.subject {
                check_text("subject", subject, MAX_SUBJECT)?;
            }
            let client_id = request
                .client_id
                .as_deref()
                .map(parse_client_id)
                .transpose()?;
            let origin = grant_origin(request.session_id.as_deref(), request.device_id.as_deref())?;
            let filter = GrantFilter::matching(GrantCriteria {
                client_id,
                clients: Vec::new(),
                subject: request.subject,
                session_id: origin.session_id,
                device_id: origin.device_id,
            })
            .ok_or_else(|| {
                AdminError::invalid_request(
                    "name a subject, a client_id, a session_id, a device_id, or several",
                )
            })?;
            let revoked = admin
                .services
                .revoker
                .revoke_grants(&filter, RevocationReason::AdminBulk, request_id.as_str())
                .await
                .map_err(|error| admin.unavailable(&error))?;
            tracing::info!(revoked_grants = revoked, "bulk revocation");
            Ok(Json(BulkRevoked {
                revoked_grants: revoked,
            }))
        }
        .await,
    )
}
