//! What the database's health looks like to the rest of the server: the
//! readiness probe's answer and the connection pool's use.

/// The result of a readiness probe (`/health/ready`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Reachable, but the schema is older than this binary needs.
    MigrationsPending {
        applied: Option<i64>,
        expected: i64,
    },
    /// Reachable, but a newer release applied a contract step (`contracted`)
    /// that this binary, which knows steps up to `supported`, cannot run on.
    SchemaIncompatible {
        applied: Option<i64>,
        contracted: i64,
        supported: i64,
    },
}

/// How many connections a pool holds, and how many of them are idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub size: u32,
    pub idle: u32,
    /// What the batches of PostgreSQL's group commit and grouped reads ran
    /// so far; `None` where requests are not batched (SQLite).
    pub batching: Option<Batching>,
}

/// Batch statements run for each kind of request batched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batching {
    pub revocations: BatchCounts,
    pub introspection_lookups: BatchCounts,
}

/// Statements run for one kind of batch, and the requests they carried:
/// their ratio is the mean batch size, which says whether
/// `database.batch_workers` lets batches grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub statements: u64,
    pub requests: u64,
}
