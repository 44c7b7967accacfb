//! Putting data in the benchmark's database: clients and live grants through
//! the `rescind` CLI (as an operator would), filler rows and pgbench's own
//! grants through SQL (the CLI would take minutes for ten million rows).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Runs the `rescind` binary with the benchmark's environment.
pub struct Rescind<'a> {
    pub binary: &'a Path,
    pub database_url: &'a str,
    pub data_dir: &'a Path,
}

impl Rescind<'_> {
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", self.database_url)
            .env("RESCIND_DATA_DIR", self.data_dir);
        command
    }

    /// Runs a CLI command and returns its standard output.
    pub fn run(&self, args: &[&str]) -> Result<String, Failure> {
        let output = self
            .command()
            .args(args)
            .stderr(Stdio::inherit())
            .output()?;
        if !output.status.success() {
            return Err(format!("rescind {} failed: {}", args.join(" "), output.status).into());
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// Creates a client with `client create`'s `flags` (`--public`,
    /// `--resource-server`...); returns its secret (confidential) or `None`.
    pub fn create_client(&self, id: &str, flags: &[&str]) -> Result<Option<String>, Failure> {
        let mut args = vec!["client", "create", "--id", id];
        args.extend_from_slice(flags);
        let created: serde_json::Value = serde_json::from_str(&self.run(&args)?)?;
        Ok(created["client_secret"].as_str().map(str::to_owned))
    }

    /// Mints `count` grants for `client`; returns them and the time it took.
    pub fn issue(&self, client: &str, count: usize) -> Result<(Vec<Minted>, Duration), Failure> {
        let started = Instant::now();
        let count = count.to_string();
        let output = self.run(&[
            "token",
            "issue",
            "--client",
            client,
            "--subject",
            "bench",
            "--count",
            &count,
        ])?;
        let took = started.elapsed();
        let minted = output
            .lines()
            .map(|line| {
                let grant: serde_json::Value = serde_json::from_str(line)?;
                let field = |name: &str| {
                    grant[name]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or(format!("no {name}"))
                };
                Ok(Minted {
                    grant_id: field("grant_id")?.parse()?,
                    access_token: field("access_token")?,
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        Ok((minted, took))
    }
}

/// One minted grant, as `token issue` printed it.
pub struct Minted {
    pub grant_id: Uuid,
    pub access_token: String,
}

/// Copies client `template` (and so its secret hash) to `ids`: distinct
/// clients sharing one secret, without paying argon2 once per client.
pub async fn clone_client(pool: &PgPool, template: &str, ids: &[String]) -> Result<(), Failure> {
    sqlx::query(
        "INSERT INTO clients (id, kind, secret_hash, name, allowed_origins, disabled, created_at, updated_at) \
         SELECT n.id, c.kind, c.secret_hash, c.name, c.allowed_origins, c.disabled, c.created_at, c.updated_at \
         FROM clients c, unnest($2::text[]) AS n(id) WHERE c.id = $1",
    )
    .bind(template)
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Hands grant `i` to `owners[i % owners.len()]`.
pub async fn spread_grants(
    pool: &PgPool,
    grants: &[Uuid],
    owners: &[String],
) -> Result<(), Failure> {
    let clients: Vec<&str> = (0..grants.len())
        .map(|i| owners[i % owners.len()].as_str())
        .collect();
    sqlx::query(
        "UPDATE grants g SET client_id = m.client FROM unnest($1::uuid[], $2::text[]) AS m(id, client) \
         WHERE g.id = m.id",
    )
    .bind(grants)
    .bind(&clients)
    .execute(pool)
    .await?;
    Ok(())
}

/// Adds filler grants (two tokens each, owned by `owner`) until the tokens
/// table holds at least `total` rows; then analyses and checkpoints so the
/// measurement that follows does not pay for the load.
pub async fn fill_tokens(pool: &PgPool, owner: &str, total: i64) -> Result<(), Failure> {
    const CHUNK: i64 = 500_000;
    loop {
        let present: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens")
            .fetch_one(pool)
            .await?;
        if present >= total {
            break;
        }
        let grants = ((total - present + 1) / 2).min(CHUNK);
        sqlx::query(
            "WITH g AS (INSERT INTO grants (id, client_id, subject, created_at) \
               SELECT gen_random_uuid(), $1, 'filler', now() FROM generate_series(1, $2) RETURNING id) \
             INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) \
             SELECT sha256(uuid_send(g.id) || k.tag), g.id, k.kind, now() + interval '30 days', now() \
             FROM g, (VALUES ('\\x00'::bytea, 'access'), ('\\x01'::bytea, 'refresh')) AS k(tag, kind)",
        )
        .bind(owner)
        .bind(grants)
        .execute(pool)
        .await?;
    }
    settle(pool).await
}

/// Fresh statistics and a checkpoint before a measurement.
pub async fn settle(pool: &PgPool) -> Result<(), Failure> {
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// pgbench's own live grants, owned by `owner`: client `c`'s `i`-th
/// transaction revokes the token whose hash is `sha256('<tag>:' || c * 1000000 + i)`.
pub async fn pgbench_grants(
    pool: &PgPool,
    tag: &str,
    owner: &str,
    clients: usize,
    per_client: usize,
) -> Result<(), Failure> {
    let (clients, per_client) = (i64::try_from(clients)?, i64::try_from(per_client)?);
    sqlx::query(
        "WITH n AS (SELECT c * 1000000 + i AS n FROM generate_series(0, $3 - 1) c, generate_series(1, $4) i), \
         g AS (INSERT INTO grants (id, client_id, subject, created_at) \
               SELECT md5($1 || ':' || n)::uuid, $2, 'pgbench', now() FROM n RETURNING id) \
         INSERT INTO tokens (token_hash, grant_id, kind, expires_at, created_at) \
         SELECT sha256(convert_to($1 || k.tag || n, 'UTF8')), md5($1 || ':' || n)::uuid, k.kind, \
                now() + interval '1 hour', now() \
         FROM n, (VALUES (':', 'access'), (':r:', 'refresh')) AS k(tag, kind)",
    )
    .bind(tag)
    .bind(owner)
    .bind(clients)
    .bind(per_client)
    .execute(pool)
    .await?;
    Ok(())
}
