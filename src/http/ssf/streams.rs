//! Stream management for the authenticated receiver (SSF 1.0): the
//! configuration endpoint (create, read, update, replace, delete), the
//! status endpoint and the verification endpoint. One stream per receiver.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JsonBody, ReceiverCall, answer, query, refused};
use secrecy::SecretString;

use crate::domain::shared_signals::{
    Delivery, EMITTED, POLL_METHOD, PUSH_METHOD, Stream, StreamStatus,
};
use crate::http::AppState;
use crate::http::error::OAuthError;
use crate::shared_signals::SsfError;
use crate::shared_signals::streams::{DeliveryChange, StreamChange};

/// A stream configuration as a receiver sends it. Transmitter-supplied
/// members may be sent back as read; they are ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamBody {
    stream_id: Option<String>,
    events_requested: Option<Vec<String>>,
    description: Option<String>,
    delivery: Option<DeliveryBody>,
    #[serde(rename = "iss")]
    _iss: Option<Value>,
    #[serde(rename = "aud")]
    _aud: Option<Value>,
    #[serde(rename = "events_supported")]
    _events_supported: Option<Value>,
    #[serde(rename = "events_delivered")]
    _events_delivered: Option<Value>,
    #[serde(rename = "min_verification_interval")]
    _min_verification_interval: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryBody {
    method: String,
    /// Receiver-supplied for push; transmitter-supplied for poll, and then
    /// ignored (a receiver may send back what it read).
    endpoint_url: Option<Value>,
    /// Push only: sent as the `Authorization` header of every push. Never
    /// shown again; left out of a change to the same endpoint, it is kept.
    authorization_header: Option<String>,
}

impl DeliveryBody {
    fn change(self) -> Result<DeliveryChange, OAuthError> {
        match self.method.as_str() {
            POLL_METHOD => Ok(DeliveryChange::Poll),
            PUSH_METHOD => {
                let Some(Value::String(endpoint_url)) = self.endpoint_url else {
                    return Err(bad(
                        "delivery.endpoint_url (a string) is required for push delivery",
                    ));
                };
                Ok(DeliveryChange::Push {
                    endpoint_url,
                    authorization_header: self.authorization_header.map(SecretString::from),
                })
            }
            _ => Err(bad(
                "delivery.method must be urn:ietf:rfc:8935 (push) or urn:ietf:rfc:8936 (poll)",
            )),
        }
    }
}

impl StreamBody {
    /// The change it asks for: every member when `replace` (poll delivery
    /// when none is given), else those sent.
    fn change(self, replace: bool) -> Result<StreamChange, OAuthError> {
        let delivery = self.delivery.map(DeliveryBody::change).transpose()?;
        Ok(if replace {
            StreamChange {
                events_requested: Some(self.events_requested.unwrap_or_default()),
                description: Some(self.description),
                delivery: Some(delivery.unwrap_or(DeliveryChange::Poll)),
            }
        } else {
            StreamChange {
                events_requested: self.events_requested,
                description: self.description.map(Some),
                delivery,
            }
        })
    }
}

