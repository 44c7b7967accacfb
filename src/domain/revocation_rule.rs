//! The revocation rule: what revoking a presented token does, given what
//! the store saw.
//!
//! The store reads a [`Sighting`] (is the presenter still the client it
//! authenticated as? which token is it, of which grant?) and [`decide`]
//! says what to answer, or which grant to revoke and why
//! (docs/behaviour.md, Revocation and Policies). SQLite runs this function
//! between its read and its write. PostgreSQL evaluates the same rule inside
//! the one statement that revokes a batch of requests (group commit), for
//! one round trip, then runs this function on each request's row; property
//! tests (`tests/api/revocation_rule.rs`) hold that statement to this
//! function on random cases and random batches.

use super::client::ClientId;
use super::grant::GrantId;
use super::revocation::{ForeignPolicy, RevocationOutcome, RevocationReason, RevocationRequest};
use super::token::TokenKind;

/// What the read half of a revocation saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// `false` when the presenting client was disabled or re-keyed after it
    /// authenticated (its cached credentials are stale). Always `true` for
    /// an anonymous presenter.
    pub presenter_current: bool,
    /// The presented token; `None` when no token has its hash.
    pub token: Option<SightedToken>,
}

/// A stored token, as far as the rule looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SightedToken {
    pub grant_id: GrantId,
    /// The client the grant was issued to.
    pub client_id: ClientId,
    pub kind: TokenKind,
    pub grant_revoked: bool,
}

/// What to do after looking the presented token up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer now; nothing to write.
    Answer(RevocationOutcome),
    /// Revoke this grant, in one transaction that re-checks it is live.
    Revoke(PlannedRevocation),
}

/// A grant to revoke, and what its audit record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRevocation {
    pub grant_id: GrantId,
    pub presented_kind: TokenKind,
    /// The token is another client's than the presenter's.
    pub foreign: bool,
    pub reason: RevocationReason,
}

impl Decision {
    /// The outcome once carried out, when no concurrent revocation of the
    /// same grant commits first (which makes it `AlreadyRevoked`).
    #[must_use]
    pub fn outcome(&self) -> RevocationOutcome {
        match self {
            Self::Answer(outcome) => *outcome,
            Self::Revoke(plan) => RevocationOutcome::Revoked {
                grant_id: plan.grant_id,
                foreign: plan.foreign,
            },
        }
    }
}

