//! `/admin/clients`: register, read, list, change, rotate and delete clients.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};

use super::body::{self, check_text, page_limit};
use super::error::AdminError;
use super::schema::{self, MAX_NAME};
use super::views::{ClientCreated, ClientDeleted, ClientPage, ErrorBody, SecretRotated};
use super::{AdminState, answer, created};
use crate::domain::audit::ClientUpdate;
use crate::domain::client::{ClientId, ClientKind};
use crate::domain::secret::ClientSecret;
use crate::http::observe::RequestId;
use crate::provisioning::{self, ClientView};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// 1 to 255 printable ASCII characters; generated (32 hex digits) when absent.
    #[schema(schema_with = schema::optional_client_id)]
    client_id: Option<String>,
    #[serde(default = "confidential")]
    kind: KindField,
    /// A display name, 1 to 255 characters without control characters.
    #[schema(schema_with = schema::optional_name)]
    name: Option<String>,
    /// Public clients only: at most 100 browser origins
    /// (`https://app.example.com`, `http://localhost:3000`).
    #[serde(default)]
    #[schema(schema_with = schema::origins)]
    allowed_origins: Vec<String>,
    /// Confidential clients only: may introspect tokens.
    #[serde(default)]
    resource_server: bool,
}

/// The client type (RFC 6749 §2.1); `confidential` when absent.
#[derive(Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KindField {
    Confidential,
    Public,
}

const fn confidential() -> KindField {
    KindField::Confidential
}

/// Register a client. A confidential client's generated secret is in this
/// answer and nowhere else, ever.
#[utoipa::path(post, path = "/admin/clients", operation_id = "create_client", tag = "clients",
    request_body = NewClient,
    responses(
        (status = 201, description = "Registered", body = ClientCreated),
        (status = 400, description = "Invalid client", body = ErrorBody),
        (status = 409, description = "The id is taken (also by a deleted client)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(State(admin): State<AdminState>, body: Body) -> Response {
    let outcome = async {
        let new: NewClient = body::json(body).await?;
        let id = match new.client_id {
            Some(raw) => parse_client_id(&raw)?,
            None => parse_client_id(&uuid::Uuid::new_v4().simple().to_string())?,
        };
        if let Some(name) = &new.name {
            check_text("name", name, MAX_NAME)?;
        }
        let kind = match new.kind {
            KindField::Confidential => ClientKind::Confidential,
            KindField::Public => ClientKind::Public,
        };
        let now = admin.services.clock.now();
        let registration = provisioning::NewClient {
            id: id.clone(),
            kind,
            name: new.name,
            allowed_origins: new.allowed_origins,
            resource_server: new.resource_server,
        };
        let secret = admin
            .services
            .administration
            .create_client(registration, now)
            .await
            .map_err(|error| admin.refused(error))?;
        let client = found(&admin, &id).await?;
        Ok::<_, AdminError>(created(&ClientCreated {
            client: ClientView::of(&client, now),
            client_secret: secret.map(|secret| secret.expose().to_owned()),
        }))
    };
    answer(outcome.await)
}

/// Read a client (never its secret).
#[utoipa::path(get, path = "/admin/clients/{id}", operation_id = "get_client", tag = "clients",
    params(ClientPath),
    responses(
        (status = 200, description = "The client", body = ClientView),
        (status = 404, description = "No such client", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(admin): State<AdminState>,
    Path(ClientPath { id }): Path<ClientPath>,
) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let client = found(&admin, &id).await?;
        Ok::<_, AdminError>(Json(ClientView::of(&client, admin.services.clock.now())))
    };
    answer(outcome.await)
}

/// The path of one client.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientPath {
    /// The client id, percent-encoded.
    #[param(schema_with = schema::client_id)]
    id: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The `next` of the previous page.
    #[param(schema_with = schema::client_id)]
    after: Option<String>,
    /// 1 to 1000; 100 when absent.
    #[param(schema_with = schema::limit)]
    limit: Option<u32>,
}

/// List clients by id, one page at a time.
#[utoipa::path(get, path = "/admin/clients", operation_id = "list_clients", tag = "clients",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = ClientPage),
        (status = 400, description = "Bad paging", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(State(admin): State<AdminState>, uri: Uri) -> Response {
    let outcome = async {
        let query: ListQuery = body::query(&uri)?;
        let limit = page_limit(query.limit)?;
        let after = query.after.as_deref().map(parse_client_id).transpose()?;
        let page = admin
            .services
            .administration
            .list_clients(after.as_ref(), limit)
            .await
            .map_err(|error| admin.unavailable(&error))?;
        let now = admin.services.clock.now();
        let next = (page.len() == limit as usize)
            .then(|| page.last().map(|client| client.id.as_str().to_owned()))
            .flatten();
        let items = page
            .iter()
            .map(|client| ClientView::of(client, now))
            .collect();
        Ok::<_, AdminError>(Json(ClientPage { items, next }))
    };
    answer(outcome.await)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// Absent: unchanged; `null`: cleared. Three states are the point.
    #[allow(clippy::option_option)]
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = schema::optional_name)]
    name: Option<Option<String>>,
    /// Public clients only (`409` for a confidential one): at most 100
    /// browser origins; `[]` removes them all.
    #[schema(schema_with = schema::optional_origins)]
    allowed_origins: Option<Vec<String>>,
    /// Disabling or re-enabling ends cached credentials on every instance.
    disabled: Option<bool>,
    /// Confidential clients only (`409` for a public one): may introspect
    /// tokens. Taking it away ends cached credentials on every instance.
    resource_server: Option<bool>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
