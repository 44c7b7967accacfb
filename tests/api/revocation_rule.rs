//! The revocation rule (`rescind::domain::revocation_rule`) against the
//! store: random cases through the real revocation on each backend
//! (PostgreSQL's single statement, SQLite's read then write) must come out
//! as the pure function says, with the audit record it plans; and random
//! batches through PostgreSQL's statement at once (its group commit), some
//! tokens presented twice in one batch.

use chrono::Duration;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rescind::domain::audit::{BulkRevocation, GrantFilter, Page, RevocationQuery};
use rescind::domain::client::{ClientId, ClientKind};
use rescind::domain::grant::{GrantId, GrantOrigin, NewGrant, NewToken};
use rescind::domain::presenter::Presenter;
use rescind::domain::revocation::{
    ForeignPolicy, RevocationOutcome, RevocationReason, RevocationRequest,
};
use rescind::domain::revocation_rule::{
    Decision, PlannedRevocation, SightedToken, Sighting, decide,
};
use rescind::domain::token::{TokenHash, TokenKind};
use rescind::storage::StoreError;
use rescind::storage::postgres::group_commit::{Pending, Seen, outcome, run_batch};
use std::sync::Arc;

use crate::helpers::{Backend, TestApp, now};
use crate::on_both_backends;

/// Cases per backend: a few seconds on either.
const CASES: usize = 200;

/// The default seed; `RESCIND_RULE_SEED` replays another.
const SEED: u64 = 0x7265_766f_6b65;

/// Who presents the token.
#[derive(Debug, Clone, Copy)]
enum Who {
    Anonymous,
    /// An operator at the command line (`rescind token revoke`).
    Operator,
    /// The client the grant was issued to.
    Owner,
    /// Another client.
    Other,
    /// A client that was disabled after it authenticated.
    Disabled,
}

/// The presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// Never stored.
    Unknown,
    Live,
    /// Stored, and expired an hour ago.
    Expired,
}

/// One random case.
#[derive(Debug, Clone)]
struct Case {
    who: Who,
    /// The presenter's revision is behind the stored one (re-keyed since).
    rekeyed: bool,
    policy: ForeignPolicy,
    /// Reported by a secret scanner, with where it was found.
    found: bool,
    token: Token,
    kind: TokenKind,
    grant_revoked: bool,
}

impl Case {
    fn draw(rng: &mut StdRng) -> Self {
        Self {
            who: [
                Who::Anonymous,
                Who::Operator,
                Who::Owner,
                Who::Other,
                Who::Disabled,
            ][rng.gen_range(0..5)],
            rekeyed: rng.gen_bool(0.2),
            policy: if rng.gen_bool(0.5) {
                ForeignPolicy::Revoke
            } else {
                ForeignPolicy::Reject
            },
            found: rng.gen_bool(0.2),
            token: [Token::Unknown, Token::Live, Token::Expired][rng.gen_range(0..3)],
            kind: if rng.gen_bool(0.5) {
                TokenKind::Access
            } else {
                TokenKind::Refresh
            },
            grant_revoked: rng.gen_bool(0.3),
        }
    }

    /// The presenter as it authenticated: at its client's current revision,
    /// or at one its client no longer has when re-keyed since.
    fn presenter(&self) -> Presenter {
        let (id, kind) = match self.who {
            Who::Anonymous => return Presenter::Anonymous,
            Who::Operator => return Presenter::Operator,
            Who::Owner => ("owner", ClientKind::Confidential),
            Who::Other => ("other", ClientKind::Public),
            Who::Disabled => ("disabled", ClientKind::Confidential),
        };
        Presenter::Client {
            id: client(id),
            kind,
            revision: if self.rekeyed {
                -1
            } else {
                current_revision(id)
            },
            resource_server: false,
        }
    }

    /// What the store should see, by construction of the case.
    fn sighting(&self, grant_id: GrantId) -> Sighting {
        Sighting {
            presenter_current: match self.who {
                Who::Anonymous | Who::Operator => true,
                Who::Disabled => false,
                Who::Owner | Who::Other => !self.rekeyed,
            },
            token: (self.token != Token::Unknown).then(|| SightedToken {
                grant_id,
                client_id: client("owner"),
                kind: self.kind,
                grant_revoked: self.grant_revoked,
            }),
        }
    }
}

