//! One real database per test. PostgreSQL: a database cloned from a migrated
//! template in the cluster that `tests/run` started (crates.io's
//! `crates_io_test_db` does the same). SQLite: a fresh file in a temp dir,
//! WAL on as in production.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use rescind::storage::postgres::PostgresStore;
use rescind::storage::{Dialect, Maintenance as _, PoolSettings};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tempfile::TempDir;
use tokio::sync::OnceCell;

/// The variable naming the test cluster's admin URL, set by `tests/run`.
pub const TEST_DATABASE_ENV: &str = "TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database of one test, with a raw connection for assertions.
pub struct TestDatabase {
    url: String,
    dir: TempDir,
    raw: Raw,
}

enum Raw {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// One revocation record, read back for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub presented_kind: String,
    pub presenter_kind: String,
    pub presenter_client_id: Option<String>,
    pub foreign_client: bool,
    pub reason: String,
    pub request_id: String,
    /// `None` for an operator's bulk revocation, which presents no token.
    pub presented_token_hash: Option<Vec<u8>>,
}

const AUDIT_QUERY: &str = "SELECT COALESCE(presented_kind, ''), presenter_kind, presenter_client_id, foreign_client, reason, \
     request_id, presented_token_hash FROM revocations ORDER BY id";
type AuditRow = (
    String,
    String,
    Option<String>,
    bool,
    String,
    String,
    Option<Vec<u8>>,
);

impl TestDatabase {
    /// A database with the current schema.
    pub async fn create(backend: Backend) -> Self {
        Self::new(backend, true).await
    }

    /// A database without any schema (no migrations applied).
    pub async fn create_empty(backend: Backend) -> Self {
        Self::new(backend, false).await
    }

    /// A database with the current schema in another cluster (outage tests).
    /// The server migrates it at start.
    pub async fn create_in(admin: &str) -> Self {
        Self::postgres(admin, "template0").await
    }

