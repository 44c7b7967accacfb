//! `rescind serve` as a child process on a test's database: for what an
//! in-process server cannot show (its logs as written, SIGTERM, SIGKILL).

use std::fmt::Write as _;
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::{TestApp, free_port, http_client};

/// What happens to the child's standard error.
pub enum Logs {
    /// Piped at this level, returned by [`ChildServer::stop`]. Only for
    /// short tests: a full pipe would block the server.
    Captured(&'static str),
    /// Thrown away (load tests).
    Discarded,
}

/// The child, killed if the test fails half way.
pub struct ChildServer {
    child: Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl ChildServer {
    /// Starts the binary on `app`'s database and waits until it is live.
    pub async fn start(app: &TestApp, logs: Logs) -> Self {
        Self::start_with(app, logs, &[]).await
    }

    /// [`Self::start`] with more environment variables.
    pub async fn start_with(app: &TestApp, logs: Logs, env: &[(&str, &str)]) -> Self {
        Self::start_limited(app, logs, env, &[]).await
    }

    /// [`Self::start_with`] under limits set by the shell first: each item
    /// the arguments of one `ulimit`, such as `-n 256` (soft and hard) or
    /// `-S -n 256` (soft only). `exec` keeps the pid the server's own.
    pub async fn start_limited(
        app: &TestApp,
        logs: Logs,
        env: &[(&str, &str)],
        ulimits: &[&str],
    ) -> Self {
        let port = free_port();
        let (level, stderr) = match logs {
            Logs::Captured(level) => (level, Stdio::piped()),
            Logs::Discarded => ("info", Stdio::null()),
        };
        let binary = env!("CARGO_BIN_EXE_rescind");
        let mut command = if ulimits.is_empty() {
            let mut direct = Command::new(binary);
            direct.arg("serve");
            direct
        } else {
            let limits: String = ulimits.iter().fold(String::new(), |mut out, limit| {
                let _ = write!(out, "ulimit {limit} && ");
                out
            });
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("{limits}exec \"$0\" serve"))
                .arg(binary);
            shell
        };
        let child = command
            .env_remove("DATABASE_URL")
            .env_remove("RESCIND_CONFIG")
            .env("RESCIND_DATABASE__URL", app.db.url())
            .env("RESCIND_DATA_DIR", app.db.data_dir())
            .env("RESCIND_TLS__MODE", "proxy")
            .env("RESCIND_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RESCIND_LOG__LEVEL", level)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: http_client(None),
        };
        let started = Instant::now();
        while server
            .http
            .get(format!("{}/health/live", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// POSTs a form body to `path`; returns the status, or the transport
    /// error (a killed server answers nothing).
    pub async fn try_post(
        &self,
        path: &str,
        body: String,
        headers: HeaderMap,
    ) -> Result<u16, reqwest::Error> {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .headers(headers)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    }

    /// POSTs a form body to `path`; returns the status.
    pub async fn post(&self, path: &str, body: String, headers: HeaderMap) -> u16 {
        self.try_post(path, body, headers)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Stops the server with SIGTERM, checks it exited cleanly, returns its
    /// logs (empty unless captured).
    pub fn stop(self) -> String {
        self.terminate();
        self.wait_for_exit()
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let terminated = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(terminated.is_ok_and(|status| status.success()));
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The listening address.
    pub fn address(&self) -> std::net::SocketAddr {
        self.base
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits for the process to end, checks it exited cleanly, returns its
    /// logs (empty unless captured).
    pub fn wait_for_exit(mut self) -> String {
        let mut logs = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr
                .read_to_string(&mut logs)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let status = self.child.wait().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            status.success(),
            "SIGTERM shuts the server down cleanly: {status}"
        );
        logs
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(mut self) {
        self.child.kill().unwrap_or_else(|e| panic!("{e}"));
        self.child.wait().unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
