//! What a revocation tells a receiver: the one place that turns an outbox
//! event into the security events about it, so a new subject (a session)
//! or a new event is added here and nowhere else.

use crate::domain::event::RevocationEvent;
use crate::domain::presenter::ANONYMOUS_KIND;
use crate::domain::revocation::RevocationReason;
use crate::domain::security_event::{
    CredentialCompromise, CredentialType, InitiatingEntity, LocalizedText, SecurityEvent,
    SessionRevoked, Subject, SubjectIdentifier,
};

/// One security event about a revocation, before it is addressed and signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub subject: Subject,
    pub event: SecurityEvent,
    /// The grant: every token of it is dead.
    pub txn: String,
}

/// The credential type a compromised OAuth token is reported as (one the
/// parties agree on: CAEP's list has none for OAuth tokens).
pub const OAUTH_TOKEN: &str = "oauth-token";

/// The reasons that mean a token was exposed, not just ended.
const COMPROMISE_REASONS: [RevocationReason; 3] = [
    RevocationReason::SecretScanning,
    RevocationReason::AnonymousReport,
    RevocationReason::ForeignClientReport,
];

/// The events about `event`, whose grant's subject `issuer` named: always
/// a CAEP session-revoked, and a RISC credential-compromise when a secret
/// scanner, an anonymous presenter or another client reported the token.
#[must_use]
pub fn signals(event: &RevocationEvent, issuer: &str) -> Vec<Signal> {
    let subject = Subject::Simple(SubjectIdentifier::IssSub {
        iss: issuer.to_owned(),
        sub: event.subject.clone(),
    });
    let reason = reason_of(&event.reason);
    let text = reason
        .map_or("The session's tokens were revoked", describe)
        .to_owned();
    let mut signals = Vec::with_capacity(2);
    if let Some(reason_admin) = LocalizedText::new("en", &text) {
        signals.push(Signal {
            subject: subject.clone(),
            event: SecurityEvent::SessionRevoked(SessionRevoked {
                event_timestamp: Some(event.revoked_at),
                initiating_entity: reason.map(initiating_entity),
                reason_admin,
                reason_user: None,
            }),
            txn: event.grant_id.to_string(),
        });
    }
    let compromised = event.presenter_kind == ANONYMOUS_KIND
        || reason.is_some_and(|reason| COMPROMISE_REASONS.contains(&reason));
    if compromised {
        signals.push(Signal {
            subject,
            event: SecurityEvent::CredentialCompromise(CredentialCompromise {
                credential_type: CredentialType::Other(OAUTH_TOKEN.to_owned()),
                event_timestamp: Some(event.revoked_at),
                reason_admin: LocalizedText::new("en", &text),
                reason_user: None,
            }),
            txn: event.grant_id.to_string(),
        });
    }
    signals
}

fn reason_of(stored: &str) -> Option<RevocationReason> {
    [
        RevocationReason::ClientRequest,
        RevocationReason::ForeignClientReport,
        RevocationReason::AnonymousReport,
        RevocationReason::AdminBulk,
        RevocationReason::OperatorRequest,
        RevocationReason::ClientDeleted,
        RevocationReason::SecretScanning,
    ]
    .into_iter()
    .find(|reason| reason.as_str() == stored)
}

const fn initiating_entity(reason: RevocationReason) -> InitiatingEntity {
    match reason {
        RevocationReason::ClientRequest => InitiatingEntity::User,
        RevocationReason::AdminBulk
        | RevocationReason::OperatorRequest
        | RevocationReason::ClientDeleted => InitiatingEntity::Admin,
        RevocationReason::ForeignClientReport
        | RevocationReason::AnonymousReport
        | RevocationReason::SecretScanning => InitiatingEntity::System,
    }
}

/// `reason_admin`, in English.
const fn describe(reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::ClientRequest => "The client revoked the token (RFC 7009), as at logout",
        RevocationReason::ForeignClientReport => {
            "Another client presented the token for revocation: it has leaked"
        }
        RevocationReason::AnonymousReport => {
            "The token was reported without client authentication: it has leaked"
        }
        RevocationReason::AdminBulk => "An administrator revoked the subject's or client's grants",
        RevocationReason::OperatorRequest => "An operator revoked the token",
        RevocationReason::ClientDeleted => "The token's client was deleted",
        RevocationReason::SecretScanning => "A secret scanner found the token in public",
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::domain::event::EventPosition;
    use crate::domain::grant::GrantId;
    use crate::domain::security_event::{CREDENTIAL_COMPROMISE, SESSION_REVOKED};

    fn event(presenter_kind: &str, reason: &str) -> RevocationEvent {
        RevocationEvent {
            id: 1,
            position: EventPosition { txid: 0, id: 1 },
            grant_id: GrantId::from_uuid(uuid::Uuid::nil()),
            client_id: "app".to_owned(),
            subject: "alice".to_owned(),
            token_kinds: vec!["access".to_owned()],
            presenter_kind: presenter_kind.to_owned(),
            reason: reason.to_owned(),
            revoked_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        }
    }

    fn types(signals: &[Signal]) -> Vec<&'static str> {
        signals
            .iter()
            .map(|signal| signal.event.type_uri())
            .collect()
    }

    #[test]
    fn a_logout_is_a_session_revoked_by_the_user_about_the_grant_s_subject() {
        let signals = signals(
            &event("confidential", "client_request"),
            "https://as.example",
        );
        assert_eq!(types(&signals), [SESSION_REVOKED]);
        let json = serde_json::to_value(&signals[0].subject).unwrap_or_default();
        assert_eq!(json["format"], "iss_sub");
        assert_eq!(json["iss"], "https://as.example");
        assert_eq!(json["sub"], "alice");
        assert_eq!(signals[0].txn, uuid::Uuid::nil().to_string());
        let body = serde_json::to_value(&signals[0].event).unwrap_or_default();
        assert_eq!(body[SESSION_REVOKED]["initiating_entity"], "user");
    }

    #[test]
    fn a_leaked_token_is_also_a_credential_compromise() {
        for (kind, reason) in [
            ("anonymous", "secret_scanning"),
            ("anonymous", "anonymous_report"),
            ("confidential", "foreign_client_report"),
            ("anonymous", "something_new"),
        ] {
            assert_eq!(
                types(&signals(&event(kind, reason), "https://as.example")),
                [SESSION_REVOKED, CREDENTIAL_COMPROMISE],
                "{reason}"
            );
        }
        for reason in ["admin_bulk", "operator_request", "client_deleted"] {
            assert_eq!(
                types(&signals(&event("admin", reason), "https://as.example")),
                [SESSION_REVOKED]
            );
        }
    }
}
