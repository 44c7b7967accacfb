//! The secret-scanning endpoints: `POST /secret-scanning/github` and
//! `/secret-scanning/gitlab` (signed partner reports, answered with
//! feedback), and `POST /credentials/revoke` (an unauthenticated bulk report,
//! tightly rate limited, answered `202` and nothing else).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::AppState;
use super::error::OAuthError;
use super::observe::RequestId;
use super::peer::ClientAddress;
use super::token_request::{read_body, rejected};
use crate::domain::revocation::AnonymousPolicy;
use crate::scanning::{self, Report, Scanner};

/// Credentials per public report at most (GitHub's own endpoint's limit).
pub(super) const MAX_PUBLIC_CREDENTIALS: usize = 1000;
/// A public report's body at most: 1,000 tokens with room to spare.
const PUBLIC_BODY_LIMIT: usize = 512 * 1024;

/// GitHub's partner program: answers `200` with the feedback array.
pub async fn github(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let scanner = app.scanners.github.as_deref();
    let report = PartnerReport {
        scanner,
        request_id: &request_id,
        caller,
        headers: &headers,
        success: StatusCode::OK,
    };
    partner_report(&app, report, body).await
}

/// GitLab's equivalent: answers `202` (its Token Revocation API expects
/// "accepted") with the same feedback array.
pub async fn gitlab(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let scanner = app.scanners.gitlab.as_deref();
    let report = PartnerReport {
        scanner,
        request_id: &request_id,
        caller,
        headers: &headers,
        success: StatusCode::ACCEPTED,
    };
    partner_report(&app, report, body).await
}

/// What a partner report came with, besides its body.
struct PartnerReport<'a> {
    /// `None`: that program is off.
    scanner: Option<&'a Scanner>,
    request_id: &'a RequestId,
    caller: ClientAddress,
    headers: &'a HeaderMap,
    success: StatusCode,
}

/// Everything that can be checked without the body is checked before it is
/// read (the address's failed-signature budget, both signature headers, a
/// known key, a base64 signature), so that an unsigned caller cannot make
/// the server read up to 4 MiB per request; every failure counts against the
/// caller's address.
async fn partner_report(app: &AppState, report: PartnerReport<'_>, body: Body) -> Response {
    let Some(scanner) = report.scanner else {
        return OAuthError::not_found().into_response();
    };
    let (headers, caller) = (report.headers, report.caller);
    let refuse = |why: &'static str| {
        app.limiter.failed_signature(caller.ip);
        rejected(OAuthError::invalid_signature(), why)
    };
    let outcome = async {
        app.limiter
            .admit_signed_report(caller.ip)
            .map_err(|refusal| limited(app, refusal))?;
        let header = |suffix: &str| {
            headers
                .get(format!("{}-Public-Key-{suffix}", scanner.header_prefix))
                .and_then(|value| value.to_str().ok())
        };
        let (Some(key_id), Some(signature)) = (header("Identifier"), header("Signature")) else {
            return Err(refuse("unsigned"));
        };
        let pending = scanner
            .prepare(key_id, signature)
            .await
            .map_err(|_| refuse("unknown key or malformed signature"))?;
        // Held until the report is handled: its body, parsed reports and
        // feedback are what the bound limits.
        let Ok(_body_permit) = app.scanners.bodies.clone().try_acquire_owned() else {
            tracing::warn!(
                scanner = scanner.label,
                "partner reports at their bound; refused with 503"
            );
            return Err(OAuthError::temporarily_unavailable(app.retry_after_secs));
        };
        let body = read_body(headers, body, scanning::BODY_LIMIT, scanning::BODY_TIMEOUT).await?;
        pending.verify(&body).map_err(|_| refuse("bad signature"))?;
        let reports: Vec<Report> = serde_json::from_slice(&body).map_err(|_| {
            OAuthError::invalid_request("the body is not a JSON array of token reports")
        })?;
        if reports.len() > scanning::MAX_REPORTS {
            return Err(OAuthError::invalid_request(
                "too many token reports in one request (10,000 at most)",
            ));
        }
        let count = reports.len();
        let feedback = scanning::revoke_reports(&app.revoker, reports, report.request_id.as_str())
            .await
            .map_err(|error| app.unavailable(&error))?;
        let known = feedback
            .iter()
            .filter(|item| item.label == "true_positive")
            .count();
        count_reports(app, scanner.label, count, known);
        tracing::info!(
            scanner = scanner.label,
            reports = count,
            known,
            "secret scanning report"
        );
        Ok(feedback)
    };
    match outcome.await {
        Ok(feedback) => (report.success, Json(feedback)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The `429` for a rate-limit refusal, counted.
pub(super) fn limited(app: &AppState, refusal: crate::limits::Refusal) -> OAuthError {
    app.metrics.rate_limited(refusal.limit);
    rejected(
        OAuthError::too_many_requests(refusal.retry_after),
        "rate limited",
    )
}

/// Counts a report's tokens by label (metrics).
fn count_reports(app: &AppState, scanner: &'static str, count: usize, known: usize) {
    let known = known as u64;
    app.metrics.scanner_reports(scanner, "true_positive", known);
    app.metrics
        .scanner_reports(scanner, "false_positive", count as u64 - known);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicReport {
    credentials: Vec<String>,
}

/// `POST /credentials/revoke`: anyone may report up to 1,000 leaked tokens;
/// each is revoked as a secret-scanning report without a URL. The answer
/// is `202` whatever the tokens were, so it is no oracle. Off when
/// `secret_scanning.public_reports_per_minute` is 0 or anonymous
/// revocation is refused (`policy.anonymous = "reject"`).
pub async fn public_report(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(caller): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !app.scanners.public_reports || app.anonymous_policy == AnonymousPolicy::Reject {
        return OAuthError::not_found().into_response();
    }
    let outcome = async {
        app.limiter
            .admit_public_report(caller.ip)
            .map_err(|refusal| limited(&app, refusal))?;
        let body = read_body(&headers, body, PUBLIC_BODY_LIMIT, app.body_timeout).await?;
        let report: PublicReport = serde_json::from_slice(&body).map_err(|_| {
            OAuthError::invalid_request(
                "the body must be {\"credentials\": [...]}, a JSON array of token strings",
            )
        })?;
        if report.credentials.is_empty() || report.credentials.len() > MAX_PUBLIC_CREDENTIALS {
            return Err(OAuthError::invalid_request(
                "credentials must hold 1 to 1,000 tokens",
            ));
        }
        let count = report.credentials.len();
        let reports = report
            .credentials
            .into_iter()
            .map(|token| Report {
                token,
                token_type: String::new(),
                url: String::new(),
                source: String::new(),
            })
            .collect();
        let feedback = scanning::revoke_reports(&app.revoker, reports, request_id.as_str())
            .await
            .map_err(|error| app.unavailable(&error))?;
        let known = feedback
            .iter()
            .filter(|item| item.label == "true_positive")
            .count();
        count_reports(&app, "public", count, known);
        tracing::info!(reports = count, known, "public credentials report");
        Ok(())
    };
    match outcome.await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => error.into_response(),
    }
}
