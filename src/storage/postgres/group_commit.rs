//! Group commit: revocations that arrive together on PostgreSQL are revoked
//! by one statement, each answered with its own outcome.
//!
//! At this size a revocation's cost is mostly per statement and per commit
//! (the protocol round trip, starting and committing the transaction,
//! flushing the commit record, and sqlx's check of each connection it takes
//! back), not per row. A few workers take turns at the queue: the one whose
//! turn it is takes everything waiting (up to [`MAX_BATCH`]) and runs
//! [`REVOKE_STATEMENT`] once for all of it, while the next worker waits
//! for what arrives meanwhile. Nothing waits for a batch to fill: a lone
//! revocation runs at once, alone, and batches grow only when requests
//! queue anyway because every worker is busy.
//!
//! Every guarantee of a lone revocation holds for each request of a batch,
//! since the statement is the same one: one audit record and one event per
//! revoked grant, the grant claimed under its row lock, the trigger revoking
//! the grant's tokens with a snapshot taken after the claim, and when two
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

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use sqlx::{FromRow as _, PgPool, Row as _};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::domain::revocation::{ForeignPolicy, RevocationOutcome, RevocationRequest};
use crate::domain::revocation_rule::{Decision, Sighting, decide};
use crate::storage::StoreError;
use crate::storage::revocation::{SightingRow, presenter_columns};

use super::REVOKE_STATEMENT;

/// The most revocations one statement carries. Under a load that fills
/// every batch, a larger bound adds latency for little saving: the fixed
/// cost is already shared this many ways.
pub const MAX_BATCH: usize = 64;

/// Revocations waiting for a worker, beyond which a caller waits to queue
/// (the HTTP layer's own concurrency bound and deadline keep that short).
const QUEUE: usize = 1024;

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

/// The answer to one queued revocation. The error is shared: a failed
/// statement fails its whole batch.
type Answer = Result<Seen, Arc<StoreError>>;

struct Job {
    pending: Pending,
    answer: oneshot::Sender<Answer>,
}

/// The queue and its workers, started on first use (inside the runtime
/// that serves requests; a store is also built where no runtime runs).
pub struct GroupCommit {
    pool: PgPool,
    workers: usize,
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// `workers` statements may run at once, each on a connection of
    /// `pool`: the rest of the pool stays free for everything else.
    #[must_use]
    pub fn new(pool: PgPool, workers: usize) -> Self {
        Self {
            pool,
            workers: workers.max(1),
            queue: OnceLock::new(),
        }
    }

    /// Queues one revocation and waits for its batch.
    pub async fn revoke(&self, pending: Pending) -> Result<Seen, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job = Job { pending, answer };
        let job = match self.queue().send(job).await {
            Ok(()) => return receive(answered).await,
            // The workers are gone: their runtime ended while this store
            // lives on (a store shared by two runtimes). Run it alone.
            Err(mpsc::error::SendError(job)) => job,
        };
        let mut answers = run_batch(&self.pool, vec![job.pending]).await;
        match answers.pop() {
            Some(answer) => answer.map_err(StoreError::shared),
            None => Err(StoreError::Corrupt("a batch of one came back empty")),
        }
    }

    fn queue(&self) -> &mpsc::Sender<Job> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            let receiver = Arc::new(Mutex::new(receiver));
            for _ in 0..self.workers {
                tokio::spawn(work(self.pool.clone(), Arc::clone(&receiver)));
            }
            sender
        })
    }
}

async fn receive(answered: oneshot::Receiver<Answer>) -> Result<Seen, StoreError> {
    match answered.await {
        Ok(answer) => answer.map_err(StoreError::shared),
        // The worker was dropped mid-batch: its runtime is shutting down.
        Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolClosed)),
    }
}

/// One worker: waits for its turn at the queue, takes everything queued,
/// runs it as one statement, answers each request. Ends when the store is
/// dropped (the queue closes).
async fn work(pool: PgPool, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = queue.lock().await.recv_many(&mut jobs, MAX_BATCH).await;
        if taken == 0 {
            return;
        }
        // Every queued revocation runs, even one whose caller is gone: a
        // client that sent its logout and closed the connection still
        // expects it done, and one answered 503 finds it already revoked
        // when it retries.
        let (pending, answers): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|job| (job.pending, job.answer)).unzip();
        let results = run_batch(&pool, pending).await;
        for (answer, result) in answers.into_iter().zip(results) {
            // A caller that gave up (its deadline passed) is not waiting.
            let _ = answer.send(result);
        }
    }
}

/// Runs [`REVOKE_STATEMENT`] for `batch` on a connection of `pool`: one
/// answer per revocation, in order.
pub async fn run_batch(pool: &PgPool, batch: Vec<Pending>) -> Vec<Answer> {
    let size = batch.len();
    let mut outcome = statement(pool, &batch).await;
    if outcome.as_ref().is_err_and(is_deadlock) {
        outcome = statement(pool, &batch).await;
    }
    match outcome {
        Ok(seen) => seen,
        Err(error) => {
            let error = Arc::new(error);
            (0..size).map(|_| Err(Arc::clone(&error))).collect()
        }
    }
}

/// PostgreSQL aborted the statement to break a lock cycle (with the
/// retention purge, which deletes tokens without the grants' locks).
fn is_deadlock(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(sqlx::Error::Database(db))
        if db.code().as_deref() == Some("40P01"))
}

async fn statement(pool: &PgPool, batch: &[Pending]) -> Result<Vec<Answer>, StoreError> {
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
        .fetch_all(pool)
        .await?;
    let mut answers: Vec<Option<Answer>> = (0..size).map(|_| None).collect();
    for row in &rows {
        let ordinal: i64 = row.try_get("ord")?;
        let seen = decode(row);
        let slot = usize::try_from(ordinal)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| answers.get_mut(n))
            .ok_or(StoreError::Corrupt("a batch row for no request"))?;
        *slot = Some(seen.map_err(Arc::new));
    }
    Ok(answers
        .into_iter()
        .map(|answer| {
            answer
                .unwrap_or_else(|| Err(Arc::new(StoreError::Corrupt("a request without its row"))))
        })
        .collect())
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