/// A stream as the receiver reads it.
#[derive(Serialize)]
struct StreamView<'a> {
    stream_id: &'a str,
    iss: &'a str,
    aud: &'a str,
    events_supported: [&'static str; 2],
    events_requested: &'a [String],
    events_delivered: &'a [String],
    delivery: DeliveryView,
    /// Seconds, as SSF 1.0 gives it.
    min_verification_interval: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

#[derive(Serialize)]
struct DeliveryView {
    method: &'static str,
    endpoint_url: String,
}

fn view(call: &ReceiverCall, stream: &Stream) -> Value {
    serde_json::to_value(StreamView {
        stream_id: &stream.id,
        iss: call.transmitter.issuer(),
        aud: &call.receiver.audience,
        events_supported: EMITTED,
        events_requested: &stream.events_requested,
        events_delivered: &stream.events_delivered,
        delivery: DeliveryView {
            method: stream.delivery.method(),
            endpoint_url: match &stream.delivery {
                Delivery::Poll => call.transmitter.poll_url(&stream.id),
                Delivery::Push(target) => target.endpoint.to_string(),
            },
        },
        min_verification_interval: call.transmitter.min_verification_interval().as_secs(),
        description: stream.description.as_deref(),
    })
    .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    stream_id: Option<String>,
}

/// `GET`: with `stream_id` that stream; without, an array of the
/// receiver's streams (none or one).
pub async fn read(State(app): State<AppState>, call: ReceiverCall, uri: Uri) -> Response {
    let outcome = async {
        let StreamQuery { stream_id } = query(&uri)?;
        let streams = call
            .transmitter
            .stream_of(&call.receiver)
            .await
            .map_err(|error| refused(&app, error))?;
        let found = if let Some(id) = stream_id {
            let stream = streams
                .filter(|stream| stream.id == id)
                .ok_or_else(OAuthError::no_such_stream)?;
            view(&call, &stream)
        } else {
            Value::Array(streams.iter().map(|stream| view(&call, stream)).collect())
        };
        Ok(Json(found).into_response())
    };
    answer(outcome.await)
}

/// `POST`: creates the receiver's stream (`409` when it has one).
pub async fn create(
    State(app): State<AppState>,
    call: ReceiverCall,
    JsonBody(body): JsonBody<StreamBody>,
) -> Response {
    let outcome = async {
        if body.stream_id.is_some() {
            return Err(bad("stream_id is assigned by the transmitter"));
        }
        let stream = call
            .transmitter
            .create_stream(&call.receiver, body.change(true)?)
            .await
            .map_err(|error| refused(&app, error))?;
        Ok((StatusCode::CREATED, Json(view(&call, &stream))).into_response())
    };
    answer(outcome.await)
}

/// `PATCH`: changes the members sent.
pub async fn update(
    State(app): State<AppState>,
    call: ReceiverCall,
    JsonBody(body): JsonBody<StreamBody>,
) -> Response {
    answer(change(&app, &call, body, false).await)
}

/// `PUT`: replaces the receiver-supplied members (absent ones reset).
pub async fn replace(
    State(app): State<AppState>,
    call: ReceiverCall,
    JsonBody(body): JsonBody<StreamBody>,
) -> Response {
    answer(change(&app, &call, body, true).await)
}

async fn change(
    app: &AppState,
    call: &ReceiverCall,
    body: StreamBody,
    replace: bool,
) -> Result<Response, OAuthError> {
    let id = body
        .stream_id
        .clone()
        .ok_or_else(|| bad("stream_id is required"))?;
    let stream = call
        .transmitter
        .update_stream(&call.receiver, &id, body.change(replace)?)
        .await
        .map_err(|error| refused(app, error))?;
    Ok(Json(view(call, &stream)).into_response())
}

/// `DELETE ?stream_id=`: `204`.
pub async fn delete(State(app): State<AppState>, call: ReceiverCall, uri: Uri) -> Response {
    let outcome = async {
        let id = required_stream(&uri)?;
        call.transmitter
            .delete_stream(&call.receiver, &id)
            .await
            .map_err(|error| refused(&app, error))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    answer(outcome.await)
}

fn required_stream(uri: &Uri) -> Result<String, OAuthError> {
    let StreamQuery { stream_id } = query(uri)?;
    stream_id.ok_or_else(|| bad("the stream_id parameter is required"))
}

const fn bad(description: &'static str) -> OAuthError {
    OAuthError::invalid_request(description)
}

#[derive(Serialize)]
struct StatusView<'a> {
    stream_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The status of the stream `found`, or why there is none.
fn status_answer(app: &AppState, found: Result<Stream, SsfError>) -> Response {
    let outcome = found.map_err(|error| refused(app, error)).map(|stream| {
        Json(StatusView {
            stream_id: &stream.id,
            status: stream.status.as_str(),
            reason: stream.status_reason.as_deref(),
        })
        .into_response()
    });
    answer(outcome)
}

/// `GET ?stream_id=`: the stream's status.
pub async fn status(State(app): State<AppState>, call: ReceiverCall, uri: Uri) -> Response {
    match required_stream(&uri) {
        Ok(id) => status_answer(&app, call.transmitter.stream(&call.receiver, &id).await),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    stream_id: String,
    status: String,
    reason: Option<String>,
}

/// `POST`: sets the stream's status (`enabled`, `paused`, `disabled`).
pub async fn set_status(
    State(app): State<AppState>,
    call: ReceiverCall,
    JsonBody(body): JsonBody<StatusBody>,
) -> Response {
    let Some(status) = StreamStatus::parse(&body.status) else {
        return bad("status must be enabled, paused or disabled").into_response();
    };
    let changed = call
        .transmitter
        .set_status(&call.receiver, &body.stream_id, status, body.reason)
        .await;
    status_answer(&app, changed)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    stream_id: String,
    state: Option<String>,
}

/// `POST`: queues a verification event; `204`.
pub async fn verify(
    State(app): State<AppState>,
    call: ReceiverCall,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Response {
    let outcome = call
        .transmitter
        .verify(&call.receiver, &body.stream_id, body.state)
        .await
        .map(|()| StatusCode::NO_CONTENT.into_response())
        .map_err(|error| refused(&app, error));
    answer(outcome)
}
