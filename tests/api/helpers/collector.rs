//! A stand-in OpenTelemetry collector on loopback: it accepts OTLP/HTTP
//! exports (`POST /v1/traces`, protobuf), keeps them as sent, and decodes
//! them into spans.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// The exports received so far: headers and body.
#[derive(Clone, Default)]
pub struct Collector {
    exports: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

/// One exported span, with the service it was exported under.
pub struct Exported {
    pub service: String,
    pub span: Span,
}

impl Exported {
    /// The span's string attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<String> {
        text(&self.span.attributes, key)
    }

    /// The span's integer attribute `key`.
    pub fn int_attribute(&self, key: &str) -> Option<i64> {
        match value(&self.span.attributes, key)? {
            Value::IntValue(number) => Some(*number),
            _ => None,
        }
    }

    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

impl Collector {
    /// Listens on 127.0.0.1, port 0; returns the collector and its traces URL.
    pub async fn start() -> (Self, String) {
        let collector = Self::default();
        let router = axum::Router::new()
            .route("/v1/traces", axum::routing::post(receive))
            .with_state(collector.clone());
        let address = super::serve_on_loopback(router).await;
        (collector, format!("http://{address}/v1/traces"))
    }

    fn exports(&self) -> Vec<(HeaderMap, Bytes)> {
        self.exports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn bodies(&self) -> Vec<Bytes> {
        self.exports().into_iter().map(|(_, body)| body).collect()
    }

    /// Whether every export carried `name: value`.
    pub fn every_export_had(&self, name: &str, value: &str) -> bool {
        self.exports()
            .iter()
            .all(|(headers, _)| headers.get(name).and_then(|v| v.to_str().ok()) == Some(value))
    }

    /// Every byte received, for looking for what must not be there
    /// (protobuf writes strings as they are).
    pub fn raw(&self) -> String {
        let all: Vec<u8> = self.bodies().concat();
        String::from_utf8_lossy(&all).into_owned()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Exported> {
        let mut spans = Vec::new();
        for body in self.bodies() {
            let request = ExportTraceServiceRequest::decode(body)
                .unwrap_or_else(|e| panic!("not an OTLP trace export: {e}"));
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|r| text(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for scope in resource.scope_spans {
                    spans.extend(scope.spans.into_iter().map(|span| Exported {
                        service: service.clone(),
                        span,
                    }));
                }
            }
        }
        spans
    }

    /// Waits, at most `limit`, until the spans received satisfy `done`.
    pub async fn wait_for(
        &self,
        limit: Duration,
        done: impl Fn(&[Exported]) -> bool,
    ) -> Vec<Exported> {
        let started = Instant::now();
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                started.elapsed() < limit,
                "not exported within {limit:?}; received {} spans",
                spans.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Keeps a protobuf export; refuses anything else, as a collector does.
async fn receive(
    State(collector): State<Collector>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-protobuf") {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    collector
        .exports
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((headers, body));
    // An empty ExportTraceServiceResponse: full success.
    StatusCode::OK
}

fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match value(attributes, key)? {
        Value::StringValue(text) => Some(text.clone()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}
