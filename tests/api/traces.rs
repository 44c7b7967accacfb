//! Span export over OTLP/HTTP (README, Observability): the real binary,
//! configured through its environment as an operator would, exports to a
//! stand-in collector on loopback; a caller's W3C `traceparent` places the
//! request's spans in the caller's trace.

use std::time::Duration;

use crate::helpers::child::{ChildServer, Logs};
use crate::helpers::collector::{Collector, Exported};
use crate::helpers::{Backend, TestApp, basic_header, encode, header};
use crate::on_both_backends;

/// The caller's trace and span, as its `traceparent` names them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";
/// A trace the caller chose not to sample (flags 00).
const UNSAMPLED_TRACE_ID: &str = "5cf92f3577b34da6a3ce929d0e0e4736";
/// A trace named with an all-zero parent span id: malformed.
const MALFORMED_TRACE_ID: &str = "6df92f3577b34da6a3ce929d0e0e4736";

/// Revokes `token` as `backend` with `traceparent`; returns the request id.
async fn revoke(server: &ChildServer, secret: &str, token: &str, traceparent: &str) -> String {
    let response = server
        .http
        .post(format!("{}/oauth2/revoke", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("traceparent", traceparent)
        .headers(basic_header("backend", secret))
        .body(encode(&[("token", token)]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    header(&response, "x-request-id")
        .unwrap_or_else(|| panic!("no request id"))
        .to_owned()
}

/// Neither the tokens, the client secret nor the Basic credentials of
/// client `backend` appear in `raw` (what the collector received).
fn assert_no_secret_in(raw: &str, tokens: &[&str], secret: &str) {
    let basic = basic_header("backend", secret);
    let basic = basic
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for token in tokens {
        assert!(!raw.contains(token), "a token was exported");
    }
    for (what, value) in [
        ("client secret", secret),
        ("Basic credentials", basic.trim_start_matches("Basic ")),
        ("Authorization header", "authorization"),
    ] {
        assert!(!raw.contains(value), "the {what} was exported");
    }
}

/// The span named `name` that `matches`.
fn find<'a>(
    spans: &'a [Exported],
    name: &str,
    matches: impl Fn(&Exported) -> bool,
) -> Option<&'a Exported> {
    spans.iter().find(|s| s.span.name == name && matches(s))
}

async fn a_revocation_is_exported_in_the_callers_trace_once_the_server_stops(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.confidential_client("backend").await;
    let grant = app.grant("backend").await;
    let (collector, endpoint) = Collector::start().await;
    let server = ChildServer::start_with(
        &app,
        Logs::Captured("info"),
        &[
            ("RESCIND_TRACING__ENDPOINT", &endpoint),
            ("RESCIND_TRACING__SERVICE_NAME", "rescind-under-test"),
            // The test client stands for the load balancer, whose trace
            // context is trusted.
            ("RESCIND_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
            // No batch is due while the test runs: what arrives is what the
            // server sends as it stops.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-collector-key=key-for-the-collector",
            ),
        ],
    )
    .await;

    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    let revoked = revoke(&server, &secret, &grant.access_token, &traceparent).await;
    let unsampled = revoke(
        &server,
        &secret,
        "unknown-token",
        &format!("00-{UNSAMPLED_TRACE_ID}-{PARENT_SPAN_ID}-00"),
    )
    .await;
    let malformed = revoke(
        &server,
        &secret,
        "unknown-token",
        &format!("00-{MALFORMED_TRACE_ID}-0000000000000000-01"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(collector.spans().is_empty(), "exported before shutdown");
    let logs = server.stop();

    let spans = collector
        .wait_for(Duration::from_secs(10), |spans| {
            find(spans, "request", |s| {
                s.attribute("request_id").as_ref() == Some(&revoked)
            })
            .is_some()
        })
        .await;

    assert!(collector.every_export_had("x-collector-key", "key-for-the-collector"));

    // The request span: a child of the caller's span, in its trace.
    let request = find(&spans, "request", |s| {
        s.attribute("request_id").as_ref() == Some(&revoked)
    })
    .unwrap_or_else(|| unreachable!());
    assert_eq!(request.service, "rescind-under-test");
    assert_eq!(request.trace_id(), TRACE_ID);
    assert_eq!(request.parent_span_id(), PARENT_SPAN_ID);
    assert_eq!(request.attribute("method").as_deref(), Some("POST"));
    assert_eq!(
        request.attribute("route").as_deref(),
        Some("/oauth2/revoke")
    );
    assert_eq!(request.int_attribute("status"), Some(200));

    // The handler's span under it, with what the handler recorded.
    let handler = find(&spans, "revoke", |s| {
        s.parent_span_id() == request.span_id()
    })
    .unwrap_or_else(|| panic!("no revoke span under the request span"));
    assert_eq!(handler.trace_id(), TRACE_ID);
    assert_eq!(handler.attribute("outcome").as_deref(), Some("revoked"));
    assert_eq!(
        handler.attribute("presenter").as_deref(),
        Some("confidential")
    );
    assert_eq!(handler.attribute("client.id").as_deref(), Some("backend"));

    // A caller that does not sample its trace: nothing of it is exported.
    assert!(
        spans.iter().all(|s| s.trace_id() != UNSAMPLED_TRACE_ID
            && s.attribute("request_id").as_ref() != Some(&unsampled)),
        "an unsampled caller's request was exported"
    );
    // A malformed traceparent is ignored: the request starts a trace.
    let fresh = find(&spans, "request", |s| {
        s.attribute("request_id").as_ref() == Some(&malformed)
    })
    .unwrap_or_else(|| panic!("the request with a malformed traceparent was not exported"));
    assert_ne!(fresh.trace_id(), MALFORMED_TRACE_ID);
    assert_eq!(fresh.parent_span_id(), "");

    // No secret in what was sent, nor the caller's header in the logs.
    assert_no_secret_in(
        &collector.raw(),
        &[&grant.access_token, &grant.refresh_token],
        &secret,
    );
    assert!(!logs.contains(&traceparent), "the traceparent was logged");
    assert!(!logs.contains(TRACE_ID), "the trace id was logged");
}

/// A caller that is not a trusted proxy cannot choose whether its request
/// is exported, nor into which trace: its `traceparent` is ignored, the
/// request starts a trace of its own and the sampling ratio decides.
#[tokio::test]
async fn an_untrusted_callers_trace_context_is_ignored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let secret = app.confidential_client("backend").await;
    let (collector, endpoint) = Collector::start().await;
    let server = ChildServer::start_with(
        &app,
        Logs::Discarded,
        &[
            ("RESCIND_TRACING__ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )
    .await;
    let sampled = revoke(
        &server,
        &secret,
        "unknown-token",
        &format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"),
    )
    .await;
    let unsampled = revoke(
        &server,
        &secret,
        "unknown-token",
        &format!("00-{UNSAMPLED_TRACE_ID}-{PARENT_SPAN_ID}-00"),
    )
    .await;
    server.stop();
    let spans = collector
        .wait_for(Duration::from_secs(10), |spans| {
            [&sampled, &unsampled].iter().all(|id| {
                find(spans, "request", |s| {
                    s.attribute("request_id").as_ref() == Some(id)
                })
                .is_some()
            })
        })
        .await;
    for (id, caller_trace) in [(&sampled, TRACE_ID), (&unsampled, UNSAMPLED_TRACE_ID)] {
        let request = find(&spans, "request", |s| {
            s.attribute("request_id").as_ref() == Some(id)
        })
        .unwrap_or_else(|| panic!("request {id} was not exported"));
        assert_ne!(request.trace_id(), caller_trace);
        assert_eq!(request.parent_span_id(), "");
    }
}

on_both_backends!(a_revocation_is_exported_in_the_callers_trace_once_the_server_stops);
