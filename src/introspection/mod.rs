//! The introspection use case (RFC 7662): what a resource server learns
//! about a presented token.

pub mod cache;

use std::sync::Arc;

use crate::auth::{Acted, AuthError, Authenticator, Credentials, Purpose};
use crate::domain::clock::Clock;
use crate::domain::introspection::{Introspection, TokenState};
use crate::domain::minted::{Shape, TokenFormat};
use crate::domain::presenter::Presenter;
use crate::domain::token::PresentedToken;
use crate::events::Events;
use crate::storage::{IntrospectionStore, StoreError};
use cache::AnswerCache;

/// The answer to one introspection.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `active: true` with the token's claims; `cached` when the answer
    /// came from the cache rather than the database.
    Active { state: TokenState, cached: bool },
    /// `active: false`: unknown, expired, revoked, or its client disabled.
    Inactive,
    /// The presenter was rotated or disabled since it authenticated.
    StalePresenter,
}

/// Looks presented tokens up for resource servers.
#[derive(Clone)]
pub struct Introspector {
    store: Arc<dyn IntrospectionStore>,
    authenticator: Authenticator,
    format: TokenFormat,
    clock: Arc<dyn Clock>,
    /// Read while `events` is current; emptied by it as a registered hook.
    answers: Arc<AnswerCache>,
    events: Events,
}

impl Introspector {
    #[must_use]
    pub fn new(
        store: Arc<dyn IntrospectionStore>,
        authenticator: Authenticator,
        format: TokenFormat,
        clock: Arc<dyn Clock>,
        answers: Arc<AnswerCache>,
        events: Events,
    ) -> Self {
        Self {
            store,
            authenticator,
            format,
            clock,
            answers,
            events,
        }
    }

    /// RFC 7662 §2.1: introspects `token` for the resource server
    /// `credentials` name. When the presenter turns out rotated, disabled or
    /// unmarked since its credentials were cached, asks once more after a
    /// fresh verification; a second `StalePresenter` is for the caller to
    /// answer.
    pub async fn introspect_for(
        &self,
        credentials: &Credentials,
        token: &PresentedToken,
    ) -> Result<Acted<Answer>, AuthError> {
        self.authenticator
            .as_current_presenter(
                credentials,
                Purpose::Introspect,
                |answer| matches!(answer, Answer::StalePresenter),
                |presenter| async move { self.introspect(&presenter, token).await },
            )
            .await
    }

    /// Introspects `token` for `presenter`. A live token's answer comes
    /// from the cache while the event follower is current (see
    /// [`cache`]), after a check that the presenter is still current;
    /// otherwise the lookup runs, which makes the same check in the same
    /// statement. A
    /// minted-shape candidate whose checksum fails is inactive whatever is
    /// stored, as revocation treats it as unknown.
    pub async fn introspect(
        &self,
        presenter: &Presenter,
        token: &PresentedToken,
    ) -> Result<Answer, StoreError> {
        let hash = token.hash();
        let answers = &self.answers;
        if self.events.is_current()
            && let Some(state) = answers.get(&hash)
        {
            // A cached answer must not outlive its presenter: one light
            // statement checks it is still a current resource server, so
            // one disabled, rotated or unmarked on any instance is refused
            // on its next call, cached answer or not.
            if !self.store.resource_server_is_current(presenter).await? {
                return Ok(Answer::StalePresenter);
            }
            return Ok(self.answer(state, true));
        }
        let generation = answers.generation();
        let Introspection {
            presenter_current,
            token: state,
        } = self.store.introspect(&hash, presenter).await?;
        if !presenter_current {
            return Ok(Answer::StalePresenter);
        }
        let checksum_fails = self.format.classify(token.expose()) == Shape::BadChecksum;
        Ok(match state {
            Some(state) if !checksum_fails => {
                let answer = self.answer(state.clone(), false);
                if matches!(answer, Answer::Active { .. }) {
                    answers.insert(generation, hash, state);
                }
                answer
            }
            _ => Answer::Inactive,
        })
    }

    fn answer(&self, state: TokenState, cached: bool) -> Answer {
        if state.is_active(self.clock.now()) {
            Answer::Active { state, cached }
        } else {
            Answer::Inactive
        }
    }
}
