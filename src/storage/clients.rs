//! Registered clients: who may present tokens, with which credentials.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, FromRow, Type};

use super::StoreError;
use super::backend::{
    Backend, Column, Connection, Db, DbRow, Param, RowsAffected as _, row_struct,
};
use super::statement::Statement;
use crate::domain::audit::ClientUpdate;
use crate::domain::client::{Client, ClientId, ClientKind, PreviousSecret};
use crate::domain::secret::SecretHash;

/// The client registry: authentication reads it, operators write it.
///
/// Every method is one statement, so one transaction: a change is seen
/// whole or not at all. A change that affects credentials (a new secret,
/// disabling, deletion, the resource-server mark) moves the client's
/// `credentials_revision` in the same statement, which is how every
/// instance's credential cache and every revocation in flight learn that
/// what they authenticated is stale.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Looks a client up by id; a deleted client is not found.
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Registers a client; `Conflict` when the id is taken (also by a
    /// deleted client).
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Replaces a confidential client's secret hash; `false` when no
    /// confidential client has that id. With `previous_valid_until`, the
    /// replaced secret keeps working until then (one previous secret at most);
    /// without, it stops at once.
    async fn set_client_secret(
        &self,
        id: &ClientId,
        hash: &SecretHash,
        previous_valid_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Applies `update` and returns the client as it now is; `None` when it
    /// does not exist. Changing `disabled` or `resource_server` moves the
    /// credentials revision.
    async fn update_client(
        &self,
        id: &ClientId,
        update: &ClientUpdate,
        now: DateTime<Utc>,
    ) -> Result<Option<Client>, StoreError>;

    /// Deletes a client: it disappears from lookups and listings, its
    /// credentials stop working, and its id stays taken (its grants and audit
    /// records keep pointing at it). Says whether it was deleted now, had
    /// been before (its grants may still need revoking), or never existed.
    async fn delete_client(
        &self,
        id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<ClientDeletion, StoreError>;

    /// Up to `limit` clients with ids after `after`, ordered by id.
    async fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>, StoreError>;

    /// Every allowed origin of every enabled public client (CORS).
    async fn public_client_origins(&self) -> Result<Vec<String>, StoreError>;
}

/// What [`ClientStore::delete_client`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDeletion {
    Deleted,
    /// Deleted by an earlier call, which may have failed before revoking
    /// every grant.
    AlreadyDeleted,
    Unknown,
}

/// The columns every client query selects.
const CLIENT_COLUMNS: &str = "id, kind, secret_hash, name, allowed_origins, disabled, \
     credentials_revision, previous_secret_hash, previous_secret_expires_at, created_at, \
     updated_at, resource_server";

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
            allowed_origins: origins_from_stored(&row.allowed_origins)?,
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
fn origins_to_stored(origins: &[String]) -> String {
    serde_json::Value::from(origins).to_string()
}

fn origins_from_stored(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt("client allowed_origins"))
}

