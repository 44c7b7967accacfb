//! Row shapes shared by both backends, and their conversion into domain types.
//!
//! Queries are checked at run time (`query_as` into tuples) because the
//! compile-time macros cannot cover two databases in one crate; the contract
//! tests run every query on both.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::audit::{AdminAction, RevocationRecord};
use crate::domain::client::{Client, ClientId, ClientKind, PreviousSecret};
use crate::domain::event::{EventPage, EventPosition, RevocationEvent};
use crate::domain::grant::{GrantId, TokenRecord};
use crate::domain::introspection::{Introspection, TokenState};
use crate::domain::presenter::Presenter;
use crate::domain::revocation::{
    ForeignPolicy, RevocationOutcome, RevocationReason, RevocationRequest,
};
use crate::domain::secret::SecretHash;
use crate::domain::token::TokenKind;
use crate::domain::webhook::{DeliveryState, EndpointBacklog, WebhookDelivery};

/// The columns every client query selects, in this order.
pub const CLIENT_COLUMNS: &str = "id, kind, secret_hash, name, allowed_origins, disabled, \
     credentials_revision, previous_secret_hash, previous_secret_expires_at, created_at, updated_at, \
     resource_server";

pub type ClientRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    bool,
    i64,
    Option<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    DateTime<Utc>,
    bool,
);

pub fn client_from_row(row: ClientRow) -> Result<Client, StoreError> {
    let (
        id,
        kind,
        secret_hash,
        name,
        allowed_origins,
        disabled,
        credentials_revision,
        previous_secret_hash,
        previous_secret_expires_at,
        created_at,
        updated_at,
        resource_server,
    ) = row;
    let previous_secret = match (previous_secret_hash, previous_secret_expires_at) {
        (Some(hash), Some(expires_at)) => Some(PreviousSecret {
            hash: SecretHash::from_phc(hash),
            expires_at,
        }),
        (None, None) => None,
        _ => return Err(StoreError::Corrupt("client previous secret")),
    };
    Ok(Client {
        id: ClientId::parse(&id).map_err(|_| StoreError::Corrupt("client id"))?,
        kind: ClientKind::from_stored(&kind).ok_or(StoreError::Corrupt("client kind"))?,
        secret_hash: secret_hash.map(SecretHash::from_phc),
        name,
        allowed_origins: serde_json::from_str(&allowed_origins)
            .map_err(|_| StoreError::Corrupt("client allowed_origins"))?,
        disabled,
        credentials_revision,
        previous_secret,
        resource_server,
        created_at,
        updated_at,
    })
}

/// The JSON text stored in `clients.allowed_origins`.
pub fn origins_to_stored(origins: &[String]) -> String {
    serde_json::Value::from(origins).to_string()
}

/// The columns every token lookup selects, in this order.
pub const TOKEN_LOOKUP: &str = "SELECT t.kind, t.grant_id, g.client_id, t.expires_at, t.revoked_at, \
     g.revoked_at IS NOT NULL FROM tokens t JOIN grants g ON g.id = t.grant_id WHERE t.token_hash = $1";

pub type TokenRow = (
    String,
    Uuid,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    bool,
);

/// A token as the revocation and inspection paths see it.
pub struct FoundToken {
    pub record: TokenRecord,
    pub grant_revoked: bool,
}

pub fn token_from_row(row: TokenRow) -> Result<FoundToken, StoreError> {
    let (kind, grant_id, client_id, expires_at, revoked_at, grant_revoked) = row;
    Ok(FoundToken {
        record: TokenRecord {
            kind: TokenKind::from_stored(&kind).ok_or(StoreError::Corrupt("token kind"))?,
            grant_id: GrantId::from_uuid(grant_id),
            client_id: ClientId::parse(&client_id)
                .map_err(|_| StoreError::Corrupt("grant client id"))?,
            expires_at,
            revoked_at,
        },
        grant_revoked,
    })
}

/// The read half of a revocation, the same on both backends: whether the
/// presenter is still the client it was authenticated as, and the presented
/// token with its grant. One row always comes back, with the token columns
/// `NULL` when no token has the hash. `$1` is the token hash, `$2` the
/// presenter's client id (`NULL` for no client: anonymous, an operator),
/// `$3` its revision.
macro_rules! sighting_select {
    () => {
        "SELECT p.current, t.kind, t.grant_id, g.client_id, t.expires_at, t.revoked_at, \
         g.revoked_at IS NOT NULL AS grant_revoked \
         FROM (SELECT $2 IS NULL OR EXISTS (SELECT 1 FROM clients c WHERE c.id = $2 \
               AND c.credentials_revision = $3 AND NOT c.disabled) AS current) p \
         LEFT JOIN tokens t ON t.token_hash = $1 \
         LEFT JOIN grants g ON g.id = t.grant_id"
    };
}
pub(crate) use sighting_select;

