//! Migrations, embedded in the binary so an image needs no files beside it.
//!
//! Built by hand rather than with `sqlx::migrate!`, which would compile the
//! whole of sqlx a second time for the host (a minute on the 2-core machines).
//! Version numbers are the same for both backends.
//!
//! Upgrades are expand/contract, so that two releases can serve one database
//! during a rolling upgrade and a rollback is possible:
//!
//! - An **expand** step (the default) leaves a schema the previous release's
//!   binary still runs on: new tables, nullable or defaulted columns, indexes,
//!   constraints that accept more.
//! - A **contract** step removes or narrows what an older binary uses. Its
//!   description, and so its file name and its row in `_sqlx_migrations`,
//!   starts with `contract` (`0012_contract_drop_legacy_column.sql`). The row
//!   is how a binary that does not know the step learns that the database has
//!   moved past it: [`compatibility`] reads it. A contract step runs only when
//!   asked for (`rescind migrate --force`), once no older binary is left, or
//!   on a new database (no step applied), where no older binary runs.
//!
//! A binary needs every expand step it knows ([`compatibility`]); it does not
//! need its own contract steps, which drop only what its code no longer
//! touches. So within a release, contract steps come after its expand steps.
//!
//! On PostgreSQL an index on an existing table is built `CONCURRENTLY`, which
//! cannot run in a transaction: such a file starts with `-- no-transaction`
//! (as for sqlx's own migrator) and holds that one statement, since
//! PostgreSQL runs several statements sent at once in one implicit
//! transaction. If the build fails half way it leaves an invalid index: drop
//! it (`DROP INDEX CONCURRENTLY name`) and migrate again. The test
//! `new_postgres_indexes_are_built_concurrently` holds every migration after
//! 7 to this (migration 4 built three indexes inside its transaction).
//!
//! Likewise a CHECK constraint added to an existing PostgreSQL table is
//! added `NOT VALID`: validating it scans the table under ACCESS EXCLUSIVE
//! (no reads, no writes) and, on a large table, outlasts the statement
//! timeout migrations run under. A constraint that only widens an older one
//! needs no validation (the rows passed the older one); any other is
//! validated in a step of its own (`VALIDATE CONSTRAINT`, which lets reads
//! and writes go on). The test `new_postgres_checks_skip_the_validation_scan`
//! holds every migration after 8 to this (migration 4 replaced a check
//! inside its transaction).

use std::borrow::Cow;
use std::collections::BTreeSet;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Readiness;

/// The newest schema version this binary knows.
pub const LATEST_VERSION: i64 = 20;

/// The start of a contract step's description (and file name, after the
/// version).
const CONTRACT: &str = "contract";

/// A step: version, description (`contract …` for a contract step), SQL.
type Source = (i64, &'static str, &'static str);

const POSTGRES: &[Source] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "credentials revision",
        include_str!("../../migrations/postgres/0002_credentials_revision.sql"),
    ),
    (
        3,
        "room for HOT updates",
        include_str!("../../migrations/postgres/0003_room_for_hot_updates.sql"),
    ),
    (
        4,
        "operations",
        include_str!("../../migrations/postgres/0004_operations.sql"),
    ),
    (
        5,
        "revoke tokens on grant revocation",
        include_str!("../../migrations/postgres/0005_revoke_tokens_on_grant_revocation.sql"),
    ),
    (
        6,
        "revocation events",
        include_str!("../../migrations/postgres/0006_revocation_events.sql"),
    ),
    (
        7,
        "event delivery",
        include_str!("../../migrations/postgres/0007_event_delivery.sql"),
    ),
    (
        8,
        "resource servers",
        include_str!("../../migrations/postgres/0008_resource_servers.sql"),
    ),
    (
        9,
        "operator presenter",
        include_str!("../../migrations/postgres/0009_operator_presenter.sql"),
    ),
    (
        10,
        "sessions and devices",
        include_str!("../../migrations/postgres/0010_sessions_and_devices.sql"),
    ),
    (
        11,
        "shared signals",
        include_str!("../../migrations/postgres/0011_shared_signals.sql"),
    ),
    (
        12,
        "shared signals push",
        include_str!("../../migrations/postgres/0012_shared_signals_push.sql"),
    ),
    (
        13,
        "revoke tokens once per statement",
        include_str!("../../migrations/postgres/0013_revoke_tokens_once_per_statement.sql"),
    ),
    (
        14,
        "revocation ids with their time",
        include_str!("../../migrations/postgres/0014_revocation_ids_with_their_time.sql"),
    ),
    (
        15,
        "event ids with their time",
        include_str!("../../migrations/postgres/0015_event_ids_with_their_time.sql"),
    ),
    (
        16,
        "revocations by grant",
        include_str!("../../migrations/postgres/0016_revocations_by_grant.sql"),
    ),
    (
        17,
        "validate presenter kinds",
        include_str!("../../migrations/postgres/0017_validate_presenter_kinds.sql"),
    ),
    (
        18,
        "audit and events by month",
        include_str!("../../migrations/postgres/0018_audit_and_events_by_month.sql"),
    ),
    (
        19,
        "contract drop token trigger",
        include_str!("../../migrations/postgres/0019_contract_drop_token_trigger.sql"),
    ),
    (
        20,
        "contract drop token revocation time",
        include_str!("../../migrations/postgres/0020_contract_drop_token_revocation_time.sql"),
    ),
];

