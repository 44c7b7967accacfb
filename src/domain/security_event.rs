//! The security events Rescind transmits under the OpenID Shared Signals
//! Framework 1.0, and the subjects they are about.
//!
//! Three event types: CAEP `session-revoked`, RISC `credential-compromise`
//! and the SSF stream `verification` event. A subject is an RFC 9493 subject
//! identifier (`opaque`, `iss_sub`, `email`: the formats the CAEP
//! interoperability profile asks for) or an SSF complex subject naming a
//! user, a session, an application and a tenant together. Pure types that
//! serialize to the members of a Security Event Token's claims; the token is
//! built and signed by the signing module.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap as _, Serializer};
use serde::{Deserialize, Serialize};

/// CAEP: the session the subject names was revoked.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// RISC: the credential the subject names was found compromised.
pub const CREDENTIAL_COMPROMISE: &str =
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise";
/// SSF: a stream's verification event.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// An RFC 9493 subject identifier, tagged by its `format` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum SubjectIdentifier {
    /// An identifier only the two parties understand (the SSF verification
    /// event names its stream this way).
    Opaque {
        id: String,
    },
    /// A subject by its issuer and that issuer's `sub`.
    IssSub {
        iss: String,
        sub: String,
    },
    Email {
        email: String,
    },
}

/// The `sub_id` claim: one identifier, or an SSF complex subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Simple(SubjectIdentifier),
    Complex(ComplexSubject),
}

/// A member of an SSF complex subject (a subset of the framework's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComplexMember {
    User,
    /// The device the session or credential is on.
    Device,
    Session,
    /// The OAuth client the event concerns.
    Application,
    Tenant,
}

/// An SSF complex subject: attributes of one subject principal together
/// (say, a user and one of their sessions). Built from one member and
/// extended, so it never has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexSubject(BTreeMap<ComplexMember, SubjectIdentifier>);

impl ComplexSubject {
    #[must_use]
    pub fn of(member: ComplexMember, identifier: SubjectIdentifier) -> Self {
        Self(BTreeMap::from([(member, identifier)]))
    }

    /// One more member (a member given twice keeps the later identifier).
    #[must_use]
    pub fn and(mut self, member: ComplexMember, identifier: SubjectIdentifier) -> Self {
        self.0.insert(member, identifier);
        self
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Simple(identifier) => identifier.serialize(serializer),
            Self::Complex(ComplexSubject(members)) => {
                let mut map = serializer.serialize_map(Some(members.len() + 1))?;
                map.serialize_entry("format", "complex")?;
                for (member, identifier) in members {
                    map.serialize_entry(member, identifier)?;
                }
                map.end()
            }
        }
    }
}

/// Who caused the event (CAEP `initiating_entity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitiatingEntity {
    Admin,
    User,
    Policy,
    System,
}

/// A message in one or more languages (`reason_admin`, `reason_user`):
/// BCP 47 language tag → text. Never empty, and no text is empty (the CAEP
/// interoperability profile requires a non-empty `reason_admin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalizedText(BTreeMap<String, String>);

impl LocalizedText {
    /// `text` in `language`; `None` when the tag is not a language tag or
    /// the text is empty.
    #[must_use]
    pub fn new(language: &str, text: &str) -> Option<Self> {
        Self(BTreeMap::new()).and(language, text)
    }

    /// The same message in one more language.
    #[must_use]
    pub fn and(mut self, language: &str, text: &str) -> Option<Self> {
        if !is_language_tag(language) || text.trim().is_empty() {
            return None;
        }
        self.0.insert(language.to_owned(), text.to_owned());
        Some(self)
    }
}

/// The shape of a BCP 47 tag: subtags of one to eight letters or digits
/// joined by hyphens, the first of letters (`en`, `de-CH`, `es-419`).
fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let first_is_letters = subtags
        .next()
        .is_some_and(|first| !first.is_empty() && first.chars().all(|c| c.is_ascii_alphabetic()));
    first_is_letters
        && tag.len() <= 35
        && tag.split('-').all(|subtag| {
            (1..=8).contains(&subtag.len()) && subtag.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// CAEP session-revoked: the subject's session was ended (here: the tokens
/// of a grant were revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRevoked {
    /// When the session was revoked.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "unix_seconds"
    )]
    pub event_timestamp: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiating_entity: Option<InitiatingEntity>,
    /// Required here, optional in CAEP: the interoperability profile asks
    /// every session-revoked event to carry one.
    pub reason_admin: LocalizedText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_user: Option<LocalizedText>,
}

/// The kind of credential a credential-compromise event names: CAEP's list,
/// or another type the transmitter and receiver agreed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialType {
    Password,
    Pin,
    X509,
    Fido2Platform,
    Fido2Roaming,
    FidoU2f,
    VerifiableCredential,
    PhoneVoice,
    PhoneSms,
    App,
    /// A type agreed between the parties (say, an OAuth token kind).
    #[serde(untagged)]
    Other(String),
}

/// RISC credential-compromise: the subject's credential was found exposed
/// (here: a token a secret scanner reported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialCompromise {
    pub credential_type: CredentialType,
    /// When the exposure was discovered.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "unix_seconds"
    )]
    pub event_timestamp: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_admin: Option<LocalizedText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_user: Option<LocalizedText>,
}

