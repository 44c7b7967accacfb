//! Group commit: revocations that arrive together on PostgreSQL are revoked
//! by one statement, each answered with its own outcome ([`super::batches`]
//! queues them: a worker takes everything waiting and runs
//! [`REVOKE_STATEMENT`] once for all of it).
//!
//! At this size a revocation's cost is mostly per statement and per commit
//! (the protocol round trip, starting and committing the transaction,
//! flushing the commit record, and sqlx's check of each connection it takes
//! back), not per row; the fewer the workers, the larger the batches
//! (`database.batch_workers`).
//!
//! Every guarantee of a lone revocation holds for each request of a batch,
//! since the statement is the same one: one audit record and one event per
//! revoked grant, the grant claimed under its row lock (and with it every
//! token of the grant, one a concurrent rotation added included: a token's
//! state is its grant's), and when two
//! requests of a batch hold tokens of one grant, exactly one of them
//! revokes it and the other is answered as if it came second. A batch
//! locks its grants in id order, as bulk revocations do, so batches running
//! at the same time (on this instance or another) cannot deadlock.
//!
//! A statement that fails fails every request of its batch: each is
//! answered with the error (a `503`, retried by its caller). A deadlock
//! (PostgreSQL aborted the statement, so nothing of it committed) is retried
//! once at once. A queued request runs even when its caller has gone (a
//! client that closed the connection after sending its logout, one whose
//! deadline passed): what was asked is done.

use chrono::{DateTime, Utc};
use sqlx::{FromRow as _, PgConnection, PgPool, Row as _};

use crate::domain::health::BatchCounts;
use crate::domain::revocation::{ForeignPolicy, RevocationOutcome, RevocationRequest};
use crate::domain::revocation_rule::{Decision, Sighting, decide};
use crate::storage::StoreError;
use crate::storage::revocation::{SightingRow, presenter_columns};

use super::REVOKE_STATEMENT;
use super::batches::{Abandoned, Answer, Batches, answers_by_position, failed};

/// One revocation's parameters, owned, for the worker that runs its batch.
#[derive(Debug)]
pub struct Pending {
    token_hash: Vec<u8>,
    presenter_id: Option<String>,
    revision: Option<i64>,
    now: DateTime<Utc>,
    own_reason: &'static str,
    foreign_reason: &'static str,
    may_revoke_foreign: bool,
    presenter_kind: &'static str,
    request_id: String,
    found_at: Option<String>,
}

impl Pending {
    pub fn new(request: &RevocationRequest<'_>) -> Self {
        let (presenter_id, revision) = presenter_columns(request.presenter);
        Self {
            token_hash: request.token_hash.as_bytes().to_vec(),
            presenter_id: presenter_id.map(str::to_owned),
            revision,
            now: request.now,
            own_reason: request.reason(false).as_str(),
            foreign_reason: request.reason(true).as_str(),
            may_revoke_foreign: request.foreign_policy == ForeignPolicy::Revoke,
            presenter_kind: request.presenter.kind_label(),
            request_id: request.request_id.to_owned(),
            found_at: request.found_at.map(str::to_owned),
        }
    }
}

/// What the statement saw of one revocation: the sighting the revocation
/// rule decides on, and whether this very request claimed the grant.
#[derive(Debug)]
pub struct Seen {
    pub sighting: Sighting,
    pub claimed: bool,
}

/// What the statement's row for `request` means: the revocation rule
/// ([`decide`]) applied to what it saw, and whether it claimed the grant.
pub fn outcome(
    request: &RevocationRequest<'_>,
    seen: &Seen,
) -> Result<RevocationOutcome, StoreError> {
    match (decide(&seen.sighting, request), seen.claimed) {
        (Decision::Revoke(plan), true) => Ok(RevocationOutcome::Revoked {
            grant_id: plan.grant_id,
            foreign: plan.foreign,
        }),
        // Another revocation of the same grant committed first, or came
        // earlier in the same batch.
        (Decision::Revoke(_), false) => Ok(RevocationOutcome::AlreadyRevoked),
        (Decision::Answer(outcome), false) => Ok(outcome),
        (Decision::Answer(_), true) => Err(StoreError::Corrupt(
            "the revocation statement and the revocation policy disagree",
        )),
    }
}

/// The revocation queue and its workers.
#[derive(Debug)]
pub struct GroupCommit(Batches<Pending, Seen>);

impl GroupCommit {
    /// `workers` statements may run at once, each on a connection of
    /// `pool`: the rest of the pool stays free for everything else.
    #[must_use]
    pub fn new(pool: PgPool, workers: usize) -> Self {
        Self(Batches::new(
            pool,
            workers,
            Abandoned::Run,
            |connection, batch| Box::pin(run_batch_on(connection, batch)),
        ))
    }