const SQLITE: &[Source] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "credentials revision",
        include_str!("../../migrations/sqlite/0002_credentials_revision.sql"),
    ),
    (
        3,
        "room for HOT updates",
        include_str!("../../migrations/sqlite/0003_room_for_hot_updates.sql"),
    ),
    (
        4,
        "operations",
        include_str!("../../migrations/sqlite/0004_operations.sql"),
    ),
    (
        5,
        "revoke tokens on grant revocation",
        include_str!("../../migrations/sqlite/0005_revoke_tokens_on_grant_revocation.sql"),
    ),
    (
        6,
        "revocation events",
        include_str!("../../migrations/sqlite/0006_revocation_events.sql"),
    ),
    (
        7,
        "event delivery",
        include_str!("../../migrations/sqlite/0007_event_delivery.sql"),
    ),
    (
        8,
        "resource servers",
        include_str!("../../migrations/sqlite/0008_resource_servers.sql"),
    ),
    (
        9,
        "operator presenter",
        include_str!("../../migrations/sqlite/0009_operator_presenter.sql"),
    ),
    (
        10,
        "sessions and devices",
        include_str!("../../migrations/sqlite/0010_sessions_and_devices.sql"),
    ),
    (
        11,
        "shared signals",
        include_str!("../../migrations/sqlite/0011_shared_signals.sql"),
    ),
    (
        12,
        "shared signals push",
        include_str!("../../migrations/sqlite/0012_shared_signals_push.sql"),
    ),
    (
        13,
        "revoke tokens once per statement",
        include_str!("../../migrations/sqlite/0013_revoke_tokens_once_per_statement.sql"),
    ),
    (
        14,
        "revocation ids with their time",
        include_str!("../../migrations/sqlite/0014_revocation_ids_with_their_time.sql"),
    ),
    (
        15,
        "event ids with their time",
        include_str!("../../migrations/sqlite/0015_event_ids_with_their_time.sql"),
    ),
    (
        16,
        "revocations by grant",
        include_str!("../../migrations/sqlite/0016_revocations_by_grant.sql"),
    ),
    (
        17,
        "validate presenter kinds",
        include_str!("../../migrations/sqlite/0017_validate_presenter_kinds.sql"),
    ),
    (
        18,
        "audit and events by month",
        include_str!("../../migrations/sqlite/0018_audit_and_events_by_month.sql"),
    ),
    (
        19,
        "contract drop token trigger",
        include_str!("../../migrations/sqlite/0019_contract_drop_token_trigger.sql"),
    ),
    (
        20,
        "contract drop token revocation time",
        include_str!("../../migrations/sqlite/0020_contract_drop_token_revocation_time.sql"),
    ),
];

fn is_contract(description: &str) -> bool {
    description
        .split([' ', '_'])
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case(CONTRACT))
}

/// Whether a step's SQL must run outside a transaction (the marker sqlx's
/// own migrator reads).
fn outside_transaction(sql: &str) -> bool {
    sql.starts_with("-- no-transaction")
}

/// The two sets of migration files, versions in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    const fn sources(self) -> &'static [Source] {
        match self {
            Self::Postgres => POSTGRES,
            Self::Sqlite => SQLITE,
        }
    }

    /// A migrator over this dialect's steps up to `through`, with the
    /// checksums of the released texts ([`pins`]).
    #[must_use]
    pub fn migrator(self, through: i64) -> Migrator {
        let mut migrator = migrator(self.sources(), through);
        self.pin_released_checksums(&mut migrator);
        migrator
    }

    /// Gives the steps of `migrator` whose comments were reworded after
    /// release the checksum of their released text. Public for the test
    /// harness, which plays older releases with sqlx's file migrator over
    /// the repository's files.
    pub fn pin_released_checksums(self, migrator: &mut Migrator) {
        for migration in migrator.migrations.to_mut() {
            if let Some(released) = self.released_checksum(migration.version) {
                migration.checksum = Cow::Borrowed(released);
            }
        }
    }

    fn released_checksum(self, version: i64) -> Option<&'static [u8]> {
        pins::released_checksum(self, version)
    }

    /// Where a run stops: every pending step, or (holding contract steps
    /// back) those before the first pending contract step.
    #[must_use]
    pub fn plan(self, applied: &[Applied], contract: ContractSteps) -> Plan {
        plan(self.sources(), applied, contract)
    }
}

