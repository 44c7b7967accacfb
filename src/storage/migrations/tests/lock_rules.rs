//! The rules that keep PostgreSQL steps from locking busy tables for long:
//! indexes on existing tables built `CONCURRENTLY`, checks added `NOT VALID`,
//! alterations that give up waiting for their lock, and the presenter kinds the database accepts matching the code's.

use super::super::{POSTGRES, SQLITE, Source, outside_transaction};

/// The statements of `sql` without its `--` comments, lower-cased.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
        .to_ascii_lowercase();
    code.split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// What is wrong with a PostgreSQL step's index builds, if anything: an
/// index on a table the step does not create must be built `CONCURRENTLY`,
/// alone in a `-- no-transaction` file.
fn index_build_problem(sql: &str) -> Option<String> {
    let statements = statements(sql);
    let created = created_tables(&statements);
    for statement in &statements {
        let Some(rest) = statement
            .strip_prefix("create index ")
            .or_else(|| statement.strip_prefix("create unique index "))
        else {
            continue;
        };
        let table = rest
            .split_once(" on ")
            .and_then(|(_, after)| after.trim_start_matches("only ").split([' ', '(']).next())
            .unwrap_or_default();
        if created.contains(&table) {
            continue;
        }
        if !rest.starts_with("concurrently ") {
            return Some(format!(
                "`{statement}` locks writes to {table}: build it CONCURRENTLY"
            ));
        }
        if !outside_transaction(sql) || statements.len() != 1 {
            return Some(format!(
                "`{statement}` must be alone in a file that starts with `-- no-transaction`"
            ));
        }
    }
    None
}

/// The last migration written before indexes were built `CONCURRENTLY`.
const LAST_BEFORE_CONCURRENT_INDEXES: i64 = 7;

/// Holds every PostgreSQL step after `last_before` to `rule`.
fn assert_later_postgres_steps_follow(last_before: i64, rule: fn(&str) -> Option<String>) {
    for &(version, _, sql) in POSTGRES {
        if version > last_before {
            assert_eq!(rule(sql), None, "migration {version}");
        }
    }
}

#[test]
fn new_postgres_indexes_are_built_concurrently() {
    assert_later_postgres_steps_follow(LAST_BEFORE_CONCURRENT_INDEXES, index_build_problem);
}

/// `rule` passes every `good` step and finds a problem in every `bad` one,
/// and in migration 4, which predates the rules.
fn assert_rule_judges(rule: fn(&str) -> Option<String>, good: &[&str], bad: &[&str]) {
    for sql in good {
        assert_eq!(rule(sql), None, "{sql}");
    }
    for sql in bad {
        assert!(rule(sql).is_some(), "{sql}");
    }
    assert!(rule(POSTGRES[3].2).is_some());
}

#[test]
fn the_index_rule_accepts_concurrent_builds_and_indexes_of_new_tables_only() {
    assert_rule_judges(
        index_build_problem,
        &[
            "-- no-transaction\n-- why\nCREATE INDEX CONCURRENTLY tokens_x ON tokens (x);\n",
            "CREATE TABLE things (id BIGINT);\nCREATE INDEX things_id ON things (id);",
        ],
        &[
            "CREATE INDEX tokens_x ON tokens (x);",
            "CREATE UNIQUE INDEX tokens_x ON tokens (x);",
            "CREATE INDEX CONCURRENTLY tokens_x ON tokens (x);",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY a ON tokens (x);\nCREATE INDEX CONCURRENTLY b ON grants (y);",
        ],
    );
}

/// The names of the tables a step creates.
fn created_tables(statements: &[String]) -> Vec<&str> {
    statements
        .iter()
        .filter_map(|s| s.strip_prefix("create table "))
        .filter_map(|rest| {
            rest.trim_start_matches("if not exists ")
                .split([' ', '('])
                .next()
        })
        .collect()
}

/// The comma-separated parts of `text` outside parentheses: the actions of
/// one `ALTER TABLE`.
fn top_level_parts(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0_i32, 0);
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..at].trim());
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}

/// What is wrong with a PostgreSQL step's CHECK constraints, if anything: a
/// check added to a table the step does not create must be `NOT VALID`, so
/// that adding it scans nothing.
fn check_constraint_problem(sql: &str) -> Option<String> {
    let statements = statements(sql);
    let created = created_tables(&statements);
    for statement in &statements {
        let Some(rest) = statement.strip_prefix("alter table ") else {
            continue;
        };
        let rest = rest.trim_start_matches("only ");
        let (table, actions) = rest.split_once(' ').unwrap_or((rest, ""));
        if created.contains(&table) {
            continue;
        }
        for action in top_level_parts(actions) {
            let adds_check = action.starts_with("add ")
                && (action.contains(" check (") || action.contains(" check("));
            if adds_check && !action.ends_with(" not valid") {
                return Some(format!(
                    "`{action}` scans {table} under ACCESS EXCLUSIVE: add the check NOT VALID"
                ));
            }
        }
    }
    None
}

