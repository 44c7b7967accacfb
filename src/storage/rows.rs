//! Row shapes shared by both backends, and their conversion into domain types.
//!
//! Queries are checked at run time (`query_as` into named row structs,
//! converted with `TryFrom`) because the compile-time macros cannot cover two
//! databases in one crate; the contract tests run every query on both.

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

/// Declares a row struct and its `sqlx::FromRow`, each field read from the
/// column of the same name: what `#[derive(sqlx::FromRow)]` generates.
/// sqlx's `derive` feature would build sqlx-core and both drivers a second
/// time, for the host (over four minutes of CPU on a clean build).
macro_rules! row_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($field: $ty,)*
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: row.try_get(stringify!($field))?,)*
                })
            }
        }
    };
}

/// The columns every client query selects, in this order.
pub const CLIENT_COLUMNS: &str = "id, kind, secret_hash, name, allowed_origins, disabled, \
     credentials_revision, previous_secret_hash, previous_secret_expires_at, created_at, updated_at, \
     resource_server";

row_struct! {
    /// A row of [`CLIENT_COLUMNS`].
    pub struct ClientRow {
        id: String,
        kind: String,
        secret_hash: Option<String>,
        name: Option<String>,
        allowed_origins: String,
        disabled: bool,
        credentials_revision: i64,
        previous_secret_hash: Option<String>,
        previous_secret_expires_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        resource_server: bool,
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let previous_secret = match (row.previous_secret_hash, row.previous_secret_expires_at) {
            (Some(hash), Some(expires_at)) => Some(PreviousSecret {
                hash: SecretHash::from_phc(hash),
                expires_at,
            }),
            (None, None) => None,
            _ => return Err(StoreError::Corrupt("client previous secret")),
        };
        Ok(Self {
            id: ClientId::parse(&row.id).map_err(|_| StoreError::Corrupt("client id"))?,
            kind: ClientKind::from_stored(&row.kind).ok_or(StoreError::Corrupt("client kind"))?,
            secret_hash: row.secret_hash.map(SecretHash::from_phc),
            name: row.name,
            allowed_origins: serde_json::from_str(&row.allowed_origins)
                .map_err(|_| StoreError::Corrupt("client allowed_origins"))?,
            disabled: row.disabled,
            credentials_revision: row.credentials_revision,
            previous_secret,
            resource_server: row.resource_server,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The JSON text stored in `clients.allowed_origins`.
pub fn origins_to_stored(origins: &[String]) -> String {
    serde_json::Value::from(origins).to_string()
}

/// The columns every token lookup selects, in this order.
pub const TOKEN_LOOKUP: &str = "SELECT t.kind, t.grant_id, g.client_id, t.expires_at, t.revoked_at, \
     g.revoked_at IS NOT NULL AS grant_revoked \
     FROM tokens t JOIN grants g ON g.id = t.grant_id WHERE t.token_hash = $1";

row_struct! {
    /// A row of [`TOKEN_LOOKUP`].
    pub struct TokenRow {
        kind: String,
        grant_id: Uuid,
        client_id: String,
        expires_at: DateTime<Utc>,
        revoked_at: Option<DateTime<Utc>>,
        grant_revoked: bool,
    }
}

/// A token as the revocation and inspection paths see it.
pub struct FoundToken {
    pub record: TokenRecord,
    pub grant_revoked: bool,
}

impl TryFrom<TokenRow> for FoundToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            record: TokenRecord {
                kind: TokenKind::from_stored(&row.kind).ok_or(StoreError::Corrupt("token kind"))?,
                grant_id: GrantId::from_uuid(row.grant_id),
                client_id: ClientId::parse(&row.client_id)
                    .map_err(|_| StoreError::Corrupt("grant client id"))?,
                expires_at: row.expires_at,
                revoked_at: row.revoked_at,
            },
            grant_revoked: row.grant_revoked,
        })
    }
}