/// A migrator over `sources` up to `through`, which never fails on steps
/// the database knows and this binary does not (a newer release applied
/// them).
fn migrator(sources: &'static [Source], through: i64) -> Migrator {
    let migrations = sources
        .iter()
        .filter(|&&(version, _, _)| version <= through)
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                outside_transaction(sql),
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: true,
        ..Migrator::DEFAULT
    }
}

fn plan(sources: &[Source], applied: &[Applied], contract: ContractSteps) -> Plan {
    // A new database: no binary of any release runs on it yet, so nothing
    // needs the steps a contract step removes. A new install starts on the
    // final schema instead of warning about steps held back.
    let contract = if applied.is_empty() {
        ContractSteps::Apply
    } else {
        contract
    };
    let done: BTreeSet<i64> = applied.iter().map(|m| m.version).collect();
    let pending: Vec<(i64, bool)> = sources
        .iter()
        .filter(|(version, _, _)| !done.contains(version))
        .map(|&(version, description, _)| (version, is_contract(description)))
        .collect();
    let stop = match contract {
        ContractSteps::Apply => None,
        ContractSteps::HoldBack => pending
            .iter()
            .find(|&&(_, contract)| contract)
            .map(|&(version, _)| version),
    };
    let (apply, held_back) = pending
        .iter()
        .map(|&(version, _)| version)
        .partition(|&version| stop.is_none_or(|stop| version < stop));
    Plan {
        through: stop.map_or(i64::MAX, |stop| stop - 1),
        apply,
        held_back,
    }
}

/// One row of `_sqlx_migrations` that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub description: String,
}

impl Applied {
    /// From a row of [`APPLIED`].
    #[must_use]
    pub fn from_row((version, description): (i64, String)) -> Self {
        Self {
            version,
            description,
        }
    }
}

/// The bookkeeping read: applied steps, whoever applied them.
pub const APPLIED: &str =
    "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version";

/// Whether a migration run may apply contract steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractSteps {
    /// Apply expand steps only, stopping before the first pending contract
    /// step: safe while the previous release still runs (the default, and
    /// what `database.migrate_on_start` does). A database with no step
    /// applied yet gets every step: no older binary runs on it.
    HoldBack,
    /// Apply every pending step (`rescind migrate --force`): no binary of
    /// the previous release may be running.
    Apply,
}

/// What a run will do, decided under the migration lock from the steps
/// the database holds then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The newest version the run may apply.
    pub through: i64,
    pub apply: Vec<i64>,
    pub held_back: Vec<i64>,
}

impl Plan {
    /// The report of the finished run, given the steps applied afterwards.
    #[must_use]
    pub fn report(self, after: &[Applied]) -> MigrationReport {
        MigrationReport {
            applied: self.apply,
            held_back: self.held_back,
            schema_version: after.iter().map(|m| m.version).max(),
            compatibility: compatibility(after),
        }
    }
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Steps this run applied (or a concurrent run did meanwhile).
    pub applied: Vec<i64>,
    /// Pending steps left alone: the first pending contract step and all
    /// after it.
    pub held_back: Vec<i64>,
    /// The newest applied step in the database afterwards, whoever wrote it.
    pub schema_version: Option<i64>,
    /// Whether this binary can serve the database now.
    pub compatibility: Readiness,
}

/// The schema this binary needs: its newest expand step (its own contract
/// steps may still be held back).
#[must_use]
pub fn needed_version() -> i64 {
    needed(POSTGRES)
}

/// The newest expand step of `sources`: the schema a binary with them needs.
fn needed(sources: &[Source]) -> i64 {
    sources
        .iter()
        .filter(|(_, description, _)| !is_contract(description))
        .map(|&(version, _, _)| version)
        .max()
        .unwrap_or(0)
}

/// Whether this binary can serve the database whose applied steps are
/// `applied`: every expand step it knows is there, and no contract step it
/// does not know (one a newer release applied) is. Newer expand steps are
/// fine: they leave a schema this binary still runs on.
#[must_use]
pub fn compatibility(applied: &[Applied]) -> Readiness {
    compatibility_with(POSTGRES, applied)
}

fn compatibility_with(sources: &[Source], applied: &[Applied]) -> Readiness {
    let known: BTreeSet<i64> = sources.iter().map(|&(version, _, _)| version).collect();
    let newest = applied.iter().map(|m| m.version).max();
    let unknown_contract = applied
        .iter()
        .filter(|m| !known.contains(&m.version) && is_contract(&m.description))
        .map(|m| m.version)
        .max();
    if let Some(contracted) = unknown_contract {
        return Readiness::SchemaIncompatible {
            applied: newest,
            contracted,
            supported: known.last().copied().unwrap_or(0),
        };
    }
    let done: BTreeSet<i64> = applied.iter().map(|m| m.version).collect();
    let missing = sources
        .iter()
        .any(|&(version, description, _)| !is_contract(description) && !done.contains(&version));
    if missing {
        Readiness::MigrationsPending {
            applied: newest,
            expected: needed(sources),
        }
    } else {
        Readiness::Ready
    }
}

mod pins;
#[cfg(test)]
mod tests;