    async fn postgres(admin: &str, template: &str) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        create_database(admin, &name, template).await;
        let url = database_url(admin, &name);
        let raw = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
        Self {
            url,
            dir,
            raw: Raw::Postgres(raw),
        }
    }

    async fn new(backend: Backend, migrated: bool) -> Self {
        match backend {
            Backend::Postgres => {
                let admin = admin_url();
                let template = if migrated {
                    template(&admin).await.as_str()
                } else {
                    "template0"
                };
                Self::postgres(&admin, template).await
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
                let file = dir.path().join("rescind.db");
                let url = format!("sqlite://{}", file.display());
                let options = SqliteConnectOptions::from_str(&url)
                    .unwrap_or_else(|e| panic!("sqlite url: {e}"))
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(10));
                let raw = SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_lazy_with(options);
                Self {
                    url,
                    dir,
                    raw: Raw::Sqlite(raw),
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A private directory for the test's data (certificates, SQLite file).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `SELECT count(*) …` and returns the number.
    pub async fn count(&self, sql: &str) -> i64 {
        let result = match &self.raw {
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs one statement behind the server's back (to set up a corner case);
    /// returns the rows it changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        let result = match &self.raw {
            Raw::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Raw::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Stops client changes from reaching other instances' event followers
    /// (drops the trigger that marks them, and with it PostgreSQL's NOTIFY),
    /// so a test can prove a guarantee that must hold without that message.
    pub async fn silence_client_change_marks(&self) {
        let sql = match self.raw {
            Raw::Postgres(_) => "DROP TRIGGER clients_mark_change ON clients",
            Raw::Sqlite(_) => "DROP TRIGGER clients_mark_change",
        };
        self.execute(sql).await;
    }

    /// Applies the repository's migration files up to `version` (sqlx's own
    /// file migrator, with the released checksums the embedded migrations
    /// carry), as an older release would have left the schema.
    pub async fn migrate_up_to(&self, version: i64) {
        self.migrate_as_release(version, &[]).await;
    }

    /// Plays another release's `rescind migrate`: the repository's files up
    /// to `version`, plus `future` files (`(file name, SQL)`, in sqlx's
    /// `NNNN_description.sql` form) that a newer release would ship.
    pub async fn migrate_as_release(&self, version: i64, future: &[(String, &str)]) {
        let (folder, dialect) = match self.raw {
            Raw::Postgres(_) => ("postgres", Dialect::Postgres),
            Raw::Sqlite(_) => ("sqlite", Dialect::Sqlite),
        };
        let release = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder);
        for entry in std::fs::read_dir(&source).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let number: i64 = name
                .get(..4)
                .and_then(|n| n.parse().ok())
                .unwrap_or(i64::MAX);
            if number <= version {
                std::fs::copy(&path, release.path().join(&name)).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        for (name, sql) in future {
            std::fs::write(release.path().join(name), sql).unwrap_or_else(|e| panic!("{e}"));
        }
        let mut migrator = sqlx::migrate::Migrator::new(release.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // As released: some steps' comments were reworded since.
        dialect.pin_released_checksums(&mut migrator);
        let applied = match &self.raw {
            Raw::Postgres(pool) => migrator.run(pool).await,
            Raw::Sqlite(pool) => migrator.run(pool).await,
        };
        applied.unwrap_or_else(|e| panic!("migrations up to {version} and {future:?}: {e}"));
    }

    /// Rows of five text columns (for assertions on whole records).
    pub async fn rows(&self, sql: &str) -> Vec<(String, String, String, String, String)> {
        let rows = match &self.raw {
            Raw::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Raw::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The values of a one-column text query, in its order.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        let rows = match &self.raw {
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every revocation record, oldest first.
    pub async fn audit_records(&self) -> Vec<AuditRecord> {
        let rows: Result<Vec<AuditRow>, _> = match &self.raw {
            Raw::Postgres(pool) => sqlx::query_as(AUDIT_QUERY).fetch_all(pool).await,
            Raw::Sqlite(pool) => sqlx::query_as(AUDIT_QUERY).fetch_all(pool).await,
        };
        rows.unwrap_or_else(|e| panic!("audit records: {e}"))
            .into_iter()
            .map(|row| AuditRecord {
                presented_kind: row.0,
                presenter_kind: row.1,
                presenter_client_id: row.2,
                foreign_client: row.3,
                reason: row.4,
                request_id: row.5,
                presented_token_hash: row.6,
            })
            .collect()
    }

    /// Tokens not yet revoked: those of grants not yet revoked (a token's
    /// state is its grant's).
    pub async fn live_tokens(&self) -> i64 {
        self.count(
            "SELECT count(*) FROM tokens t JOIN grants g ON g.id = t.grant_id \
             WHERE g.revoked_at IS NULL",
        )
        .await
    }

    /// Grants not yet revoked.
    pub async fn live_grants(&self) -> i64 {
        self.count("SELECT count(*) FROM grants WHERE revoked_at IS NULL")
            .await
    }

    /// A PostgreSQL connection outside the pool, to hold locks (PostgreSQL only).
    pub async fn postgres_connection(&self) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.url).unwrap_or_else(|e| panic!("{e}"));
        PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("postgres connect: {e}"))
    }

    /// A SQLite connection outside the pool, to hold locks (SQLite only).
    pub async fn sqlite_connection(&self) -> sqlx::SqliteConnection {
        let options = SqliteConnectOptions::from_str(&self.url).unwrap_or_else(|e| panic!("{e}"));
        sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("sqlite connect: {e}"))
    }
}

/// The admin URL of the test cluster. Without it, the run fails with
/// instructions: PostgreSQL tests never skip silently.
pub fn admin_url() -> String {
    std::env::var(TEST_DATABASE_ENV).unwrap_or_else(|_| {
        panic!(
            "{TEST_DATABASE_ENV} is not set. Run the suite with `./tests/run`, which starts a throwaway \
             PostgreSQL cluster, or point {TEST_DATABASE_ENV} at a cluster you own \
             (postgres://USER@HOST:PORT/postgres, with CREATEDB rights)."
        )
    })
}

/// `admin` with its database name replaced by `name`.
pub fn database_url(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{name}")
}

async fn create_database(admin: &str, name: &str, template: &str) {
    let options =
        PgConnectOptions::from_str(admin).unwrap_or_else(|e| panic!("{TEST_DATABASE_ENV}: {e}"));
    let mut connection = PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test cluster at {TEST_DATABASE_ENV}: {e}"));
    let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
    for attempt in 1..=20 {
        match sqlx::query(&sql).execute(&mut connection).await {
            Ok(_) => return,
            // object_in_use: another session is copying or leaving the template.
            Err(sqlx::Error::Database(db))
                if db.code().as_deref() == Some("55006") && attempt < 20 =>
            {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(error) => panic!("{sql}: {error}"),
        }
    }
}

/// The migrated template, made once per test process.
async fn template(admin: &str) -> &'static String {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("rescind_template_{}", std::process::id());
            create_database(admin, &name, "template0").await;
            let settings = PoolSettings {
                max_connections: 1,
                batch_workers: 1,
                timeout: Duration::from_secs(10),
            };
            let store = PostgresStore::connect(&database_url(admin, &name), &settings)
                .unwrap_or_else(|e| panic!("template: {e}"));
            store
                .migrate(rescind::storage::ContractSteps::HoldBack)
                .await
                .unwrap_or_else(|e| panic!("migrating the template: {e}"));
            store.close().await;
            name
        })
        .await
}
