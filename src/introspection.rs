//! The introspection use case (RFC 7662): what a resource server learns
//! about a presented token.

use std::sync::Arc;

use crate::domain::clock::Clock;
use crate::domain::introspection::{Introspection, TokenState};
use crate::domain::minted::{Shape, TokenFormat};
use crate::domain::presenter::Presenter;
use crate::domain::token::PresentedToken;
use crate::storage::{Store, StoreError};

/// The answer to one introspection.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `active: true` with the token's claims.
    Active(TokenState),
    /// `active: false`: unknown, expired, revoked, or its client disabled.
    Inactive,
    /// The presenter was rotated or disabled since it authenticated.
    StalePresenter,
}

/// Looks presented tokens up for resource servers.
#[derive(Clone)]
pub struct Introspector {
    store: Arc<dyn Store>,
    format: TokenFormat,
    clock: Arc<dyn Clock>,
}

impl Introspector {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, format: TokenFormat, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            format,
            clock,
        }
    }

    /// Introspects `token` for `presenter`. The lookup always runs: it also
    /// checks that the presenter (possibly from the credential cache) is
    /// still current. A minted-shape candidate whose checksum fails is
    /// inactive whatever is stored, as revocation treats it as unknown.
    pub async fn introspect(
        &self,
        presenter: &Presenter,
        token: &PresentedToken,
    ) -> Result<Answer, StoreError> {
        let Introspection {
            presenter_current,
            token: state,
        } = self.store.introspect(&token.hash(), presenter).await?;
        if !presenter_current {
            return Ok(Answer::StalePresenter);
        }
        let checksum_fails = self.format.classify(token.expose()) == Shape::BadChecksum;
        Ok(match state {
            Some(state) if !checksum_fails && state.is_active(self.clock.now()) => {
                Answer::Active(state)
            }
            _ => Answer::Inactive,
        })
    }
}
