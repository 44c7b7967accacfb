//! What a backend supplies to the SQL both backends share.
//!
//! Each concern's trait ([`super::ClientStore`], [`super::GrantStore`], ...)
//! is implemented once, in the concern's file, for every [`Backend`]: its
//! SQL, its bindings and the conversion of its rows are written once, and
//! the compiler checks them against each driver where `PostgresStore` and
//! `SqliteStore` become a [`super::Store`]. What differs between the two
//! dialects is this trait, implemented as plain code in `postgres.rs` and
//! `sqlite.rs`.
//!
//! What the shared code needs of the driver's own types is said once, on
//! [`Backend::Db`]. Rust does not carry a bound on any other type (`i64`
//! binds on this driver; `&mut` its connection runs queries) from a trait
//! to where the trait is used, so each generic impl lists those it needs,
//! kept short by [`Param`] and [`Column`].

use std::future::Future;

use futures_util::future::BoxFuture;
use sqlx::database::HasStatementCache;
use sqlx::migrate::Migrate;
use sqlx::{Database, Decode, Encode, IntoArguments, Pool, Transaction, Type};

use chrono::{DateTime, Utc};

use super::introspection::{IntrospectRow, Lookup};
use super::migrations::{Applied, Dialect};
use super::{ChangeFeed, StoreError};
use crate::domain::audit::{PurgeCounts, PurgePlan};
use crate::domain::event::EventPosition;
use crate::domain::health::Batching;
use crate::domain::revocation::{RevocationOutcome, RevocationRequest};

/// The sqlx driver of backend `B`.
pub type Db<B> = <B as Backend>::Db;

/// A database connection of backend `B`.
pub type Connection<B> = <Db<B> as Database>::Connection;

/// A result row of backend `B`.
pub type DbRow<B> = <Db<B> as Database>::Row;

