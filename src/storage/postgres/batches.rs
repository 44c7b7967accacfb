//! Batches: requests that arrive while a batch is in the database run together,
//! as one statement, each answered with its own result. Revocations use it
//! (group commit, [`super::group_commit`]) and so do introspection's reads
//! ([`super::grouped_reads`]).
//!
//! At this size a statement's cost is mostly per statement (the protocol
//! round trip, starting and ending the transaction, sqlx's check of each
//! connection it takes back, and for a write the commit's flush), not per
//! row. A few workers take turns at the queue: the one whose turn it is
//! takes everything waiting (up to [`MAX_BATCH`]) and runs it as one
//! statement, while the next worker waits for what arrives meanwhile, and
//! keeps taking it until the batch in the database is done (at most
//! [`LINGER`] after that batch started): batches grow as a lone worker's
//! would, and a batch that waits for a lock holds the next ones back no
//! longer than that.
//! Nothing waits for a batch to fill: a lone request runs at once, alone,
//! and batches grow only when requests queue anyway because a batch is in
//! the database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::domain::health::BatchCounts;
use crate::storage::{PoolSettings, StoreError};

/// The most requests one statement carries. Under a load that fills every
/// batch, a larger bound adds latency for little saving: the fixed cost is
/// already shared this many ways.
pub const MAX_BATCH: usize = 64;

/// How long the worker whose turn it is lets its batch grow while another
/// batch is in the database: until that one is done, as a lone worker's
/// batch would, but no longer than this, since that batch may be waiting
/// for a grant another transaction holds.
const LINGER: Duration = Duration::from_millis(5);

/// Requests waiting for a worker, beyond which a caller waits to queue (the
/// HTTP layer's own concurrency bound and deadline keep that short).
const QUEUE: usize = 1024;

/// One request's answer. The error is shared: a failed statement fails its
/// whole batch.
pub type Answer<T> = Result<T, Arc<StoreError>>;

/// Runs one batch as one statement on a connection: exactly one answer per
/// input, in order.
pub type RunBatch<I, T> = for<'c> fn(&'c mut PgConnection, Vec<I>) -> BoxFuture<'c, Vec<Answer<T>>>;

/// What a worker does with a request whose caller has gone (its deadline
/// passed, its connection closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Runs it: a client that sent its logout and closed the connection
    /// still expects its revocation done.
    Run,
    /// Leaves it out of the batch: nobody reads the answer.
    Drop,
}

struct Job<I, T> {
    input: I,
    answer: oneshot::Sender<Answer<T>>,
}

/// The queue and its workers, started on first use (inside the runtime
/// that serves requests; a store is also built where no runtime runs).
pub struct Batches<I, T> {
    pool: PgPool,
    workers: usize,
    abandoned: Abandoned,
    run: RunBatch<I, T>,
    queue: OnceLock<mpsc::Sender<Job<I, T>>>,
    counts: Arc<Counts>,
    /// Batches in the database now.
    in_flight: Arc<watch::Sender<InFlight>>,
}

/// Statements run and the requests they carried, since the start.
#[derive(Debug, Default)]
struct Counts {
    statements: AtomicU64,
    requests: AtomicU64,
}

