//! Stamps the binary with the commit it was built from, for the
//! `rescind_build_info` metric. `SOURCE_COMMIT` names it where the source is
//! not a git checkout (a container build copies no `.git`); otherwise git is
//! asked; failing both, the commit is `unknown`, and the build goes on.

use std::path::PathBuf;
use std::process::Command;

/// Not `RESCIND_*`: cargo also sets this variable when it runs the binaries
/// it built (`cargo run`, `cargo test`), and the server refuses unknown
/// `RESCIND_*` variables as configuration keys.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_COMMIT");
    let commit = std::env::var("SOURCE_COMMIT")
        .ok()
        .filter(|commit| plain(commit))
        .or_else(|| {
            watch_git_head();
            git(&["rev-parse", "--short", "HEAD"]).filter(|commit| plain(commit))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
}

/// A commit name as a label value: short, and nothing to escape.
fn plain(commit: &str) -> bool {
    (1..=40).contains(&commit.len()) && commit.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One line of git's output, or `None` when git is missing or fails (no
/// checkout here).
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned())
}

/// Rebuilds the stamp when HEAD moves (a checkout or a commit), and only
/// then: watching a path that does not exist would rerun this script, and
/// recompile the crate, on every build.
fn watch_git_head() {
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]) else {
        return;
    };
    let head = PathBuf::from(&git_dir).join("HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed={}", head.display());
    }
    let (Some(common), Some(reference)) = (
        git(&["rev-parse", "--git-common-dir"]),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ) else {
        return;
    };
    for path in [
        PathBuf::from(&common).join(&reference),
        PathBuf::from(&common).join("packed-refs"),
        PathBuf::from(&git_dir).join(&reference),
    ] {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