    /// Queues one revocation and waits for its batch. A queued revocation
    /// runs even when its caller has gone (a client that closed the
    /// connection after sending its logout): what was asked is done.
    pub async fn revoke(&self, pending: Pending) -> Result<Seen, StoreError> {
        self.0.submit(pending).await
    }

    /// The batch statements run so far and the revocations they carried.
    pub fn counts(&self) -> BatchCounts {
        self.0.counts()
    }
}

/// Runs [`REVOKE_STATEMENT`] for `batch` on a connection of `pool`: one
/// answer per revocation, in order.
pub async fn run_batch(pool: &PgPool, batch: Vec<Pending>) -> Vec<Answer<Seen>> {
    match pool.acquire().await {
        Ok(mut connection) => run_batch_on(&mut connection, batch).await,
        Err(error) => failed(batch.len(), error.into()),
    }
}

/// [`run_batch`] on `connection`. A deadlock (PostgreSQL aborted the
/// statement, so nothing of it committed) is retried once at once.
async fn run_batch_on(connection: &mut PgConnection, batch: Vec<Pending>) -> Vec<Answer<Seen>> {
    let size = batch.len();
    let mut outcome = statement(connection, &batch).await;
    if outcome.as_ref().is_err_and(is_deadlock) {
        outcome = statement(connection, &batch).await;
    }
    outcome.unwrap_or_else(|error| failed(size, error))
}

/// PostgreSQL aborted the statement to break a lock cycle (with the
/// retention purge, which deletes tokens without the grants' locks).
fn is_deadlock(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(sqlx::Error::Database(db))
        if db.code().as_deref() == Some("40P01"))
}

async fn statement(
    connection: &mut PgConnection,
    batch: &[Pending],
) -> Result<Vec<Answer<Seen>>, StoreError> {
    let size = batch.len();
    let mut columns = Columns::with_capacity(size);
    for pending in batch {
        columns.push(pending);
    }
    let rows = sqlx::query(REVOKE_STATEMENT)
        .bind(columns.token_hash)
        .bind(columns.presenter_id)
        .bind(columns.revision)
        .bind(columns.now)
        .bind(columns.own_reason)
        .bind(columns.foreign_reason)
        .bind(columns.may_revoke_foreign)
        .bind(columns.presenter_kind)
        .bind(columns.request_id)
        .bind(columns.found_at)
        .fetch_all(&mut *connection)
        .await?;
    let mut seen = Vec::with_capacity(rows.len());
    for row in &rows {
        seen.push((row.try_get("ord")?, decode(row)));
    }
    answers_by_position(size, seen)
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<Seen, StoreError> {
    Ok(Seen {
        sighting: Sighting::try_from(SightingRow::from_row(row)?)?,
        claimed: row.try_get("claimed")?,
    })
}

/// A batch as the statement's array parameters, one array per column.
struct Columns<'a> {
    token_hash: Vec<&'a [u8]>,
    presenter_id: Vec<Option<&'a str>>,
    revision: Vec<Option<i64>>,
    now: Vec<DateTime<Utc>>,
    own_reason: Vec<&'static str>,
    foreign_reason: Vec<&'static str>,
    may_revoke_foreign: Vec<bool>,
    presenter_kind: Vec<&'static str>,
    request_id: Vec<&'a str>,
    found_at: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn with_capacity(size: usize) -> Self {
        Self {
            token_hash: Vec::with_capacity(size),
            presenter_id: Vec::with_capacity(size),
            revision: Vec::with_capacity(size),
            now: Vec::with_capacity(size),
            own_reason: Vec::with_capacity(size),
            foreign_reason: Vec::with_capacity(size),
            may_revoke_foreign: Vec::with_capacity(size),
            presenter_kind: Vec::with_capacity(size),
            request_id: Vec::with_capacity(size),
            found_at: Vec::with_capacity(size),
        }
    }

    fn push(&mut self, pending: &'a Pending) {
        self.token_hash.push(&pending.token_hash);
        self.presenter_id.push(pending.presenter_id.as_deref());
        self.revision.push(pending.revision);
        self.now.push(pending.now);
        self.own_reason.push(pending.own_reason);
        self.foreign_reason.push(pending.foreign_reason);
        self.may_revoke_foreign.push(pending.may_revoke_foreign);
        self.presenter_kind.push(pending.presenter_kind);
        self.request_id.push(&pending.request_id);
        self.found_at.push(pending.found_at.as_deref());
    }
}
