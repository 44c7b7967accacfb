//! The queries whose SQL and bindings are the same on PostgreSQL and SQLite.
//!
//! sqlx types are per database, and its generic bounds over two databases are
//! long and brittle; a macro instantiated once per backend keeps one copy of
//! this code while each expansion is type-checked against its own driver.
//! A backend provides `pool`, `begin_write`, `DIALECT` (its migrations) and
//! `applied_migrations`; everything dialect-specific stays in its own file.

/// Implements [`crate::storage::Store`] for a backend type over a sqlx database.
/// `$row_lock` locks a selected row until commit (`FOR UPDATE`; empty on
/// SQLite, whose `BEGIN IMMEDIATE` already holds the only write lock), and
/// `$skip_locked` makes concurrent batch claims pass each other by.
/// `$events_after` is the backend's [`rows::events_after_select`]; a backend
/// also provides `head_position`, `send_change_notice` and `open_change_feed`.
macro_rules! impl_store {
    (
        $store:ty,
        $db:ty,
        row_lock = $row_lock:literal,
        skip_locked = $skip_locked:literal,
        events_after = $events_after:expr $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::storage::Maintenance for $store {
            async fn migrate(
                &self,
                contract: migrations::ContractSteps,
            ) -> Result<migrations::MigrationReport, StoreError> {
                let plan = Self::DIALECT.plan(&self.applied_migrations().await?, contract);
                Self::DIALECT
                    .migrator(plan.through)
                    .run(&self.pool)
                    .await
                    .map_err(StoreError::from_migration)?;
                Ok(plan.report(&self.applied_migrations().await?))
            }

            async fn readiness(&self) -> Result<Readiness, StoreError> {
                Ok(migrations::compatibility(&self.applied_migrations().await?))
            }

            async fn purge(
                &self,
                plan: &$crate::domain::audit::PurgePlan,
            ) -> Result<Option<$crate::domain::audit::PurgeCounts>, StoreError> {
                let plan = *plan;
                self.with_retention_lock(move |connection| {
                    Box::pin(async move {
                        let mut counts = $crate::domain::audit::PurgeCounts::default();
                        // Audit first: a grant whose record goes may then go too.
                        if let Some(before) = plan.audit_before {
                            counts.revocations =
                                purge_all(connection, rows::PURGE_REVOCATIONS, before, plan.batch)
                                    .await?;
                            counts.admin_actions =
                                purge_all(connection, rows::PURGE_ADMIN_ACTIONS, before, plan.batch)
                                    .await?;
                            counts.events =
                                purge_all(connection, rows::PURGE_EVENTS, before, plan.batch)
                                    .await?;
                        }
                        let before = plan.tokens_expired_before;
                        counts.tokens =
                            purge_all(connection, rows::PURGE_TOKENS, before, plan.batch).await?;
                        counts.grants =
                            purge_all(connection, rows::PURGE_GRANTS, before, plan.batch).await?;
                        Ok(counts)
                    })
                })
                .await
            }

            fn pool_usage(&self) -> $crate::storage::PoolUsage {
                let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
                $crate::storage::PoolUsage {
                    size: self.pool.size(),
                    idle,
                }
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::ClientStore for $store {
            async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                let sql = format!(
                    "SELECT {} FROM clients WHERE id = $1 AND deleted_at IS NULL",
                    rows::CLIENT_COLUMNS
                );
                let row: Option<rows::ClientRow> = sqlx::query_as(&sql)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
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
                .bind(rows::origins_to_stored(&client.allowed_origins))
                .bind(client.disabled)
                .bind(client.created_at)
                .bind(client.updated_at)
                .bind(client.resource_server)
                .execute(&self.pool)
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
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn update_client(
                &self,
                id: &ClientId,
                update: &$crate::domain::audit::ClientUpdate,
                now: DateTime<Utc>,
            ) -> Result<Option<Client>, StoreError> {
                let mut sql: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new("UPDATE clients SET updated_at = ");
                sql.push_bind(now);
                if let Some(name) = &update.name {
                    sql.push(", name = ").push_bind(name.as_deref());
                }
                if let Some(origins) = &update.allowed_origins {
                    sql.push(", allowed_origins = ")
                        .push_bind(rows::origins_to_stored(origins));
                }
                if let Some(disabled) = update.disabled {
                    sql.push(", disabled = ").push_bind(disabled);
                }
                if let Some(resource_server) = update.resource_server {
                    sql.push(", resource_server = ").push_bind(resource_server);
                }
                // Disabling, re-enabling, or granting or taking away the
                // introspection right moves the revision: no credential
                // cached before (on any instance) may act under the new
                // rules. SET reads the row's old values.
                if update.disabled.is_some() || update.resource_server.is_some() {
                    sql.push(", credentials_revision = credentials_revision + CASE WHEN FALSE");
                    if let Some(disabled) = update.disabled {
                        sql.push(" OR disabled <> ").push_bind(disabled);
                    }
                    if let Some(resource_server) = update.resource_server {
                        sql.push(" OR resource_server <> ").push_bind(resource_server);
                    }
                    sql.push(" THEN 1 ELSE 0 END");
                }
                sql.push(" WHERE id = ")
                    .push_bind(id.as_str())
                    .push(" AND deleted_at IS NULL RETURNING ")
                    .push(rows::CLIENT_COLUMNS);
                let row: Option<rows::ClientRow> =
                    sql.build_query_as().fetch_optional(&self.pool).await?;
                row.map(Client::try_from).transpose()
            }

            async fn delete_client(
                &self,
                id: &ClientId,
                now: DateTime<Utc>,
            ) -> Result<$crate::storage::ClientDeletion, StoreError> {
                use $crate::storage::ClientDeletion;
                let result = sqlx::query(
                    "UPDATE clients SET disabled = TRUE, deleted_at = $2, updated_at = $2, \
                     previous_secret_hash = NULL, previous_secret_expires_at = NULL, \
                     credentials_revision = credentials_revision + 1 \
                     WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id.as_str())
                .bind(now)
                .execute(&self.pool)
                .await?;
                if result.rows_affected() == 1 {
                    return Ok(ClientDeletion::Deleted);
                }
                let tombstone: Option<bool> =
                    sqlx::query_scalar("SELECT deleted_at IS NOT NULL FROM clients WHERE id = $1")
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
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
                    "SELECT {} FROM clients WHERE deleted_at IS NULL AND ($1 IS NULL OR id > $1) \
                     ORDER BY id LIMIT $2",
                    rows::CLIENT_COLUMNS
                );
                let found: Vec<rows::ClientRow> = sqlx::query_as(&sql)
                    .bind(after.map(ClientId::as_str))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                found.into_iter().map(Client::try_from).collect()
            }

            async fn public_client_origins(&self) -> Result<Vec<String>, StoreError> {
                let stored: Vec<String> = sqlx::query_scalar(
                    "SELECT allowed_origins FROM clients WHERE kind = 'public' \
                     AND NOT disabled AND deleted_at IS NULL AND allowed_origins <> '[]'",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut origins = Vec::new();
                for text in stored {
                    let listed: Vec<String> = serde_json::from_str(&text)
                        .map_err(|_| StoreError::Corrupt("client allowed_origins"))?;
                    origins.extend(listed);
                }
                Ok(origins)
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::GrantStore for $store {
            async fn issue_grants(&self, grants: &[NewGrant]) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                for chunk in grants.chunks(rows::INSERT_BATCH) {
                    let mut insert: sqlx::QueryBuilder<'_, $db> = sqlx::QueryBuilder::new(
                        "INSERT INTO grants (id, client_id, subject, scope, created_at) ",
                    );
                    insert.push_values(chunk, |mut row, grant| {
                        row.push_bind(grant.id.as_uuid())
                            .push_bind(grant.client_id.as_str())
                            .push_bind(grant.subject.as_str())
                            .push_bind(grant.scope.as_deref())
                            .push_bind(grant.created_at);
                    });
                    insert.build().execute(&mut *tx).await?;

                    let tokens = chunk
                        .iter()
                        .flat_map(|grant| grant.tokens.iter().map(move |token| (grant, token)));
                    let mut insert: sqlx::QueryBuilder<'_, $db> = sqlx::QueryBuilder::new(
                        "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) ",
                    );
                    insert.push_values(tokens, |mut row, (grant, token)| {
                        row.push_bind(&token.hash.as_bytes()[..])
                            .push_bind(grant.id.as_uuid())
                            .push_bind(token.kind.as_str())
                            .push_bind(token.expires_at)
                            .push_bind(grant.created_at);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn add_tokens(
                &self,
                grant_id: &$crate::domain::grant::GrantId,
                tokens: &[$crate::domain::grant::NewToken],
                now: DateTime<Utc>,
            ) -> Result<$crate::domain::audit::TokenAddition, StoreError> {
                use $crate::domain::audit::TokenAddition;
                let mut tx = self.begin_write().await?;
                // Locked until commit: a revocation of this grant waits for
                // the new tokens, or they wait for it and see it revoked.
                let revoked: Option<bool> = sqlx::query_scalar(concat!(
                    "SELECT revoked_at IS NOT NULL FROM grants WHERE id = $1",
                    $row_lock
                ))
                .bind(grant_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
                match revoked {
                    None => return Ok(TokenAddition::UnknownGrant),
                    Some(true) => return Ok(TokenAddition::GrantRevoked),
                    Some(false) => {}
                }
                for chunk in tokens.chunks(rows::INSERT_BATCH) {
                    let mut insert: sqlx::QueryBuilder<'_, $db> = sqlx::QueryBuilder::new(
                        "INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) ",
                    );
                    insert.push_values(chunk, |mut row, token| {
                        row.push_bind(&token.hash.as_bytes()[..])
                            .push_bind(grant_id.as_uuid())
                            .push_bind(token.kind.as_str())
                            .push_bind(token.expires_at)
                            .push_bind(now);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(TokenAddition::Added)
            }

            async fn find_token(
                &self,
                hash: &TokenHash,
            ) -> Result<Option<TokenRecord>, StoreError> {
                Ok(self.lookup(hash).await?.map(|found| found.record))
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::RevocationStore for $store {
            async fn revoke_by_token_hash(
                &self,
                request: &RevocationRequest<'_>,
            ) -> Result<RevocationOutcome, StoreError> {
                self.revoke(request).await
            }

            async fn revoke_grants(
                &self,
                request: &$crate::domain::audit::BulkRevocation<'_>,
            ) -> Result<u64, StoreError> {
                let mut tx = self.begin_write().await?;
                let mut claim: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new("UPDATE grants SET revoked_at = ");
                claim
                    .push_bind(request.now)
                    .push(", revocation_reason = ")
                    .push_bind(request.reason.as_str())
                    .push(" WHERE revoked_at IS NULL AND id IN (SELECT id FROM grants WHERE revoked_at IS NULL");
                if let Some(client_id) = request.filter.client_id() {
                    claim.push(" AND client_id = ").push_bind(client_id.as_str());
                }
                if let Some(subject) = request.filter.subject() {
                    claim.push(" AND subject = ").push_bind(subject);
                }
                // Batches pass each other's locked grants by; the caller's
                // last batch waits for them (see `BulkRevocation`).
                // In id order, so two bulk revocations waiting for locks
                // take them in the same order and cannot deadlock.
                claim
                    .push(" ORDER BY id LIMIT ")
                    .push_bind(i64::from(request.batch_size))
                    .push(if request.wait_for_locked { $row_lock } else { $skip_locked })
                    .push(") RETURNING id");
                let claimed: Vec<uuid::Uuid> =
                    claim.build_query_scalar().fetch_all(&mut *tx).await?;
                if claimed.is_empty() {
                    tx.rollback().await?;
                    return Ok(0);
                }
                // On PostgreSQL the claim's trigger has revoked the tokens
                // already (migration 5) and this finds none; SQLite needs it.
                let mut tokens: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new("UPDATE tokens SET revoked_at = ");
                tokens
                    .push_bind(request.now)
                    .push(" WHERE revoked_at IS NULL AND grant_id IN (");
                let mut ids = tokens.separated(", ");
                for id in &claimed {
                    ids.push_bind(id);
                }
                tokens.push(")");
                tokens.build().execute(&mut *tx).await?;
                let mut audit: sqlx::QueryBuilder<'_, $db> = sqlx::QueryBuilder::new(
                    "INSERT INTO revocations (grant_id, presenter_kind, foreign_client, reason, \
                     request_id, revoked_at) ",
                );
                audit.push_values(&claimed, |mut row, id| {
                    row.push_bind(id)
                        .push_bind("admin")
                        .push_bind(false)
                        .push_bind(request.reason.as_str())
                        .push_bind(request.request_id)
                        .push_bind(request.now);
                });
                audit.build().execute(&mut *tx).await?;
                let mut events: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new(rows::EVENTS_FOR_GRANTS);
                events.push_bind("admin").push(rows::EVENTS_FOR_GRANTS_TAIL);
                let mut ids = events.separated(", ");
                for id in &claimed {
                    ids.push_bind(id);
                }
                events.push(")");
                events.build().execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(claimed.len() as u64)
            }

            async fn stored_token_hashes(
                &self,
                hashes: &[TokenHash],
            ) -> Result<Vec<TokenHash>, StoreError> {
                let mut stored = Vec::new();
                for chunk in hashes.chunks(rows::LOOKUP_BATCH) {
                    let mut select: sqlx::QueryBuilder<'_, $db> =
                        sqlx::QueryBuilder::new("SELECT token_hash FROM tokens WHERE token_hash IN (");
                    let mut list = select.separated(", ");
                    for hash in chunk {
                        list.push_bind(&hash.as_bytes()[..]);
                    }
                    select.push(")");
                    // One text per batch size: not worth a prepared statement.
                    let found: Vec<Vec<u8>> = select
                        .build_query_scalar()
                        .persistent(false)
                        .fetch_all(&self.pool)
                        .await?;
                    for bytes in found {
                        stored.push(
                            TokenHash::from_stored(&bytes)
                                .ok_or(StoreError::Corrupt("token hash"))?,
                        );
                    }
                }
                Ok(stored)
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::IntrospectionStore for $store {
            async fn introspect(
                &self,
                hash: &TokenHash,
                presenter: &$crate::domain::presenter::Presenter,
            ) -> Result<$crate::domain::introspection::Introspection, StoreError> {
                let (id, revision) = rows::presenter_columns(presenter);
                let row: rows::IntrospectRow = sqlx::query_as(rows::INTROSPECT_SELECT)
                    .bind(&hash.as_bytes()[..])
                    .bind(id)
                    .bind(revision)
                    .fetch_one(&self.pool)
                    .await?;
                $crate::domain::introspection::Introspection::try_from(row)
            }

            async fn resource_server_is_current(
                &self,
                presenter: &$crate::domain::presenter::Presenter,
            ) -> Result<bool, StoreError> {
                let (id, revision) = rows::presenter_columns(presenter);
                Ok(sqlx::query_scalar(rows::RESOURCE_SERVER_CURRENT)
                    .bind(id)
                    .bind(revision)
                    .fetch_one(&self.pool)
                    .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::AuditStore for $store {
            async fn revocation_records(
                &self,
                query: &$crate::domain::audit::RevocationQuery,
                page: $crate::domain::audit::Page,
            ) -> Result<Vec<$crate::domain::audit::RevocationRecord>, StoreError> {
                let mut sql: sqlx::QueryBuilder<'_, $db> = sqlx::QueryBuilder::new(rows::REVOCATION_SELECT);
                if let Some(grant_id) = &query.grant_id {
                    sql.push(" AND r.grant_id = ").push_bind(grant_id.as_uuid());
                }
                if let Some(client_id) = &query.client_id {
                    sql.push(" AND g.client_id = ").push_bind(client_id.as_str());
                }
                if let Some(subject) = &query.subject {
                    sql.push(" AND g.subject = ").push_bind(subject.as_str());
                }
                if let Some(since) = query.since {
                    sql.push(" AND r.revoked_at >= ").push_bind(since);
                }
                if let Some(until) = query.until {
                    sql.push(" AND r.revoked_at < ").push_bind(until);
                }
                if let Some(after) = page.after {
                    sql.push(" AND r.id > ").push_bind(after);
                }
                sql.push(" ORDER BY r.id LIMIT ").push_bind(i64::from(page.limit));
                let found: Vec<rows::RevocationRow> =
                    sql.build_query_as().fetch_all(&self.pool).await?;
                found.into_iter().map($crate::domain::audit::RevocationRecord::try_from).collect()
            }

            async fn begin_admin_action(
                &self,
                action: &$crate::domain::audit::NewAdminAction<'_>,
            ) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO admin_actions (action, target, request_id, peer, started_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(action.action)
                .bind(action.target)
                .bind(action.request_id)
                .bind(action.peer)
                .bind(action.started_at)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn finish_admin_action(
                &self,
                id: i64,
                status: u16,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE admin_actions SET status = $2, finished_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(i32::from(status))
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn admin_actions(
                &self,
                query: &$crate::domain::audit::ActionQuery,
                page: $crate::domain::audit::Page,
            ) -> Result<Vec<$crate::domain::audit::AdminAction>, StoreError> {
                let mut sql: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new(rows::ADMIN_ACTION_SELECT);
                if let Some(since) = query.since {
                    sql.push(" AND started_at >= ").push_bind(since);
                }
                if let Some(until) = query.until {
                    sql.push(" AND started_at < ").push_bind(until);
                }
                if let Some(after) = page.after {
                    sql.push(" AND id > ").push_bind(after);
                }
                sql.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit));
                let found: Vec<rows::AdminActionRow> =
                    sql.build_query_as().fetch_all(&self.pool).await?;
                found.into_iter().map($crate::domain::audit::AdminAction::try_from).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::EventStore for $store {
            async fn events_after(
                &self,
                after: $crate::domain::event::EventPosition,
                limit: u32,
            ) -> Result<$crate::domain::event::EventPage, StoreError> {
                let found: Vec<rows::EventRow> = sqlx::query_as($events_after)
                    .bind(after.txid)
                    .bind(after.id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows::event_page_from_rows(found)
            }

            async fn next_event_time(
                &self,
                after: $crate::domain::event::EventPosition,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                Ok(sqlx::query_scalar(rows::NEXT_EVENT_TIME)
                    .bind(after.txid)
                    .bind(after.id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn event_head(&self) -> Result<$crate::domain::event::EventPosition, StoreError> {
                self.head_position(&self.pool).await
            }

            async fn notify_changes(&self) -> Result<(), StoreError> {
                self.send_change_notice().await
            }

            async fn change_feed(
                &self,
            ) -> Result<Option<Box<dyn $crate::storage::ChangeFeed>>, StoreError> {
                self.open_change_feed().await
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::DeliveryStore for $store {
            async fn queue_deliveries(
                &self,
                endpoint: &str,
                limit: u32,
                now: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                let mut tx = self.begin_write().await?;
                let head = self.head_position(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO webhook_cursors (endpoint, txid, event_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (endpoint) DO NOTHING",
                )
                .bind(endpoint)
                .bind(head.txid)
                .bind(head.id)
                .execute(&mut *tx)
                .await?;
                // Locked until commit: two instances queue one endpoint in turn.
                let cursor: rows::CursorRow = sqlx::query_as(concat!(
                    "SELECT txid, event_id FROM webhook_cursors WHERE endpoint = $1",
                    $row_lock
                ))
                .bind(endpoint)
                .fetch_one(&mut *tx)
                .await?;
                let cursor = $crate::domain::event::EventPosition::from(cursor);
                let found: Vec<rows::EventRow> = sqlx::query_as($events_after)
                    .bind(cursor.txid)
                    .bind(cursor.id)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let page = rows::event_page_from_rows(found)?;
                let settled = &page.events[..page.settled];
                if settled.is_empty() {
                    // Committed: a cursor created just now must stay where it
                    // started, or the next call would start it later still.
                    tx.commit().await?;
                    return Ok(0);
                }
                let mut insert: sqlx::QueryBuilder<'_, $db> = sqlx::QueryBuilder::new(
                    "INSERT INTO webhook_deliveries (endpoint, event_id, state, attempts, \
                     next_attempt_at, created_at, updated_at) ",
                );
                insert.push_values(settled, |mut row, event| {
                    row.push_bind(endpoint)
                        .push_bind(event.id)
                        .push_bind("pending")
                        .push_bind(0_i32)
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(now);
                });
                insert.push(" ON CONFLICT (endpoint, event_id) DO NOTHING");
                let queued = insert.build().execute(&mut *tx).await?.rows_affected();
                let next = page.settled_position(cursor);
                sqlx::query("UPDATE webhook_cursors SET txid = $2, event_id = $3 WHERE endpoint = $1")
                    .bind(endpoint)
                    .bind(next.txid)
                    .bind(next.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(queued)
            }

            async fn claim_deliveries(
                &self,
                endpoints: &[String],
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<
                Vec<(
                    $crate::domain::webhook::WebhookDelivery,
                    $crate::domain::event::RevocationEvent,
                )>,
                StoreError,
            > {
                if endpoints.is_empty() {
                    return Ok(Vec::new());
                }
                let mut claim: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new("UPDATE webhook_deliveries SET leased_until = ");
                claim
                    .push_bind(lease_until)
                    .push(" WHERE state = 'pending' AND (leased_until IS NULL OR leased_until <= ")
                    .push_bind(now)
                    .push(") AND id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' \
                           AND next_attempt_at <= ")
                    .push_bind(now)
                    .push(" AND (leased_until IS NULL OR leased_until <= ")
                    .push_bind(now)
                    .push(") AND endpoint IN (");
                let mut names = claim.separated(", ");
                for endpoint in endpoints {
                    names.push_bind(endpoint.as_str());
                }
                claim
                    .push(") ORDER BY next_attempt_at LIMIT ")
                    .push_bind(i64::from(limit))
                    .push(concat!($skip_locked, ") RETURNING id, endpoint, event_id, state, attempts, \
                           next_attempt_at, last_status, last_error, created_at, updated_at"));
                let claimed: Vec<rows::DeliveryRow> =
                    claim.build_query_as().fetch_all(&self.pool).await?;
                if claimed.is_empty() {
                    return Ok(Vec::new());
                }
                let deliveries = claimed
                    .into_iter()
                    .map($crate::domain::webhook::WebhookDelivery::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut select: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new(rows::EVENTS_BY_ID);
                let mut ids = select.separated(", ");
                for delivery in &deliveries {
                    ids.push_bind(delivery.event_id);
                }
                select.push(")");
                let found: Vec<rows::EventRow> =
                    select.build_query_as().fetch_all(&self.pool).await?;
                let events = rows::event_page_from_rows(found)?.events;
                Ok(deliveries
                    .into_iter()
                    .filter_map(|delivery| {
                        // An event purged meanwhile took its delivery with it.
                        let event = events.iter().find(|event| event.id == delivery.event_id)?;
                        Some((delivery, event.clone()))
                    })
                    .collect())
            }

            async fn finish_delivery(
                &self,
                id: i64,
                outcome: &$crate::domain::webhook::AttemptOutcome,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                use $crate::domain::webhook::AttemptOutcome;
                let (state, status, error, retry_at) = match outcome {
                    AttemptOutcome::Delivered => ("delivered", None, None, None),
                    AttemptOutcome::Failed { status, error, retry_at } => (
                        if retry_at.is_some() { "pending" } else { "dead" },
                        *status,
                        Some(error.as_str()),
                        *retry_at,
                    ),
                };
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, \
                     last_status = $3, last_error = $4, \
                     next_attempt_at = COALESCE($5, next_attempt_at), leased_until = NULL, \
                     updated_at = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(state)
                .bind(status.map(i32::from))
                .bind(error)
                .bind(retry_at)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn webhook_deliveries(
                &self,
                query: &$crate::domain::webhook::DeliveryQuery,
                page: $crate::domain::audit::Page,
            ) -> Result<Vec<$crate::domain::webhook::WebhookDelivery>, StoreError> {
                let mut sql: sqlx::QueryBuilder<'_, $db> =
                    sqlx::QueryBuilder::new(rows::DELIVERY_SELECT);
                if let Some(endpoint) = &query.endpoint {
                    sql.push(" AND endpoint = ").push_bind(endpoint.as_str());
                }
                if let Some(state) = query.state {
                    sql.push(" AND state = ").push_bind(state.as_str());
                }
                if let Some(after) = page.after {
                    sql.push(" AND id > ").push_bind(after);
                }
                sql.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit));
                let found: Vec<rows::DeliveryRow> =
                    sql.build_query_as().fetch_all(&self.pool).await?;
                found.into_iter().map($crate::domain::webhook::WebhookDelivery::try_from).collect()
            }

            async fn retry_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, \
                     next_attempt_at = $2, leased_until = NULL, updated_at = $2 \
                     WHERE id = $1 AND state = 'dead'",
                )
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn webhook_backlog(
                &self,
                scan: u32,
            ) -> Result<Vec<$crate::domain::webhook::EndpointBacklog>, StoreError> {
                let pending: Vec<rows::PendingRow> =
                    sqlx::query_as(rows::PENDING_BACKLOG)
                        .bind(i64::from(scan))
                        .fetch_all(&self.pool)
                        .await?;
                let cursors: Vec<rows::CursorBacklogRow> =
                    sqlx::query_as(rows::CURSOR_BACKLOG)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows::endpoint_backlogs(pending, cursors))
            }
        }

        /// Runs one retention delete in batches until a batch comes back short.
        async fn purge_all(
            connection: &mut <$db as sqlx::Database>::Connection,
            sql: &'static str,
            before: DateTime<Utc>,
            batch: u32,
        ) -> Result<u64, StoreError> {
            let mut deleted = 0;
            loop {
                let done = sqlx::query(sql)
                    .bind(before)
                    .bind(i64::from(batch))
                    .execute(&mut *connection)
                    .await?
                    .rows_affected();
                deleted += done;
                if done < u64::from(batch) {
                    return Ok(deleted);
                }
            }
        }

        impl $store {
            async fn lookup(
                &self,
                hash: &TokenHash,
            ) -> Result<Option<rows::FoundToken>, StoreError> {
                let row: Option<rows::TokenRow> = sqlx::query_as(rows::TOKEN_LOOKUP)
                    .bind(&hash.as_bytes()[..])
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(rows::FoundToken::try_from).transpose()
            }
        }
    };
}

pub(super) use impl_store;