#[async_trait]
impl<B: Backend> ClientStore for B
where
    for<'c> &'c mut Connection<B>: Executor<'c, Database = Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>> + Type<Db<B>>,
    String: Param<Db<B>> + Column<Db<B>>,
    bool: Param<Db<B>> + Column<Db<B>>,
    i64: Param<Db<B>>,
    DateTime<Utc>: Param<Db<B>>,
    Option<DateTime<Utc>>: Param<Db<B>>,
    usize: ColumnIndex<DbRow<B>>,
    for<'r> ClientRow: FromRow<'r, DbRow<B>>,
{
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let sql =
            format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1 AND deleted_at IS NULL");
        let row: Option<ClientRow> = sqlx::query_as(&sql)
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(Client::try_from).transpose()
    }

    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO clients (id, kind, secret_hash, name, allowed_origins, disabled, \
             created_at, updated_at, resource_server) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(client.id.as_str())
        .bind(client.kind.as_str())
        .bind(client.secret_hash.as_ref().map(SecretHash::as_phc))
        .bind(client.name.as_deref())
        .bind(origins_to_stored(&client.allowed_origins))
        .bind(client.disabled)
        .bind(client.created_at)
        .bind(client.updated_at)
        .bind(client.resource_server)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn set_client_secret(
        &self,
        id: &ClientId,
        hash: &SecretHash,
        previous_valid_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE clients SET \
             previous_secret_hash = CASE WHEN $4 IS NULL THEN NULL ELSE secret_hash END, \
             previous_secret_expires_at = $4, secret_hash = $2, updated_at = $3, \
             credentials_revision = credentials_revision + 1 \
             WHERE id = $1 AND kind = 'confidential' AND deleted_at IS NULL",
        )
        .bind(id.as_str())
        .bind(hash.as_phc())
        .bind(now)
        .bind(previous_valid_until)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn update_client(
        &self,
        id: &ClientId,
        update: &ClientUpdate,
        now: DateTime<Utc>,
    ) -> Result<Option<Client>, StoreError> {
        let mut sql = Statement::<Db<B>>::new("UPDATE clients SET updated_at = ");
        sql.push_bind(now);
        if let Some(name) = &update.name {
            sql.push(", name = ").push_bind(name.as_deref());
        }
        if let Some(origins) = &update.allowed_origins {
            sql.push(", allowed_origins = ")
                .push_bind(origins_to_stored(origins));
        }
        if let Some(disabled) = update.disabled {
            sql.push(", disabled = ").push_bind(disabled);
        }
        if let Some(resource_server) = update.resource_server {
            sql.push(", resource_server = ").push_bind(resource_server);
        }
        // Disabling, re-enabling, or granting or taking away the
        // introspection right moves the revision: no credential cached
        // before (on any instance) may act under the new rules. SET reads
        // the row's old values.
        if update.disabled.is_some() || update.resource_server.is_some() {
            sql.push(", credentials_revision = credentials_revision + CASE WHEN FALSE");
            if let Some(disabled) = update.disabled {
                sql.push(" OR disabled <> ").push_bind(disabled);
            }
            if let Some(resource_server) = update.resource_server {
                sql.push(" OR resource_server <> ")
                    .push_bind(resource_server);
            }
            sql.push(" THEN 1 ELSE 0 END");
        }
        sql.push(" WHERE id = ")
            .push_bind(id.as_str())
            .push(" AND deleted_at IS NULL RETURNING ")
            .push(CLIENT_COLUMNS);
        let (sql, arguments) = sql.into_parts()?;
        let row: Option<ClientRow> = sqlx::query_as_with(&sql, arguments)
            .fetch_optional(self.pool())
            .await?;
        row.map(Client::try_from).transpose()
    }

    async fn delete_client(
        &self,
        id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<ClientDeletion, StoreError> {
        let result = sqlx::query(
            "UPDATE clients SET disabled = TRUE, deleted_at = $2, updated_at = $2, \
             previous_secret_hash = NULL, previous_secret_expires_at = NULL, \
             credentials_revision = credentials_revision + 1 \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 1 {
            return Ok(ClientDeletion::Deleted);
        }
        let tombstone: Option<bool> =
            sqlx::query_scalar("SELECT deleted_at IS NOT NULL FROM clients WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(match tombstone {
            Some(true) => ClientDeletion::AlreadyDeleted,
            _ => ClientDeletion::Unknown,
        })
    }

    async fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>, StoreError> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE deleted_at IS NULL \
             AND ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        );
        let found: Vec<ClientRow> = sqlx::query_as(&sql)
            .bind(after.map(ClientId::as_str))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        found.into_iter().map(Client::try_from).collect()
    }

    async fn public_client_origins(&self) -> Result<Vec<String>, StoreError> {
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT allowed_origins FROM clients WHERE kind = 'public' \
             AND NOT disabled AND deleted_at IS NULL AND allowed_origins <> '[]'",
        )
        .fetch_all(self.pool())
        .await?;
        let mut origins = Vec::new();
        for text in stored {
            origins.extend(origins_from_stored(&text)?);
        }
        Ok(origins)
    }
}
