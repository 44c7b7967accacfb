//! `OAuthError`, the one wire error type: RFC 6749 §5.2 JSON with
//! `Cache-Control: no-store` and `Pragma: no-cache`, plus `WWW-Authenticate`,
//! `Retry-After` and `Allow` where due. Every error answer goes through here.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The error codes Rescind sends: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// RFC 6749 §5.2: malformed request (content type, duplicates, missing token…).
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2, as the Matrix specification uses it: this client may not
    /// revoke that token (`policy.foreign = "reject"`).
    UnauthorizedClient,
    /// RFC 6749 §4.1.2.1: the database is unreachable or the server is overloaded.
    TemporarilyUnavailable,
    /// RFC 6749 §4.1.2.1: a bug (a handler panicked). Never sent for a database fault.
    ServerError,
    /// Rescind's own, for a path that does not exist.
    NotFound,
    /// Rescind's own: a secret scanner's request is unsigned, or its
    /// signature does not verify against the scanner's keys.
    InvalidSignature,
    /// RFC 6750 §3.1: a Shared Signals receiver's bearer credential is
    /// missing, unknown or wrong.
    InvalidToken,
    /// Rescind's own: what a Shared Signals receiver asked to create exists.
    Conflict,
}

/// An error answer. Descriptions are `&'static str`, so no request data (and
/// so no token or secret) can ever reach a response body.
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    code: ErrorCode,
    description: &'static str,
    www_authenticate: Option<HeaderValue>,
    retry_after_secs: Option<u64>,
    allow: Option<&'static str>,
}

#[derive(Serialize)]
struct Body {
    error: ErrorCode,
    error_description: &'static str,
}

impl OAuthError {
    const fn new(status: StatusCode, code: ErrorCode, description: &'static str) -> Self {
        Self {
            status,
            code,
            description,
            www_authenticate: None,
            retry_after_secs: None,
            allow: None,
        }
    }

    /// `400 invalid_request`.
    #[must_use]
    pub const fn invalid_request(description: &'static str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            description,
        )
    }

    /// `401 invalid_client`. With `challenge_realm` (the request used an
    /// `Authorization` header, RFC 6749 §5.2), a `WWW-Authenticate: Basic`
    /// challenge naming the realm is added.
    #[must_use]
    pub fn invalid_client(challenge_realm: Option<&str>) -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidClient,
            "client authentication failed",
        );
        error.www_authenticate = challenge_realm.and_then(|realm| {
            HeaderValue::from_str(&format!(
                "Basic realm=\"{realm}\", error=\"invalid_client\""
            ))
            .ok()
        });
        error
    }

    /// `401 unauthorized_client`: a policy refusal (docs/behaviour.md, Policies).
    #[must_use]
    pub const fn unauthorized_client(description: &'static str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::UnauthorizedClient,
            description,
        )
    }

    /// `413` with an OAuth body (docs/behaviour.md, Revocation).
    #[must_use]
    pub const fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidRequest,
            "request body is too large",
        )
    }

    /// `408`: the client did not send its body in time.
    #[must_use]
    pub const fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InvalidRequest,
            "request body was not received in time",
        )
    }

    /// `405` with `Allow`.
    #[must_use]
    pub const fn method_not_allowed(allow: &'static str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidRequest,
            "method not allowed",
        );
        error.allow = Some(allow);
        error
    }

    /// `503 temporarily_unavailable` with `Retry-After` (RFC 7009 §2.2.1: the
    /// client must treat the token as still valid and retry).
    #[must_use]
    pub const fn temporarily_unavailable(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            "the revocation service is temporarily unavailable; retry later",
        );
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// `429` with `Retry-After` (at least one second): a rate limit or a
    /// lockout after failed client authentications. The code is
    /// `temporarily_unavailable`, the standard one a client already retries.
    #[must_use]
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TemporarilyUnavailable,
            "too many requests or failed authentications; retry after the Retry-After delay",
        );
        error.retry_after_secs = Some(retry_after_secs(retry_after));
        error
    }

    /// `500 server_error`, only for a panic caught at the edge.
    #[must_use]
    pub const fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError,
            "internal error",
        )
    }

    /// `401 invalid_signature`: a secret scanner's request that is unsigned
    /// or badly signed. The same answer for every reason (unknown key,
    /// tampered body, malformed signature), so it teaches nothing.
    #[must_use]
    pub const fn invalid_signature() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidSignature,
            "the request signature is missing or does not verify",
        )
    }

    /// `401 invalid_token` with `WWW-Authenticate: Bearer` (RFC 6750 §3).
    #[must_use]
    pub fn invalid_token() -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "a valid receiver bearer credential is required",
        );
        error.www_authenticate = Some(HeaderValue::from_static("Bearer error=\"invalid_token\""));
        error
    }

    /// `404` for a Shared Signals stream the caller does not have.
    #[must_use]
    pub const fn no_such_stream() -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such stream")
    }

    /// `409`: the receiver already has its one stream.
    #[must_use]
    pub const fn conflict(description: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, description)
    }

    /// `404` for an unknown path.
    #[must_use]
    pub const fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such endpoint",
        )
    }

    #[must_use]
    pub const fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code as sent (a metrics label).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self.code {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Conflict => "conflict",
        }
    }
}

/// The caching headers every answer of the revocation endpoint carries (docs/behaviour.md, Answers every endpoint shares).
pub const NO_STORE: [(HeaderName, HeaderValue); 2] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::PRAGMA, HeaderValue::from_static("no-cache")),
];

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            NO_STORE,
            axum::Json(Body {
                error: self.code,
                error_description: self.description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// A `Retry-After` value: whole seconds, rounded up, at least one.
#[must_use]
pub fn retry_after_secs(delay: std::time::Duration) -> u64 {
    (delay.as_secs() + u64::from(delay.subsec_nanos() > 0)).max(1)
}
