//! The revocation rule (`rescind::domain::revocation_rule`) against the
//! store: random cases through the real revocation on each backend
//! (PostgreSQL's single statement, SQLite's read then write) must come out
//! as the pure function says, with the audit record it plans.

use chrono::Duration;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rescind::domain::audit::{BulkRevocation, GrantFilter, Page, RevocationQuery};
use rescind::domain::client::{ClientId, ClientKind};
use rescind::domain::grant::{GrantId, GrantOrigin, NewGrant, NewToken};
use rescind::domain::presenter::Presenter;
use rescind::domain::revocation::{ForeignPolicy, RevocationReason, RevocationRequest};
use rescind::domain::revocation_rule::{Decision, SightedToken, Sighting, decide};
use rescind::domain::token::{TokenHash, TokenKind};

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
#[derive(Debug)]
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

async fn the_store_revokes_as_the_revocation_rule_decides(backend: Backend) {
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