impl Counts {
    fn ran(&self, requests: usize) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(
            u64::try_from(requests).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

impl<I, T> std::fmt::Debug for Batches<I, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl<I: Send + 'static, T: Send + 'static> Batches<I, T> {
    /// `workers` statements may run at once, each on a connection of
    /// `pool`: the rest of the pool stays free for everything else.
    #[must_use]
    pub fn new(pool: PgPool, workers: usize, abandoned: Abandoned, run: RunBatch<I, T>) -> Self {
        Self {
            pool,
            workers: workers.max(1),
            abandoned,
            run,
            queue: OnceLock::new(),
            counts: Arc::default(),
            in_flight: Arc::new(watch::Sender::new(InFlight::default())),
        }
    }

    /// The statements run so far and the requests they carried.
    pub fn counts(&self) -> BatchCounts {
        BatchCounts {
            statements: self.counts.statements.load(Ordering::Relaxed),
            requests: self.counts.requests.load(Ordering::Relaxed),
        }
    }

    /// Queues one request and waits for its batch.
    pub async fn submit(&self, input: I) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job = match self.queue().send(Job { input, answer }).await {
            Ok(()) => return receive(answered).await,
            // The workers are gone: their runtime ended while this store
            // lives on (a store shared by two runtimes). Run it alone.
            Err(mpsc::error::SendError(job)) => job,
        };
        self.counts.ran(1);
        let mut answers = match self.pool.acquire().await {
            Ok(mut connection) => (self.run)(&mut connection, vec![job.input]).await,
            Err(error) => failed(1, error.into()),
        };
        match answers.pop() {
            Some(answer) => answer.map_err(StoreError::shared),
            None => Err(StoreError::Corrupt("a batch of one came back empty")),
        }
    }

    fn queue(&self) -> &mpsc::Sender<Job<I, T>> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            let receiver = Arc::new(Mutex::new(receiver));
            for _ in 0..self.workers {
                tokio::spawn(work(
                    self.pool.clone(),
                    Arc::clone(&receiver),
                    self.abandoned,
                    self.run,
                    Arc::clone(&self.counts),
                    Arc::clone(&self.in_flight),
                ));
            }
            sender
        })
    }
}

async fn receive<T>(answered: oneshot::Receiver<Answer<T>>) -> Result<T, StoreError> {
    match answered.await {
        Ok(answer) => answer.map_err(StoreError::shared),
        // The worker was dropped mid-batch: its runtime is shutting down.
        Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolClosed)),
    }
}

/// One worker: waits for its turn at the queue, takes everything queued,
/// runs it as one statement, answers each request. Ends when the store is
/// dropped (the queue closes).
async fn work<I, T>(
    pool: PgPool,
    queue: Arc<Mutex<mpsc::Receiver<Job<I, T>>>>,
    abandoned: Abandoned,
    run: RunBatch<I, T>,
    counts: Arc<Counts>,
    in_flight: Arc<watch::Sender<InFlight>>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = next(&queue, &mut jobs, &in_flight, LINGER).await;
        if taken == 0 {
            return;
        }
        let (inputs, answers): (Vec<_>, Vec<_>) = jobs
            .drain(..)
            .filter(|job| abandoned == Abandoned::Run || !job.answer.is_closed())
            .map(|job| (job.input, job.answer))
            .unzip();
        if inputs.is_empty() {
            continue;
        }
        counts.ran(inputs.len());
        let flight = Flight::start(&in_flight);
        let results = match pool.acquire().await {
            Ok(mut connection) => run(&mut connection, inputs).await,
            Err(error) => failed(inputs.len(), error.into()),
        };
        drop(flight);
        for (answer, result) in answers.into_iter().zip(results) {
            // A caller that gave up (its deadline passed) is not waiting.
            let _ = answer.send(result);
        }
    }
}

/// How many statements each kind of batch (revocations, lookups) may run
/// at once: `batch_workers`, but at most a quarter of the pool, so that
/// from 4 connections up the two kinds together leave half of it to
/// issuing, credential checks, the admin API and the background tasks; one
/// at least (a smaller pool is shared as it can be).
pub fn workers_per_kind(settings: &PoolSettings) -> usize {
    let workers = settings
        .batch_workers
        .min(settings.max_connections / 4)
        .max(1);
    usize::try_from(workers).unwrap_or(1)
}

