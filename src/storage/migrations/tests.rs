use super::pins::{PINS, statements_of};
use super::*;

mod lock_rules;

fn versions(sources: &[Source]) -> Vec<i64> {
    sources.iter().map(|m| m.0).collect()
}

fn contract_flags(sources: &[Source]) -> Vec<bool> {
    sources.iter().map(|m| is_contract(m.1)).collect()
}

#[test]
fn both_backends_end_at_the_latest_version_with_the_same_kinds_of_step() {
    for sources in [POSTGRES, SQLITE] {
        assert_eq!(sources.last().map(|m| m.0), Some(LATEST_VERSION));
    }
    assert_eq!(versions(POSTGRES), versions(SQLITE));
    assert_eq!(contract_flags(POSTGRES), contract_flags(SQLITE));
}

/// A pin is for a step whose comments changed after release: its
/// statements are still the released ones, its whole text is not (or the pin
/// is useless), it names a step of its dialect, and the migrator hands sqlx
/// the pinned value.
#[test]
fn pins_cover_reworded_comments_only_and_reach_the_migrator() {
    use sha2::{Digest as _, Sha384};
    for pin in PINS {
        let (dialect, version) = (pin.dialect, pin.version);
        let Some(&(_, _, sql)) = dialect.sources().iter().find(|m| m.0 == version) else {
            panic!("{dialect:?} has no step {version}");
        };
        assert_eq!(
            Sha384::digest(statements_of(sql).as_bytes()).as_slice(),
            pin.statements.as_slice(),
            "{dialect:?} step {version}: a statement changed since release; \
             write a new step instead"
        );
        assert_ne!(
            Sha384::digest(sql.as_bytes()).as_slice(),
            pin.released.as_slice(),
            "{dialect:?} step {version} is unchanged: drop its pin"
        );
        let migrator = dialect.migrator(LATEST_VERSION);
        let embedded = migrator
            .iter()
            .find(|m| m.version == version)
            .map(|m| m.checksum.as_ref());
        assert_eq!(embedded, Some(pin.released.as_slice()));
    }
}

/// The file name is the declaration an operator sees: `NNNN_contract_…`
/// exactly for the steps this binary treats as contract steps, and every
/// file is embedded.
#[test]
fn contract_steps_are_named_so_in_their_files() {
    for (folder, sources) in [("postgres", POSTGRES), ("sqlite", SQLITE)] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder);
        let mut files: Vec<(i64, bool)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter_map(|name| {
                let (version, rest) = name.strip_suffix(".sql")?.split_once('_')?;
                Some((version.parse().ok()?, is_contract(rest)))
            })
            .collect();
        files.sort_unstable();
        let embedded: Vec<(i64, bool)> = sources.iter().map(|m| (m.0, is_contract(m.1))).collect();
        assert_eq!(files, embedded, "migrations/{folder}");
    }
}

#[test]
fn no_transaction_follows_the_marker_sqlx_reads() {
    assert!(outside_transaction(
        "-- no-transaction\nCREATE INDEX CONCURRENTLY …"
    ));
    assert!(!outside_transaction(
        "CREATE TABLE t (x INT);\n-- no-transaction"
    ));
    let outside = |sources: &[Source]| -> Vec<i64> {
        sources
            .iter()
            .filter(|&&(_, _, sql)| outside_transaction(sql))
            .map(|&(version, _, _)| version)
            .collect()
    };
    assert_eq!(
        outside(POSTGRES),
        [14, 15, 16],
        "the index builds before partitioning, each alone"
    );
    assert_eq!(outside(SQLITE), [0_i64; 0]);
}

fn applied(steps: &[(i64, &str)]) -> Vec<Applied> {
    steps
        .iter()
        .map(|&(version, description)| Applied {
            version,
            description: description.to_owned(),
        })
        .collect()
}

/// A release with steps 1-3, 4 a contract step, 5 a contract step.
const RELEASE: &[Source] = &[
    (1, "initial", ""),
    (2, "add column", ""),
    (3, "add index", ""),
    (4, "contract drop old column", ""),
    (5, "contract drop old table", ""),
];

#[test]
fn a_binary_needs_its_expand_steps_and_runs_on_newer_expand_steps() {
    let mine = &RELEASE[..3];
    let current = applied(&[(1, "initial"), (2, "add column"), (3, "add index")]);
    assert_eq!(compatibility_with(mine, &current), Readiness::Ready);
    let older = &current[..2];
    assert_eq!(
        compatibility_with(mine, older),
        Readiness::MigrationsPending {
            applied: Some(2),
            expected: 3
        }
    );
    assert_eq!(
        compatibility_with(mine, &[]),
        Readiness::MigrationsPending {
            applied: None,
            expected: 3
        }
    );
    let mut newer = current.clone();
    newer.extend(applied(&[(4, "add a table"), (5, "add another column")]));
    assert_eq!(compatibility_with(mine, &newer), Readiness::Ready);
}

#[test]
fn a_newer_release_s_contract_step_makes_an_older_binary_incompatible() {
    let mine = &RELEASE[..3];
    let contracted = applied(&[
        (1, "initial"),
        (2, "add column"),
        (3, "add index"),
        (4, "add table"),
        (5, "contract drop old column"),
        (6, "add another"),
    ]);
    assert_eq!(
        compatibility_with(mine, &contracted),
        Readiness::SchemaIncompatible {
            applied: Some(6),
            contracted: 5,
            supported: 3
        }
    );
}

