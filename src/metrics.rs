//! Prometheus metrics (the `/metrics` endpoint of the admin listener).
//!
//! Built on `prometheus-client`, the Prometheus project's own Rust client:
//! its registries are values, not a process-wide recorder, so each server
//! (and each of the several servers a test runs in one process) counts for
//! itself. Every name starts with `rescind_`. Labels carry only closed sets
//! (outcomes, reasons, route templates, known methods), never a token,
//! secret or client id, nor anything a caller chooses: a label value taken
//! from a request would add a series, kept for ever, per value sent.

mod labels;
mod process;
mod registration;

use std::sync::atomic::{AtomicU64, Ordering};

use labels::{
    ActionLabels, BatchLabels, ConsumerLabels, EndpointLabels, LimitLabels, OutcomeLabels,
    ReasonLabels, ReportLabels, RequestLabels, RevocationLabels, SsfLabels,
};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use registration::{
    register_backlog, register_batches, register_build_info, register_deliveries,
    register_retention, registered,
};

/// The content type of [`Metrics::render`]: OpenMetrics text, which
/// Prometheus asks for first when it scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the request-duration buckets, in seconds: 0.5 ms to about
/// 4 s by doubling, then 5, 10, 30 (`server.request_timeout`'s default) and
/// 60 s, so requests that end at the timeout, or near it, land in a bucket
/// of their own instead of all in `+Inf`.
fn request_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0005, 2.0, 14).chain([5.0, 10.0, 30.0, 60.0])
}

/// Which consumer of the revocation event outbox a lag is measured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer<'a> {
    /// This instance's reader of the outbox (introspection cache, SSE).
    Follower,
    /// The slowest subscriber of `/admin/events` on this instance.
    Subscribers,
    /// A configured webhook endpoint, by name.
    Webhook(&'a str),
}

