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
                let row: Option<rows::ClientRow> = sqlx::query_as(&sql)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
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
                    "UPDATE clients SET secret_hash = $2, updated_at = $3, \
                     credentials_revision = credentials_revision + 1 \
                     WHERE id = $1 AND kind = 'confidential'",
                )
                .bind(id.as_str())
                .bind(hash.as_phc())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn disable_client(
                &self,
                id: &ClientId,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "UPDATE clients SET disabled = TRUE, updated_at = $2, \
                     credentials_revision = credentials_revision + 1 WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                let sql = format!("SELECT {} FROM clients ORDER BY id", rows::CLIENT_COLUMNS);
                let found: Vec<rows::ClientRow> =
                    sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                found.into_iter().map(rows::client_from_row).collect()
            }

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

            async fn find_token(
                &self,
                hash: &TokenHash,
            ) -> Result<Option<TokenRecord>, StoreError> {
                Ok(self.lookup(hash).await?.map(|found| found.record))
            }

            async fn revoke_by_token_hash(
                &self,
                request: &RevocationRequest<'_>,
            ) -> Result<RevocationOutcome, StoreError> {
                self.revoke(request).await
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
                row.map(rows::token_from_row).transpose()
            }
        }
    };
}

pub(super) use impl_store;
