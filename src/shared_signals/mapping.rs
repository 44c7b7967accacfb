//! What a revocation tells a receiver: the one place that turns an outbox
//! event into the security events about it, so a new subject (a session)
//! or a new event is added here and nowhere else.

use crate::domain::event::RevocationEvent;
use crate::domain::presenter::PresenterKind;
use crate::domain::recorded::Recorded;
use crate::domain::revocation::RevocationReason;
use crate::domain::security_event::{
    ComplexMember, ComplexSubject, CredentialCompromise, CredentialType, InitiatingEntity,
    LocalizedText, SecurityEvent, SessionRevoked, Subject, SubjectIdentifier,
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
    let subject = subject_of(event, issuer);
    let reason = match &event.reason {
        Recorded::Known(reason) => Some(*reason),
        Recorded::Newer(_) => None,
    };
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
    let compromised = event.presenter_kind == Recorded::Known(PresenterKind::Anonymous)
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

/// The grant's subject as `iss_sub` under `issuer`; with the login session
/// and device the grant was given in, when it has them, as an SSF complex
/// subject (user, session, device), so a receiver can end that session
/// rather than every session of the user.
fn subject_of(event: &RevocationEvent, issuer: &str) -> Subject {
    let user = SubjectIdentifier::IssSub {
        iss: issuer.to_owned(),
        sub: event.subject.clone(),
    };
    let origin = &event.origin;
    if origin.is_empty() {
        return Subject::Simple(user);
    }
    let mut complex = ComplexSubject::of(ComplexMember::User, user);
    if let Some(session) = &origin.session_id {
        complex = complex.and(
            ComplexMember::Session,
            SubjectIdentifier::Opaque {
                id: session.as_str().to_owned(),
            },
        );
    }
    if let Some(device) = &origin.device_id {
        complex = complex.and(
            ComplexMember::Device,
            SubjectIdentifier::Opaque {
                id: device.as_str().to_owned(),
            },
        );
    }
    Subject::Complex(complex)
}

const fn initiating_entity(reason: RevocationReason) -> InitiatingEntity {
    match reason {
        RevocationReason::ClientRequest | RevocationReason::BackchannelLogout => {
            InitiatingEntity::User
        }
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
        RevocationReason::BackchannelLogout => {
            "The login session ended at the authorization server (back-channel logout)"
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::domain::event::EventPosition;
    use crate::domain::grant::{GrantId, GrantOrigin};
    use crate::domain::security_event::{CREDENTIAL_COMPROMISE, SESSION_REVOKED};
    use crate::domain::session::{DeviceId, SessionId};

    fn event(presenter_kind: &str, reason: &str) -> RevocationEvent {
        RevocationEvent {
            id: 1,
            position: EventPosition { txid: 0, id: 1 },
            grant_id: GrantId::from_uuid(uuid::Uuid::nil()),
            client_id: "app".to_owned(),
            subject: "alice".to_owned(),
            origin: GrantOrigin::default(),
            token_kinds: vec!["access".to_owned()],
            presenter_kind: Recorded::from_stored(presenter_kind),
            reason: Recorded::from_stored(reason),
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

    #[test]
    fn a_grant_given_in_a_session_names_the_user_the_session_and_the_device() {
        let mut given = event("backchannel_logout", "backchannel_logout");
        given.origin = GrantOrigin {
            session_id: SessionId::parse("sid-1").ok(),
            device_id: DeviceId::parse("phone").ok(),
        };
        let signals = signals(&given, "https://as.example");
        assert_eq!(types(&signals), [SESSION_REVOKED]);
        let json = serde_json::to_value(&signals[0].subject).unwrap_or_default();
        assert_eq!(json["format"], "complex");
        assert_eq!(json["user"]["format"], "iss_sub");
        assert_eq!(json["user"]["sub"], "alice");
        assert_eq!(
            json["session"],
            serde_json::json!({"format": "opaque", "id": "sid-1"})
        );
        assert_eq!(
            json["device"],
            serde_json::json!({"format": "opaque", "id": "phone"})
        );
        let body = serde_json::to_value(&signals[0].event).unwrap_or_default();
        assert_eq!(body[SESSION_REVOKED]["initiating_entity"], "user");
    }
}