/// One SQL dialect: a pool of its connections, and whatever the shared SQL
/// cannot say the same way on both databases.
pub trait Backend: Send + Sync + 'static {
    /// The sqlx driver, with what the shared code needs of every driver
    /// (these bounds, on the driver's own types, hold wherever `Backend`
    /// does).
    type Db: HasStatementCache
        + for<'q> Database<
            Arguments<'q>: IntoArguments<'q, Self::Db>,
            QueryResult: RowsAffected,
            Connection: Migrate,
        >;

    /// Appended to a `SELECT` whose rows must stay locked until commit:
    /// `FOR UPDATE` on PostgreSQL, nothing on SQLite, whose `BEGIN IMMEDIATE`
    /// already holds the only write lock.
    const ROW_LOCK: &'static str;
    /// Like [`Self::ROW_LOCK`], but rows another transaction holds are passed
    /// by (`FOR UPDATE SKIP LOCKED`), so concurrent batch claims never queue
    /// behind each other.
    const SKIP_LOCKED: &'static str;
    /// The outbox read, [`super::events::events_after_select`] with the
    /// backend's notion of a settled event.
    const EVENTS_AFTER: &'static str;
    /// The backend's migrations.
    const DIALECT: Dialect;

    fn pool(&self) -> &Pool<Self::Db>;

    /// A pool of its own for the migrations, when they need other session
    /// settings than requests (`None`: they use [`Self::pool`]). On
    /// PostgreSQL every pooled connection stops a statement at
    /// `database.timeout`, a bound for requests; a migration step may take
    /// longer (an index built `CONCURRENTLY`, a check validated, a table
    /// read once), and a step cut short by it would fail the same way on
    /// every retry. Its lock waits stay bounded by the step's own
    /// `lock_timeout`.
    fn migration_pool(&self) -> Option<Pool<Self::Db>>;

    /// Opens a transaction that will write, with the locking it needs to
    /// never fail half way for a lock it could not upgrade.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, StoreError>> + Send;

    /// Where a new reader of the outbox starts: just past every settled
    /// event, as seen by `connection` (inside a transaction, by it).
    fn head_position(
        connection: &mut Connection<Self>,
    ) -> impl Future<Output = Result<EventPosition, StoreError>> + Send;

    /// The migrations the database has applied; none when it has never
    /// been migrated.
    fn applied_migrations(&self) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send;

    /// [`Self::applied_migrations`], read on `connection` (the one that
    /// holds the migration lock).
    fn applied_migrations_on(
        connection: &mut Connection<Self>,
    ) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send;

    /// Takes the migration lock on `connection`: the one sqlx's migrator
    /// takes, so that this release and older ones migrate one at a time.
    /// A waiter holds no snapshot between its tries: one blocked in
    /// PostgreSQL's `pg_advisory_lock` would, and the holder's
    /// `CREATE INDEX CONCURRENTLY` waits for every older snapshot to end,
    /// so the two would deadlock.
    fn lock_migrations(
        connection: &mut Connection<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Releases [`Self::lock_migrations`]'s lock.
    fn unlock_migrations(
        connection: &mut Connection<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Runs `work` while holding the retention lock, so one instance at a
    /// time purges; `None` when another instance holds it.
    fn with_retention_lock<T: Send>(
        &self,
        work: impl for<'c> FnOnce(&'c mut Connection<Self>) -> BoxFuture<'c, Result<T, StoreError>>
        + Send,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send;

    /// Keeps the month partitions of the audit records and the outbox,
    /// where the backend has them (PostgreSQL; SQLite has none): creates
    /// them through `plan.partitions_through`, drops those that end by
    /// `plan.audit_before`, deletes the old rows of its partitions that are
    /// not months, and records all of it (or why a change failed) in
    /// `counts`. Returns the instant before which the shared code deletes
    /// audit records and events row by row; `None` when the backend did.
    fn keep_audit_partitions(
        connection: &mut Connection<Self>,
        plan: &PurgePlan,
        counts: &mut PurgeCounts,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// [`super::RevocationStore::revoke_by_token_hash`]: the hot path, which
    /// each dialect runs its own way.
    fn revoke(
        &self,
        request: &RevocationRequest<'_>,
    ) -> impl Future<Output = Result<RevocationOutcome, StoreError>> + Send;

    /// [`super::IntrospectionStore`]'s one read, [`super::introspection`]'s
    /// lookup, which each dialect runs its own way.
    fn introspection_row(
        &self,
        lookup: Lookup,
    ) -> impl Future<Output = Result<IntrospectRow, StoreError>> + Send;

    /// What the backend's request batches ran so far (metrics); `None`
    /// where it batches nothing.
    fn batching(&self) -> Option<Batching> {
        None
    }

    /// [`super::EventStore::notify_changes`].
    fn send_change_notice(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`super::EventStore::change_feed`].
    fn open_change_feed(
        &self,
    ) -> impl Future<Output = Result<Option<Box<dyn ChangeFeed>>, StoreError>> + Send;
}

/// How many rows a statement changed: each driver has it on its own result
/// type, and no sqlx trait names it.
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

/// An owned value the shared SQL binds as a parameter on `DB`.
pub trait Param<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> + Send {}

impl<DB: Database, T> Param<DB> for T where T: for<'q> Encode<'q, DB> + Type<DB> + Send {}

/// A value the shared SQL reads from a column on `DB`.
pub trait Column<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> + Send + Unpin {}

impl<DB: Database, T> Column<DB> for T where T: for<'r> Decode<'r, DB> + Type<DB> + Send + Unpin {}

/// Declares a row struct and its `sqlx::FromRow`, each field read from the
/// column of the same name: what `#[derive(sqlx::FromRow)]` generates.
/// sqlx's `derive` feature would build sqlx-core and both drivers a second
/// time, for the host (over four minutes of CPU on a clean build).
macro_rules! row_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($vis:vis $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($vis $field: $ty,)*
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
pub(super) use row_struct;