/// Waits for this worker's turn at the queue, then for requests: takes
/// every one waiting (at most [`MAX_BATCH`]) into `jobs`; 0 once the queue
/// is closed. While another batch is in the database (`in_flight`), it
/// keeps its turn and takes what arrives until that batch is done, or
/// until `linger` ([`LINGER`]) after the latest batch started: the other
/// workers wait for the turn meanwhile, so batches grow as a lone worker's
/// would, and a batch that waits for a lock holds the next ones back only
/// that long after it started. A full batch goes at once.
async fn next<I, T>(
    queue: &Mutex<mpsc::Receiver<Job<I, T>>>,
    jobs: &mut Vec<Job<I, T>>,
    in_flight: &watch::Sender<InFlight>,
    linger: Duration,
) -> usize {
    let mut receiver = queue.lock().await;
    let taken = receiver.recv_many(jobs, MAX_BATCH).await;
    let until = in_flight.borrow().linger_until(linger);
    if let Some(until) = until.filter(|_| taken > 0 && jobs.len() < MAX_BATCH) {
        let mut batches = in_flight.subscribe();
        // Timing out is the answer too: go with what was taken.
        let _ = tokio::time::timeout_at(until, batches.wait_for(|f| f.running == 0)).await;
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
    }
    jobs.len()
}

/// The batches in the database, and when the latest of them started.
#[derive(Debug, Default)]
struct InFlight {
    running: usize,
    latest_start: Option<tokio::time::Instant>,
}

impl InFlight {
    /// How long a turn may wait for the batches in flight: until `linger`
    /// after the latest one started; `None` when none is in flight.
    fn linger_until(&self, linger: Duration) -> Option<tokio::time::Instant> {
        (self.running > 0)
            .then_some(self.latest_start)
            .flatten()
            .map(|start| start + linger)
    }
}

/// A batch counted in [`InFlight`] from its start until this is dropped,
/// however its worker ends (a panic included): a batch that never ends
/// would make every later turn wait.
struct Flight<'a>(&'a watch::Sender<InFlight>);

impl<'a> Flight<'a> {
    fn start(in_flight: &'a watch::Sender<InFlight>) -> Self {
        in_flight.send_modify(|flight| {
            flight.running += 1;
            flight.latest_start = Some(tokio::time::Instant::now());
        });
        Self(in_flight)
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.0
            .send_modify(|flight| flight.running = flight.running.saturating_sub(1));
    }
}

/// One answer per request of a batch from the statement's rows, each of
/// which carries its request's position (`ord`, from 1): a request with no
/// row, or a row for no request, is an error of its own.
pub fn answers_by_position<T>(
    size: usize,
    rows: impl IntoIterator<Item = (i64, Result<T, StoreError>)>,
) -> Result<Vec<Answer<T>>, StoreError> {
    let mut answers: Vec<Option<Answer<T>>> = (0..size).map(|_| None).collect();
    for (ordinal, answer) in rows {
        let slot = usize::try_from(ordinal)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| answers.get_mut(n))
            .ok_or(StoreError::Corrupt("a batch row for no request"))?;
        if slot.is_some() {
            return Err(StoreError::Corrupt("two batch rows for one request"));
        }
        *slot = Some(answer.map_err(Arc::new));
    }
    Ok(answers
        .into_iter()
        .map(|answer| {
            answer
                .unwrap_or_else(|| Err(Arc::new(StoreError::Corrupt("a request without its row"))))
        })
        .collect())
}