/// The last migration written before checks were added `NOT VALID`.
const LAST_BEFORE_UNVALIDATED_CHECKS: i64 = 8;

#[test]
fn new_postgres_checks_skip_the_validation_scan() {
    assert_later_postgres_steps_follow(LAST_BEFORE_UNVALIDATED_CHECKS, check_constraint_problem);
}

#[test]
fn the_check_rule_accepts_not_valid_checks_and_checks_of_new_tables_only() {
    assert_rule_judges(
        check_constraint_problem,
        &[
            "ALTER TABLE t DROP CONSTRAINT c, ADD CONSTRAINT c CHECK (x IN ('a', 'b')) NOT VALID;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;",
            "CREATE TABLE things (x INT);\nALTER TABLE things ADD CONSTRAINT c CHECK (x > 0);",
            "ALTER TABLE t ADD COLUMN y TEXT, DROP CONSTRAINT c;",
        ],
        &[
            "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0);",
            "ALTER TABLE t ADD CHECK (x > 0);",
            "ALTER TABLE t ADD COLUMN y INT CHECK (y > 0);",
            "ALTER TABLE t ADD CONSTRAINT a CHECK (x > 0) NOT VALID, ADD CONSTRAINT b CHECK(x < 9);",
        ],
    );
}

/// The presenter kinds the newest check on `revocations.presenter_kind`
/// of `sources` accepts.
fn accepted_presenter_kinds(sources: &[Source]) -> Vec<String> {
    let list = sources
        .iter()
        .flat_map(|&(_, _, sql)| statements(sql))
        .filter_map(|statement| {
            let (_, after) = statement.split_once("presenter_kind in (")?;
            Some(after.split_once(')')?.0.to_owned())
        })
        .next_back()
        .unwrap_or_default();
    let mut kinds: Vec<String> = list
        .split(',')
        .map(|kind| kind.trim().trim_matches('\'').to_owned())
        .collect();
    kinds.sort_unstable();
    kinds
}

#[test]
fn the_database_accepts_every_presenter_kind_the_code_writes() {
    let mut expected: Vec<String> = crate::domain::presenter::PRESENTER_KINDS
        .iter()
        .map(|&kind| kind.to_owned())
        .collect();
    expected.sort_unstable();
    assert_eq!(accepted_presenter_kinds(POSTGRES), expected);
    assert_eq!(accepted_presenter_kinds(SQLITE), expected);
}

/// A step that alters an existing table, or drops or creates a trigger on
/// one, takes a lock that conflicts with writes behind any open transaction
/// on it, and every revocation then queues behind the step: it must give up
/// quickly (`SET LOCAL lock_timeout`) and be run again.
fn lock_timeout_problem(sql: &str) -> Option<String> {
    let statements = statements(sql);
    let alters = statements.iter().any(|s| {
        s.starts_with("alter table")
            || s.starts_with("drop trigger")
            || s.starts_with("create trigger")
    });
    let bounded = statements
        .iter()
        .any(|s| s.starts_with("set local lock_timeout"));
    (alters && !bounded).then(|| "alters a table without SET LOCAL lock_timeout".to_owned())
}

/// The last migration written before altering steps bounded their wait.
const LAST_BEFORE_LOCK_TIMEOUTS: i64 = 8;

#[test]
fn new_postgres_alterations_give_up_waiting_for_their_lock() {
    assert_later_postgres_steps_follow(LAST_BEFORE_LOCK_TIMEOUTS, lock_timeout_problem);
}

#[test]
fn the_lock_timeout_rule_accepts_bounded_alterations_and_new_tables() {
    assert_rule_judges(
        lock_timeout_problem,
        &[
            "SET LOCAL lock_timeout = '500ms';\nALTER TABLE t ADD COLUMN y TEXT;",
            "CREATE TABLE things (id BIGINT);",
        ],
        &[
            "ALTER TABLE t ADD COLUMN y TEXT;",
            "DROP TRIGGER t_changed ON t;",
            "CREATE TRIGGER t_changed AFTER UPDATE ON t FOR EACH STATEMENT EXECUTE FUNCTION f();",
        ],
    );
}