pub type SightingRow = (
    bool,
    Option<String>,
    Option<Uuid>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<bool>,
);

/// What the read half of a revocation saw.
pub struct Sighting {
    /// `false` when the presenting client was disabled or re-keyed after it
    /// authenticated (its cached credentials are stale).
    pub presenter_current: bool,
    pub found: Option<FoundToken>,
}

pub fn sighting_from_row(row: SightingRow) -> Result<Sighting, StoreError> {
    let (current, kind, grant_id, client_id, expires_at, revoked_at, grant_revoked) = row;
    let found = match (kind, grant_id, client_id, expires_at, grant_revoked) {
        (Some(kind), Some(grant_id), Some(client_id), Some(expires_at), Some(grant_revoked)) => {
            Some(token_from_row((
                kind,
                grant_id,
                client_id,
                expires_at,
                revoked_at,
                grant_revoked,
            ))?)
        }
        (None, None, None, None, _) => None,
        _ => return Err(StoreError::Corrupt("token without its grant")),
    };
    Ok(Sighting {
        presenter_current: current,
        found,
    })
}

/// The binding of `$2` and `$3` in [`sighting_select`].
pub fn presenter_binding<'a>(request: &RevocationRequest<'a>) -> (Option<&'a str>, Option<i64>) {
    presenter_columns(request.presenter)
}

/// A presenter as the `$2` (client id) and `$3` (revision) of the
/// presenter check, both `NULL` for one that is no client (anonymous, an
/// operator): always current, never foreign.
pub fn presenter_columns(presenter: &Presenter) -> (Option<&str>, Option<i64>) {
    match presenter {
        Presenter::Anonymous | Presenter::Operator => (None, None),
        Presenter::Client { id, revision, .. } => (Some(id.as_str()), Some(*revision)),
    }
}

/// What to do after looking the presented token up.
pub enum Decision {
    /// Answer now; nothing to write.
    Answer(RevocationOutcome),
    /// Revoke this grant in one transaction.
    Revoke(PlannedRevocation),
}

pub struct PlannedRevocation {
    pub grant_id: GrantId,
    pub presented_kind: TokenKind,
    pub foreign: bool,
    pub reason: RevocationReason,
}

/// The policy part of a revocation, the same on every backend (docs/behaviour.md, Revocation and Policies).
/// PostgreSQL evaluates the same rules inside its single statement; this
/// function then names the outcome.
pub fn decide(sighting: Sighting, request: &RevocationRequest<'_>) -> Decision {
    if !sighting.presenter_current {
        return Decision::Answer(RevocationOutcome::StalePresenter);
    }
    let Some(found) = sighting.found else {
        return Decision::Answer(RevocationOutcome::Unknown);
    };
    if found.grant_revoked {
        return Decision::Answer(RevocationOutcome::AlreadyRevoked);
    }
    let foreign = request.presenter.is_foreign_to(&found.record.client_id);
    if foreign && request.foreign_policy == ForeignPolicy::Reject {
        return Decision::Answer(RevocationOutcome::ForeignRejected);
    }
    Decision::Revoke(PlannedRevocation {
        grant_id: found.record.grant_id,
        presented_kind: found.record.kind,
        foreign,
        reason: request.reason(foreign),
    })
}

/// Rows per multi-row `INSERT` when issuing grants: well under both backends'
/// bind-parameter limits (PostgreSQL 65 535, SQLite 32 766).
pub const INSERT_BATCH: usize = 1000;
/// Hashes looked up per statement by `stored_token_hashes`.
pub const LOOKUP_BATCH: usize = 1000;

/// Revocation records with their grant's owner; filters are appended.
pub const REVOCATION_SELECT: &str = "SELECT r.id, r.grant_id, g.client_id, g.subject, \
     r.presented_kind, r.presenter_kind, r.presenter_client_id, r.foreign_client, r.reason, \
     r.request_id, r.revoked_at, r.source_url FROM revocations r JOIN grants g ON g.id = r.grant_id WHERE TRUE";

pub type RevocationRow = (
    i64,
    Uuid,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    bool,
    String,
    String,
    DateTime<Utc>,
    Option<String>,
);