/// Every metric Rescind exposes, in one registry.
pub struct Metrics {
    registry: Registry,
    revocations: Family<RevocationLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
    introspections: Family<OutcomeLabels, Counter>,
    admin_auth_failures: Counter,
    requests: Family<RequestLabels, Histogram>,
    rate_limited: Family<LimitLabels, Counter>,
    shed: Counter,
    connections_at_bound: Family<ActionLabels, Counter>,
    argon2_queue: Gauge,
    pool_connections: Gauge,
    pool_idle: Gauge<i64, std::sync::atomic::AtomicI64>,
    retention_purged: Family<ReasonLabels, Counter<u64, AtomicU64>>,
    audit_partitions: Family<ActionLabels, Counter<u64, AtomicU64>>,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    ssf_sets: Family<SsfLabels, Counter<u64, AtomicU64>>,
    scanner_reports: Family<ReportLabels, Counter<u64, AtomicU64>>,
    outbox_lag: Family<ConsumerLabels, Gauge<f64, AtomicU64>>,
    webhook_pending: Family<EndpointLabels, Gauge>,
    batch_statements: Family<BatchLabels, Counter<u64, AtomicU64>>,
    batched_requests: Family<BatchLabels, Counter<u64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rescind");
        let revocations: Family<RevocationLabels, Counter> = registered(
            &mut registry,
            "revocations",
            "Revocation requests answered, by outcome and presenter kind",
        );
        let auth_failures: Family<ReasonLabels, Counter> = registered(
            &mut registry,
            "client_auth_failures",
            "Failed client authentications, by reason",
        );
        let introspections: Family<OutcomeLabels, Counter> = registered(
            &mut registry,
            "introspections",
            "Introspection requests answered, by outcome (active, inactive, or the error code)",
        );
        let admin_auth_failures: Counter = registered(
            &mut registry,
            "admin_auth_failures",
            "Admin API calls refused for a missing or wrong bearer token",
        );
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(request_buckets())
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by listener, route template, method and status",
            requests.clone(),
        );
        let rate_limited: Family<LimitLabels, Counter> = registered(
            &mut registry,
            "rate_limited",
            "Requests refused with 429, by the limit that refused them",
        );
        let shed: Counter = registered(
            &mut registry,
            "load_shed",
            "Requests refused with 503 because the server was at its concurrency limit",
        );
        let connections_at_bound = Family::<ActionLabels, Counter>::default();
        registry.register(
            "connections_at_bound",
            "Connections closed at server.max_connections: an old one that had not sent a byte \
             (shed_silent), or the new one (refused)",
            connections_at_bound.clone(),
        );
        let argon2_queue: Gauge = registered(
            &mut registry,
            "argon2_queue_depth",
            "Client secret verifications waiting for an argon2 slot",
        );
        let pool_connections: Gauge = registered(
            &mut registry,
            "db_pool_connections",
            "Open database connections in this instance's pool",
        );
        let pool_idle: Gauge = registered(
            &mut registry,
            "db_pool_idle_connections",
            "Idle database connections in this instance's pool",
        );
        let (retention_purged, audit_partitions) = register_retention(&mut registry);
        let (webhook_attempts, ssf_sets) = register_deliveries(&mut registry);
        let scanner_reports: Family<ReportLabels, Counter<u64, AtomicU64>> = registered(
            &mut registry,
            "secret_scanning_reports",
            "Tokens reported by secret scanners, by scanner (github, gitlab, public) and label",
        );
        let (outbox_lag, webhook_pending) = register_backlog(&mut registry);
        let (batch_statements, batched_requests) = register_batches(&mut registry);
        register_build_info(&mut registry);
        registry.register_collector(Box::new(process::ProcessCollector));
        let metrics = Self {
            registry,
            revocations,
            auth_failures,
            introspections,
            admin_auth_failures,
            requests,
            rate_limited,
            shed,
            connections_at_bound,
            argon2_queue,
            pool_connections,
            pool_idle,
            retention_purged,
            audit_partitions,
            webhook_attempts,
            ssf_sets,
            scanner_reports,
            outbox_lag,
            webhook_pending,
            batch_statements,
            batched_requests,
        };
        metrics.start_known_series_at_zero();
        metrics
    }

    /// Creates every series of a closed label set that alerts or panels
    /// query, at zero. A series born at 1 on its first event shows no
    /// `increase()` for that event, so an alert on the first dead webhook
    /// delivery or the first lockout would never fire; and a query over a
    /// metric that has no series yet looks the same as a misspelt one.
    fn start_known_series_at_zero(&self) {
        for outcome in ["revoked", "unknown", "already_revoked"] {
            for presenter in ["confidential", "public", "anonymous"] {
                self.revocations
                    .get_or_create(&RevocationLabels { outcome, presenter })
                    .inc_by(0);
            }
        }
        for reason in ["invalid_credentials", "malformed_id"] {
            self.auth_failures
                .get_or_create(&ReasonLabels { reason })
                .inc_by(0);
        }
        for outcome in ["active", "active_cached", "inactive"] {
            self.introspections
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(0);
        }
        for limit in [
            "failed_auth_client",
            "failed_auth_address",
            "requests_address",
            "requests_client",
            "public_reports_address",
            "failed_signature_address",
        ] {
            self.rate_limited
                .get_or_create(&LimitLabels { limit })
                .inc_by(0);
        }
        for action in ["shed_silent", "refused"] {
            self.connections_at_bound
                .get_or_create(&ActionLabels { action })
                .inc_by(0);
        }
        for reason in [
            "tokens",
            "grants",
            "revocations",
            "admin_actions",
            "revocation_events",
            "logout_tokens",
            "webhook_deliveries",
        ] {
            self.retention_purged
                .get_or_create(&ReasonLabels { reason })
                .inc_by(0);
        }
        for action in ["created", "dropped", "failed"] {
            self.audit_partitions
                .get_or_create(&ActionLabels { action })
                .inc_by(0);
        }
        for outcome in ["delivered", "failed", "dead"] {
            self.webhook_attempts
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(0);
        }
        for (path, stage) in [
            ("poll", "queued"),
            ("poll", "delivered"),
            ("poll", "acknowledged"),
            ("push", "queued"),
            ("push", "delivered"),
            ("push", "failed"),
            ("push", "dead"),
        ] {
            self.ssf_sets
                .get_or_create(&SsfLabels { path, stage })
                .inc_by(0);
        }
        for scanner in ["github", "gitlab", "public"] {
            for label in ["true_positive", "false_positive"] {
                self.scanner_reports
                    .get_or_create(&ReportLabels { scanner, label })
                    .inc_by(0);
            }
        }
    }

    /// Counts one webhook delivery attempt.
    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.webhook_attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts `count` Shared Signals tokens reaching `stage` on `path`.
    pub fn ssf_sets(&self, path: &'static str, stage: &'static str, count: u64) {
        if count > 0 {
            self.ssf_sets
                .get_or_create(&SsfLabels { path, stage })
                .inc_by(count);
        }
    }

    /// Counts `count` tokens a scanner reported with `label`.
    pub fn scanner_reports(&self, scanner: &'static str, label: &'static str, count: u64) {
        self.scanner_reports
            .get_or_create(&ReportLabels { scanner, label })
            .inc_by(count);
    }

    /// Counts one answered revocation request.
    pub fn revocation(&self, outcome: &'static str, presenter: &'static str) {
        self.revocations
            .get_or_create(&RevocationLabels { outcome, presenter })
            .inc();
    }

    /// Counts one failed client authentication.
    pub fn client_auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts one answered introspection request.
    pub fn introspection(&self, outcome: &'static str) {
        self.introspections
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts one admin call refused for its bearer token.
    pub fn admin_auth_failure(&self) {
        self.admin_auth_failures.inc();
    }

    /// Records how long a request took. `route` is a template (or
    /// `unmatched`), never a concrete path; `method` is folded into
    /// [`method_label`]'s closed set.
    pub fn request(
        &self,
        listener: &'static str,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                listener,
                route: route.to_owned(),
                method: method_label(method),
                status,
            })
            .observe(seconds);
    }

    /// Counts one request refused by a rate limit.
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// Counts one request shed at the concurrency limit.
    pub fn shed(&self) {
        self.shed.inc();
    }

    /// Counts one connection closed at the connection bound.
    pub fn connection_at_bound(&self, action: &'static str) {
        self.connections_at_bound
            .get_or_create(&ActionLabels { action })
            .inc();
    }

    /// Counts rows the retention task deleted.
    pub fn purged(&self, what: &'static str, rows: u64) {
        self.retention_purged
            .get_or_create(&ReasonLabels { reason: what })
            .inc_by(rows);
    }

    /// Counts month partitions the retention task created and dropped.
    pub fn audit_partitions(&self, created: u64, dropped: u64) {
        for (action, count) in [("created", created), ("dropped", dropped)] {
            self.audit_partitions
                .get_or_create(&ActionLabels { action })
                .inc_by(count);
        }
    }

    /// Counts a retention run whose partition changes failed.
    pub fn audit_partition_failed(&self) {
        self.audit_partitions
            .get_or_create(&ActionLabels { action: "failed" })
            .inc();
    }

    /// Sets the gauges sampled at scrape time.
    pub fn sample(&self, argon2_queue: usize, pool: crate::domain::health::PoolUsage) {
        self.argon2_queue
            .set(i64::try_from(argon2_queue).unwrap_or(i64::MAX));
        self.pool_connections.set(i64::from(pool.size));
        self.pool_idle.set(i64::from(pool.idle));
        // SQLite batches nothing: no statement ran for a batch there.
        let batching = pool.batching.unwrap_or_default();
        for (kind, counts) in [
            ("revocation", batching.revocations),
            ("introspection", batching.introspection_lookups),
        ] {
            let labels = BatchLabels { kind };
            // The store counts; these only show its counts, which never go
            // down: the larger value wins when two scrapes overlap.
            self.batch_statements
                .get_or_create(&labels)
                .inner()
                .fetch_max(counts.statements, Ordering::Relaxed);
            self.batched_requests
                .get_or_create(&labels)
                .inner()
                .fetch_max(counts.requests, Ordering::Relaxed);
        }
    }

    /// Sets how long the oldest event `consumer` has yet to pass on has
    /// waited.
    pub fn outbox_lag(&self, consumer: Consumer<'_>, seconds: f64) {
        let (consumer, endpoint) = match consumer {
            Consumer::Follower => ("follower", String::new()),
            Consumer::Subscribers => ("subscribers", String::new()),
            Consumer::Webhook(name) => ("webhook", name.to_owned()),
        };
        self.outbox_lag
            .get_or_create(&ConsumerLabels { consumer, endpoint })
            .set(seconds);
    }

    /// Sets how many deliveries to the `endpoint` webhook are pending.
    pub fn webhook_pending(&self, endpoint: &str, pending: u64) {
        self.webhook_pending
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// Drops every outbox lag and pending-delivery series: the database
    /// could not be read, and a value from an earlier scrape would say that
    /// nothing moved when nobody knows.
    pub fn forget_backlog(&self) {
        self.outbox_lag.clear();
        self.webhook_pending.clear();
    }

    /// The OpenMetrics text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The methods HTTP defines (RFC 9110 §9, and `PATCH`) as themselves; any
/// other, which only a caller can invent, as `other`.
#[must_use]
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests;