/// Every request of a batch answered with the statement's error.
pub fn failed<T>(size: usize, error: StoreError) -> Vec<Answer<T>> {
    let error = Arc::new(error);
    (0..size).map(|_| Err(Arc::clone(&error))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(batch_workers: u32, max_connections: u32) -> usize {
        workers_per_kind(&PoolSettings {
            max_connections,
            batch_workers,
            timeout: Duration::from_secs(5),
        })
    }

    /// Sends `count` jobs numbered from `first`.
    fn send_jobs(queue: &mpsc::Sender<Job<u32, ()>>, first: u32, count: u32) {
        for input in first..first + count {
            let (answer, _) = oneshot::channel();
            queue
                .try_send(Job { input, answer })
                .unwrap_or_else(|_| panic!("the queue is full"));
        }
    }

    /// Longer than any test runs: the turn ends only when the other batch
    /// is done.
    const FOREVER: Duration = Duration::from_secs(3600);

    /// While another batch is in the database, the worker whose turn it is
    /// takes what arrives until that batch is done: one batch of six, not
    /// a batch of one and another of five.
    #[tokio::test]
    async fn a_batch_grows_while_another_is_in_the_database() {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let queue = Mutex::new(receiver);
        let in_flight = watch::Sender::new(InFlight::default());
        let other = Flight::start(&in_flight);
        send_jobs(&sender, 0, 1);
        let mut jobs = Vec::new();
        let taken = {
            let next = next(&queue, &mut jobs, &in_flight, FOREVER);
            tokio::pin!(next);
            // The first job is taken; the turn waits for the other batch.
            let waiting = tokio::time::timeout(Duration::from_millis(20), next.as_mut()).await;
            assert!(
                waiting.is_err(),
                "the turn ended with another batch in flight"
            );
            send_jobs(&sender, 1, 5);
            drop(other);
            tokio::time::timeout(Duration::from_secs(5), next)
                .await
                .unwrap_or_else(|_| panic!("the turn outlasted the other batch"))
        };
        assert_eq!(taken, 6);
        let inputs: Vec<u32> = jobs.iter().map(|job| job.input).collect();
        assert_eq!(inputs, [0, 1, 2, 3, 4, 5]);
    }

    /// A batch in the database (waiting for a lock, say) holds the next
    /// turn back until the linger after it started, and no longer: a turn
    /// that comes later does not wait at all; neither does one with no
    /// batch in flight, nor a full batch.
    #[tokio::test]
    async fn a_batch_waits_for_another_one_at_most_the_linger() {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let queue = Mutex::new(receiver);
        let linger = Duration::from_millis(100);
        let in_flight = watch::Sender::new(InFlight::default());
        let stuck = Flight::start(&in_flight);
        let started = std::time::Instant::now();
        let turn = |first: u32, count: u32| {
            send_jobs(&sender, first, count);
            let (queue, in_flight) = (&queue, &in_flight);
            async move {
                let mut jobs = Vec::new();
                tokio::time::timeout(
                    Duration::from_secs(5),
                    next(queue, &mut jobs, in_flight, linger),
                )
                .await
                .ok()
            }
        };
        assert_eq!(turn(0, 2).await, Some(2));
        assert!(started.elapsed() >= linger / 2, "{:?}", started.elapsed());

        // The stuck batch started more than the linger ago: no wait.
        let later = std::time::Instant::now();
        assert_eq!(turn(2, 1).await, Some(1));
        assert!(later.elapsed() < linger, "{:?}", later.elapsed());

        let another = Flight::start(&in_flight);
        let filled = u32::try_from(MAX_BATCH).unwrap_or(u32::MAX);
        let at = std::time::Instant::now();
        assert_eq!(turn(3, filled).await, Some(MAX_BATCH));
        assert!(
            at.elapsed() < linger,
            "a full batch waited {:?}",
            at.elapsed()
        );
        drop((stuck, another));

        let idle = std::time::Instant::now();
        assert_eq!(turn(1000, 1).await, Some(1));
        assert!(
            idle.elapsed() < linger,
            "a lone batch waited {:?}",
            idle.elapsed()
        );
    }

    #[test]
    fn each_kind_gets_at_most_a_quarter_of_the_pool_and_one_at_least() {
        assert_eq!(workers(2, 8), 2, "the defaults");
        assert_eq!(workers(4, 8), 2);
        assert_eq!(workers(4, 16), 4);
        assert_eq!(workers(8, 16), 4);
        assert_eq!(workers(1, 8), 1);
        for small in 1..=7 {
            assert_eq!(workers(2, small), 1, "a pool of {small}");
        }
    }

    #[test]
    fn two_rows_for_one_request_are_an_error() {
        let rows = [(1, Ok(())), (2, Ok(())), (1, Ok(()))];
        assert!(matches!(
            answers_by_position(2, rows),
            Err(StoreError::Corrupt(_))
        ));
        let missing = answers_by_position(2, [(2, Ok(()))]).unwrap_or_default();
        assert!(
            missing.first().is_some_and(Result::is_err),
            "no row: an error"
        );
        assert!(missing.get(1).is_some_and(Result::is_ok));
        assert!(
            answers_by_position(1, [(2, Ok(()))]).is_err(),
            "a row for no request"
        );
    }
}
