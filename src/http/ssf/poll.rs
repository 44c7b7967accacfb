//! `POST <issuer>/ssf/poll/{stream_id}`: RFC 8936 poll delivery.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{JsonBody, ReceiverCall, answer, refused};
use crate::http::AppState;
use crate::http::error::OAuthError;
use crate::shared_signals::poll::PollRequest;

/// The most `jti`s one request may acknowledge or refuse, together.
pub const MAX_ACKNOWLEDGED: usize = 1000;
/// The longest `jti` or error code taken.
const MAX_JTI: usize = 128;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollBody {
    #[serde(rename = "maxEvents")]
    max_events: Option<u32>,
    #[serde(rename = "returnImmediately", default)]
    return_immediately: bool,
    #[serde(default)]
    ack: Vec<String>,
    #[serde(rename = "setErrs", default)]
    set_errs: BTreeMap<String, SetError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetError {
    err: String,
    #[serde(rename = "description")]
    _description: Option<String>,
}

impl PollBody {
    fn request(self) -> Result<PollRequest, &'static str> {
        if self.ack.len() + self.set_errs.len() > MAX_ACKNOWLEDGED {
            return Err("ack and setErrs hold more than 1000 jti values together");
        }
        let well_formed = |jti: &String| {
            !jti.is_empty() && jti.len() <= MAX_JTI && jti.chars().all(|c| c.is_ascii_graphic())
        };
        if !self.ack.iter().all(well_formed) || !self.set_errs.keys().all(well_formed) {
            return Err("a jti in ack or setErrs is empty, too long or not printable ASCII");
        }
        if !self.set_errs.values().all(|error| well_formed(&error.err)) {
            return Err("an err in setErrs is empty, too long or not printable ASCII");
        }
        Ok(PollRequest {
            max_events: self.max_events,
            return_immediately: self.return_immediately,
            acknowledged: self.ack,
            refused: self
                .set_errs
                .into_iter()
                .map(|(jti, error)| (jti, error.err))
                .collect(),
        })
    }
}

/// Acknowledges what the body says, and answers the queued tokens.
pub async fn poll(
    State(app): State<AppState>,
    call: ReceiverCall,
    Path(stream_id): Path<String>,
    JsonBody(body): JsonBody<PollBody>,
) -> Response {
    let outcome = async {
        let request = body.request().map_err(OAuthError::invalid_request)?;
        let answer = call
            .transmitter
            .poll(&call.receiver, &stream_id, request)
            .await
            .map_err(|error| refused(&app, error))?;
        let sets: Map<String, Value> = answer
            .sets
            .into_iter()
            .map(|set| (set.jti, Value::String(set.token)))
            .collect();
        Ok(Json(json!({"sets": sets, "moreAvailable": answer.more_available})).into_response())
    };
    answer(outcome.await)
}