/// The read half of a revocation, the same on both backends: whether the
/// presenter is still the client it was authenticated as, and the presented
/// token with its grant. One row always comes back, with the token columns
/// `NULL` when no token has the hash. `$1` is the token hash, `$2` the
/// presenter's client id (`NULL` when anonymous), `$3` its revision.
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

row_struct! {
    /// A row of [`sighting_select`]: the token columns are `NULL` when no
    /// token has the hash.
    pub struct SightingRow {
        current: bool,
        kind: Option<String>,
        grant_id: Option<Uuid>,
        client_id: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
        grant_revoked: Option<bool>,
    }
}

/// What the read half of a revocation saw.
pub struct Sighting {
    /// `false` when the presenting client was disabled or re-keyed after it
    /// authenticated (its cached credentials are stale).
    pub presenter_current: bool,
    pub found: Option<FoundToken>,
}

impl TryFrom<SightingRow> for Sighting {
    type Error = StoreError;

    fn try_from(row: SightingRow) -> Result<Self, StoreError> {
        let found = match (
            row.kind,
            row.grant_id,
            row.client_id,
            row.expires_at,
            row.grant_revoked,
        ) {
            (
                Some(kind),
                Some(grant_id),
                Some(client_id),
                Some(expires_at),
                Some(grant_revoked),
            ) => Some(FoundToken::try_from(TokenRow {
                kind,
                grant_id,
                client_id,
                expires_at,
                revoked_at: row.revoked_at,
                grant_revoked,
            })?),
            (None, None, None, None, _) => None,
            _ => return Err(StoreError::Corrupt("token without its grant")),
        };
        Ok(Self {
            presenter_current: row.current,
            found,
        })
    }
}

/// The binding of `$2` and `$3` in [`sighting_select`].
pub fn presenter_binding<'a>(request: &RevocationRequest<'a>) -> (Option<&'a str>, Option<i64>) {
    presenter_columns(request.presenter)
}

/// A presenter as the `$2` (client id) and `$3` (revision) of the
/// presenter check, both `NULL` when anonymous.
pub fn presenter_columns(presenter: &Presenter) -> (Option<&str>, Option<i64>) {
    match presenter {
        Presenter::Anonymous => (None, None),
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

row_struct! {
    /// A row of [`REVOCATION_SELECT`].
    pub struct RevocationRow {
        id: i64,
        grant_id: Uuid,
        client_id: String,
        subject: String,
        presented_kind: Option<String>,
        presenter_kind: String,
        presenter_client_id: Option<String>,
        foreign_client: bool,
        reason: String,
        request_id: String,
        revoked_at: DateTime<Utc>,
        source_url: Option<String>,
    }
}

impl TryFrom<RevocationRow> for RevocationRecord {
    type Error = StoreError;

    fn try_from(row: RevocationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            grant_id: GrantId::from_uuid(row.grant_id),
            client_id: ClientId::parse(&row.client_id)
                .map_err(|_| StoreError::Corrupt("grant client id"))?,
            subject: row.subject,
            presented_kind: row
                .presented_kind
                .map(|kind| {
                    TokenKind::from_stored(&kind).ok_or(StoreError::Corrupt("presented kind"))
                })
                .transpose()?,
            presenter_kind: row.presenter_kind,
            presenter_client_id: row.presenter_client_id,
            foreign_client: row.foreign_client,
            reason: row.reason,
            request_id: row.request_id,
            revoked_at: row.revoked_at,
            source_url: row.source_url,
        })
    }
}

row_struct! {
    /// A row of [`ADMIN_ACTION_SELECT`].
    pub struct AdminActionRow {
        id: i64,
        action: String,
        target: Option<String>,
        request_id: String,
        peer: Option<String>,
        status: Option<i32>,
        started_at: DateTime<Utc>,
        finished_at: Option<DateTime<Utc>>,
    }
}

impl TryFrom<AdminActionRow> for AdminAction {
    type Error = StoreError;

