//! The queries whose SQL and bindings are the same on PostgreSQL and SQLite.
//!
//! sqlx types are per database, and its generic bounds over two databases are
//! long and brittle; a macro instantiated once per backend keeps one copy of
//! this code while each expansion is type-checked against its own driver.
//! A backend provides `pool`, `begin_write`, `run_migrations` and
//! `applied_version`; everything dialect-specific stays in its own file.

/// Implements [`crate::storage::Store`] for a backend type over a sqlx database.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::Store for $store {
            async fn migrate(&self) -> Result<(), StoreError> {
                self.run_migrations().await
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn readiness(&self) -> Result<Readiness, StoreError> {
                Ok(migrations::readiness(self.applied_version().await?))
            }

            async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                let sql = format!("SELECT {} FROM clients WHERE id = $1", rows::CLIENT_COLUMNS);
                let row: Option<rows::ClientRow> =
                    sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(&self.pool).await?;
                row.map(rows::client_from_row).transpose()
            }

            async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO clients (id, kind, secret_hash, name, allowed_origins, disabled, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(client.id.as_str())
                .bind(client.kind.as_str())
                .bind(client.secret_hash.as_ref().map(SecretHash::as_phc))
                .bind(client.name.as_deref())
                .bind(rows::origins_to_stored(&client.allowed_origins))
                .bind(client.disabled)
                .bind(client.created_at)
                .bind(client.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_client_secret(
                &self,
                id: &ClientId,
                hash: &SecretHash,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "UPDATE clients SET secret_hash = $2, updated_at = $3 \
                     WHERE id = $1 AND kind = 'confidential'",
                )
                .bind(id.as_str())
                .bind(hash.as_phc())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn disable_client(&self, id: &ClientId, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let result = sqlx::query("UPDATE clients SET disabled = TRUE, updated_at = $2 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                let sql = format!("SELECT {} FROM clients ORDER BY id", rows::CLIENT_COLUMNS);
                let found: Vec<rows::ClientRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                found.into_iter().map(rows::client_from_row).collect()
            }

            async fn issue_grants(&self, grants: &[NewGrant]) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                for chunk in grants.chunks(rows::INSERT_BATCH) {
                    let mut insert: sqlx::QueryBuilder<'_, $db> =
                        sqlx::QueryBuilder::new("INSERT INTO grants (id, client_id, subject, scope, created_at) ");
                    insert.push_values(chunk, |mut row, grant| {
                        row.push_bind(grant.id.as_uuid())
                            .push_bind(grant.client_id.as_str())
                            .push_bind(grant.subject.as_str())
                            .push_bind(grant.scope.as_deref())
                            .push_bind(grant.created_at);
                    });
                    insert.build().execute(&mut *tx).await?;

                    let tokens =
                        chunk.iter().flat_map(|grant| grant.tokens.iter().map(move |token| (grant, token)));
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

            async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
                Ok(self.lookup(hash).await?.map(|found| found.record))
            }

            async fn revoke_by_token_hash(
                &self,
                request: &RevocationRequest<'_>,
            ) -> Result<RevocationOutcome, StoreError> {
                let plan = match rows::decide(self.lookup(request.token_hash).await?, request) {
                    rows::Decision::Answer(outcome) => return Ok(outcome),
                    rows::Decision::Revoke(plan) => plan,
                };
                let mut tx = self.begin_write().await?;
                // Claim the grant row first: its lock serialises concurrent
                // revocations of one grant, and the loser updates zero rows.
                let claimed = sqlx::query(
                    "UPDATE grants SET revoked_at = $2, revocation_reason = $3 \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(plan.grant_id.as_uuid())
                .bind(request.now)
                .bind(plan.reason.as_str())
                .execute(&mut *tx)
                .await?;
                if claimed.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(RevocationOutcome::AlreadyRevoked);
                }
                sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL")
                    .bind(plan.grant_id.as_uuid())
                    .bind(request.now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO revocations (grant_id, presented_token_hash, presented_kind, \
                     presenter_kind, presenter_client_id, foreign_client, reason, request_id, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(plan.grant_id.as_uuid())
                .bind(&request.token_hash.as_bytes()[..])
                .bind(plan.presented_kind.as_str())
                .bind(request.presenter.kind_label())
                .bind(request.presenter.client_id().map(ClientId::as_str))
                .bind(plan.foreign)
                .bind(plan.reason.as_str())
                .bind(request.request_id)
                .bind(request.now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(RevocationOutcome::Revoked { grant_id: plan.grant_id, foreign: plan.foreign })
            }
        }

        impl $store {
            async fn lookup(&self, hash: &TokenHash) -> Result<Option<rows::FoundToken>, StoreError> {
                let row: Option<rows::TokenRow> =
                    sqlx::query_as(rows::TOKEN_LOOKUP).bind(&hash.as_bytes()[..]).fetch_optional(&self.pool).await?;
                row.map(rows::token_from_row).transpose()
            }
        }
    };
}

pub(super) use impl_store;
