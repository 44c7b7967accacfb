//! The `rescind` binary run as a command against a test's database.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::TestApp;

/// Runs `rescind ARGS` against `db`, feeding `stdin`.
pub async fn rescind(
    db_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    rescind_with(db_url, data_dir, args, stdin, &[]).await
}

/// [`rescind`] with more environment variables.
pub async fn rescind_with(
    db_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let (db_url, data_dir) = (db_url.to_owned(), data_dir.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rescind"))
            .args(&args)
            .env_remove("DATABASE_URL")
            .env_remove("RESCIND_CONFIG")
            .env("RESCIND_DATABASE__URL", &db_url)
            .env("RESCIND_DATA_DIR", &data_dir)
            .env("RESCIND_LOG__LEVEL", "warn")
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run rescind: {e}"));
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn run(app: &TestApp, args: &[&str]) -> Output {
    rescind(app.db.url(), app.db.data_dir(), args, None).await
}

pub fn json_line(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value: {e}"))
}

/// A failure: non-zero exit, nothing on stdout, exactly one line on stderr.
pub fn failure_line(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    assert!(output.stdout.is_empty(), "nothing on stdout on failure");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line on stderr: {stderr}"
    );
    stderr
}