/// The rule, in order: a stale presenter is refused whatever it presents;
/// an unknown token is unknown; a revoked grant stays as it is; another
/// client's token is refused under `policy.foreign = "reject"`; anything
/// else revokes the token's grant, whether the token expired or not (a
/// logout with an old access token still ends the session).
#[must_use]
pub fn decide(sighting: &Sighting, request: &RevocationRequest<'_>) -> Decision {
    if !sighting.presenter_current {
        return Decision::Answer(RevocationOutcome::StalePresenter);
    }
    let Some(token) = &sighting.token else {
        return Decision::Answer(RevocationOutcome::Unknown);
    };
    if token.grant_revoked {
        return Decision::Answer(RevocationOutcome::AlreadyRevoked);
    }
    let foreign = request.presenter.is_foreign_to(&token.client_id);
    if foreign && request.foreign_policy == ForeignPolicy::Reject {
        return Decision::Answer(RevocationOutcome::ForeignRejected);
    }
    Decision::Revoke(PlannedRevocation {
        grant_id: token.grant_id,
        presented_kind: token.kind,
        foreign,
        reason: request.reason(foreign),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::client::ClientKind;
    use crate::domain::presenter::Presenter;
    use crate::domain::token::TokenHash;

    fn client(id: &str) -> ClientId {
        ClientId::parse(id).unwrap_or_else(|e| panic!("{e}"))
    }

    fn presenter(id: &str) -> Presenter {
        Presenter::Client {
            id: client(id),
            kind: ClientKind::Confidential,
            revision: 0,
            resource_server: false,
        }
    }

    /// A live grant of `web`, seen by a current presenter.
    fn sighting(grant_id: GrantId) -> Sighting {
        Sighting {
            presenter_current: true,
            token: Some(SightedToken {
                grant_id,
                client_id: client("web"),
                kind: TokenKind::Refresh,
                grant_revoked: false,
            }),
        }
    }

    /// Decides for `presenter` under `policy`, found by a scanner at
    /// `found_at` when given.
    fn decide_for(
        sighting: &Sighting,
        presenter: &Presenter,
        policy: ForeignPolicy,
        found_at: Option<&str>,
    ) -> Decision {
        let hash = TokenHash::of("a token");
        let request = RevocationRequest {
            token_hash: &hash,
            presenter,
            foreign_policy: policy,
            request_id: "request",
            now: DateTime::<Utc>::UNIX_EPOCH,
            found_at,
        };
        decide(sighting, &request)
    }

    fn revocation(grant_id: GrantId, foreign: bool, reason: RevocationReason) -> Decision {
        Decision::Revoke(PlannedRevocation {
            grant_id,
            presented_kind: TokenKind::Refresh,
            foreign,
            reason,
        })
    }

    #[test]
    fn a_clients_own_token_revokes_its_grant_as_a_client_request() {
        let grant = GrantId::generate();
        let decision = decide_for(
            &sighting(grant),
            &presenter("web"),
            ForeignPolicy::Reject,
            None,
        );
        assert_eq!(
            decision,
            revocation(grant, false, RevocationReason::ClientRequest)
        );
        assert_eq!(
            decision.outcome(),
            RevocationOutcome::Revoked {
                grant_id: grant,
                foreign: false
            }
        );
    }

    #[test]
    fn a_stale_presenter_is_refused_whatever_it_presents() {
        for token in [sighting(GrantId::generate()).token, None] {
            let stale = Sighting {
                presenter_current: false,
                token,
            };
            let decision = decide_for(&stale, &presenter("web"), ForeignPolicy::Revoke, None);
            assert_eq!(
                decision,
                Decision::Answer(RevocationOutcome::StalePresenter)
            );
        }
    }

    #[test]
    fn a_token_nobody_stored_is_unknown() {
        let unknown = Sighting {
            presenter_current: true,
            token: None,
        };
        let decision = decide_for(&unknown, &Presenter::Anonymous, ForeignPolicy::Revoke, None);
        assert_eq!(decision, Decision::Answer(RevocationOutcome::Unknown));
    }

    #[test]
    fn a_revoked_grant_is_already_revoked_even_for_a_client_the_policy_would_reject() {
        let mut revoked = sighting(GrantId::generate());
        if let Some(token) = &mut revoked.token {
            token.grant_revoked = true;
        }
        for who in ["web", "other"] {
            let decision = decide_for(&revoked, &presenter(who), ForeignPolicy::Reject, None);
            assert_eq!(
                decision,
                Decision::Answer(RevocationOutcome::AlreadyRevoked)
            );
        }
    }

    #[test]
    fn another_clients_token_is_rejected_under_the_reject_policy() {
        let decision = decide_for(
            &sighting(GrantId::generate()),
            &presenter("other"),
            ForeignPolicy::Reject,
            None,
        );
        assert_eq!(
            decision,
            Decision::Answer(RevocationOutcome::ForeignRejected)
        );
    }

    #[test]
    fn another_clients_token_is_revoked_as_foreign_under_the_revoke_policy() {
        let grant = GrantId::generate();
        let decision = decide_for(
            &sighting(grant),
            &presenter("other"),
            ForeignPolicy::Revoke,
            None,
        );
        assert_eq!(
            decision,
            revocation(grant, true, RevocationReason::ForeignClientReport)
        );
    }

    #[test]
    fn an_anonymous_report_is_never_foreign_so_the_reject_policy_does_not_stop_it() {
        let grant = GrantId::generate();
        let decision = decide_for(
            &sighting(grant),
            &Presenter::Anonymous,
            ForeignPolicy::Reject,
            None,
        );
        assert_eq!(
            decision,
            revocation(grant, false, RevocationReason::AnonymousReport)
        );
    }

    #[test]
    fn a_secret_scanners_find_is_recorded_as_secret_scanning() {
        let grant = GrantId::generate();
        let decision = decide_for(
            &sighting(grant),
            &Presenter::Anonymous,
            ForeignPolicy::Reject,
            Some("https://example.test/leak"),
        );
        assert_eq!(
            decision,
            revocation(grant, false, RevocationReason::SecretScanning)
        );
    }

    #[test]
    fn the_plan_names_the_kind_of_the_token_presented() {
        let grant = GrantId::generate();
        let mut access = sighting(grant);
        if let Some(token) = &mut access.token {
            token.kind = TokenKind::Access;
        }
        let Decision::Revoke(plan) =
            decide_for(&access, &presenter("web"), ForeignPolicy::Revoke, None)
        else {
            panic!("a live token of the presenter's own grant is revoked");
        };
        assert_eq!(plan.presented_kind, TokenKind::Access);
    }
}
