//! Request ids, request spans and the access log line.
//!
//! Hand-written instead of `tower_http::trace` because its default span
//! records the URI, which may carry a token in its query (docs/behaviour.md, Logging and redaction, forbids
//! logging it). Here the span holds method, matched route, request id,
//! client address and status, never the URI. With trace export on, the same
//! span is exported, a child of the caller's span when the request names one
//! in `traceparent`.

use std::sync::Arc;
use std::time::Instant;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument as _, Span, field};

use super::peer::TrustedProxies;
use crate::metrics::Metrics;

/// The `X-Request-Id` header: taken from a trusted proxy when well-formed,
/// generated otherwise, and echoed on every answer. A client's own id is
/// never taken: it is written into audit records, which would then say what
/// the caller chose.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(Arc<str>);

impl RequestId {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Accepts an upstream id only if it is short and plain (no spaces, quotes
    /// or control characters that could forge log fields); otherwise makes one.
    fn from_upstream(value: Option<&HeaderValue>) -> Self {
        let plain = |text: &str| {
            (1..=64).contains(&text.len())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        };
        match value
            .and_then(|v| v.to_str().ok())
            .filter(|text| plain(text))
        {
            Some(text) => Self(Arc::from(text)),
            None => Self(Arc::from(uuid::Uuid::new_v4().simple().to_string())),
        }
    }
}

/// Which listener a request came in on (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Admin,
}

impl Listener {
    const fn label(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Admin => "admin",
        }
    }
}

/// What the outermost layer records into.
#[derive(Clone)]
pub struct Observer {
    pub metrics: Arc<Metrics>,
    pub listener: Listener,
    /// Whose `X-Request-Id` is believed.
    pub proxies: Arc<TrustedProxies>,
}

/// Outermost layer: opens the request span, writes one access log line and
/// records the request's duration by route template.
pub async fn observe(
    State(observer): State<Observer>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let from_proxy = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|info| observer.proxies.trusts(info.0.ip()));
    let upstream = if from_proxy {
        request.headers().get(&REQUEST_ID_HEADER)
    } else {
        None
    };
    let request_id = RequestId::from_upstream(upstream);
    request.extensions_mut().insert(request_id.clone());
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = field::Empty,
        request_id = request_id.as_str(),
        client_ip = field::Empty,
        forwarded_proto = field::Empty,
        status = field::Empty,
    );
    // A caller's trace context, like its request id, only from a trusted
    // proxy: anyone else could pick which requests are exported (its
    // sampled flag decides for its request) and into which trace.
    if from_proxy && let Some(traceparent) = single_header(&request, crate::telemetry::TRACEPARENT)
    {
        crate::telemetry::continue_trace(&span, traceparent);
    }
    let started = Instant::now();
    async move {
        let mut response = next.run(request).await;
        let status = response.status().as_u16();
        let elapsed = started.elapsed().as_secs_f64();
        tracing::info!(status, latency_ms = elapsed * 1000.0, "request finished");
        // After the line above, which says it already. As an i64: the
        // span exporter writes other integers as text.
        Span::current().record("status", i64::from(status));
        let route = response
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        observer.metrics.request(
            observer.listener.label(),
            route,
            method.as_str(),
            status,
            elapsed,
        );
        if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER.clone(), value);
        }
        response
    }
    .instrument(span)
    .await
}

/// The value of `name` when the request has it exactly once, as text.
fn single_header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    let mut values = request.headers().get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    }
}

/// Route layer: records the matched route (a template, never the URI) in
/// the span, and hands it to [`observe`] through the response's extensions.
pub async fn record_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    if let Some(path) = &route {
        Span::current().record("route", path.as_str());
    }
    let mut response = next.run(request).await;
    if let Some(path) = route {
        response.extensions_mut().insert(path);
    }
    response
}