#[allow(clippy::option_option)]
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Change a client's name, allowed origins, enabled state or introspection right.
#[utoipa::path(patch, path = "/admin/clients/{id}", operation_id = "update_client", tag = "clients",
    params(ClientPath),
    request_body = Changes,
    responses(
        (status = 200, description = "The client as it now is", body = ClientView),
        (status = 400, description = "Invalid change", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "Origins for a confidential client, or the introspection right for a public one", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(admin): State<AdminState>,
    Path(ClientPath { id }): Path<ClientPath>,
    body: Body,
) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let changes: Changes = body::json(body).await?;
        if let Some(Some(name)) = &changes.name {
            check_text("name", name, MAX_NAME)?;
        }
        let update = ClientUpdate {
            name: changes.name,
            allowed_origins: changes.allowed_origins,
            disabled: changes.disabled,
            resource_server: changes.resource_server,
        };
        let now = admin.services.clock.now();
        let client = admin
            .services
            .administration
            .update_client(&id, &update, now)
            .await
            .map_err(|error| admin.refused(error))?;
        Ok::<_, AdminError>(Json(ClientView::of(&client, now)))
    };
    answer(outcome.await)
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the replaced secret keeps working: a whole number and one
    /// unit (`s`, `m`, `h`, `d` or `days`), at most 90 days, such as `"1h"`
    /// or `"7d"`; without it, the replaced secret stops at once.
    #[schema(schema_with = schema::optional_grace_period)]
    grace_period: Option<String>,
}

/// Give a confidential client a new generated secret, shown once.
#[utoipa::path(post, path = "/admin/clients/{id}/secret", operation_id = "rotate_client_secret", tag = "clients",
    params(ClientPath),
    request_body = Rotation,
    responses(
        (status = 200, description = "Rotated", body = SecretRotated),
        (status = 400, description = "A bad grace period", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "A public client: it has no secret", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(admin): State<AdminState>,
    Path(ClientPath { id }): Path<ClientPath>,
    body: Body,
) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let rotation: Rotation = body::json(body).await?;
        let grace: Option<Duration> = rotation
            .grace_period
            .as_deref()
            .map(|text| {
                schema::grace_period(text).ok_or_else(|| {
                    AdminError::invalid_request(
                        "grace_period must be a whole number and one unit (s, m, h, d), \
                         at most 90 days",
                    )
                })
            })
            .transpose()?;
        let secret = ClientSecret::generate();
        let now = admin.services.clock.now();
        let previous_until = admin
            .services
            .administration
            .set_secret(&id, &secret, grace, now)
            .await
            .map_err(|error| admin.refused(error))?;
        Ok(Json(SecretRotated {
            client_id: id.as_str().to_owned(),
            client_secret: secret.expose().to_owned(),
            previous_secret_expires_at: previous_until,
        }))
    };
    answer(outcome.await)
}

/// Delete a client: its credentials stop at once, then every grant it
/// holds is revoked (audited as `client_deleted`). The id stays taken.
#[utoipa::path(delete, path = "/admin/clients/{id}", operation_id = "delete_client", tag = "clients",
    params(ClientPath),
    responses(
        (status = 200, description = "Deleted", body = ClientDeleted),
        (status = 404, description = "No such client", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(admin): State<AdminState>,
    Extension(request_id): Extension<RequestId>,
    Path(ClientPath { id }): Path<ClientPath>,
) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let services = &admin.services;
        let revoked = services
            .administration
            .delete_client(&id, request_id.as_str(), services.clock.now())
            .await
            .map_err(|error| admin.refused(error))?;
        Ok::<_, AdminError>(Json(ClientDeleted {
            client_id: id.as_str().to_owned(),
            revoked_grants: revoked,
        }))
    };
    answer(outcome.await)
}

pub(super) fn parse_client_id(raw: &str) -> Result<ClientId, AdminError> {
    ClientId::parse(raw)
        .map_err(|error| AdminError::invalid_request(format!("invalid client_id: {error}")))
}

async fn found(
    admin: &AdminState,
    id: &ClientId,
) -> Result<crate::domain::client::Client, AdminError> {
    admin
        .services
        .administration
        .find_client(id)
        .await
        .map_err(|error| admin.unavailable(&error))?
        .ok_or_else(|| AdminError::not_found(format!("no client with id {:?}", id.as_str())))
}