#[test]
fn a_binary_is_ready_before_its_own_contract_steps_and_after_them() {
    let before = applied(&[(1, "initial"), (2, "add column"), (3, "add index")]);
    assert_eq!(needed(RELEASE), 3);
    assert_eq!(compatibility_with(RELEASE, &before), Readiness::Ready);
    let after = applied(&[
        (1, "initial"),
        (2, "add column"),
        (3, "add index"),
        (4, "contract drop old column"),
    ]);
    assert_eq!(compatibility_with(RELEASE, &after), Readiness::Ready);
}

#[test]
fn migrating_holds_contract_steps_back_unless_forced() {
    let older = applied(&[(1, "initial")]);
    assert_eq!(
        plan(RELEASE, &older, ContractSteps::HoldBack),
        Plan {
            through: 3,
            apply: vec![2, 3],
            held_back: vec![4, 5],
        }
    );
    let forced = plan(RELEASE, &older, ContractSteps::Apply);
    assert_eq!(forced.apply, vec![2, 3, 4, 5]);
    assert!(forced.held_back.is_empty());
    assert!(forced.through >= 5);
    // Steps a newer release applied are neither applied again nor missed.
    let newer = applied(&[
        (1, "initial"),
        (2, "add column"),
        (3, "add index"),
        (4, "contract drop old column"),
        (5, "contract drop old table"),
        (6, "add table"),
    ]);
    let nothing = plan(RELEASE, &newer, ContractSteps::HoldBack);
    assert!(nothing.apply.is_empty() && nothing.held_back.is_empty());
}

#[test]
fn a_new_database_gets_the_contract_steps_too() {
    let fresh = plan(RELEASE, &[], ContractSteps::HoldBack);
    assert_eq!(fresh.apply, vec![1, 2, 3, 4, 5]);
    assert!(fresh.held_back.is_empty());
    assert!(fresh.through >= 5);
}

#[test]
fn a_contract_step_is_told_by_the_first_word_of_its_description() {
    for contract in [
        "contract drop x",
        "Contract drop x",
        "contract_drop_x",
        "contract",
    ] {
        assert!(is_contract(contract), "{contract}");
    }
    for expand in ["contracts table", "add contract column", "initial", ""] {
        assert!(!is_contract(expand), "{expand}");
    }
}

#[test]
fn this_binary_needs_its_latest_expand_step() {
    assert_eq!(
        needed_version(),
        18,
        "steps 19 and 20 are contract steps: not needed"
    );
    assert_eq!(
        compatibility(&[]),
        Readiness::MigrationsPending {
            applied: None,
            expected: 18,
        }
    );
}

/// Two releases of a schema with real SQL, the second ending in a contract
/// step.
const REAL_RELEASE: &[Source] = &[
    (1, "initial", "CREATE TABLE a (x INTEGER, old TEXT);"),
    (2, "add column", "ALTER TABLE a ADD COLUMN y INTEGER;"),
    (
        3,
        "contract drop old column",
        "ALTER TABLE a DROP COLUMN old;",
    ),
];

async fn applied_in(pool: &sqlx::SqlitePool) -> Vec<Applied> {
    let bookkept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = '_sqlx_migrations'")
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    if bookkept == 0 {
        return Vec::new();
    }
    let rows: Vec<(i64, String)> = sqlx::query_as(APPLIED)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rows.into_iter().map(Applied::from_row).collect()
}

async fn columns(pool: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM pragma_table_info('a') ORDER BY cid")
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn run(pool: &sqlx::SqlitePool, sources: &'static [Source], contract: ContractSteps) -> Plan {
    let plan = plan(sources, &applied_in(pool).await, contract);
    migrator(sources, plan.through)
        .run(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    plan
}

#[tokio::test]
async fn contract_steps_wait_for_force_and_older_binaries_survive_them() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let older: &'static [Source] = &REAL_RELEASE[..2];

    // A database some release has migrated already (a new one would get
    // the contract step at once).
    let first = run(&pool, &REAL_RELEASE[..1], ContractSteps::HoldBack).await;
    assert_eq!(first.apply, vec![1]);
    let held = run(&pool, REAL_RELEASE, ContractSteps::HoldBack).await;
    assert_eq!((held.apply, held.held_back), (vec![2], vec![3]));
    assert_eq!(columns(&pool).await, ["x", "old", "y"]);
    let applied = applied_in(&pool).await;
    assert_eq!(compatibility_with(REAL_RELEASE, &applied), Readiness::Ready);
    assert_eq!(compatibility_with(older, &applied), Readiness::Ready);

    let forced = run(&pool, REAL_RELEASE, ContractSteps::Apply).await;
    assert_eq!((forced.apply, forced.held_back), (vec![3], vec![]));
    assert_eq!(columns(&pool).await, ["x", "y"]);

    // The older binary migrating at start: no error for the step it does
    // not know, and it reports the schema as one it cannot serve.
    let rollback = run(&pool, older, ContractSteps::HoldBack).await;
    assert!(rollback.apply.is_empty());
    assert_eq!(
        compatibility_with(older, &applied_in(&pool).await),
        Readiness::SchemaIncompatible {
            applied: Some(3),
            contracted: 3,
            supported: 2
        }
    );
    pool.close().await;
}
