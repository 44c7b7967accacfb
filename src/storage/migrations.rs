//! Migrations, embedded in the binary so an image needs no files beside it.
//!
//! Built by hand rather than with `sqlx::migrate!`, which would compile the
//! whole of sqlx a second time for the host (a minute on the 2-core machines).
//! Version numbers are the same for both backends.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Readiness;

/// The newest schema version this binary knows.
pub const LATEST_VERSION: i64 = 8;

const POSTGRES: &[(i64, &str, &str)] = &[
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
];

const SQLITE: &[(i64, &str, &str)] = &[
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
];

fn migrator(sources: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = sources
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

pub fn postgres() -> Migrator {
    migrator(POSTGRES)
}

pub fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// Compares the applied schema version with the one this binary expects.
pub fn readiness(applied: Option<i64>) -> Readiness {
    if applied == Some(LATEST_VERSION) {
        Readiness::Ready
    } else {
        Readiness::MigrationsPending {
            applied,
            expected: LATEST_VERSION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_end_at_the_latest_version() {
        for sources in [POSTGRES, SQLITE] {
            assert_eq!(sources.last().map(|m| m.0), Some(LATEST_VERSION));
        }
        let versions = |s: &[(i64, &str, &str)]| s.iter().map(|m| m.0).collect::<Vec<_>>();
        assert_eq!(versions(POSTGRES), versions(SQLITE));
    }
}
