//! The event payload: a Security Event Token's claims (RFC 8417 names),
//! sent as plain JSON (not a signed JWT: webhooks carry an HMAC signature,
//! the SSE stream is on the authenticated admin listener).

use serde_json::{Value, json};

use crate::domain::event::RevocationEvent;

/// The event type URI under `events`.
pub const GRANT_REVOKED: &str = "urn:rescind:event:grant-revoked";

/// The payload of `event` issued by `issuer`. The same event always gives
/// the same bytes, so a retried delivery is identical to the first.
#[must_use]
pub fn payload(event: &RevocationEvent, issuer: &str) -> Value {
    let at = event.revoked_at.timestamp();
    json!({
        "iss": issuer,
        // Unique per event: receivers deduplicate retried deliveries on it.
        "jti": event.id.to_string(),
        "iat": at,
        "toe": at,
        // The grant: every token of it is dead.
        "txn": event.grant_id.to_string(),
        "sub_id": { "format": "opaque", "id": event.subject },
        "events": {
            GRANT_REVOKED: {
                "grant_id": event.grant_id.to_string(),
                "client_id": event.client_id,
                "subject": event.subject,
                "session_id": event.origin.session_id.as_ref().map(ToString::to_string),
                "device_id": event.origin.device_id.as_ref().map(ToString::to_string),
                "token_kinds": event.token_kinds,
                "presenter_kind": event.presenter_kind.as_str(),
                "reason": event.reason.as_str(),
                "revoked_at": event.revoked_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            }
        }
    })
}
