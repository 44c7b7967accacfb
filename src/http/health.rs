//! `GET /health/live` and `GET /health/ready` (docs/behaviour.md, Health), always at the root.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::NO_STORE;
use crate::domain::health::Readiness;

/// The process is up. Touches nothing else, so a database outage does not get
/// healthy instances restarted.
pub async fn live() -> Response {
    (StatusCode::OK, NO_STORE, Json(json!({ "status": "ok" }))).into_response()
}

/// The database answers and its schema is one this binary runs on (every
/// migration it needs, and no contract step of a newer release); `503`
/// otherwise, so a load balancer stops sending traffic. A newer release's
/// expand steps keep an older instance ready, as a rolling upgrade needs.
pub async fn ready(State(app): State<AppState>) -> Response {
    let probe = tokio::time::timeout(app.deadline, app.administration.readiness()).await;
    let (status, body) = match probe {
        Ok(Ok(Readiness::Ready)) => (StatusCode::OK, json!({ "status": "ready" })),
        Ok(Ok(Readiness::MigrationsPending { applied, expected })) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "reason": "migrations_pending", "applied": applied, "expected": expected }),
        ),
        Ok(Ok(Readiness::SchemaIncompatible {
            applied,
            contracted,
            supported,
        })) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "reason": "schema_incompatible", "applied": applied, "contracted": contracted, "supported": supported }),
        ),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness probe: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable", "reason": "database_unreachable" }),
            )
        }
        Err(_) => {
            tracing::warn!("readiness probe: database timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable", "reason": "database_timeout" }),
            )
        }
    };
    (status, NO_STORE, Json(body)).into_response()
}
