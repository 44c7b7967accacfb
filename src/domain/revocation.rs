//! The vocabulary of a revocation: policies, reasons and outcomes.

use chrono::{DateTime, Utc};

use super::grant::GrantId;
use super::presenter::{Presenter, PresenterKind};
use super::recorded::closed_set;
use super::token::TokenHash;

/// `policy.foreign` (docs/behaviour.md, Policies): what to do when an identified client presents
/// another client's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForeignPolicy {
    /// Revoke it and mark the audit record foreign (the Matrix rule).
    Revoke,
    /// Refuse with `401 unauthorized_client`, revoking nothing.
    Reject,
}

/// `policy.anonymous` (docs/behaviour.md, Policies): what to do with a request that names no client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnonymousPolicy {
    /// Revoke (secret scanners report leaked tokens this way).
    Revoke,
    /// Answer `401 invalid_client` before any lookup.
    Reject,
}

closed_set! {
    /// Why a grant was revoked, as written in the audit record.
    pub enum RevocationReason {
        /// A client asked to revoke one of its tokens (RFC 7009), usually a logout.
        ClientRequest => "client_request",
        /// Another client presented the token (`policy.foreign = "revoke"`).
        ForeignClientReport => "foreign_client_report",
        /// An anonymous presenter reported the token (a secret scanner).
        AnonymousReport => "anonymous_report",
        /// An operator revoked every grant of a subject or client (admin API).
        AdminBulk => "admin_bulk",
        /// An operator revoked the grant of one token at the command line
        /// (`rescind token revoke`).
        OperatorRequest => "operator_request",
        /// The grant's client was deleted through the admin API.
        ClientDeleted => "client_deleted",
        /// A secret-scanning partner (GitHub, GitLab, a public bulk report)
        /// found the token in public; the audit record keeps where.
        SecretScanning => "secret_scanning",
        /// An upstream authorisation server sent an OpenID Connect back-channel
        /// logout token: every grant of the session (or subject) ends.
        BackchannelLogout => "backchannel_logout",
    }
}

/// Everything the store needs to revoke the grant behind one token.
#[derive(Debug)]
pub struct RevocationRequest<'a> {
    pub token_hash: &'a TokenHash,
    pub presenter: &'a Presenter,
    pub foreign_policy: ForeignPolicy,
    pub request_id: &'a str,
    pub now: DateTime<Utc>,
    /// Set for a secret scanner's report: where the token was found (its
    /// URL, possibly empty). The reason becomes `secret_scanning`.
    pub found_at: Option<&'a str>,
}

impl RevocationRequest<'_> {
    /// The reason to record when the grant is revoked; `foreign` says
    /// whether the token is another client's than the presenter's.
    #[must_use]
    pub const fn reason(&self, foreign: bool) -> RevocationReason {
        if self.found_at.is_some() {
            RevocationReason::SecretScanning
        } else {
            RevocationReason::for_presenter(self.presenter, foreign)
        }
    }
}

/// What a revocation did. Every variant but `ForeignRejected` answers `200`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationOutcome {
    /// The grant was live and is now revoked, with one audit record.
    Revoked { grant_id: GrantId, foreign: bool },
    /// No such token (or a minted-shape candidate with a bad checksum).
    Unknown,
    /// The token's grant was already revoked; nothing was written.
    AlreadyRevoked,
    /// `policy.foreign = "reject"` refused another client's live token.
    ForeignRejected,
    /// The presenting client was disabled or given a new secret after it
    /// authenticated; nothing was written. The caller authenticates afresh.
    StalePresenter,
}

impl RevocationOutcome {
    /// The `outcome` field of the log line (docs/behaviour.md, Logging and redaction).
    #[must_use]
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Revoked { .. } => "revoked",
            Self::Unknown => "unknown",
            Self::AlreadyRevoked => "already_revoked",
            Self::ForeignRejected | Self::StalePresenter => "rejected",
        }
    }
}

impl RevocationReason {
    /// The presenter kind of a revocation of many grants for this reason,
    /// which presents no token: the authorisation server's logout, or else
    /// an operator (bulk revocation, client deletion).
    #[must_use]
    pub const fn bulk_presenter_kind(self) -> &'static str {
        match self {
            Self::BackchannelLogout => PresenterKind::BackchannelLogout.as_str(),
            _ => PresenterKind::Admin.as_str(),
        }
    }

    /// The reason implied by who presented the token and whether it was theirs.
    #[must_use]
    pub const fn for_presenter(presenter: &Presenter, foreign: bool) -> Self {
        match presenter {
            Presenter::Anonymous => Self::AnonymousReport,
            Presenter::Client { .. } if foreign => Self::ForeignClientReport,
            Presenter::Client { .. } => Self::ClientRequest,
            Presenter::Operator => Self::OperatorRequest,
        }
    }
}
