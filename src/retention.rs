//! The retention task: deletes tokens past expiry + `retention.keep_expired`,
//! the grants they leave empty, and revocation and admin call records older
//! than `retention.audit_days`, in batches, on one instance at a time.

use std::sync::Arc;

use chrono::Duration as ChronoDuration;

use crate::config::RetentionSettings;
use crate::domain::audit::{PurgeCounts, PurgePlan};
use crate::domain::clock::Clock;
use crate::metrics::Metrics;
use crate::storage::{Maintenance, StoreError};

/// Rows per delete statement.
pub const PURGE_BATCH: u32 = 1000;

/// How far ahead of the clock month partitions of the audit records and the
/// outbox are created (PostgreSQL): two months, so that a month always
/// exists a month before it starts, and a run that fails leaves weeks to
/// try again.
const PARTITIONS_AHEAD: chrono::TimeDelta = chrono::TimeDelta::days(62);

/// What the task needs.
pub struct Retention {
    pub store: Arc<dyn Maintenance>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub settings: RetentionSettings,
}

impl Retention {
    /// One run: `Ok(None)` when another instance is running it.
    pub async fn run_once(&self) -> Result<Option<PurgeCounts>, StoreError> {
        let now = self.clock.now();
        let keep =
            ChronoDuration::from_std(self.settings.keep_expired).unwrap_or(ChronoDuration::MAX);
        let plan = PurgePlan {
            now,
            partitions_through: now + PARTITIONS_AHEAD,
            tokens_expired_before: now
                .checked_sub_signed(keep)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
            audit_before: (self.settings.audit_days > 0).then(|| {
                now.checked_sub_signed(ChronoDuration::days(i64::from(self.settings.audit_days)))
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
            }),
            // A margin past each id's own end: another instance whose clock
            // runs behind this one's may still accept the token until then.
            logout_tokens_before: now - chrono::TimeDelta::minutes(5),
            batch: PURGE_BATCH,
        };
        let counts = self.store.purge(&plan).await?;
        if let Some(counts) = &counts {
            for (what, rows) in [
                ("tokens", counts.tokens),
                ("grants", counts.grants),
                ("revocations", counts.revocations),
                ("admin_actions", counts.admin_actions),
                ("revocation_events", counts.events),
                ("logout_tokens", counts.logout_tokens),
                ("ssf_sets", counts.ssf_sets),
                ("webhook_deliveries", counts.deliveries),
            ] {
                self.metrics.purged(what, rows);
            }
            tracing::info!(
                tokens = counts.tokens,
                grants = counts.grants,
                revocations = counts.revocations,
                admin_actions = counts.admin_actions,
                events = counts.events,
                logout_tokens = counts.logout_tokens,
                ssf_sets = counts.ssf_sets,
                webhook_deliveries = counts.deliveries,
                partitions_created = counts.partitions_created,
                partitions_dropped = counts.partitions_dropped,
                "retention: purged"
            );
            self.metrics
                .audit_partitions(counts.partitions_created, counts.partitions_dropped);
            if let Some(failure) = &counts.partition_failure {
                self.metrics.audit_partition_failed();
                tracing::warn!(
                    error = %failure,
                    "retention: month partitions not changed; retrying at the next interval"
                );
            }
        } else {
            tracing::debug!("retention: another instance is purging");
        }
        Ok(counts)
    }

    /// Runs every `retention.interval`, the first time one interval after
    /// start (so a fleet restarting together does not purge at once).
    pub async fn run_forever(self) {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + self.settings.interval,
            self.settings.interval,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = self.run_once().await {
                tracing::warn!(error = %error, "retention run failed; retrying at the next interval");
            }
        }
    }
}
