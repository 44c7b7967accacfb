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

    /// Whether this presenter is an identified client other than `owner`.
    #[must_use]
    pub fn is_foreign_to(&self, owner: &ClientId) -> bool {
        self.client_id().is_some_and(|id| id != owner)
    }
}
