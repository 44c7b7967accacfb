//! Token introspection (RFC 7662): what a resource server may learn.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::introspection::Introspection;
use crate::domain::presenter::Presenter;
use crate::domain::token::TokenHash;

/// The reads of the introspection use case. Both check the presenter in
/// the same statement as the rest, so a resource server disabled, re-keyed
/// or unmarked on any instance is refused on its next call.
#[async_trait]
pub trait IntrospectionStore: Send + Sync {
    /// Looks a token up with its grant and client, checking in the same
    /// statement that the presenter is still a current resource server
    /// (enabled, not rotated, still marked).
    async fn introspect(
        &self,
        hash: &TokenHash,
        presenter: &Presenter,
    ) -> Result<Introspection, StoreError>;

    /// Whether `presenter` is still a current resource server: the check
    /// [`Self::introspect`] makes, alone, for an answer taken from the cache.
    async fn resource_server_is_current(&self, presenter: &Presenter) -> Result<bool, StoreError>;
}
