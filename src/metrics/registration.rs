//! Registering the metrics that are more than one line: the delivery and
//! retention counters, the outbox backlog gauges, the build stamp, and the helper that
//! names and registers every metric.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::labels::{
    ActionLabels, BatchLabels, BuildLabels, ConsumerLabels, EndpointLabels, OutcomeLabels,
    ReasonLabels, SsfLabels,
};

/// The counters of event delivery: webhook attempts, Shared Signals tokens.
pub(super) fn register_deliveries(
    registry: &mut Registry,
) -> (
    Family<OutcomeLabels, Counter>,
    Family<SsfLabels, Counter<u64, AtomicU64>>,
) {
    let webhook_attempts = registered(
        registry,
        "webhook_attempts",
        "Webhook delivery attempts, by outcome (delivered, failed: retried later, dead)",
    );
    let ssf_sets = registered(
        registry,
        "ssf_sets",
        "Shared Signals security event tokens, by delivery path and stage: poll \
         (queued, delivered: handed to the receiver, acknowledged), push (queued, \
         delivered: accepted by the receiver, failed: retried later, dead)",
    );
    (webhook_attempts, ssf_sets)
}

/// A family of counters that may count many at once.
type Counts<Labels> = Family<Labels, Counter<u64, AtomicU64>>;

/// What the retention task did, counted by [`Metrics::purged`] and
/// [`Metrics::audit_partitions`].
pub(super) fn register_retention(
    registry: &mut Registry,
) -> (Counts<ReasonLabels>, Counts<ActionLabels>) {
    let purged = registered(
        registry,
        "retention_purged_rows",
        "Rows deleted by the retention task, by what they were",
    );
    let partitions = registered(
        registry,
        "retention_audit_partitions",
        "Month partitions of the audit records and the outbox the retention task created, \
         dropped, or failed to change (PostgreSQL; retried at the next run)",
    );
    (purged, partitions)
}

/// What PostgreSQL's request batches ran, set from the store's own counts
/// by [`Metrics::sample`]: statements, and the requests they carried.
pub(super) fn register_batches(
    registry: &mut Registry,
) -> (Counts<BatchLabels>, Counts<BatchLabels>) {
    let statements = registered(
        registry,
        "db_batch_statements",
        "Batches of requests run, one statement each (a revocation batch retried after a \
         deadlock runs it again), by kind (revocation: group commit; introspection: grouped \
         reads); 0 on SQLite, which batches nothing",
    );
    let requests = registered(
        registry,
        "db_batched_requests",
        "Requests those batches carried, by kind: divided by db_batch_statements, \
         the mean batch size",
    );
    (statements, requests)
}

/// The outbox lag and pending deliveries, set by [`Metrics::outbox_lag`]
/// and [`Metrics::webhook_pending`].
pub(super) fn register_backlog(
    registry: &mut Registry,
) -> (
    Family<ConsumerLabels, Gauge<f64, AtomicU64>>,
    Family<EndpointLabels, Gauge>,
) {
    let outbox_lag = registered(
        registry,
        "outbox_lag_seconds",
        "Age of the oldest revocation event a consumer has not yet passed on (follower, \
         subscribers: this instance's; webhook: all instances'), 0 when none waits",
    );
    let webhook_pending = registered(
        registry,
        "webhook_pending_deliveries",
        "Webhook deliveries neither acknowledged nor dead, by endpoint (all instances')",
    );
    (outbox_lag, webhook_pending)
}

/// `rescind_build_info`, always 1: the labels carry the version and the
/// commit (`build.rs`), so a dashboard can tell which instances run what.
pub(super) fn register_build_info(registry: &mut Registry) {
    let build_info = Family::<BuildLabels, Gauge>::default();
    build_info
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
            commit: env!("BUILD_GIT_COMMIT"),
        })
        .set(1);
    registry.register(
        "build_info",
        "Always 1; the labels say which version and commit this binary was built from",
        build_info,
    );
}

/// A new metric, registered under `name`.
pub(super) fn registered<M>(registry: &mut Registry, name: &str, help: &str) -> M
where
    M: prometheus_client::registry::Metric + Clone + Default,
{
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}
