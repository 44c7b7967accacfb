//! Acting for a presenter that is still current.
//!
//! A presenter may come from the credential cache, and the statement that
//! acts for it checks in the same transaction that it is still current
//! (not rotated, disabled or unmarked since, possibly on another instance).
//! When it is not, the cached credentials are forgotten and the work runs
//! once more after a fresh verification; the second answer stands.

use std::future::Future;

use super::{AuthError, Authenticator, Credentials, Purpose};
use crate::domain::presenter::Presenter;
use crate::storage::StoreError;

/// What a use case did, and for whom.
#[derive(Debug)]
pub struct Acted<T> {
    pub presenter: Presenter,
    pub answer: T,
}

impl Authenticator {
    /// Authenticates `credentials` for `purpose` and runs `act` for the
    /// presenter; if `is_stale` says the presenter changed meanwhile, forgets
    /// it and runs both once more.
    pub async fn as_current_presenter<T, Act, Done>(
        &self,
        credentials: &Credentials,
        purpose: Purpose,
        is_stale: impl Fn(&T) -> bool,
        act: Act,
    ) -> Result<Acted<T>, AuthError>
    where
        Act: Fn(Presenter) -> Done,
        Done: Future<Output = Result<T, StoreError>>,
    {
        let presenter = self.authenticate_for(credentials, purpose).await?;
        record(&presenter);
        let answer = act(presenter.clone()).await?;
        if !is_stale(&answer) {
            return Ok(Acted { presenter, answer });
        }
        self.forget(&presenter);
        let presenter = self.authenticate_for(credentials, purpose).await?;
        record(&presenter);
        let answer = act(presenter.clone()).await?;
        Ok(Acted { presenter, answer })
    }
}

/// Names the presenter on the current span (the request's `presenter` and
/// `client.id` fields), as soon as it is known, so that a request that then
/// fails on the database still says whose it was.
fn record(presenter: &Presenter) {
    let span = tracing::Span::current();
    span.record("presenter", presenter.kind_label());
    if let Some(id) = presenter.client_id() {
        span.record("client.id", id.as_str());
    }
}