    fn try_from(row: AdminActionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            action: row.action,
            target: row.target,
            request_id: row.request_id,
            peer: row.peer,
            status: row
                .status
                .map(|status| {
                    u16::try_from(status).map_err(|_| StoreError::Corrupt("action status"))
                })
                .transpose()?,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

/// Admin call records; filters are appended.
pub const ADMIN_ACTION_SELECT: &str = "SELECT id, action, target, request_id, peer, status, \
     started_at, finished_at FROM admin_actions WHERE TRUE";

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
pub const INTROSPECT_SELECT: &str = "SELECT p.current, t.kind, g.id AS grant_id, g.client_id, \
     g.subject, g.scope, t.created_at AS issued_at, t.expires_at, \
     (t.revoked_at IS NOT NULL OR g.revoked_at IS NOT NULL) AS revoked, \
     (c.disabled OR c.deleted_at IS NOT NULL) AS client_gone \
     FROM (SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = $2 \
           AND c.credentials_revision = $3 AND NOT c.disabled AND c.resource_server) AS current) p \
     LEFT JOIN tokens t ON t.token_hash = $1 \
     LEFT JOIN grants g ON g.id = t.grant_id \
     LEFT JOIN clients c ON c.id = g.client_id";

/// Whether a presenter is still a current resource server (the first half
/// of [`INTROSPECT_SELECT`], for an answer taken from the cache).
pub const RESOURCE_SERVER_CURRENT: &str = "SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = $1 \
     AND c.credentials_revision = $2 AND NOT c.disabled AND c.resource_server)";

row_struct! {
    /// A row of [`INTROSPECT_SELECT`].
    pub struct IntrospectRow {
        current: bool,
        kind: Option<String>,
        grant_id: Option<Uuid>,
        client_id: Option<String>,
        subject: Option<String>,
        scope: Option<String>,
        issued_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        revoked: Option<bool>,
        client_gone: Option<bool>,
    }
}

impl TryFrom<IntrospectRow> for Introspection {
    type Error = StoreError;

    fn try_from(row: IntrospectRow) -> Result<Self, StoreError> {
        let token = match (
            row.kind,
            row.grant_id,
            row.client_id,
            row.subject,
            row.issued_at,
            row.expires_at,
            row.revoked,
            row.client_gone,
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
                scope: row.scope,
                issued_at,
                expires_at,
                revoked,
                client_gone,
            }),
            (None, None, None, None, None, None, _, _) => None,
            _ => return Err(StoreError::Corrupt("token without its grant or client")),
        };
        Ok(Self {
            presenter_current: row.current,
            token,
        })
    }
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
pub const PENDING_BACKLOG: &str = "SELECT p.endpoint, p.pending, e.revoked_at AS oldest_pending FROM \
     (SELECT endpoint, COUNT(*) AS pending, MIN(event_id) AS oldest FROM \
      (SELECT endpoint, event_id FROM webhook_deliveries WHERE state = 'pending' \
       ORDER BY next_attempt_at LIMIT $1) AS scanned \
      GROUP BY endpoint) AS p \
     LEFT JOIN revocation_events e ON e.id = p.oldest";

/// Each endpoint's first event not yet queued: one indexed read per cursor.
pub const CURSOR_BACKLOG: &str = "SELECT c.endpoint, \
     (SELECT e.revoked_at FROM revocation_events e \
      WHERE (e.txid, e.id) > (c.txid, c.event_id) ORDER BY e.txid, e.id LIMIT 1) \
     AS next_unqueued FROM webhook_cursors c";

row_struct! {
    /// A webhook endpoint's cursor: how far into the outbox it is queued.
    pub struct CursorRow {
        txid: i64,
        event_id: i64,
    }
}

impl From<CursorRow> for EventPosition {
    fn from(row: CursorRow) -> Self {
        Self {
            txid: row.txid,
            id: row.event_id,
        }
    }
}

row_struct! {
    /// A row of [`PENDING_BACKLOG`].
    pub struct PendingRow {
        endpoint: String,
        pending: i64,
        oldest_pending: Option<DateTime<Utc>>,
    }
}

row_struct! {
    /// A row of [`CURSOR_BACKLOG`].
    pub struct CursorBacklogRow {
        endpoint: String,
        next_unqueued: Option<DateTime<Utc>>,
    }
}

/// Merges [`PENDING_BACKLOG`]'s and [`CURSOR_BACKLOG`]'s rows by endpoint,
/// leaving out endpoints with nothing waiting.
#[must_use]
pub fn endpoint_backlogs(
    pending: Vec<PendingRow>,
    cursors: Vec<CursorBacklogRow>,
) -> Vec<EndpointBacklog> {
    let mut merged: std::collections::BTreeMap<String, EndpointBacklog> = pending
        .into_iter()
        .map(|row| {
            let backlog = EndpointBacklog {
                endpoint: row.endpoint.clone(),
                pending: u64::try_from(row.pending).unwrap_or(0),
                oldest_pending: row.oldest_pending,
                next_unqueued: None,
            };
            (row.endpoint, backlog)
        })
        .collect();
    for CursorBacklogRow {
        endpoint,
        next_unqueued,
    } in cursors
    {
        let Some(next) = next_unqueued else { continue };
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
            " AS settled, m.clients FROM change_marks m",
            $from,
            " LEFT JOIN revocation_events e ON (e.txid, e.id) > ($1, $2) \
             ORDER BY e.txid, e.id LIMIT $3"
        )
    };
}
pub(crate) use events_after_select;