fn client(id: &str) -> ClientId {
    ClientId::parse(id).unwrap_or_else(|e| panic!("{e}"))
}

/// The clients' revisions once set up: disabling moved `disabled`'s.
fn current_revision(id: &str) -> i64 {
    i64::from(id == "disabled")
}

/// Stores a grant of `owner` with one token for `case`, revoked first when
/// the case says so; returns the grant and the token's hash.
async fn store_grant(app: &TestApp, case: &Case, n: usize) -> (GrantId, TokenHash) {
    let created_at = now() - Duration::hours(2);
    let expires_at = if case.token == Token::Expired {
        now() - Duration::hours(1)
    } else {
        now() + Duration::hours(1)
    };
    let hash = TokenHash::of(&format!("rule-token-{n}"));
    let subject = format!("subject-{n}");
    let grant = NewGrant {
        id: GrantId::generate(),
        client_id: client("owner"),
        subject: subject.clone(),
        scope: None,
        origin: GrantOrigin::default(),
        created_at,
        tokens: vec![NewToken {
            hash,
            kind: case.kind,
            expires_at,
        }],
    };
    app.store
        .issue_grants(std::slice::from_ref(&grant))
        .await
        .unwrap_or_else(|e| panic!("issue_grants: {e}"));
    if case.grant_revoked {
        let filter = GrantFilter::new(None, Some(subject)).unwrap_or_else(|| panic!("filter"));
        let batch = BulkRevocation {
            filter: &filter,
            reason: RevocationReason::AdminBulk,
            request_id: "setup",
            now: now(),
            batch_size: 10,
            wait_for_locked: true,
        };
        let revoked = app.store.revoke_grants(&batch).await;
        assert_eq!(revoked.unwrap_or_else(|e| panic!("{e}")), 1);
    }
    let presented = if case.token == Token::Unknown {
        TokenHash::of(&format!("never-stored-{n}"))
    } else {
        hash
    };
    (grant.id, presented)
}

