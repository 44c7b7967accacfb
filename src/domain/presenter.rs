//! Who presented a token for revocation.

use super::client::{ClientId, ClientKind};
use super::recorded::closed_set;

/// The presenter kind of [`Presenter::Anonymous`].
pub const ANONYMOUS_KIND: &str = "anonymous";

/// The presenter kind of a revocation that presents no token: an
/// operator's bulk revocation or a client deletion (admin API or command line).
pub const ADMIN_KIND: &str = "admin";

/// The presenter kind of [`Presenter::Operator`].
pub const OPERATOR_KIND: &str = "operator";

/// The presenter kind of a revocation an authorisation server asked for
/// with an OpenID Connect back-channel logout token: every grant of the
/// logged-out session.
pub const BACKCHANNEL_LOGOUT_KIND: &str = "backchannel_logout";

closed_set! {
    /// Who asked for a revocation, as its audit record and event name it: a
    /// closed set, which the database's check on `revocations.presenter_kind`
    /// mirrors (a kind added here needs a migration widening it).
    pub enum PresenterKind {
        Confidential => ClientKind::Confidential.as_str(),
        Public => ClientKind::Public.as_str(),
        Anonymous => ANONYMOUS_KIND,
        /// An operator through the admin API (bulk revocation, client deletion).
        Admin => ADMIN_KIND,
        /// An operator at the command line (`rescind token revoke`).
        Operator => OPERATOR_KIND,
        /// An authorisation server's back-channel logout token.
        BackchannelLogout => BACKCHANNEL_LOGOUT_KIND,
    }
}

/// Every presenter kind's stored name.
pub const PRESENTER_KINDS: [&str; 6] = [
    PresenterKind::Confidential.as_str(),
    PresenterKind::Public.as_str(),
    PresenterKind::Anonymous.as_str(),
    PresenterKind::Admin.as_str(),
    PresenterKind::Operator.as_str(),
    PresenterKind::BackchannelLogout.as_str(),
];

/// Who asks for a revocation: the authenticated caller of the revocation
/// endpoint (docs/behaviour.md, Client authentication), or an operator at
/// the command line.
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
    /// An operator at the command line (`rescind token revoke`), acting on
    /// the store directly: no client, so never foreign and never stale.
    Operator,
}

impl Presenter {
    /// The label used in logs and audit records.
    #[must_use]
    pub const fn kind_label(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The kind its audit records name.
    #[must_use]
    pub const fn kind(&self) -> PresenterKind {
        match self {
            Self::Anonymous => PresenterKind::Anonymous,
            Self::Client {
                kind: ClientKind::Confidential,
                ..
            } => PresenterKind::Confidential,
            Self::Client {
                kind: ClientKind::Public,
                ..
            } => PresenterKind::Public,
            Self::Operator => PresenterKind::Operator,
        }
    }

    #[must_use]
    pub const fn client_id(&self) -> Option<&ClientId> {
        match self {
            Self::Anonymous | Self::Operator => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_presenter_s_kind_is_in_the_closed_set() {
        let client = |kind| Presenter::Client {
            id: ClientId::parse("c").unwrap_or_else(|e| panic!("{e}")),
            kind,
            revision: 1,
            resource_server: false,
        };
        for presenter in [
            Presenter::Anonymous,
            Presenter::Operator,
            client(ClientKind::Confidential),
            client(ClientKind::Public),
        ] {
            assert!(
                PRESENTER_KINDS.contains(&presenter.kind_label()),
                "{presenter:?}"
            );
        }
    }
}
