//! Overload protection for a listener: at most `max_concurrent_requests` in
//! flight (more get `503` with `Retry-After` at once, rather than queueing
//! until every caller times out), and an upper bound on any request's time.
//!
//! A semaphore rather than tower's `ConcurrencyLimit` + `LoadShed` layers:
//! those answer with an error the router must convert anyway, and this is
//! the whole of it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tokio::sync::Semaphore;

use super::error::OAuthError;
use crate::metrics::Metrics;

/// The limits of one listener.
#[derive(Clone)]
pub struct Guard {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    /// `None`: no bound (the admin listener, whose bulk calls may be long).
    timeout: Option<Duration>,
    retry_after_secs: u64,
    metrics: Arc<Metrics>,
}

impl Guard {
    #[must_use]
    pub fn new(
        max_concurrent: usize,
        timeout: Option<Duration>,
        retry_after_secs: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_concurrent,
            timeout,
            retry_after_secs,
            metrics,
        }
    }
}

impl Guard {
    /// A guard for another listener: its own permits (the same number), and
    /// no time bound.
    #[must_use]
    pub fn for_listener_without_timeout(&self) -> Self {
        Self::new(
            self.max_concurrent,
            None,
            self.retry_after_secs,
            self.metrics.clone(),
        )
    }
}

/// Middleware: sheds load past the limit, and times requests out.
pub async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Ok(_permit) = guard.permits.clone().try_acquire_owned() else {
        guard.metrics.shed();
        tracing::warn!("at the concurrency limit: request shed");
        return OAuthError::temporarily_unavailable(guard.retry_after_secs).into_response();
    };
    let Some(timeout) = guard.timeout else {
        return next.run(request).await;
    };
    if let Ok(response) = tokio::time::timeout(timeout, next.run(request)).await {
        response
    } else {
        tracing::warn!("request exceeded server.request_timeout");
        OAuthError::temporarily_unavailable(guard.retry_after_secs).into_response()
    }
}
