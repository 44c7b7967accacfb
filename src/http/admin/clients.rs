//! `/admin/clients`: register, read, list, change, rotate and delete clients.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::body::{self, check_text, page_limit};
use super::error::AdminError;
use super::{AdminState, answer, created};
use crate::domain::audit::ClientUpdate;
use crate::domain::client::{ClientId, ClientKind};
use crate::domain::secret::ClientSecret;
use crate::http::observe::RequestId;
use crate::provisioning::{self, ClientView};

/// The longest grace period a rotated secret may get.
const MAX_GRACE: Duration = Duration::from_secs(90 * 24 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Generated when absent.
    client_id: Option<String>,
    #[serde(default = "confidential")]
    kind: KindField,
    name: Option<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum KindField {
    Confidential,
    Public,
}

const fn confidential() -> KindField {
    KindField::Confidential
}

/// `POST /admin/clients`: the secret of a confidential client is in this
/// answer and nowhere else, ever.
pub async fn create(State(admin): State<AdminState>, body: Body) -> Response {
    let outcome = async {
        let new: NewClient = body::json(body).await?;
        let id = match new.client_id {
            Some(raw) => parse_client_id(&raw)?,
            None => parse_client_id(&uuid::Uuid::new_v4().simple().to_string())?,
        };
        if let Some(name) = &new.name {
            check_text("name", name, 255)?;
        }
        let kind = match new.kind {
            KindField::Confidential => ClientKind::Confidential,
            KindField::Public => ClientKind::Public,
        };
        let now = admin.services.clock.now();
        let store = admin.services.store.as_ref();
        let secret = provisioning::create_client(
            store,
            id.clone(),
            kind,
            new.name,
            new.allowed_origins,
            now,
        )
        .await
        .map_err(|error| admin.refused(error))?;
        let client = found(&admin, &id).await?;
        let mut view = to_value(&ClientView::of(&client, now));
        if let (Some(secret), Some(object)) = (secret, view.as_object_mut()) {
            object.insert("client_secret".to_owned(), Value::from(secret.expose()));
        }
        Ok::<_, AdminError>(created(&view))
    };
    answer(outcome.await)
}

/// `GET /admin/clients/{id}`.
pub async fn get(State(admin): State<AdminState>, Path(id): Path<String>) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let client = found(&admin, &id).await?;
        Ok::<_, AdminError>(Json(to_value(&ClientView::of(
            &client,
            admin.services.clock.now(),
        ))))
    };
    answer(outcome.await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /admin/clients?after=&limit=`: ordered by id; `next` is the cursor
/// of the following page, `null` on the last.
pub async fn list(State(admin): State<AdminState>, uri: Uri) -> Response {
    let outcome = async {
        let query: ListQuery = body::query(&uri)?;
        let limit = page_limit(query.limit)?;
        let after = query.after.as_deref().map(parse_client_id).transpose()?;
        let page = admin
            .services
            .store
            .list_clients(after.as_ref(), limit)
            .await
            .map_err(|error| admin.unavailable(&error))?;
        let now = admin.services.clock.now();
        let next = (page.len() == limit as usize)
            .then(|| page.last().map(|client| client.id.as_str().to_owned()))
            .flatten();
        let items: Vec<Value> = page
            .iter()
            .map(|client| to_value(&ClientView::of(client, now)))
            .collect();
        Ok::<_, AdminError>(Json(json!({ "items": items, "next": next })))
    };
    answer(outcome.await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Changes {
    /// Absent: unchanged; `null`: cleared. Three states are the point.
    #[allow(clippy::option_option)]
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    allowed_origins: Option<Vec<String>>,
    disabled: Option<bool>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
#[allow(clippy::option_option)]
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `PATCH /admin/clients/{id}`: name, allowed origins (public clients
/// only), disabled. Disabling or re-enabling ends cached credentials on
/// every instance at once.
pub async fn update(
    State(admin): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let changes: Changes = body::json(body).await?;
        if let Some(Some(name)) = &changes.name {
            check_text("name", name, 255)?;
        }
        let update = ClientUpdate {
            name: changes.name,
            allowed_origins: changes.allowed_origins,
            disabled: changes.disabled,
        };
        let now = admin.services.clock.now();
        let client = provisioning::update_client(admin.services.store.as_ref(), &id, &update, now)
            .await
            .map_err(|error| admin.refused(error))?;
        Ok::<_, AdminError>(Json(to_value(&ClientView::of(&client, now))))
    };
    answer(outcome.await)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// How long the replaced secret keeps working ("1h", "7days"); none by default.
    #[serde(default, with = "humantime_serde")]
    grace_period: Option<Duration>,
}

/// `POST /admin/clients/{id}/secret`: a new generated secret, shown once.
/// With `grace_period`, the old one keeps working that long.
pub async fn rotate_secret(
    State(admin): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let rotation: Rotation = body::json(body).await?;
        if rotation.grace_period.is_some_and(|grace| grace > MAX_GRACE) {
            return Err(AdminError::invalid_request(
                "grace_period must be at most 90 days",
            ));
        }
        let secret = ClientSecret::generate();
        let now = admin.services.clock.now();
        let previous_until = provisioning::set_secret(
            admin.services.store.as_ref(),
            &id,
            &secret,
            rotation.grace_period,
            now,
        )
        .await
        .map_err(|error| admin.refused(error))?;
        Ok(Json(json!({
            "client_id": id.as_str(),
            "client_secret": secret.expose(),
            "previous_secret_expires_at": previous_until,
        })))
    };
    answer(outcome.await)
}

/// `DELETE /admin/clients/{id}`: credentials stop at once, then every grant
/// of the client is revoked (audited as `client_deleted`). The id stays
/// taken. Answers how many grants were revoked.
pub async fn delete(
    State(admin): State<AdminState>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
) -> Response {
    let outcome = async {
        let id = parse_client_id(&id)?;
        let services = &admin.services;
        let revoked = provisioning::delete_client(
            services.store.as_ref(),
            &services.revoker,
            &id,
            request_id.as_str(),
            services.clock.now(),
        )
        .await
        .map_err(|error| admin.refused(error))?;
        Ok::<_, AdminError>(Json(
            json!({ "client_id": id.as_str(), "revoked_grants": revoked }),
        ))
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
        .store
        .find_client(id)
        .await
        .map_err(|error| admin.unavailable(&error))?
        .ok_or_else(|| AdminError::not_found(format!("no client with id {:?}", id.as_str())))
}

fn to_value<T: serde::Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}
