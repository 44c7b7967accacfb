//! The admin API's error answer: `{"error", "error_description"}` JSON, like
//! the OAuth endpoints, with `Cache-Control: no-store`. Descriptions may name
//! a client or grant id (operators need them); never a token or a secret.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::error::{NO_STORE, retry_after_secs};
use crate::provisioning::ProvisioningError;

/// Every way an admin call can fail. Closed: each variant's status and
/// error code are fixed in one exhaustive `match`, so a new kind of failure
/// does not compile until someone picks its answer.
#[derive(Debug)]
pub enum AdminError {
    /// `400 invalid_request`: the call is malformed; the description says how.
    InvalidRequest(Cow<'static, str>),
    /// `401 invalid_token`: no valid admin bearer token.
    Unauthorized,
    /// `404 not_found`: no such client, grant, delivery or endpoint.
    NotFound(Cow<'static, str>),
    /// `409 conflict`: the call contradicts the state (duplicate id, revoked
    /// grant, public client where a confidential one is needed, ...).
    Conflict(Cow<'static, str>),
    /// `429 temporarily_unavailable`: too many failed attempts from here.
    TooManyRequests { retry_after: Duration },
    /// `503 temporarily_unavailable`: the database is unavailable.
    Unavailable { retry_after_secs: u64 },
    /// `500 server_error`: a fault of this server (never the database's).
    Internal(&'static str),
}

impl AdminError {
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(description.into())
    }

    pub fn not_found(description: impl Into<Cow<'static, str>>) -> Self {
        Self::NotFound(description.into())
    }

    /// The answer for a provisioning refusal; a store fault is `503`.
    pub fn from_provisioning(error: ProvisioningError, retry_after_secs: u64) -> Self {
        let text = Cow::Owned(error.to_string());
        match error {
            ProvisioningError::UnknownClient(_) | ProvisioningError::UnknownGrant(_) => {
                Self::NotFound(text)
            }
            ProvisioningError::DuplicateClient(_)
            | ProvisioningError::DuplicateToken
            | ProvisioningError::DisabledClient(_)
            | ProvisioningError::RevokedGrant(_)
            | ProvisioningError::PublicClient(_)
            | ProvisioningError::WrongKind(_) => Self::Conflict(text),
            ProvisioningError::Invalid(_) | ProvisioningError::Origin(..) => {
                Self::InvalidRequest(text)
            }
            ProvisioningError::Hash(_) => Self::Internal("cannot hash the secret"),
            ProvisioningError::Store(store) => {
                tracing::warn!(error = %store, "admin call: database unavailable");
                Self::Unavailable { retry_after_secs }
            }
        }
    }

    /// Status, error code and description: the one place they are decided.
    fn parts(&self) -> (StatusCode, &'static str, &str) {
        match self {
            Self::InvalidRequest(description) => {
                (StatusCode::BAD_REQUEST, "invalid_request", description)
            }
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "a valid admin bearer token is required",
            ),
            Self::NotFound(description) => (StatusCode::NOT_FOUND, "not_found", description),
            Self::Conflict(description) => (StatusCode::CONFLICT, "conflict", description),
            Self::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many failed attempts; retry after the Retry-After delay",
            ),
            Self::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database is unavailable; retry later",
            ),
            Self::Internal(description) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                description,
            ),
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after } => Some(retry_after_secs(*retry_after)),
            Self::Unavailable { retry_after_secs } => Some(*retry_after_secs),
            Self::InvalidRequest(_)
            | Self::Unauthorized
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Internal(_) => None,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, description) = self.parts();
        let mut response = (
            status,
            NO_STORE,
            axum::Json(json!({ "error": code, "error_description": description })),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, Self::Unauthorized) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rescind-admin\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error: AdminError) -> (u16, Option<String>, Option<String>, bool) {
        let response = error.into_response();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        (
            response.status().as_u16(),
            header(header::RETRY_AFTER),
            header(header::WWW_AUTHENTICATE),
            header(header::CACHE_CONTROL).as_deref() == Some("no-store"),
        )
    }

    #[test]
    fn each_failure_has_its_status_and_only_its_headers() {
        let none = || None::<String>;
        for (error, expected) in [
            (
                AdminError::invalid_request("x"),
                (400, none(), none(), true),
            ),
            (
                AdminError::Unauthorized,
                (
                    401,
                    none(),
                    Some("Bearer realm=\"rescind-admin\"".into()),
                    true,
                ),
            ),
            (AdminError::not_found("x"), (404, none(), none(), true)),
            (
                AdminError::Conflict("x".into()),
                (409, none(), none(), true),
            ),
            (
                AdminError::TooManyRequests {
                    retry_after: Duration::from_millis(1500),
                },
                (429, Some("2".into()), none(), true),
            ),
            (
                AdminError::Unavailable {
                    retry_after_secs: 5,
                },
                (503, Some("5".into()), none(), true),
            ),
            (AdminError::Internal("x"), (500, none(), none(), true)),
        ] {
            assert_eq!(answer(error), expected);
        }
    }
}