row_struct! {
    /// A row of [`events_after_select`] or [`EVENTS_BY_ID`]: the event columns
    /// are `NULL` in the one row of an empty read.
    pub struct EventRow {
        id: Option<i64>,
        txid: Option<i64>,
        grant_id: Option<Uuid>,
        client_id: Option<String>,
        subject: Option<String>,
        token_kinds: Option<String>,
        presenter_kind: Option<String>,
        reason: Option<String>,
        revoked_at: Option<DateTime<Utc>>,
        settled: Option<bool>,
        clients: i64,
    }
}

/// Reads an outbox page from [`events_after_select`]'s rows.
pub fn event_page_from_rows(rows: Vec<EventRow>) -> Result<EventPage, StoreError> {
    let mut page = EventPage::default();
    let mut settled_run = true;
    for row in rows {
        page.clients_mark = row.clients;
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
            row.id,
            row.txid,
            row.grant_id,
            row.client_id,
            row.subject,
            row.token_kinds,
            row.presenter_kind,
            row.reason,
            row.revoked_at,
            row.settled,
        )
        else {
            // The one row of an empty read has no event; columns are NOT NULL.
            if row.id.is_some() {
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
     e.token_kinds, e.presenter_kind, e.reason, e.revoked_at, TRUE AS settled, \
     CAST(0 AS BIGINT) AS clients \
     FROM revocation_events e WHERE e.id IN (";

/// Webhook deliveries as the admin API lists them; filters are appended.
pub const DELIVERY_SELECT: &str = "SELECT id, endpoint, event_id, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at \
     FROM webhook_deliveries WHERE TRUE";

row_struct! {
    /// A row of [`DELIVERY_SELECT`].
    pub struct DeliveryRow {
        id: i64,
        endpoint: String,
        event_id: i64,
        state: String,
        attempts: i32,
        next_attempt_at: DateTime<Utc>,
        last_status: Option<i32>,
        last_error: Option<String>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            endpoint: row.endpoint,
            event_id: row.event_id,
            state: DeliveryState::from_stored(&row.state)
                .ok_or(StoreError::Corrupt("webhook delivery state"))?,
            attempts: u32::try_from(row.attempts)
                .map_err(|_| StoreError::Corrupt("webhook delivery attempts"))?,
            next_attempt_at: row.next_attempt_at,
            last_status: row
                .last_status
                .and_then(|status| u16::try_from(status).ok()),
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
