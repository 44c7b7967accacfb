//! Export of the server's spans to an OpenTelemetry collector over
//! OTLP/HTTP with protobuf bodies, what collectors accept on port 4318.
//!
//! The SDK's batch processor gathers finished spans on a thread of its own
//! and sends a batch every few seconds, or when one is full; the sending
//! itself runs on the server's tokio runtime, through the reqwest client the
//! webhooks already use ([`OnRuntime`]). Its queue is bounded (the SDK drops
//! spans past it), so a slow or absent collector costs memory only up to
//! that bound and never slows a request. [`SpanExport::shutdown`] sends what
//! is left when the server stops.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tokio::runtime::Handle;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::config::TracingSettings;

/// One export request's time limit (the collector's answer included).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for the last batch to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of a collector's answer that is read (it is a few bytes, or a
/// partial-success message).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why span export could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot build the trace exporter's HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot build the trace exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The span pipeline: sampler, batch processor and OTLP exporter.
pub struct SpanExport {
    provider: SdkTracerProvider,
}

impl SpanExport {
    /// Starts export to `tracing.endpoint`; `None` when it is not set, and
    /// then nothing is built and no thread started. `runtime` sends the
    /// batches.
    pub fn start(settings: &TracingSettings, runtime: Handle) -> Result<Option<Self>, ExportError> {
        let Some(url) = settings.traces_url() else {
            return Ok(None);
        };
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            // Spans go where they were configured to, or nowhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(EXPORT_TIMEOUT)
            .user_agent(concat!("rescind/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ExportError::Client)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.as_str())
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(OnRuntime { client, runtime })
            .build()?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            // A caller's sampled flag decides for its own request (W3C trace
            // context); the ratio decides for traces that start here.
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        Ok(Some(Self { provider }))
    }

    /// The layer that turns Rescind's own spans into exported ones. Only
    /// spans and events of this crate at `info` and above: not those of the
    /// libraries (sqlx, hyper, the exporter itself, whose sending would
    /// otherwise make spans of its own), whatever `log.level` says.
    #[must_use]
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("rescind"))
            // Thread names and ids say nothing about a request.
            .with_threads(false)
            .with_filter(Targets::new().with_target("rescind", tracing::Level::INFO))
    }

    /// Sends the spans still queued and stops the processor. Called once
    /// the server has stopped, from outside the runtime, which must still
    /// be running: the last batch is sent on it.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}

/// Sends the exporter's requests with reqwest on the tokio runtime. The
/// batch processor awaits them from its own thread, outside the runtime,
/// where reqwest cannot run: the request is spawned onto the runtime, and
/// only its result is awaited there.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: Handle,
}

#[async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { send(&client, request).await })
            .await?
    }
}

/// One export request, its answer read up to [`MAX_ANSWER_BYTES`].
async fn send(
    client: &reqwest::Client,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, HttpError> {
    let mut answer = client.execute(request.try_into()?).await?;
    let body = crate::outbound::read_bounded(&mut answer, MAX_ANSWER_BYTES).await?;
    let mut response = Response::builder()
        .status(answer.status())
        .body(Bytes::from(body))?;
    *response.headers_mut() = std::mem::take(answer.headers_mut());
    Ok(response)
}
