//! What operators read back: revocation records, admin actions, and the
//! filters and pages they are read with. Also the operator's own writes
//! (bulk revocation, client updates), which have no presented token.

use chrono::{DateTime, Datelike as _, Utc};

use super::client::ClientId;
use super::grant::{GrantId, GrantOrigin};
use super::presenter::PresenterKind;
use super::recorded::Recorded;
use super::revocation::RevocationReason;
use super::session::{DeviceId, SessionId};
use super::token::TokenKind;

/// The grants a bulk revocation targets: every live grant matching all the
/// fields set (a subject, a client, a login session, a device, or any
/// combination). Never "everything": at least one field is set
/// ([`GrantFilter::matching`] refuses an empty filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantFilter(GrantCriteria);

/// What a [`GrantFilter`] matches; `None` matches any value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantCriteria {
    pub client_id: Option<ClientId>,
    /// Grants of any of these clients; empty: of any client.
    pub clients: Vec<ClientId>,
    pub subject: Option<String>,
    pub session_id: Option<SessionId>,
    pub device_id: Option<DeviceId>,
}

impl GrantFilter {
    /// By client, subject or both; `None` when both are missing.
    #[must_use]
    pub fn new(client_id: Option<ClientId>, subject: Option<String>) -> Option<Self> {
        Self::matching(GrantCriteria {
            client_id,
            subject,
            ..GrantCriteria::default()
        })
    }

    /// `None` when no field is set.
    #[must_use]
    pub fn matching(criteria: GrantCriteria) -> Option<Self> {
        let GrantCriteria {
            client_id,
            clients,
            subject,
            session_id,
            device_id,
        } = &criteria;
        (client_id.is_some()
            || !clients.is_empty()
            || subject.is_some()
            || session_id.is_some()
            || device_id.is_some())
        .then_some(Self(criteria))
    }

    #[must_use]
    pub const fn client_id(&self) -> Option<&ClientId> {
        self.0.client_id.as_ref()
    }

    /// Any of these clients; empty: any client.
    #[must_use]
    pub fn clients(&self) -> &[ClientId] {
        &self.0.clients
    }

    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    #[must_use]
    pub const fn session_id(&self) -> Option<&SessionId> {
        self.0.session_id.as_ref()
    }

    #[must_use]
    pub const fn device_id(&self) -> Option<&DeviceId> {
        self.0.device_id.as_ref()
    }
}

/// One batch of an operator's bulk revocation: at most `batch_size` grants,
/// one transaction, one audit record per grant.
#[derive(Debug)]
pub struct BulkRevocation<'a> {
    pub filter: &'a GrantFilter,
    pub reason: RevocationReason,
    pub request_id: &'a str,
    pub now: DateTime<Utc>,
    pub batch_size: u32,
    /// Wait for grants another transaction holds locked (a refresh
    /// rotation adding tokens) instead of passing them by. Passing by keeps
    /// concurrent bulk revocations from queueing behind each other; a bulk
    /// revocation is only done once a batch that waited finds nothing left.
    pub wait_for_locked: bool,
}

/// Changes to a client's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub disabled: Option<bool>,
    /// Whether the client may introspect tokens.
    pub resource_server: Option<bool>,
}

/// A page request: rows after the `after` cursor (an id), at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub after: Option<i64>,
    pub limit: u32,
}

/// Which revocation records to read.
#[derive(Debug, Clone, Default)]
pub struct RevocationQuery {
    pub grant_id: Option<GrantId>,
    pub client_id: Option<ClientId>,
    pub subject: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One revocation record with its grant's owner (docs/behaviour.md, Terms: "Revocation record").
#[derive(Debug, Clone)]
pub struct RevocationRecord {
    pub id: i64,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub subject: String,
    /// The session and device the grant was given in.
    pub origin: GrantOrigin,
    /// `None` for an operator's revocation, which presents no token.
    pub presented_kind: Option<TokenKind>,
    pub presenter_kind: Recorded<PresenterKind>,
    pub presenter_client_id: Option<String>,
    pub foreign_client: bool,
    pub reason: Recorded<RevocationReason>,
    pub request_id: String,
    pub revoked_at: DateTime<Utc>,
    /// Where a secret scanner found the token (reason `secret_scanning`).
    pub source_url: Option<String>,
}

/// Which admin actions to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActionQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// An admin API call about to act, recorded before it does.
#[derive(Debug, Clone)]
pub struct NewAdminAction<'a> {
    /// The route template and method, such as `POST /admin/clients`.
    pub action: &'a str,
    /// The client or grant the call is about, when the path names one.
    pub target: Option<&'a str>,
    pub request_id: &'a str,
    /// The caller's address (after trusted-proxy resolution).
    pub peer: Option<&'a str>,
    pub started_at: DateTime<Utc>,
}

/// A recorded admin API call, as stored and as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AdminAction {
    pub id: i64,
    /// Method and route template, such as `DELETE /admin/clients/{id}`.
    pub action: String,
    /// The client or grant id the path named.
    pub target: Option<String>,
    pub request_id: String,
    /// The caller's address, through trusted proxies.
    pub peer: Option<String>,
    /// The HTTP status answered; `None` while running, or if the call never
    /// finished (the process stopped mid-call).
    pub status: Option<u16>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What adding tokens to an existing grant did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAddition {
    Added,
    UnknownGrant,
    /// The grant is revoked: nothing was added (a revoked grant never gets a
    /// live token).
    GrantRevoked,
}

/// What one retention run deletes, older than these instants, `batch` rows
/// per statement.
#[derive(Debug, Clone, Copy)]
pub struct PurgePlan {
    /// When the run started.
    pub now: DateTime<Utc>,
    /// Tokens that expired before this; grants left with no token and no
    /// revocation record, created before this.
    pub tokens_expired_before: DateTime<Utc>,
    /// Revocation and admin call records from before this; `None` keeps them.
    /// Where the audit records and the outbox are partitioned by month
    /// (PostgreSQL), they go a whole month at a time: those from before the
    /// start of this instant's month (see [`start_of_month`]).
    pub audit_before: Option<DateTime<Utc>>,
    /// Month partitions are kept created through the month of this instant,
    /// ahead of the clock, so a revocation always finds its month's.
    pub partitions_through: DateTime<Utc>,
    /// Logout token ids remembered until before this (now): a replay of
    /// such a token is refused for its age anyway.
    pub logout_tokens_before: DateTime<Utc>,
    pub batch: u32,
}

/// The first instant (UTC) of the month `at` is in: where a month
/// partition of the audit records starts.
#[must_use]
pub fn start_of_month(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive()
        .with_day(1)
        .and_then(|first| first.and_hms_opt(0, 0, 0))
        .map_or(at, |midnight| midnight.and_utc())
}

/// What one retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub tokens: u64,
    pub grants: u64,
    pub revocations: u64,
    pub admin_actions: u64,
    pub events: u64,
    pub logout_tokens: u64,
    /// Shared Signals tokens queued and never acknowledged.
    pub ssf_sets: u64,
    /// Webhook deliveries of events retention removed.
    pub deliveries: u64,
    /// Month partitions of the audit records and the outbox created ahead
    /// and dropped whole (PostgreSQL); their rows are not counted above.
    pub partitions_created: u64,
    pub partitions_dropped: u64,
    /// Why creating or dropping partitions failed (a lock held too long by
    /// another transaction): tried again at the next run. Nothing is lost
    /// meanwhile: months are created two ahead, a DEFAULT partition takes
    /// any row no month takes, and a month left undropped is only kept longer.
    pub partition_failure: Option<String>,
}