#[allow(clippy::similar_names)] // presented_kind and presenter_kind are the columns
pub fn revocation_from_row(row: RevocationRow) -> Result<RevocationRecord, StoreError> {
    let (
        id,
        grant_id,
        client_id,
        subject,
        presented_kind,
        presenter_kind,
        presenter_client_id,
        foreign_client,
        reason,
        request_id,
        revoked_at,
        source_url,
    ) = row;
    Ok(RevocationRecord {
        id,
        grant_id: GrantId::from_uuid(grant_id),
        client_id: ClientId::parse(&client_id)
            .map_err(|_| StoreError::Corrupt("grant client id"))?,
        subject,
        presented_kind: presented_kind
            .map(|kind| TokenKind::from_stored(&kind).ok_or(StoreError::Corrupt("presented kind")))
            .transpose()?,
        presenter_kind,
        presenter_client_id,
        foreign_client,
        reason,
        request_id,
        revoked_at,
        source_url,
    })
}

pub type AdminActionRow = (
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<i32>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub fn admin_action_from_row(row: AdminActionRow) -> Result<AdminAction, StoreError> {
    let (id, action, target, request_id, peer, status, started_at, finished_at) = row;
    Ok(AdminAction {
        id,
        action,
        target,
        request_id,
        peer,
        status: status
            .map(|status| u16::try_from(status).map_err(|_| StoreError::Corrupt("action status")))
            .transpose()?,
        started_at,
        finished_at,
    })
}

/// The retention deletes, each of one batch: `$1` the cutoff, `$2` the batch.
///
/// A live grant's tokens are kept while any of them has not expired (before
/// `$1`): presenting an expired or superseded token of a live grant must
/// still revoke it (a logout with an old access token). They go together
/// once every one has, when the grant can no longer be used.
pub const PURGE_TOKENS: &str = "DELETE FROM tokens WHERE token_hash IN \
     (SELECT t.token_hash FROM tokens t JOIN grants g ON g.id = t.grant_id \
      WHERE t.expires_at < $1 AND (g.revoked_at IS NOT NULL OR NOT EXISTS \
        (SELECT 1 FROM tokens u WHERE u.grant_id = g.id AND u.expires_at >= $1)) \
      LIMIT $2)";
/// Grants with no token left and no revocation record: nothing refers to them.
pub const PURGE_GRANTS: &str = "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g \
     WHERE g.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.grant_id = g.id) \
     AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.grant_id = g.id) LIMIT $2)";
pub const PURGE_REVOCATIONS: &str = "DELETE FROM revocations WHERE id IN \
     (SELECT id FROM revocations WHERE revoked_at < $1 LIMIT $2)";
pub const PURGE_EVENTS: &str = "DELETE FROM revocation_events WHERE id IN \
     (SELECT id FROM revocation_events WHERE revoked_at < $1 LIMIT $2)";
pub const PURGE_ADMIN_ACTIONS: &str = "DELETE FROM admin_actions WHERE id IN \
     (SELECT id FROM admin_actions WHERE started_at < $1 LIMIT $2)";

/// The introspection lookup: whether the presenter is current (as in
/// [`sighting_select`]), then the token with its grant and client. One row
/// always comes back, the token columns `NULL` when no token has the hash.
pub const INTROSPECT_SELECT: &str = "SELECT p.current, t.kind, g.id, g.client_id, g.subject, g.scope, \
     t.created_at, t.expires_at, (t.revoked_at IS NOT NULL OR g.revoked_at IS NOT NULL), \
     (c.disabled OR c.deleted_at IS NOT NULL) \
     FROM (SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = $2 \
           AND c.credentials_revision = $3 AND NOT c.disabled AND c.resource_server) AS current) p \
     LEFT JOIN tokens t ON t.token_hash = $1 \
     LEFT JOIN grants g ON g.id = t.grant_id \
     LEFT JOIN clients c ON c.id = g.client_id";

/// Whether a presenter is still a current resource server (the first half
/// of [`INTROSPECT_SELECT`], for an answer taken from the cache).
pub const RESOURCE_SERVER_CURRENT: &str = "SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = $1 \
     AND c.credentials_revision = $2 AND NOT c.disabled AND c.resource_server)";

pub type IntrospectRow = (
    bool,
    Option<String>,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<bool>,
    Option<bool>,
);

pub fn introspection_from_row(row: IntrospectRow) -> Result<Introspection, StoreError> {
    let (
        current,
        kind,
        grant_id,
        client_id,
        subject,
        scope,
        issued_at,
        expires_at,
        revoked,
        client_gone,
    ) = row;
    let token = match (
        kind,
        grant_id,
        client_id,
        subject,
        issued_at,
        expires_at,
        revoked,
        client_gone,
    ) {
        (
            Some(kind),
            Some(grant_id),
            Some(client_id),
            Some(subject),
            Some(issued_at),
            Some(expires_at),
            Some(revoked),
            Some(client_gone),
        ) => Some(TokenState {
            kind: TokenKind::from_stored(&kind).ok_or(StoreError::Corrupt("token kind"))?,
            grant_id: GrantId::from_uuid(grant_id),
            client_id: ClientId::parse(&client_id)
                .map_err(|_| StoreError::Corrupt("grant client id"))?,
            subject,
            scope,
            issued_at,
            expires_at,
            revoked,
            client_gone,
        }),
        (None, None, None, None, None, None, _, _) => None,
        _ => return Err(StoreError::Corrupt("token without its grant or client")),
    };
    Ok(Introspection {
        presenter_current: current,
        token,
    })
}

/// The kinds of the tokens of grant `$grant` as the event's `token_kinds`
/// (`access,refresh`): one scan of the grant's tokens, in SQL both backends
/// run.
macro_rules! token_kinds_of_grant {
    ($grant:literal) => {
        concat!(
            "(SELECT CASE max(CASE WHEN k.kind = 'access' THEN 1 ELSE 0 END) \
               + 2 * max(CASE WHEN k.kind = 'refresh' THEN 1 ELSE 0 END) \
             WHEN 3 THEN 'access,refresh' WHEN 1 THEN 'access' WHEN 2 THEN 'refresh' \
             ELSE '' END FROM tokens k WHERE k.grant_id = ",
            $grant,
            ")"
        )
    };
}
pub(crate) use token_kinds_of_grant;

/// The start of the event insert for revoked grants, both backends: the
/// presenter kind is bound next, then `) FROM grants g WHERE g.id IN (…)`.
pub const EVENTS_FOR_GRANTS: &str = concat!(
    "INSERT INTO revocation_events (grant_id, client_id, subject, token_kinds, presenter_kind, \
     reason, revoked_at) SELECT g.id, g.client_id, g.subject, ",
    token_kinds_of_grant!("g.id"),
    ", "
);
/// Follows the bound presenter kind in [`EVENTS_FOR_GRANTS`].
pub const EVENTS_FOR_GRANTS_TAIL: &str =
    ", g.revocation_reason, g.revoked_at FROM grants g WHERE g.id IN (";

/// The outbox after position (`$1` txid, `$2` id), `$3` events at most, in
/// `(txid, id)` order, with the clients change mark. One row always comes
/// back (event columns `NULL` when none is left). `{settled}` says whether
/// an event is settled, `{from}` adds what it needs; see each backend.
/// When the first event after a position was revoked.
pub const NEXT_EVENT_TIME: &str = "SELECT revoked_at FROM revocation_events \
     WHERE (txid, id) > ($1, $2) ORDER BY txid, id LIMIT 1";

/// Pending deliveries by endpoint, at most `$1` of them read (through the
/// partial index of pending deliveries), with the revocation time of each
/// endpoint's oldest pending event.
pub const PENDING_BACKLOG: &str = "SELECT p.endpoint, p.pending, e.revoked_at FROM \
     (SELECT endpoint, COUNT(*) AS pending, MIN(event_id) AS oldest FROM \
      (SELECT endpoint, event_id FROM webhook_deliveries WHERE state = 'pending' \
       ORDER BY next_attempt_at LIMIT $1) AS scanned \
      GROUP BY endpoint) AS p \
     LEFT JOIN revocation_events e ON e.id = p.oldest";

/// Each endpoint's first event not yet queued: one indexed read per cursor.
pub const CURSOR_BACKLOG: &str = "SELECT c.endpoint, \
     (SELECT e.revoked_at FROM revocation_events e \
      WHERE (e.txid, e.id) > (c.txid, c.event_id) ORDER BY e.txid, e.id LIMIT 1) \
     FROM webhook_cursors c";

/// Merges [`PENDING_BACKLOG`]'s and [`CURSOR_BACKLOG`]'s rows by endpoint,
/// leaving out endpoints with nothing waiting.
#[must_use]
pub fn endpoint_backlogs(
    pending: Vec<(String, i64, Option<DateTime<Utc>>)>,
    cursors: Vec<(String, Option<DateTime<Utc>>)>,
) -> Vec<EndpointBacklog> {
    let mut merged: std::collections::BTreeMap<String, EndpointBacklog> = pending
        .into_iter()
        .map(|(endpoint, count, oldest)| {
            let backlog = EndpointBacklog {
                endpoint: endpoint.clone(),
                pending: u64::try_from(count).unwrap_or(0),
                oldest_pending: oldest,
                next_unqueued: None,
            };
            (endpoint, backlog)
        })
        .collect();
    for (endpoint, next) in cursors {
        let Some(next) = next else { continue };
        merged
            .entry(endpoint.clone())
            .or_insert_with(|| EndpointBacklog {
                endpoint,
                pending: 0,
                oldest_pending: None,
                next_unqueued: None,
            })
            .next_unqueued = Some(next);
    }
    merged.into_values().collect()
}

macro_rules! events_after_select {
    (settled = $settled:literal, from = $from:literal) => {
        concat!(
            "SELECT e.id, e.txid, e.grant_id, e.client_id, e.subject, e.token_kinds, \
             e.presenter_kind, e.reason, e.revoked_at, ",
            $settled,
            ", m.clients FROM change_marks m",
            $from,
            " LEFT JOIN revocation_events e ON (e.txid, e.id) > ($1, $2) \
             ORDER BY e.txid, e.id LIMIT $3"
        )
    };
}
pub(crate) use events_after_select;

pub type EventRow = (
    Option<i64>,
    Option<i64>,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<bool>,
    i64,
);

/// Reads an outbox page from [`events_after_select`]'s rows.
pub fn event_page_from_rows(rows: Vec<EventRow>) -> Result<EventPage, StoreError> {
    let mut page = EventPage::default();
    let mut settled_run = true;
    for row in rows {
        let (id, txid, grant_id, client_id, subject, kinds, presenter, reason, at, settled, mark) =
            row;
        page.clients_mark = mark;
        let (
            Some(id),
            Some(txid),
            Some(grant_id),
            Some(client_id),
            Some(subject),
            Some(kinds),
            Some(presenter_kind),
            Some(reason),
            Some(revoked_at),
            Some(settled),
        ) = (
            id, txid, grant_id, client_id, subject, kinds, presenter, reason, at, settled,
        )
        else {
            // The one row of an empty read has no event; columns are NOT NULL.
            if id.is_some() {
                return Err(StoreError::Corrupt("revocation event"));
            }
            continue;
        };
        // Settled events come first in (txid, id) order; count the leading run.
        settled_run &= settled;
        if settled_run {
            page.settled += 1;
        }
        page.events.push(RevocationEvent {
            id,
            position: EventPosition { txid, id },
            grant_id: GrantId::from_uuid(grant_id),
            client_id,
            subject,
            token_kinds: kinds
                .split(',')
                .filter(|kind| !kind.is_empty())
                .map(str::to_owned)
                .collect(),
            presenter_kind,
            reason,
            revoked_at,
        });
    }
    Ok(page)
}

/// Events by id, for the deliveries just claimed.
pub const EVENTS_BY_ID: &str = "SELECT e.id, e.txid, e.grant_id, e.client_id, e.subject, \
     e.token_kinds, e.presenter_kind, e.reason, e.revoked_at, TRUE, CAST(0 AS BIGINT) \
     FROM revocation_events e WHERE e.id IN (";

/// Webhook deliveries as the admin API lists them; filters are appended.
pub const DELIVERY_SELECT: &str = "SELECT id, endpoint, event_id, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at \
     FROM webhook_deliveries WHERE TRUE";

pub type DeliveryRow = (
    i64,
    String,
    i64,
    String,
    i32,
    DateTime<Utc>,
    Option<i32>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
);

pub fn delivery_from_row(row: DeliveryRow) -> Result<WebhookDelivery, StoreError> {
    let (id, endpoint, event_id, state, attempts, next, status, error, created, updated) = row;
    Ok(WebhookDelivery {
        id,
        endpoint,
        event_id,
        state: DeliveryState::from_stored(&state)
            .ok_or(StoreError::Corrupt("webhook delivery state"))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt("webhook delivery attempts"))?,
        next_attempt_at: next,
        last_status: status.and_then(|status| u16::try_from(status).ok()),
        last_error: error,
        created_at: created,
        updated_at: updated,
    })
}