/// SSF verification: sent on a receiver's request to prove a stream works.
/// Its subject is always the stream, as an opaque identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The receiver's opaque value, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// One event: a token carries exactly one (the CAEP interoperability
/// profile's rule). Serializes to the `events` claim, `{type URI: body}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityEvent {
    SessionRevoked(SessionRevoked),
    CredentialCompromise(CredentialCompromise),
    Verification(Verification),
}

impl SecurityEvent {
    /// The event type URI, the key under `events`.
    #[must_use]
    pub fn type_uri(&self) -> &'static str {
        match self {
            Self::SessionRevoked(_) => SESSION_REVOKED,
            Self::CredentialCompromise(_) => CREDENTIAL_COMPROMISE,
            Self::Verification(_) => VERIFICATION,
        }
    }

    /// Whether `subject` may be this event's `sub_id`: a verification event
    /// names its stream by an opaque identifier and nothing else.
    #[must_use]
    pub fn accepts(&self, subject: &Subject) -> bool {
        match self {
            Self::Verification(_) => {
                matches!(subject, Subject::Simple(SubjectIdentifier::Opaque { .. }))
            }
            Self::SessionRevoked(_) | Self::CredentialCompromise(_) => true,
        }
    }
}

impl Serialize for SecurityEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Self::SessionRevoked(body) => map.serialize_entry(SESSION_REVOKED, body)?,
            Self::CredentialCompromise(body) => {
                map.serialize_entry(CREDENTIAL_COMPROMISE, body)?;
            }
            Self::Verification(body) => map.serialize_entry(VERIFICATION, body)?,
        }
        map.end()
    }
}

/// A time as whole seconds since the epoch (a JSON number, as CAEP asks).
#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with passes the field by reference"
)]
fn unix_seconds<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_i64(at.timestamp()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn value(of: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(of).unwrap_or_else(|e| panic!("{e}"))
    }

    fn user() -> SubjectIdentifier {
        SubjectIdentifier::IssSub {
            iss: "https://as.example".to_owned(),
            sub: "alice".to_owned(),
        }
    }

    #[test]
    fn subjects_serialize_to_rfc_9493_and_ssf_complex_forms() {
        assert_eq!(
            value(&Subject::Simple(user())),
            json!({"format": "iss_sub", "iss": "https://as.example", "sub": "alice"})
        );
        let complex = ComplexSubject::of(
            ComplexMember::Session,
            SubjectIdentifier::Opaque {
                id: "grant-1".to_owned(),
            },
        )
        .and(ComplexMember::User, user());
        assert_eq!(
            value(&Subject::Complex(complex)),
            json!({
                "format": "complex",
                "user": {"format": "iss_sub", "iss": "https://as.example", "sub": "alice"},
                "session": {"format": "opaque", "id": "grant-1"},
            })
        );
    }

    #[test]
    fn events_serialize_under_their_type_uri_with_caep_members() {
        let Some(reason) = LocalizedText::new("en", "Revoked by an administrator") else {
            panic!("a valid text")
        };
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let event = SecurityEvent::SessionRevoked(SessionRevoked {
            event_timestamp: Some(at),
            initiating_entity: Some(InitiatingEntity::Admin),
            reason_admin: reason,
            reason_user: None,
        });
        assert_eq!(
            value(&event),
            json!({SESSION_REVOKED: {
                "event_timestamp": 1_700_000_000,
                "initiating_entity": "admin",
                "reason_admin": {"en": "Revoked by an administrator"},
            }})
        );
        let compromise = SecurityEvent::CredentialCompromise(CredentialCompromise {
            credential_type: CredentialType::Fido2Roaming,
            event_timestamp: None,
            reason_admin: None,
            reason_user: None,
        });
        assert_eq!(
            value(&compromise),
            json!({CREDENTIAL_COMPROMISE: {"credential_type": "fido2-roaming"}})
        );
        assert_eq!(
            value(&CredentialType::Other("oauth-refresh-token".to_owned())),
            json!("oauth-refresh-token")
        );
        assert_eq!(value(&CredentialType::X509), json!("x509"));
    }

    #[test]
    fn a_verification_event_names_only_an_opaque_stream() {
        let event = SecurityEvent::Verification(Verification { state: None });
        assert!(event.accepts(&Subject::Simple(SubjectIdentifier::Opaque {
            id: "stream".to_owned()
        })));
        assert!(!event.accepts(&Subject::Simple(user())));
        assert_eq!(value(&event), json!({VERIFICATION: {}}));
    }

    #[test]
    fn localized_text_refuses_bad_tags_and_empty_text() {
        assert!(LocalizedText::new("es-419", "texto").is_some());
        assert!(LocalizedText::new("de-CH", "Text").is_some());
        for tag in ["", "-en", "en-", "e n", "123", "toolongsubtag"] {
            assert!(LocalizedText::new(tag, "text").is_none(), "{tag}");
        }
        assert!(LocalizedText::new("en", "  ").is_none());
    }
}
