//! The admin API's error answer: `{"error", "error_description"}` JSON, like
//! the OAuth endpoints, with `Cache-Control: no-store`. Descriptions may name
//! a client or grant id (operators need them); never a token or a secret.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::error::{NO_STORE, retry_after_secs};
use crate::provisioning::ProvisioningError;

#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after_secs: Option<u64>,
}

impl AdminError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            retry_after_secs: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    pub fn conflict(description: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", description)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a valid admin bearer token is required",
        )
    }

    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "too many failed attempts; retry after the Retry-After delay",
        );
        error.retry_after_secs = Some(retry_after_secs(retry_after));
        error
    }

    pub fn unavailable(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the database is unavailable; retry later",
        );
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    pub fn internal(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }

    /// The answer for a provisioning refusal; a store fault is `503`.
    pub fn from_provisioning(error: ProvisioningError, retry_after_secs: u64) -> Self {
        let text = error.to_string();
        match error {
            ProvisioningError::UnknownClient(_) | ProvisioningError::UnknownGrant(_) => {
                Self::not_found(text)
            }
            ProvisioningError::DuplicateClient(_)
            | ProvisioningError::DuplicateToken
            | ProvisioningError::DisabledClient(_)
            | ProvisioningError::RevokedGrant(_)
            | ProvisioningError::PublicClient(_)
            | ProvisioningError::WrongKind(_) => Self::conflict(text),
            ProvisioningError::Invalid(_) | ProvisioningError::Origin(..) => {
                Self::invalid_request(text)
            }
            ProvisioningError::Hash(_) => Self::internal("cannot hash the secret"),
            ProvisioningError::Store(store) => {
                tracing::warn!(error = %store, "admin call: database unavailable");
                Self::unavailable(retry_after_secs)
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            NO_STORE,
            axum::Json(json!({ "error": self.code, "error_description": self.description })),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rescind-admin\""),
            );
        }
        response
    }
}
