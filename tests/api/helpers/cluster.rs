//! A private PostgreSQL cluster, for tests that stop and restart the database
//! under a running server. Started with the machine's `initdb`/`pg_ctl`, as the
//! `postgres` user when the tests run as root (PostgreSQL refuses root).

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use super::free_port;

pub struct PgCluster {
    _dir: TempDir,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
}

impl PgCluster {
    /// Initialises and starts a cluster on a free loopback port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        std::fs::create_dir(&data).unwrap_or_else(|e| panic!("mkdir: {e}"));
        if is_root() {
            // The postgres user must reach and own the data directory.
            run("chmod", &["755", &dir.path().display().to_string()]);
            run(
                "chown",
                &["-R", "postgres:postgres", &dir.path().display().to_string()],
            );
        }
        let port = free_port();
        pg(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let cluster = Self {
            _dir: dir,
            data,
            log,
            port,
        };
        cluster.start_again();
        cluster
    }

    /// The admin URL of this cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    ///
    /// Commits stay synchronous: the tests kill PostgreSQL (`-m immediate`)
    /// and check that every acknowledged commit survives. `fsync = off` is
    /// safe for that, since killing the process leaves the OS page cache.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories='' -c fsync=off",
            self.port
        );
        pg(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-l",
                &self.log.display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the cluster the way a crash would: no clean shutdown.
    pub fn stop_immediately(&self) {
        pg(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = pg_command(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "stop",
            ],
        )
        .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

/// A PostgreSQL program: from `PATH`, else from `pg_config --bindir`.
fn pg_command(program: &str, args: &[&str]) -> Command {
    let bindir = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|dir| PathBuf::from(dir.trim()));
    let path = bindir
        .map(|dir| dir.join(program))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program));
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path).args(args);
        command
    } else {
        let mut command = Command::new(path);
        command.args(args);
        command
    }
}

fn pg(program: &str, args: &[&str]) {
    let output = pg_command(program, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
