//! Introspection's reads, grouped: lookups that arrive together on
//! PostgreSQL run as one statement ([`super::batches`]), each answered with
//! its own row.
//!
//! A lookup is a short read by key, so its cost is almost all per
//! statement: the round trip, the snapshot, sqlx's check of the connection
//! it takes back. Each request's presenter is checked in the statement, as
//! when it runs alone, so a resource server disabled, re-keyed or unmarked
//! on any instance is refused by the next batch that starts after that
//! change commits. A read takes only the shared locks every query takes: it
//! never waits for a revocation or an issue, only for a schema change (a
//! migration step), and the lookups queued meanwhile wait with it.
//!
//! A lookup whose caller has gone (its deadline passed, its connection
//! closed) is dropped from its batch: under overload the workers read only
//! for callers still waiting.

use sqlx::{FromRow as _, PgConnection, PgPool, Row as _};

use super::batches::{Abandoned, Answer, Batches, answers_by_position, failed};
use crate::domain::health::BatchCounts;
use crate::storage::StoreError;
use crate::storage::introspection::{IntrospectRow, Lookup, introspect_select};

/// [`introspect_select`] for a batch: one row per lookup, `ord` its
/// position (from 1). Each parameter is an array with one element per
/// lookup: `$1` the token hash (`NULL`: the presenter check alone), `$2` the
/// presenter's id, `$3` its revision.
const INTROSPECT_BATCH: &str = introspect_select!(
    ord = "r.ord, ",
    from = "unnest($1::bytea[], $2::text[], $3::int8[]) \
            WITH ORDINALITY AS r(token_hash, presenter_id, revision, ord)",
    id = "r.presenter_id",
    revision = "r.revision",
    presenter_check = "CROSS JOIN LATERAL",
    hash = "r.token_hash"
);

/// The lookup queue and its workers.
#[derive(Debug)]
pub struct GroupedReads(Batches<Lookup, IntrospectRow>);

impl GroupedReads {
    /// `workers` statements may run at once, each on a connection of
    /// `pool`.
    #[must_use]
    pub fn new(pool: PgPool, workers: usize) -> Self {
        Self(Batches::new(
            pool,
            workers,
            Abandoned::Drop,
            |connection, batch| Box::pin(run_batch(connection, batch)),
        ))
    }

    /// Queues one lookup and waits for its batch.
    pub async fn introspection_row(&self, lookup: Lookup) -> Result<IntrospectRow, StoreError> {
        self.0.submit(lookup).await
    }

    /// The batch statements run so far and the lookups they carried.
    pub fn counts(&self) -> BatchCounts {
        self.0.counts()
    }
}

/// Runs [`INTROSPECT_BATCH`] for `batch` on `connection`: one answer per
/// lookup, in order.
async fn run_batch(
    connection: &mut PgConnection,
    batch: Vec<Lookup>,
) -> Vec<Answer<IntrospectRow>> {
    let size = batch.len();
    statement(connection, &batch)
        .await
        .unwrap_or_else(|error| failed(size, error))
}

async fn statement(
    connection: &mut PgConnection,
    batch: &[Lookup],
) -> Result<Vec<Answer<IntrospectRow>>, StoreError> {
    let hashes: Vec<Option<&[u8]>> = batch.iter().map(|l| l.token_hash.as_deref()).collect();
    let ids: Vec<Option<&str>> = batch.iter().map(|l| l.presenter_id.as_deref()).collect();
    let revisions: Vec<Option<i64>> = batch.iter().map(|l| l.revision).collect();
    let rows = sqlx::query(INTROSPECT_BATCH)
        .bind(hashes)
        .bind(ids)
        .bind(revisions)
        .fetch_all(&mut *connection)
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let row_answer = IntrospectRow::from_row(row).map_err(StoreError::from);
        found.push((row.try_get("ord")?, row_answer));
    }
    answers_by_position(batch.len(), found)
}
