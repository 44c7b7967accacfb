//! The fixed yardstick: the textbook revocation, in its own small schema on
//! the same cluster. Rescind's own statement (the other ceiling) gets slower
//! with every write it gains, so a scenario's ratio to it can rise while
//! Rescind gets slower; this one never changes. One prepared statement finds
//! the token by its SHA-256 hash through the unique index, marks the grant
//! and its two tokens revoked, and inserts one audit row, with a durable
//! commit, each transaction revoking a distinct live grant.

use sqlx::PgPool;

use crate::seed::{self, Failure};
use crate::{Bench, progress};

const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS tb_grants (id bigint PRIMARY KEY, revoked_at timestamptz);
CREATE TABLE IF NOT EXISTS tb_tokens (
    token_hash bytea PRIMARY KEY,
    grant_id bigint NOT NULL REFERENCES tb_grants,
    kind text NOT NULL,
    revoked_at timestamptz);
CREATE INDEX IF NOT EXISTS tb_tokens_grant ON tb_tokens (grant_id);
CREATE TABLE IF NOT EXISTS tb_audit (
    id bigserial PRIMARY KEY,
    grant_id bigint NOT NULL,
    revoked_at timestamptz NOT NULL)";

/// The script. Grant `g`'s tokens hash `'tb:<g>/a'` (access) and
/// `'tb:<g>/r'` (refresh); no `:x` inside a literal,
/// which pgbench would take for a variable; client `c`'s `i`-th transaction revokes grant
/// `base + c * per_client + i`, so a run revokes `base + 1 ..= base +
/// clients * per_client`, each grant once.
pub fn script() -> String {
    "-- pgbench -M prepared -D i=0 -D base=0 -D per_client=N -c C -t N\n\
     \\set i :i + 1\n\
     \\set g :base + :client_id * :per_client + :i\n\
     WITH t AS (SELECT grant_id FROM tb_tokens\n\
     \x20          WHERE token_hash = sha256(convert_to('tb:' || :g || '/a', 'UTF8'))\n\
     \x20            AND revoked_at IS NULL),\n\
     g AS (UPDATE tb_grants SET revoked_at = now()\n\
     \x20     WHERE id = (SELECT grant_id FROM t) AND revoked_at IS NULL RETURNING id),\n\
     k AS (UPDATE tb_tokens SET revoked_at = now()\n\
     \x20     WHERE grant_id IN (SELECT id FROM g) AND revoked_at IS NULL)\n\
     INSERT INTO tb_audit (grant_id, revoked_at) SELECT id, now() FROM g;\n"
        .to_owned()
}

/// Creates the schema and adds grants (two tokens each) until `tb_grants`
/// holds `grants` rows; returns how many tokens it holds.
async fn grow(pool: &PgPool, grants: i64) -> Result<i64, Failure> {
    const CHUNK: i64 = 500_000;
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    loop {
        let present: i64 = sqlx::query_scalar("SELECT count(*) FROM tb_grants")
            .fetch_one(pool)
            .await?;
        if present >= grants {
            break;
        }
        let last = grants.min(present + CHUNK);
        sqlx::query(
            "WITH g AS (INSERT INTO tb_grants (id) SELECT generate_series($1 + 1, $2) RETURNING id) \
             INSERT INTO tb_tokens (token_hash, grant_id, kind) \
             SELECT sha256(convert_to('tb:' || g.id || k.tag, 'UTF8')), g.id, k.kind \
             FROM g, (VALUES ('/a', 'access'), ('/r', 'refresh')) AS k(tag, kind)",
        )
        .bind(present)
        .bind(last)
        .execute(pool)
        .await?;
    }
    Ok(sqlx::query_scalar("SELECT count(*) FROM tb_tokens")
        .fetch_one(pool)
        .await?)
}

impl Bench {
    /// Measures the textbook ceiling with its tokens table as large as
    /// Rescind's at this moment (and large enough for this run's grants).
    pub(crate) async fn textbook_ceiling(&mut self, name: &str) -> Result<f64, Failure> {
        let (clients, per_client) = (self.options.connections, self.sizes.pgbench_per_client);
        let count = i64::try_from(clients * per_client)?;
        let base = self.textbook_revoked;
        let tokens = self.token_count().await?;
        progress(&format!("textbook ceiling: {name}"));
        let size = grow(&self.pool, (tokens / 2).max(base + count)).await?;
        seed::settle(&self.pool).await?;
        let tps = self.pgbench(
            format!("textbook ceiling, {name} ({size} tokens, tps)"),
            ("textbook.sql", &script()),
            &[
                ("base", base.to_string()),
                ("per_client", per_client.to_string()),
            ],
        )?;
        let (revoked, audited): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM tb_grants WHERE id > $1 AND id <= $2 AND revoked_at IS NOT NULL), \
                    (SELECT count(*) FROM tb_tokens WHERE grant_id > $1 AND grant_id <= $2 AND revoked_at IS NOT NULL) \
                    + (SELECT count(*) FROM tb_audit WHERE grant_id > $1 AND grant_id <= $2)",
        )
        .bind(base)
        .bind(base + count)
        .fetch_one(&self.pool)
        .await?;
        if revoked != count || audited != 3 * count {
            return Err(format!(
                "textbook pgbench revoked {revoked} grants ({audited} tokens and audit rows), expected {count}"
            )
            .into());
        }
        self.textbook_revoked = base + count;
        Ok(tps)
    }
}
