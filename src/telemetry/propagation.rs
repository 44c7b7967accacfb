//! W3C trace context: a request's `traceparent` makes the server's span for
//! it a child of the caller's span, so that a trace shows the revocation
//! under the call that made it.
//!
//! Any caller can send any `traceparent`; that is how W3C trace context
//! works, and all it does is place spans in a trace (and, with a sampled
//! flag, have them exported: a cost the batch processor's bounded queue
//! caps). The header is parsed by the OpenTelemetry propagator and used only
//! as ids: a malformed one is ignored (the span starts a trace of its own),
//! and its text is never logged nor exported. `tracestate`, free-form
//! vendor data, is not read from callers at all.

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header's name, lower case as HTTP/1.1 header maps give names.
pub const TRACEPARENT: &str = "traceparent";

/// Longer than any `traceparent` the specification allows (55 characters
/// in version 00; later versions may append fields).
const MAX_TRACEPARENT: usize = 256;

/// Makes `span` a child of the remote span `traceparent` names, if it is
/// well-formed. Call it before the span is first entered. Without trace
/// export there is no OpenTelemetry layer, and this does nothing.
pub fn continue_trace(span: &Span, traceparent: &str) {
    if traceparent.len() > MAX_TRACEPARENT {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&TraceparentOnly(traceparent));
    if parent.span().span_context().is_valid() {
        // Err only when no OpenTelemetry layer is installed.
        let _ = span.set_parent(parent);
    }
}

/// Shows the propagator the `traceparent` value and nothing else.
struct TraceparentOnly<'a>(&'a str);

impl Extractor for TraceparentOnly<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::TraceparentOnly;

    fn parsed(traceparent: &str) -> Option<String> {
        let context = TraceContextPropagator::new().extract(&TraceparentOnly(traceparent));
        let span = context.span();
        let ids = span.span_context();
        ids.is_valid()
            .then(|| format!("{}-{}", ids.trace_id(), ids.span_id()))
    }

    #[test]
    fn a_well_formed_traceparent_names_the_remote_span() {
        assert_eq!(
            parsed("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7")
        );
    }

    #[test]
    fn a_malformed_traceparent_is_ignored() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\nforged=1",
        ] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
    }
}
