//! The admin API's answers, typed so that `/admin/openapi.json` is generated
//! from the very structures that are serialised.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::audit::{AdminAction, RevocationRecord};
use crate::domain::token::TokenKind;
use crate::provisioning::{ClientView, MintedGrantView};

/// Every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_request`, `invalid_token`, `not_found`, `conflict`,
    /// `temporarily_unavailable` or `server_error`.
    #[schema(schema_with = super::schema::error_code)]
    pub error: String,
    pub error_description: String,
}

/// A registered client, with its secret: the only time it is shown.
#[derive(Serialize, ToSchema)]
pub struct ClientCreated {
    #[serde(flatten)]
    pub client: ClientView,
    /// Confidential clients only. Store it now: it is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// One page of clients, ordered by id.
#[derive(Serialize, ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SecretRotated {
    pub client_id: String,
    /// The new secret, shown this once.
    pub client_secret: String,
    /// When the replaced secret stops working; `null`: it already has.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientDeleted {
    pub client_id: String,
    /// Grants of the client revoked by the deletion.
    pub revoked_grants: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TokensStored {
    pub grant_id: String,
    /// How many tokens were stored.
    pub tokens: usize,
}

#[derive(Serialize, ToSchema)]
pub struct MintedGrants {
    pub grants: Vec<MintedGrantView>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkRevoked {
    /// Grants revoked by this call (already revoked ones are not counted).
    pub revoked_grants: u64,
}

/// One revocation record (docs/behaviour.md, Terms).
#[derive(Serialize, ToSchema)]
pub struct RevocationRecordView {
    pub id: i64,
    pub grant_id: String,
    /// The grant's client.
    pub client_id: String,
    pub subject: String,
    /// The login session the grant was given in (OpenID Connect `sid`).
    pub session_id: Option<String>,
    /// The device the grant was given to.
    pub device_id: Option<String>,
    /// `access` or `refresh`; `null` for an operator's bulk revocation.
    pub presented_kind: Option<&'static str>,
    /// `confidential`, `public`, `anonymous`, `admin` (bulk revocation,
    /// client deletion), `operator` (`rescind token revoke`) or
    /// `backchannel_logout` (an authorisation server's logout token).
    pub presenter_kind: String,
    pub presenter_client_id: Option<String>,
    pub foreign_client: bool,
    /// `client_request`, `foreign_client_report`, `anonymous_report`,
    /// `admin_bulk`, `client_deleted`, `secret_scanning` or `operator_request`.
    pub reason: String,
    pub request_id: String,
    pub revoked_at: DateTime<Utc>,
    /// Where a secret scanner found the token, as it reported it.
    pub source_url: Option<String>,
}

impl From<&RevocationRecord> for RevocationRecordView {
    fn from(record: &RevocationRecord) -> Self {
        Self {
            id: record.id,
            grant_id: record.grant_id.to_string(),
            client_id: record.client_id.as_str().to_owned(),
            subject: record.subject.clone(),
            session_id: record.origin.session_id.as_ref().map(ToString::to_string),
            device_id: record.origin.device_id.as_ref().map(ToString::to_string),
            presented_kind: record.presented_kind.map(TokenKind::as_str),
            presenter_kind: record.presenter_kind.as_str().to_owned(),
            presenter_client_id: record.presenter_client_id.clone(),
            foreign_client: record.foreign_client,
            reason: record.reason.as_str().to_owned(),
            request_id: record.request_id.clone(),
            revoked_at: record.revoked_at,
            source_url: record.source_url.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RevocationPage {
    pub items: Vec<RevocationRecordView>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ActionPage {
    pub items: Vec<AdminAction>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::presenter::PRESENTER_KINDS;
    use crate::domain::revocation::RevocationReason;

    /// The document names every presenter kind a record can carry (the
    /// closed set the database checks) and the operator's reason.
    #[test]
    fn the_record_schema_names_every_presenter_kind() {
        let schema =
            serde_json::to_value(<RevocationRecordView as utoipa::PartialSchema>::schema())
                .unwrap_or_default();
        let described = |field: &str| {
            schema["properties"][field]["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        for kind in PRESENTER_KINDS {
            assert!(
                described("presenter_kind").contains(&format!("`{kind}`")),
                "{kind}"
            );
        }
        let operator = RevocationReason::OperatorRequest.as_str();
        assert!(described("reason").contains(&format!("`{operator}`")));
    }
}
