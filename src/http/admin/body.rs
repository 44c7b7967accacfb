//! Request bodies and query strings of the admin API, parsed without echoing
//! what was sent: a token put in the wrong field must not come back in an
//! error message (or a log line).

use std::time::Duration;

use axum::body::Body;
use axum::http::Uri;
use http_body_util::{BodyExt as _, Limited};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize as _, Deserializer};

use super::error::AdminError;
use super::schema::MAX_PAGE;

/// The largest admin request body (a grant with a thousand tokens fits).
const BODY_LIMIT: usize = 1024 * 1024;
/// How long a caller may take to send it.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads and parses a JSON body. Errors say where, never what.
pub async fn json<T: DeserializeOwned>(body: Body) -> Result<T, AdminError> {
    let bytes = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, BODY_LIMIT).collect())
        .await
        .map_err(|_| AdminError::invalid_request("the request body was not received in time"))?
        .map_err(|_| {
            AdminError::invalid_request("the request body is larger than 1 MiB or broken")
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|error| {
        let what = match error.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "the body is not valid JSON"
            }
            serde_json::error::Category::Data | serde_json::error::Category::Io => {
                "the body does not match this call's schema (see /admin/openapi.json)"
            }
        };
        AdminError::invalid_request(format!(
            "{what} (line {}, column {})",
            error.line(),
            error.column()
        ))
    })
}

/// Parses the query string. Errors name no value.
pub fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, AdminError> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).map_err(|_| {
        AdminError::invalid_request(
            "the query string has an unknown parameter or a malformed value",
        )
    })
}

/// Reads an optional whole number as JSON Schema counts one: `5`, `5.0`
/// and `5e0` are the same integer there (so a schema-valid body may carry
/// any of them), while serde takes only the first for a `u32`.
pub fn whole_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(|number| {
            number
                .as_u64()
                .or_else(|| number.as_f64().and_then(whole_f64))
                .and_then(|whole| u32::try_from(whole).ok())
                .ok_or_else(|| D::Error::custom("expected a whole number from 0 to 4294967295"))
        })
        .transpose()
}

/// `value` as a `u64` when it is a whole number in range.
fn whole_f64(value: f64) -> Option<u64> {
    // In range and whole, so the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value)).then_some(value as u64)
}

/// A page size: 1 to [`MAX_PAGE`], 100 when absent.
pub fn page_limit(limit: Option<u32>) -> Result<u32, AdminError> {
    match limit {
        None => Ok(100),
        Some(limit @ 1..=MAX_PAGE) => Ok(limit),
        Some(_) => Err(AdminError::invalid_request(
            "limit must be between 1 and 1000",
        )),
    }
}

/// Checks free text an operator stores (names, subjects, scopes): bounded,
/// and without control characters that could forge log lines. The bound is
/// in characters, as JSON Schema's `maxLength` counts, so the document's
/// [`TEXT_PATTERN`](super::schema::TEXT_PATTERN) schemas say exactly this.
pub fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), AdminError> {
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(AdminError::invalid_request(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(())
}
