//! `/admin/ssf/receivers`: the Shared Signals receivers an operator
//! registers, each with its own bearer credential, shown once.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body;
use super::error::AdminError;
use super::schema;
use super::views::ErrorBody;
use super::{AdminState, answer, created};
use crate::domain::shared_signals::{Receiver, ReceiverId};
use crate::shared_signals::{SsfError, Transmitter};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReceiver {
    /// 1 to 64 of `A-Z`, `a-z`, `0-9`, `.`, `_`, `-`.
    #[schema(schema_with = schema::receiver_id)]
    id: String,
    /// The `aud` of every event sent to it; its id when absent.
    #[schema(schema_with = schema::optional_audience)]
    audience: Option<String>,
    /// The origins (`https://host[:port]`) its stream may push to; none:
    /// it can only poll.
    #[serde(default)]
    #[schema(schema_with = schema::push_origins)]
    push_origins: Vec<String>,
}

/// The origins a receiver's stream may push to, replacing the current ones.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushOrigins {
    #[schema(schema_with = schema::push_origins)]
    push_origins: Vec<String>,
}

/// A registered receiver.
#[derive(Serialize, ToSchema)]
pub struct ReceiverView {
    pub id: String,
    pub audience: String,
    pub push_origins: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl ReceiverView {
    fn of(receiver: &Receiver) -> Self {
        Self {
            id: receiver.id.to_string(),
            audience: receiver.audience.clone(),
            push_origins: receiver.push_origins.clone(),
            created_at: receiver.created_at,
        }
    }
}

/// A pushed token that has not reached its receiver.
#[derive(Serialize, ToSchema)]
pub struct UndeliveredView {
    pub jti: String,
    pub attempts: u32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    /// The last failure in a few words (`refused: <error code>` when the
    /// receiver refused it).
    pub last_error: Option<String>,
    pub queued_at: DateTime<Utc>,
    /// When it is tried again; `null` when dead.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it died; `null` while it is retried.
    pub dead_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct UndeliveredList {
    /// Oldest first, at most 100.
    pub items: Vec<UndeliveredView>,
}

#[derive(Serialize, ToSchema)]
pub struct Retried {
    /// How many dead tokens were made due again.
    pub retried: u64,
}

/// A receiver just registered, with its credential: the only time it is shown.
#[derive(Serialize, ToSchema)]
pub struct ReceiverCreated {
    #[serde(flatten)]
    pub receiver: ReceiverView,
    /// The receiver's bearer credential for the Shared Signals endpoints.
    /// Store it now: it is never shown again.
    pub credential: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReceiverList {
    pub items: Vec<ReceiverView>,
}

/// The path of one receiver.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReceiverPath {
    #[param(schema_with = schema::receiver_id)]
    id: String,
}

fn transmitter(admin: &AdminState) -> Result<&Transmitter, AdminError> {
    admin
        .services
        .transmitter
        .as_ref()
        .ok_or_else(|| AdminError::not_found("shared signals are off (ssf.enabled)"))
}

fn parse_id(raw: &str) -> Result<ReceiverId, AdminError> {
    ReceiverId::parse(raw).ok_or_else(|| {
        AdminError::invalid_request("id must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'")
    })
}

fn refused(admin: &AdminState, error: SsfError) -> AdminError {
    match error {
        SsfError::Invalid(description) => AdminError::invalid_request(description),
        SsfError::NotFound => AdminError::not_found("no such receiver"),
        SsfError::Conflict => AdminError::Conflict("the receiver id is taken".into()),
        SsfError::Store(error) => admin.unavailable(&error),
        SsfError::Sign(_) => AdminError::Internal("cannot sign"),
        // Only a receiver's verification request is rate limited.
        SsfError::TooSoon(_) => AdminError::Internal("refused as too soon"),
    }
}

/// Register a receiver. Its credential is in this answer and nowhere else.
#[utoipa::path(post, path = "/admin/ssf/receivers", operation_id = "create_receiver", tag = "shared signals",
    request_body = NewReceiver,
    responses(
        (status = 201, description = "Registered", body = ReceiverCreated),
        (status = 404, description = "Shared signals are off", body = ErrorBody),
        (status = 409, description = "The id is taken", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(State(admin): State<AdminState>, body: Body) -> Response {
    let outcome = async {
        let new: NewReceiver = body::json(body).await?;
        let id = parse_id(&new.id)?;
        let (receiver, credential) = transmitter(&admin)?
            .add_receiver(id, new.audience, &new.push_origins)
            .await
            .map_err(|error| refused(&admin, error))?;
        Ok::<_, AdminError>(created(&ReceiverCreated {
            receiver: ReceiverView::of(&receiver),
            credential: credential.expose().to_owned(),
        }))
    };
    answer(outcome.await)
}

/// List the receivers (never their credentials).
#[utoipa::path(get, path = "/admin/ssf/receivers", operation_id = "list_receivers", tag = "shared signals",
    responses(
        (status = 200, description = "Every receiver, by id", body = ReceiverList),
        (status = 404, description = "Shared signals are off", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(State(admin): State<AdminState>) -> Response {
    let outcome = async {
        let receivers = transmitter(&admin)?
            .receivers()
            .await
            .map_err(|error| refused(&admin, error))?;
        Ok::<_, AdminError>(Json(ReceiverList {
            items: receivers.iter().map(ReceiverView::of).collect(),
        }))
    };
    answer(outcome.await)
}

/// Remove a receiver, its stream and the events queued for it; its
/// credential stops working at once.
#[utoipa::path(delete, path = "/admin/ssf/receivers/{id}", operation_id = "delete_receiver", tag = "shared signals",
    params(ReceiverPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such receiver, or shared signals are off", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(admin): State<AdminState>,
    Path(ReceiverPath { id }): Path<ReceiverPath>,
) -> Response {
    let outcome = async {
        let id = parse_id(&id)?;
        let removed = transmitter(&admin)?
            .remove_receiver(&id)
            .await
            .map_err(|error| refused(&admin, error))?;
        if removed {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Err(AdminError::not_found("no such receiver"))
        }
    };
    answer(outcome.await)
}

/// Replace the origins a receiver's stream may push to. A stream whose
/// endpoint is no longer under one is held, its tokens waiting, until the
/// receiver moves it or the origin is listed again.
#[utoipa::path(put, path = "/admin/ssf/receivers/{id}/push-origins", operation_id = "set_receiver_push_origins", tag = "shared signals",
    params(ReceiverPath),
    request_body = PushOrigins,
    responses(
        (status = 200, description = "The receiver as it now is", body = ReceiverView),
        (status = 400, description = "An origin is not an https origin (http only to a loopback address)", body = ErrorBody),
        (status = 404, description = "No such receiver, or shared signals are off", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_push_origins(
    State(admin): State<AdminState>,
    Path(ReceiverPath { id }): Path<ReceiverPath>,
    body: Body,
) -> Response {
    let outcome = async {
        let id = parse_id(&id)?;
        let asked: PushOrigins = body::json(body).await?;
        let receiver = transmitter(&admin)?
            .set_push_origins(&id, &asked.push_origins)
            .await
            .map_err(|error| refused(&admin, error))?;
        Ok::<_, AdminError>(Json(ReceiverView::of(&receiver)))
    };
    answer(outcome.await)
}

/// The receiver's pushed tokens that failed at least once: retried later,
/// or dead (refused, or out of attempts).
#[utoipa::path(get, path = "/admin/ssf/receivers/{id}/undelivered", operation_id = "list_undelivered_sets", tag = "shared signals",
    params(ReceiverPath),
    responses(
        (status = 200, description = "Oldest first, at most 100", body = UndeliveredList),
        (status = 404, description = "No such receiver, or shared signals are off", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn undelivered(
    State(admin): State<AdminState>,
    Path(ReceiverPath { id }): Path<ReceiverPath>,
) -> Response {
    let outcome = async {
        let id = parse_id(&id)?;
        let sets = transmitter(&admin)?
            .undelivered(&id)
            .await
            .map_err(|error| refused(&admin, error))?;
        Ok::<_, AdminError>(Json(UndeliveredList {
            items: sets
                .into_iter()
                .map(|set| UndeliveredView {
                    jti: set.jti,
                    attempts: set.attempts,
                    last_status: set.last_status,
                    last_error: set.last_error,
                    queued_at: set.queued_at,
                    next_attempt_at: set.next_attempt_at,
                    dead_at: set.dead_at,
                })
                .collect(),
        }))
    };
    answer(outcome.await)
}

/// Make the receiver's dead pushed tokens due again, now.
#[utoipa::path(post, path = "/admin/ssf/receivers/{id}/undelivered/retry", operation_id = "retry_undelivered_sets", tag = "shared signals",
    params(ReceiverPath),
    responses(
        (status = 200, description = "How many were made due", body = Retried),
        (status = 404, description = "No such receiver, or shared signals are off", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry_undelivered(
    State(admin): State<AdminState>,
    Path(ReceiverPath { id }): Path<ReceiverPath>,
) -> Response {
    let outcome = async {
        let id = parse_id(&id)?;
        let retried = transmitter(&admin)?
            .retry_undelivered(&id)
            .await
            .map_err(|error| refused(&admin, error))?;
        Ok::<_, AdminError>(Json(Retried { retried }))
    };
    answer(outcome.await)
}
