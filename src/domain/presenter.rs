//! Who presented a token for revocation.

use super::client::{ClientId, ClientKind};

/// The authenticated caller of the revocation endpoint (docs/behaviour.md, Client authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presenter {
    /// No client identification at all: a secret scanner reporting a leak
    /// (the Matrix rule).
    Anonymous,
    /// A client that proved its identity (confidential) or named itself
    /// (public), as of its `credentials_revision`: the store refuses to act
    /// for it once the revision has moved on (rotated or disabled since).
    Client {
        id: ClientId,
        kind: ClientKind,
        revision: i64,
        /// Marked by the operator as a resource server: may introspect.
        resource_server: bool,
    },
}

impl Presenter {
    /// The label used in logs and audit records.
    #[must_use]
    pub const fn kind_label(&self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Client { kind, .. } => kind.as_str(),
        }
    }

    #[must_use]
    pub const fn client_id(&self) -> Option<&ClientId> {
        match self {
            Self::Anonymous => None,
            Self::Client { id, .. } => Some(id),
        }
    }

    /// Whether this presenter may introspect tokens (RFC 7662 §2.1): a
    /// confidential client the operator marked as a resource server.
    #[must_use]
    pub const fn may_introspect(&self) -> bool {
        matches!(
            self,
            Self::Client {
                kind: ClientKind::Confidential,
                resource_server: true,
                ..
            }
        )
    }

    /// Whether this presenter is an identified client other than `owner`.
    #[must_use]
    pub fn is_foreign_to(&self, owner: &ClientId) -> bool {
        self.client_id().is_some_and(|id| id != owner)
    }
}
