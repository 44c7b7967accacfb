//! The audit trail operators read: revocation records and admin calls.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::audit::{
    ActionQuery, AdminAction, NewAdminAction, Page, RevocationQuery, RevocationRecord,
};

/// Revocation records (written by [`super::RevocationStore`] with each
/// revocation) and the record of every admin API call. Each method is one
/// statement; pages are in id order, so a cursor never skips a row.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Revocation records matching `query`, oldest first, one page.
    async fn revocation_records(
        &self,
        query: &RevocationQuery,
        page: Page,
    ) -> Result<Vec<RevocationRecord>, StoreError>;

    /// Records an admin call before it acts, so a call that changed
    /// something is on record even if the process stops mid-call; returns
    /// the record's id.
    async fn begin_admin_action(&self, action: &NewAdminAction<'_>) -> Result<i64, StoreError>;

    /// Completes an admin call's record with the status it answered.
    async fn finish_admin_action(
        &self,
        id: i64,
        status: u16,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Admin call records matching `query`, oldest first, one page.
    async fn admin_actions(
        &self,
        query: &ActionQuery,
        page: Page,
    ) -> Result<Vec<AdminAction>, StoreError>;
}