/// A server with the cases' clients, and the seed of this run.
async fn rule_app(backend: Backend) -> (TestApp, u64) {
    let app = TestApp::spawn(backend).await;
    app.create_client("owner", ClientKind::Confidential).await;
    app.create_client("other", ClientKind::Public).await;
    app.create_client("disabled", ClientKind::Confidential)
        .await;
    app.disable_client("disabled").await;
    let seed = std::env::var("RESCIND_RULE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(SEED);
    (app, seed)
}

async fn the_store_revokes_as_the_revocation_rule_decides(backend: Backend) {
    let (app, seed) = rule_app(backend).await;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut decided = std::collections::BTreeMap::<String, usize>::new();
    for n in 0..CASES {
        let case = Case::draw(&mut rng);
        let (grant_id, hash) = store_grant(&app, &case, n).await;
        let presenter = case.presenter();
        let request = RevocationRequest {
            token_hash: &hash,
            presenter: &presenter,
            foreign_policy: case.policy,
            request_id: "rule",
            now: now(),
            found_at: case.found.then_some("https://example.test/leak"),
        };
        let decision = decide(&case.sighting(grant_id), &request);
        let outcome = app
            .store
            .revoke_by_token_hash(&request)
            .await
            .unwrap_or_else(|e| panic!("case {n} (seed {seed}) {case:?}: {e}"));
        assert_eq!(
            outcome,
            decision.outcome(),
            "case {n} (seed {seed}): {case:?}"
        );
        if let Decision::Revoke(plan) = &decision {
            let query = RevocationQuery {
                grant_id: Some(grant_id),
                ..RevocationQuery::default()
            };
            let page = Page {
                after: None,
                limit: 10,
            };
            let records = app
                .store
                .revocation_records(&query, page)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let written: Vec<_> = records
                .iter()
                .map(|record| {
                    (
                        record.reason.as_str(),
                        record.foreign_client,
                        record.presented_kind,
                    )
                })
                .collect();
            assert_eq!(
                written,
                [(
                    plan.reason.as_str(),
                    plan.foreign,
                    Some(plan.presented_kind)
                )],
                "case {n} (seed {seed}): {case:?}"
            );
        }
        *decided
            .entry(format!("{:?}", decision.outcome()))
            .or_default() += 1;
    }
    // The cases reach every outcome, or the comparison proves little.
    for outcome in [
        "Unknown",
        "AlreadyRevoked",
        "ForeignRejected",
        "StalePresenter",
    ] {
        assert!(decided.contains_key(outcome), "{decided:?}");
    }
    assert!(
        decided.keys().any(|outcome| outcome.starts_with("Revoked")),
        "{decided:?}"
    );
}

on_both_backends!(the_store_revokes_as_the_revocation_rule_decides);

/// Batches per run, of 1 to [`BATCH`] requests each.
const BATCHES: usize = 40;
const BATCH: usize = 16;

/// A batch of 1 to [`BATCH`] entries: a new case with its stored grant,
/// or (three times in ten) an earlier entry's token again, presented by a
/// presenter of its own.
async fn draw_batch(
    app: &TestApp,
    rng: &mut StdRng,
    stored: &mut usize,
) -> Vec<(Case, GrantId, TokenHash)> {
    let size = rng.gen_range(1..=BATCH);
    let mut entries: Vec<(Case, GrantId, TokenHash)> = Vec::new();
    while entries.len() < size {
        if !entries.is_empty() && rng.gen_bool(0.3) {
            let (earlier, grant_id, hash) = entries[rng.gen_range(0..entries.len())].clone();
            let case = Case {
                token: earlier.token,
                kind: earlier.kind,
                grant_revoked: earlier.grant_revoked,
                ..Case::draw(rng)
            };
            entries.push((case, grant_id, hash));
        } else {
            let case = Case::draw(rng);
            let (grant_id, hash) = store_grant(app, &case, 10_000 + *stored).await;
            *stored += 1;
            entries.push((case, grant_id, hash));
        }
    }
    entries
}

/// The grant has the one audit record `plan` says, and one event.
async fn assert_one_record_and_event(app: &TestApp, grant_id: &str, plan: &PlannedRevocation) {
    let records = app
        .db
        .rows(&format!(
            "SELECT reason, foreign_client::text, presented_kind, presenter_kind, request_id \
             FROM revocations WHERE grant_id = '{grant_id}'"
        ))
        .await;
    assert_eq!(records.len(), 1, "grant {grant_id}: {records:?}");
    let foreign = if plan.foreign { "true" } else { "false" };
    assert_eq!(
        (
            records[0].0.as_str(),
            records[0].1.as_str(),
            records[0].2.as_str()
        ),
        (plan.reason.as_str(), foreign, plan.presented_kind.as_str()),
        "grant {grant_id}"
    );
    let events = app
        .db
        .count(&format!(
            "SELECT count(*) FROM revocation_events WHERE grant_id = '{grant_id}'"
        ))
        .await;
    assert_eq!(events, 1, "grant {grant_id}");
}

/// PostgreSQL revokes a batch of requests in one statement. Each request
/// must come out as the rule decides for it alone, except that when several
/// requests of the batch may revoke one grant, exactly one revokes it (with
/// the one audit record and the one event its plan says) and the others
/// find it already revoked.
#[tokio::test]
async fn postgres_batches_revoke_as_the_revocation_rule_decides() {
    let (app, seed) = rule_app(Backend::Postgres).await;
    let pool = sqlx::PgPool::connect(app.db.url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stored = 0;
    let mut shared_grants = 0;
    for batch in 0..BATCHES {
        let entries = draw_batch(&app, &mut rng, &mut stored).await;
        let presenters: Vec<Presenter> =
            entries.iter().map(|(case, ..)| case.presenter()).collect();
        let requests: Vec<RevocationRequest<'_>> = entries
            .iter()
            .zip(&presenters)
            .map(|((case, _, hash), presenter)| RevocationRequest {
                token_hash: hash,
                presenter,
                foreign_policy: case.policy,
                request_id: "rule-batch",
                now: now(),
                found_at: case.found.then_some("https://example.test/leak"),
            })
            .collect();
        let pending = requests.iter().map(Pending::new).collect();
        let answers = run_batch(&pool, pending).await;
        assert_eq!(answers.len(), requests.len());

        // Per grant: the requests the rule lets revoke it, and which did.
        let mut deciders = std::collections::BTreeMap::<String, (Vec<usize>, Vec<usize>)>::new();
        for (i, ((case, grant_id, _), (request, answer))) in
            entries.iter().zip(requests.iter().zip(answers)).enumerate()
        {
            let context = format!("batch {batch} request {i} (seed {seed}): {case:?}");
            let sighted = answer.unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(sighted.sighting, case.sighting(*grant_id), "{context}");
            let outcome = outcome(request, &sighted).unwrap_or_else(|e| panic!("{context}: {e}"));
            match decide(&case.sighting(*grant_id), request) {
                Decision::Revoke(_) => {
                    let (may, did) = deciders.entry(grant_id.to_string()).or_default();
                    may.push(i);
                    match outcome {
                        RevocationOutcome::Revoked { .. } => did.push(i),
                        RevocationOutcome::AlreadyRevoked => {}
                        other => panic!("{context}: {other:?}"),
                    }
                }
                Decision::Answer(expected) => assert_eq!(outcome, expected, "{context}"),
            }
        }
        for (grant_id, (may, did)) in &deciders {
            assert_eq!(
                did.len(),
                1,
                "batch {batch} (seed {seed}): grant {grant_id} revoked by {did:?} of {may:?}"
            );
            shared_grants += usize::from(may.len() > 1);
            let winner = did[0];
            let Decision::Revoke(plan) = decide(
                &entries[winner].0.sighting(entries[winner].1),
                &requests[winner],
            ) else {
                unreachable!("a winner the rule lets revoke");
            };
            assert_one_record_and_event(&app, grant_id, &plan).await;
        }
    }
    // The batches put several deciding requests on one grant, or the
    // claim's one-per-grant rule went untested.
    assert!(shared_grants > 0, "no grant was contested in a batch");
}

/// Rounds of [`postgres_batches_sharing_grants_never_wait_in_a_cycle`].
const OVERLAPPING_ROUNDS: usize = 10;

/// Two batches sharing every grant, sent at once in opposite orders (one
/// presents access tokens first to last, the other refresh tokens last to
/// first): neither may wait for the other in a cycle (PostgreSQL would abort
/// one as deadlocked), each grant is revoked by exactly one of them, and no
/// token of a revoked grant stays live.
#[tokio::test]
async fn postgres_batches_sharing_grants_never_wait_in_a_cycle() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_client("spa", ClientKind::Public).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(app.db.url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadlocks = || async {
        app.db
            .count("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            .await
    };
    let deadlocks_before = deadlocks().await;
    let presenter = Presenter::Anonymous;
    for round in 0..OVERLAPPING_ROUNDS {
        let grants = app.grants_with_ttl("spa", 3600, BATCH).await;
        let forward: Vec<TokenHash> = grants
            .iter()
            .map(|g| TokenHash::of(&g.access_token))
            .collect();
        let backward: Vec<TokenHash> = grants
            .iter()
            .rev()
            .map(|g| TokenHash::of(&g.refresh_token))
            .collect();
        let batch = |hashes: &[TokenHash]| -> Vec<Pending> {
            hashes
                .iter()
                .map(|hash| {
                    Pending::new(&RevocationRequest {
                        token_hash: hash,
                        presenter: &presenter,
                        foreign_policy: ForeignPolicy::Revoke,
                        request_id: "overlap",
                        now: now(),
                        found_at: None,
                    })
                })
                .collect()
        };
        let (first, second) = tokio::join!(
            run_batch(&pool, batch(&forward)),
            run_batch(&pool, batch(&backward))
        );
        let claimed = |answers: Vec<Result<Seen, Arc<StoreError>>>| -> Vec<bool> {
            answers
                .into_iter()
                .map(|answer| {
                    answer
                        .unwrap_or_else(|e| panic!("round {round}: {e}"))
                        .claimed
                })
                .collect()
        };
        let (first, mut second) = (claimed(first), claimed(second));
        second.reverse();
        for (n, (a, b)) in first.iter().zip(&second).enumerate() {
            assert!(
                a ^ b,
                "round {round}, grant {n}: claimed by both or neither"
            );
        }
    }
    assert_eq!(app.db.live_grants().await, 0);
    // A deadlock is retried, so the answers alone would not show one: the
    // database's count does, once the batches' connections have closed
    // (a backend reports its counts as it exits).
    pool.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(deadlocks().await, deadlocks_before, "batches deadlocked");
}

/// Locks `grants` (their ids, SQL-quoted) in a transaction of a
/// connection of its own, as a rotation or a bulk revocation would hold
/// them; `ROLLBACK` on the returned connection lets them go.
async fn hold_grants(app: &TestApp, grants: &[String]) -> sqlx::PgConnection {
    let mut holder = app.db.postgres_connection().await;
    for sql in [
        "BEGIN".to_owned(),
        format!(
            "SELECT 1 FROM grants WHERE id IN ({}) FOR UPDATE",
            grants.join(", ")
        ),
    ] {
        sqlx::query(&sql)
            .execute(&mut holder)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    holder
}

async fn let_go(holder: &mut sqlx::PgConnection) {
    sqlx::query("ROLLBACK")
        .execute(holder)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Statements of this test's database waiting for a lock.
const WAITING_FOR_LOCKS: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE datname = current_database() AND wait_event_type = 'Lock'";

/// Waits until at least `count` statements wait for a lock (ten seconds at
/// most).
async fn until_waiting_for_locks(app: &TestApp, count: i64) {
    let started = std::time::Instant::now();
    while app.db.count(WAITING_FOR_LOCKS).await < count {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "fewer than {count} statements ever waited for a lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// At most `database.batch_workers` revocation statements run at once
/// (2 by default, with the default pool of 8): with three grants locked by
/// another transaction, a revocation of each sent one after the other, the
/// first two statements wait for their locks and the third request waits
/// in the queue, not in the database. Once the locks go, all three are
/// revoked.
#[tokio::test]
async fn postgres_revocation_statements_at_once_are_bounded_by_the_workers() {
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        let defaults = rescind::config::Settings::default().database;
        settings.database.max_connections = defaults.max_connections;
        settings.database.batch_workers = defaults.batch_workers;
        // The waits below must not outlast the statements' timeout.
        settings.database.timeout = std::time::Duration::from_secs(60);
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let grants = app.grants_with_ttl("spa", 3600, 3).await;
    let ids: Vec<String> = grants.iter().map(|g| format!("'{}'", g.grant_id)).collect();
    let mut holder = hold_grants(&app, &ids).await;
    let mut answers = Vec::new();
    for (n, grant) in grants.iter().enumerate() {
        let (http, url) = (app.http.clone(), app.url("/oauth2/revoke"));
        let token = grant.access_token.clone();
        answers.push(tokio::spawn(async move {
            http.post(url)
                .form(&[("token", token.as_str())])
                .send()
                .await
                .map_or(0, |response| response.status().as_u16())
        }));
        // The first two: until their statements wait for their grants.
        until_waiting_for_locks(&app, i64::try_from(n + 1).unwrap_or(i64::MAX).min(2)).await;
    }
    // Time for the third to reach the database, were there a worker free.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.db.count(WAITING_FOR_LOCKS).await,
        2,
        "revocation statements waiting for their grants"
    );
    let_go(&mut holder).await;
    for answer in answers {
        assert_eq!(answer.await.unwrap_or(0), 200);
    }
    assert_eq!(app.db.live_tokens().await, 0);
}

/// A queued revocation runs even when its caller stopped waiting (here its
/// request's deadline passed while the one worker was held up by a locked
/// grant): the caller was answered `503`, and once the lock goes the
/// revocation is done anyway, as a client that sent its logout and went
/// away expects. Lookups, whose answers nobody would read, are the batches
/// that leave such requests out.
#[tokio::test]
async fn postgres_a_queued_revocation_runs_after_its_caller_gave_up() {
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.database.batch_workers = 1;
        settings.database.timeout = std::time::Duration::from_secs(60);
        settings.server.request_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let held = app.grant("spa").await;
    let queued = app.grant("spa").await;
    let mut holder = hold_grants(&app, &[format!("'{}'", held.grant_id)]).await;
    let (http, url) = (app.http.clone(), app.url("/oauth2/revoke"));
    let token = held.access_token.clone();
    let first = tokio::spawn(async move {
        http.post(url)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .map_or(0, |response| response.status().as_u16())
    });
    until_waiting_for_locks(&app, 1).await;
    let gave_up = app.revoke(&[("token", &queued.access_token)]).await;
    assert_eq!(gave_up.status(), 503, "its deadline passed in the queue");
    let revoked = format!(
        "SELECT count(*) FROM grants WHERE id = '{}' AND revoked_at IS NOT NULL",
        queued.grant_id
    );
    assert_eq!(app.db.count(&revoked).await, 0, "still queued");
    let_go(&mut holder).await;
    let started = std::time::Instant::now();
    while app.db.count(&revoked).await == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the revocation whose caller gave up was never done"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(first.await.unwrap_or(0), 503);
}

/// Revocations sent while the one worker is busy.
const QUEUED: usize = 20;

/// Revocations waiting while the group commit's worker is busy go out
/// together, as one statement: with one worker (`batch_workers = 1`) held
/// up by a grant another transaction has locked, twenty more revocations
/// queue, and once the lock goes they are revoked together (their events
/// share one `txid`), each answered `200` and revoked.
#[tokio::test]
async fn postgres_revocations_waiting_together_are_revoked_by_one_statement() {
    use sqlx::Connection as _;
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.database.batch_workers = 1;
    })
    .await;
    app.create_client("spa", ClientKind::Public).await;
    let held = app.grant("spa").await;
    let queued = app.grants_with_ttl("spa", 3600, QUEUED).await;
    let mut holder = app.db.postgres_connection().await;
    let mut lock = holder.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(&format!(
        "SELECT 1 FROM grants WHERE id = '{}' FOR UPDATE",
        held.grant_id
    ))
    .execute(&mut *lock)
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let held_params = [("token", held.access_token.as_str())];
    let queued_params: Vec<[(&str, &str); 1]> = queued
        .iter()
        .map(|grant| [("token", grant.access_token.as_str())])
        .collect();
    let first = app.revoke(&held_params);
    let rest = async {
        // Until the worker waits for the held grant.
        let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'";
        let started = std::time::Instant::now();
        while app.db.count(waiting).await == 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the worker never waited for the held grant"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let answers =
            futures_util::future::join_all(queued_params.iter().map(|params| app.revoke(params)));
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            lock.rollback().await.unwrap_or_else(|e| panic!("{e}"));
        };
        tokio::join!(answers, release).0
    };
    let (first, answers) = tokio::join!(first, rest);
    assert_eq!(first.status(), 200);
    for answer in answers {
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(app.db.live_tokens().await, 0);
    let ids: Vec<String> = queued.iter().map(|g| format!("'{}'", g.grant_id)).collect();
    let transactions = app
        .db
        .count(&format!(
            "SELECT count(DISTINCT txid) FROM revocation_events WHERE grant_id IN ({})",
            ids.join(", ")
        ))
        .await;
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM revocation_events WHERE grant_id IN ({})",
                ids.join(", ")
            ))
            .await,
        i64::try_from(QUEUED).unwrap_or(i64::MAX)
    );
    // One statement, or two should a request reach the queue late on a
    // loaded machine; one per request without group commit.
    assert!(
        transactions <= 2,
        "the queued revocations went out in {transactions} transactions"
    );
}
