//! The benchmark driver behind `bench/run` (see `bench/README.md`).
//!
//! It seeds a PostgreSQL database through the `rescind` CLI, measures the
//! database's own ceiling by running Rescind's revocation statement under
//! `pgbench` and the fixed yardstick of a textbook revocation
//! (`textbook.rs`), starts `rescind serve` as a separate process, drives each
//! scenario from this process (every token presented once), checks in the
//! database that every revocation answered `200` really happened (and every
//! introspection answer's `active`, `introspection.rs`), and prints
//! one table plus a JSON report. It asserts nothing about speed: the table
//! says what was measured, and which of its targets that meets (bench/README.md, Targets).

// Statistics over counts far below 2^52: the float conversions are exact enough.
#![allow(clippy::cast_precision_loss)]

mod batches;
mod cpu;
mod introspection;
mod load;
mod pgbench;
mod seed;
mod textbook;

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use clap::Parser;
use hyper::Method;
use rescind::domain::clock::{Clock as _, SystemClock};
use rescind::domain::minted::TokenFormat;
use rescind::domain::token::TokenKind;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use self::load::{Outcome, Request, Target};
use self::seed::{Failure, Minted, Rescind};

#[derive(Parser)]
struct Options {
    /// The release `rescind` binary.
    #[arg(long)]
    rescind: PathBuf,
    /// A PostgreSQL database the benchmark may fill (superuser: it checkpoints).
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value = "pgbench")]
    pgbench: PathBuf,
    /// Where the JSON report goes.
    #[arg(long)]
    out: PathBuf,
    /// Scratch directory (server data directory, logs, pgbench scripts).
    #[arg(long)]
    work_dir: PathBuf,
    /// Concurrent connections, for Rescind and for pgbench alike.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The server's `database.max_connections` (unset: the server's default).
    #[arg(long)]
    server_pool: Option<usize>,
    /// The server's `database.batch_workers` (unset: the server's default).
    #[arg(long)]
    server_workers: Option<usize>,
    /// The server's `log.level` (production default: info, one line per request).
    #[arg(long, default_value = "info")]
    server_log_level: String,
    /// A tenth of the requests and smaller tables: checks the harness, not speed.
    #[arg(long)]
    quick: bool,
    /// Only the scenarios that write nothing and the baseline live
    /// revocation with its ceilings: a few minutes, for trying a change.
    #[arg(long)]
    baseline_only: bool,
    /// Print a ceiling's pgbench script, for measuring by hand, and exit:
    /// Rescind's own statement as an anonymous report (the default) or as a
    /// public client's revocation (for the tag `TAG`), or the textbook one.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "anonymous")]
    print_pgbench_script: Option<Script>,
}

/// The pgbench scripts `--print-pgbench-script` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Script {
    Anonymous,
    Public,
    Textbook,
}

/// How much of everything.
struct Sizes {
    /// Requests per live-token scenario.
    live: usize,
    /// Requests per scenario that writes nothing.
    cheap: usize,
    /// Transactions per pgbench client.
    pgbench_per_client: usize,
    /// Token-table sizes for the scaling scenarios.
    tables: [i64; 2],
    /// `token issue --count` of the timed issue.
    timed_issue: usize,
}

impl Sizes {
    const fn for_run(quick: bool) -> Self {
        if quick {
            Self {
                live: 5_000,
                cheap: 10_000,
                pgbench_per_client: 300,
                tables: [300_000, 600_000],
                timed_issue: 10_000,
            }
        } else {
            Self {
                live: 50_000,
                cheap: 100_000,
                pgbench_per_client: 1_500,
                tables: [1_000_000, 10_000_000],
                timed_issue: 100_000,
            }
        }
    }
}

/// One measured line of the table.
struct Row {
    name: String,
    outcome: Outcome,
    /// Transport errors plus answers other than the expected status.
    errors: usize,
    /// For revocations of live tokens: `Some(true)` when the database shows
    /// every grant answered `200` revoked (its tokens with it) and one record.
    verified: Option<bool>,
    /// The figures this scenario is compared with.
    yardsticks: Yardsticks,
    /// CPU microseconds per answered request: server, PostgreSQL, driver.
    cpu_us: [f64; 3],
    /// Requests per batch statement (PostgreSQL's group commit or grouped
    /// reads) while the scenario ran; `None` when none ran or the counts
    /// could not be read (the TLS scenario).
    mean_batch: Option<f64>,
    /// The server's peak resident memory so far (since it started).
    peak_rss_kib: u64,
}

/// What a row is divided by: pgbench on Rescind's own statement, pgbench on
/// the textbook revocation (revocations of live tokens), and the metadata
/// document's rate (introspection).
#[derive(Clone, Copy, Default)]
struct Yardsticks {
    own: Option<f64>,
    textbook: Option<f64>,
    metadata: Option<f64>,
}

/// The cheapest answer's scenario, the introspection rows' yardstick.
const METADATA: &str = "metadata document";

impl Row {
    fn over(&self, yardstick: Option<f64>) -> Option<f64> {
        yardstick.map(|rate| self.outcome.per_second() / rate)
    }

    fn ratio(&self) -> Option<f64> {
        self.over(self.yardsticks.own)
    }
}

struct Bench {
    options: Options,
    sizes: Sizes,
    pool: PgPool,
    data_dir: PathBuf,
    format: TokenFormat,
    rows: Vec<Row>,
    ceilings: Vec<(String, f64)>,
    /// Grants of the textbook schema revoked so far (`1..=` this).
    textbook_revoked: i64,
    peak_rss_kib: u64,
    /// The running `rescind serve`, for CPU accounting.
    server_pid: u32,
    /// Its admin listener (plain HTTP only), for the batch counts.
    admin: Option<std::net::SocketAddr>,
}

fn main() -> Result<(), Failure> {
    let options = Options::parse();
    if let Some(script) = options.print_pgbench_script {
        print!(
            "{}",
            match script {
                Script::Anonymous => pgbench_script("TAG", false),
                Script::Public => pgbench_script("TAG", true),
                Script::Textbook => textbook::script(),
            }
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<(), Failure> {
    let sizes = Sizes::for_run(options.quick);
    std::fs::create_dir_all(&options.work_dir)?;
    let data_dir = options.work_dir.join("data");
    let pool = PgPool::connect(&options.database_url).await?;
    let mut bench = Bench {
        options,
        sizes,
        pool,
        data_dir,
        format: TokenFormat::default_prefixes(),
        rows: Vec::new(),
        ceilings: Vec::new(),
        textbook_revoked: 0,
        peak_rss_kib: 0,
        server_pid: 0,
        admin: None,
    };
    bench.all().await?;
    bench.report()?;
    bench.correctness()
}

impl Bench {
    fn cli(&self) -> Rescind<'_> {
        Rescind {
            binary: &self.options.rescind,
            database_url: &self.options.database_url,
            data_dir: &self.data_dir,
        }
    }

    async fn all(&mut self) -> Result<(), Failure> {
        let fleet = self.create_clients().await?;
        let anonymous = self.issue("spa", self.sizes.live)?;
        self.writeless_scenarios_and_baseline(&anonymous).await?;
        if self.options.baseline_only {
            return Ok(());
        }
        let resource_server = self.create_resource_server()?;
        let introspected = self.issue("spa", self.sizes.live + 1)?;
        self.introspection_scenarios(&resource_server, &introspected, &anonymous)
            .await?;

        // The other scenarios' grants: the first `token issue` is timed.
        let live = self.sizes.live;
        let started = Instant::now();
        let mut rest = self.issue("spa", self.sizes.timed_issue)?;
        self.ceilings.push((
            format!("token issue --count {} (s)", self.sizes.timed_issue),
            started.elapsed().as_secs_f64(),
        ));
        if rest.len() < 4 * live {
            rest.extend(self.issue("spa", 4 * live - rest.len())?);
        }
        let mut rest = rest.into_iter();
        let mut take = |n: usize| rest.by_ref().take(n).collect::<Vec<_>>();
        let (public, tls, at_sizes) = (take(live), take(live), [take(live), take(live)]);
        let web = self.issue("web", live)?;
        let fleet_grants = self.issue("fleet-0000", live)?;
        let ids: Vec<Uuid> = fleet_grants.iter().map(|m| m.grant_id).collect();
        seed::spread_grants(&self.pool, &ids, &fleet.0).await?;

        let (server, plain) = self.start_server(false).await?;
        let requests = revocations(&public, &Presenting::Public("spa"));
        self.paired(&plain, "live, public client", requests, true)
            .await?;
        let one = Presenting::Basic(vec![("web".to_owned(), fleet.2.clone())]);
        let requests = revocations(&web, &one);
        let label = "live, confidential (1 client)";
        self.paired(&plain, label, requests, true).await?;
        let many = Presenting::Basic(
            fleet
                .0
                .iter()
                .map(|id| (id.clone(), fleet.1.clone()))
                .collect(),
        );
        self.warm_up(&plain, &many, fleet.0.len()).await?;
        let requests = revocations(&fleet_grants, &many);
        let label = "live, confidential (1000 clients)";
        self.paired(&plain, label, requests, true).await?;
        self.stop_server(server)?;

        let (server, secure) = self.start_server(true).await?;
        let requests = revocations(&tls, &Presenting::Nobody);
        let label = "live, anonymous, TLS 1.3";
        self.paired(&secure, label, requests, false).await?;
        self.stop_server(server)?;

        for (size, grants) in self.sizes.tables.into_iter().zip(at_sizes) {
            progress(&format!("filling the tokens table to {size} rows"));
            seed::fill_tokens(&self.pool, "filler", size).await?;
            let (server, plain) = self.start_server(false).await?;
            let label = format!("live, anonymous ({} tokens)", human_count(size));
            let requests = revocations(&grants, &Presenting::Nobody);
            self.paired(&plain, &label, requests, false).await?;
            self.stop_server(server)?;
        }
        Ok(())
    }

    /// The clients: `spa` (public), `web` (confidential), `filler` (owns
    /// the filler rows), and a fleet of 1000 confidential clients sharing
    /// one secret. Returns the fleet's ids, its secret, and web's secret.
    async fn create_clients(&self) -> Result<(Vec<String>, String, String), Failure> {
        let cli = self.cli();
        cli.run(&["migrate"])?;
        progress("creating clients");
        cli.create_client("spa", &["--public"])?;
        cli.create_client("filler", &["--public"])?;
        let web_secret = cli.create_client("web", &[])?.ok_or("web has no secret")?;
        let fleet_secret = cli
            .create_client("fleet-0000", &[])?
            .ok_or("fleet has no secret")?;
        let fleet: Vec<String> = (0..1000).map(|i| format!("fleet-{i:04}")).collect();
        seed::clone_client(&self.pool, "fleet-0000", &fleet[1..]).await?;
        Ok((fleet, fleet_secret, web_secret))
    }

    fn issue(&self, client: &str, count: usize) -> Result<Vec<Minted>, Failure> {
        progress(&format!(
            "rescind token issue --client {client} --count {count}"
        ));
        Ok(self.cli().issue(client, count)?.0)
    }

    async fn token_count(&self) -> Result<i64, Failure> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM tokens")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Scenarios that write nothing, then the baseline revocation of live
    /// tokens with the table at its smallest (about 200 000 tokens).
    async fn writeless_scenarios_and_baseline(
        &mut self,
        anonymous: &[Minted],
    ) -> Result<(), Failure> {
        let (server, plain) = self.start_server(false).await?;
        let cheap = self.sizes.cheap;
        let none = Yardsticks::default();
        self.measure(&plain, METADATA, metadata_requests(cheap), none, 200)
            .await?;
        let bad = self.bad_checksum_requests(cheap);
        self.measure(&plain, "bad-checksum candidates", bad, none, 200)
            .await?;
        let unknown = self.unknown_requests(cheap);
        self.measure(&plain, "unknown tokens", unknown, none, 200)
            .await?;
        // The ceiling's own grants count: the label shows the table as measured.
        let yardsticks = self.ceilings_of("baseline", false).await?;
        let label = format!(
            "live, anonymous ({} tokens)",
            human_count(self.token_count().await?)
        );
        let requests = revocations(anonymous, &Presenting::Nobody);
        self.measure(&plain, &label, requests, yardsticks, 200)
            .await?;
        self.stop_server(server)
    }

    /// Each client's first request pays one argon2 verification (about 20 ms
    /// of CPU); later ones hit the credential cache. The warm-up sends one
    /// unknown token per client and is reported on its own line, so the
    /// scenario measures the steady state an operator sees.
    async fn warm_up(
        &mut self,
        target: &Target,
        presenting: &Presenting,
        clients: usize,
    ) -> Result<(), Failure> {
        progress(&format!(
            "warming the credential cache of {clients} clients"
        ));
        let requests = (0..clients)
            .map(|i| {
                let token = self.format.mint(TokenKind::Access, &mut rand::rngs::OsRng);
                revocation_request(&token, presenting, i)
            })
            .collect();
        let outcome = load::run(
            target,
            Arc::new(requests),
            self.options.connections,
            Duration::from_secs(300),
        )
        .await;
        if outcome.status_counts().get(&200) != Some(&clients) {
            return Err(format!("warm-up answers: {:?}", outcome.status_counts()).into());
        }
        self.ceilings.push((
            format!("first verification of {clients} clients (s)"),
            outcome.elapsed.as_secs_f64(),
        ));
        Ok(())
    }

    /// Measures a live-token scenario right after its pgbench ceiling, so
    /// both see the same table and the same moment of a noisy machine.
    async fn paired(
        &mut self,
        target: &Target,
        name: &str,
        requests: (Vec<Request>, Vec<Uuid>),
        as_public_client: bool,
    ) -> Result<(), Failure> {
        let yardsticks = self.ceilings_of(name, as_public_client).await?;
        self.measure(target, name, requests, yardsticks, 200).await
    }

    /// Both pgbench ceilings of a live-token scenario, measured one after
    /// the other on the table as it is now.
    async fn ceilings_of(
        &mut self,
        name: &str,
        as_public_client: bool,
    ) -> Result<Yardsticks, Failure> {
        Ok(Yardsticks {
            own: Some(self.ceiling(name, as_public_client).await?),
            textbook: Some(self.textbook_ceiling(name).await?),
            metadata: None,
        })
    }

    /// Runs Rescind's own revocation statement under pgbench: every
    /// transaction revokes one distinct live grant, as the server's do.
    async fn ceiling(&mut self, name: &str, as_public_client: bool) -> Result<f64, Failure> {
        let clients = self.options.connections;
        let per_client = self.sizes.pgbench_per_client;
        let tag = format!("pgbench-{}", self.ceilings.len());
        progress(&format!("pgbench ceiling: {name}"));
        seed::pgbench_grants(&self.pool, &tag, "spa", clients, per_client).await?;
        seed::settle(&self.pool).await?;
        let (presenter, revision) = pgbench_presenter(as_public_client);
        let tps = self.pgbench(
            format!("pgbench ceiling, {name} (tps)"),
            (
                &format!("{tag}.sql"),
                &pgbench_script(&tag, as_public_client),
            ),
            &[
                ("presenter", presenter.to_owned()),
                ("revision", revision.to_owned()),
            ],
        )?;
        let revoked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM grants WHERE subject = 'pgbench' AND revoked_at IS NOT NULL \
             AND id IN (SELECT grant_id FROM revocations WHERE request_id = $1)",
        )
        .bind(&tag)
        .fetch_one(&self.pool)
        .await?;
        if usize::try_from(revoked)? != clients * per_client {
            return Err(format!(
                "pgbench revoked {revoked} grants, expected {}",
                clients * per_client
            )
            .into());
        }
        Ok(tps)
    }

    /// Starts `rescind serve` and waits until it answers `/health/live`
    /// (listening is not enough: with TLS, the certificate is generated after
    /// the socket is bound).
    async fn start_server(&mut self, tls: bool) -> Result<(Server, Target), Failure> {
        let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let log = std::fs::File::create(
            self.options
                .work_dir
                .join(format!("serve-{}.log", address.port())),
        )?;
        let mut command = self.cli().command();
        if let Some(pool) = self.options.server_pool {
            command.env("RESCIND_DATABASE__MAX_CONNECTIONS", pool.to_string());
        }
        if let Some(workers) = self.options.server_workers {
            command.env("RESCIND_DATABASE__BATCH_WORKERS", workers.to_string());
        }
        // The admin listener serves TLS when the public one does; the batch
        // counts are read over plain HTTP only.
        self.admin = None;
        if !tls {
            let admin = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
            command
                .env("RESCIND_ADMIN__LISTEN", admin.to_string())
                .env("RESCIND_ADMIN__TOKEN_HASH", batches::admin_token_hash()?);
            self.admin = Some(admin);
        }
        let child = command
            .arg("serve")
            .env("RESCIND_SERVER__LISTEN", address.to_string())
            .env(
                "RESCIND_TLS__MODE",
                if tls { "self-signed" } else { "proxy" },
            )
            .env("RESCIND_LOG__LEVEL", &self.options.server_log_level)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.server_pid = child.id();
        let server = Server { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        let certificate = self.data_dir.join("tls/self-signed.crt");
        loop {
            if Instant::now() > deadline {
                return Err("rescind serve did not become live within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if tls && !certificate.exists() {
                continue;
            }
            let target = Target {
                address,
                tls: if tls {
                    Some(self.tls_connector()?)
                } else {
                    None
                },
            };
            let probe = vec![Request {
                method: Method::GET,
                path: "/health/live",
                headers: Vec::new(),
                body: Bytes::new(),
            }];
            let answer = load::run(&target, Arc::new(probe), 1, Duration::from_secs(5)).await;
            if answer.statuses.first() == Some(&200) {
                return Ok((server, target));
            }
        }
    }

    fn stop_server(&mut self, mut server: Server) -> Result<(), Failure> {
        let peak = peak_rss_kib(server.child.id())?;
        progress(&format!("server peak RSS: {:.1} MiB", peak as f64 / 1024.0));
        self.peak_rss_kib = self.peak_rss_kib.max(peak);
        // SIGTERM, so the server drains and exits as in production.
        Command::new("kill")
            .arg(server.child.id().to_string())
            .status()?;
        let status = server.child.wait()?;
        if !status.success() {
            return Err(format!("rescind serve exited with {status}").into());
        }
        Ok(())
    }

    fn tls_connector(&self) -> Result<tokio_rustls::TlsConnector, Failure> {
        use rustls_pki_types::pem::PemObject as _;
        let cert = rustls_pki_types::CertificateDer::from_pem_file(
            self.data_dir.join("tls/self-signed.crt"),
        )?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert)?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    async fn measure(
        &mut self,
        target: &Target,
        name: &str,
        (requests, grants): (Vec<Request>, Vec<Uuid>),
        yardsticks: Yardsticks,
        expected: u16,
    ) -> Result<(), Failure> {
        let verification = if grants.is_empty() {
            Verification::None
        } else {
            Verification::Database(grants)
        };
        self.measure_verified(target, name, requests, yardsticks, (expected, verification))
            .await
    }

    /// A scenario answered `200` throughout, each body judged by `check`.
    async fn measure_checked(
        &mut self,
        target: &Target,
        name: &str,
        requests: Vec<Request>,
        yardsticks: Yardsticks,
        check: load::Check,
    ) -> Result<(), Failure> {
        let expecting = (200, Verification::Answers(check));
        self.measure_verified(target, name, requests, yardsticks, expecting)
            .await
    }

    async fn measure_verified(
        &mut self,
        target: &Target,
        name: &str,
        requests: Vec<Request>,
        yardsticks: Yardsticks,
        (expected, verification): (u16, Verification),
    ) -> Result<(), Failure> {
        // Vacuum what earlier scenarios left, so autovacuum does not run
        // during this one, and start from a checkpoint.
        seed::settle(&self.pool).await?;
        progress(&format!("measuring: {name}"));
        let deadline = Duration::from_secs(300);
        let batches_before = self.batch_counts().await;
        let before = cpu::Sample::take(self.server_pid);
        let check = match &verification {
            Verification::Answers(check) => Some(check.clone()),
            Verification::None | Verification::Database(_) => None,
        };
        let outcome = load::run_checked(
            target,
            Arc::new(requests),
            self.options.connections,
            deadline,
            check,
        )
        .await;
        let cpu_us = before.per_request_us(&cpu::Sample::take(self.server_pid), outcome.answered());
        let mean_batch = match (batches_before, self.batch_counts().await) {
            (Some(before), Some(after)) => before.mean_batch_until(&after),
            _ => None,
        };
        let unexpected = outcome
            .statuses
            .iter()
            .filter(|s| **s != 0 && **s != expected)
            .count();
        let unanswered = outcome.statuses.len() - outcome.answered();
        let verified = match verification {
            Verification::None => None,
            Verification::Database(grants) => Some(self.verify(&grants, &outcome.statuses).await?),
            Verification::Answers(_) => {
                Some(outcome.rejected == 0 && unanswered == 0 && !outcome.statuses.is_empty())
            }
        };
        self.rows.push(Row {
            name: name.to_owned(),
            errors: outcome.errors + unexpected + unanswered,
            outcome,
            verified,
            yardsticks,
            cpu_us,
            mean_batch,
            peak_rss_kib: peak_rss_kib(self.server_pid)?,
        });
        Ok(())
    }

    /// The server's batch counts, when its admin listener can be read.
    async fn batch_counts(&self) -> Option<batches::Counts> {
        batches::Counts::scrape(self.admin?).await
    }

    /// Every grant answered `200` is revoked (and so are its tokens: a
    /// token's state is its grant's) and has exactly one audit record.
    async fn verify(&self, grants: &[Uuid], statuses: &[u16]) -> Result<bool, Failure> {
        let ok: Vec<Uuid> = grants
            .iter()
            .zip(statuses)
            .filter(|(_, s)| **s == 200)
            .map(|(g, _)| *g)
            .collect();
        let (revoked, records): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM grants WHERE id = ANY($1) AND revoked_at IS NOT NULL), \
                    (SELECT count(*) FROM revocations WHERE grant_id = ANY($1))",
        )
        .bind(&ok)
        .fetch_one(&self.pool)
        .await?;
        let expected = i64::try_from(ok.len())?;
        Ok(revoked == expected && records == expected && !ok.is_empty())
    }

    fn bad_checksum_requests(&self, count: usize) -> (Vec<Request>, Vec<Uuid>) {
        let requests = (0..count)
            .map(|_| {
                let mut token = self.format.mint(TokenKind::Access, &mut rand::rngs::OsRng);
                let last = if token.ends_with('A') { 'B' } else { 'A' };
                token.pop();
                token.push(last);
                revocation_request(&token, &Presenting::Nobody, 0)
            })
            .collect();
        (requests, Vec::new())
    }

    fn unknown_requests(&self, count: usize) -> (Vec<Request>, Vec<Uuid>) {
        let requests = (0..count)
            .map(|_| {
                let token = self.format.mint(TokenKind::Access, &mut rand::rngs::OsRng);
                revocation_request(&token, &Presenting::Nobody, 0)
            })
            .collect();
        (requests, Vec::new())
    }

    /// Fails the run when an answer was wrong: an error, or a `200` whose
    /// revocation the database does not show. Speed never fails it; the
    /// table says what was measured.
    fn correctness(&self) -> Result<(), Failure> {
        let wrong: Vec<&str> = self
            .rows
            .iter()
            .filter(|row| row.errors > 0 || row.verified == Some(false))
            .map(|row| row.name.as_str())
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("wrong answers in: {}", wrong.join(", ")).into())
        }
    }

    fn report(&self) -> Result<(), Failure> {
        let table = self.table();
        print!("{table}");
        let checks = self.targets();
        let mut verdicts = String::from("\ntargets\n");
        for (target, measured, met) in &checks {
            let _ = writeln!(
                verdicts,
                "  [{}] {target}: {measured}",
                if *met { "met" } else { "NOT MET" }
            );
        }
        print!("{verdicts}");
        let rows: Vec<_> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "scenario": row.name,
                    "requests": row.outcome.statuses.len(),
                    "answered": row.outcome.answered(),
                    "per_second": row.outcome.per_second(),
                    "p50_ms": row.outcome.quantile_ms(0.50),
                    "p99_ms": row.outcome.quantile_ms(0.99),
                    "errors": row.errors,
                    "statuses": row.outcome.status_counts(),
                    "verified_in_database": row.verified,
                    "pgbench_ceiling_tps": row.yardsticks.own,
                    "ratio_to_ceiling": row.ratio(),
                    "textbook_ceiling_tps": row.yardsticks.textbook,
                    "ratio_to_textbook": row.over(row.yardsticks.textbook),
                    "metadata_per_second": row.yardsticks.metadata,
                    "ratio_to_metadata": row.over(row.yardsticks.metadata),
                    "server_peak_rss_mib": row.peak_rss_kib as f64 / 1024.0,
                    "mean_batch_size": row.mean_batch,
                    "cpu_us_per_request": {
                        "server": row.cpu_us[0],
                        "postgres": row.cpu_us[1],
                        "load_generator": row.cpu_us[2],
                    },
                })
            })
            .collect();
        let report = json!({
            "date": SystemClock.now().to_rfc3339(),
            "machine": machine(),
            "quick": self.options.quick,
            "connections": self.options.connections,
            "server_peak_rss_mib": self.peak_rss_kib as f64 / 1024.0,
            "reference_figures": self.ceilings.iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>(),
            "scenarios": rows,
            "targets": checks.iter().map(|(target, measured, met)| json!({"target": target, "measured": measured, "met": met})).collect::<Vec<_>>(),
        });
        std::fs::write(&self.options.out, serde_json::to_string_pretty(&report)?)?;
        std::io::stdout().flush()?;
        Ok(())
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{:<40} {:>8} {:>8} {:>7} {:>7} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6}",
            "scenario",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "verified",
            "/ own",
            "/ txtbk",
            "/ meta",
            "RSS MiB",
            "srv us",
            "pg us",
            "gen us",
            "batch"
        );
        for row in &self.rows {
            let verified = match row.verified {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            let ratio = |yardstick| {
                row.over(yardstick)
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"))
            };
            let _ = writeln!(
                out,
                "{:<40} {:>8} {:>8.0} {:>7.2} {:>7.2} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7.1} {:>6.0} {:>6.0} {:>6.0} {:>6}",
                row.name,
                row.outcome.statuses.len(),
                row.outcome.per_second(),
                row.outcome.quantile_ms(0.50),
                row.outcome.quantile_ms(0.99),
                row.errors,
                verified,
                ratio(row.yardsticks.own),
                ratio(row.yardsticks.textbook),
                ratio(row.yardsticks.metadata),
                row.peak_rss_kib as f64 / 1024.0,
                row.cpu_us[0],
                row.cpu_us[1],
                row.cpu_us[2],
                row.mean_batch
                    .map_or_else(|| "-".to_owned(), |b| format!("{b:.1}")),
            );
        }
        for (name, value) in &self.ceilings {
            let _ = writeln!(out, "{name:<64} {value:>10.1}");
        }
        let _ = writeln!(
            out,
            "{:<64} {:>10.1}",
            "server peak RSS (MiB)",
            self.peak_rss_kib as f64 / 1024.0
        );
        out
    }

    /// The benchmark's targets (bench/README.md), each with what was measured and whether it holds.
    fn targets(&self) -> Vec<(String, String, bool)> {
        let rate = |prefix: &str| {
            self.rows
                .iter()
                .find(|r| r.name.starts_with(prefix))
                .map(|r| r.outcome.per_second())
        };
        let row = |prefix: &str| self.rows.iter().find(|r| r.name.starts_with(prefix));
        let mut checks = Vec::new();
        for name in ["live, anonymous (", "live, public client"] {
            if let Some(row) = row(name) {
                let ratio = row.ratio().unwrap_or(0.0);
                checks.push((
                    format!("{} >= 0.7 x pgbench ceiling", row.name),
                    format!("{ratio:.2}x"),
                    ratio >= 0.7,
                ));
                let rps = row.outcome.per_second();
                checks.push((
                    format!(
                        "{} >= 1.5 x 6,300/s (node-oidc-provider in memory)",
                        row.name
                    ),
                    format!("{rps:.0}/s"),
                    rps >= 9_450.0,
                ));
                let p99 = row.outcome.quantile_ms(0.99);
                checks.push((
                    format!("{} p99 <= 10 ms", row.name),
                    format!("{p99:.2} ms"),
                    p99 <= 10.0,
                ));
            }
        }
        if let Some(public) = rate("live, public client") {
            for name in [
                "live, confidential (1 client)",
                "live, confidential (1000 clients)",
            ] {
                if let Some(rps) = rate(name) {
                    let ratio = rps / public;
                    checks.push((
                        format!("{name} >= 0.9 x public client"),
                        format!("{ratio:.2}x"),
                        ratio >= 0.9,
                    ));
                }
            }
        }
        if let Some(live) = rate("live, anonymous (") {
            for name in ["unknown tokens", "bad-checksum candidates"] {
                if let Some(rps) = rate(name) {
                    let ratio = rps / live;
                    checks.push((
                        format!("{name} >= 5 x live anonymous"),
                        format!("{ratio:.2}x"),
                        ratio >= 5.0,
                    ));
                }
            }
            if let Some(largest) = self
                .rows
                .iter()
                .rev()
                .find(|r| r.name.starts_with("live, anonymous ("))
            {
                let ratio = largest.outcome.per_second() / live;
                checks.push((
                    format!("{} >= 0.8 x the smallest table", largest.name),
                    format!("{ratio:.2}x"),
                    ratio >= 0.8,
                ));
            }
        }
        let mib = self.peak_rss_kib as f64 / 1024.0;
        checks.push((
            "server peak RSS <= 64 MiB".to_owned(),
            format!("{mib:.1} MiB"),
            mib <= 64.0,
        ));
        if let Some((name, secs)) = self
            .ceilings
            .iter()
            .find(|(name, _)| name.starts_with("token issue"))
        {
            checks.push((format!("{name} < 60"), format!("{secs:.1} s"), *secs < 60.0));
        }
        let all_verified = self.rows.iter().all(|r| r.verified != Some(false));
        let no_errors = self.rows.iter().all(|r| r.errors == 0);
        checks.push((
            "every 200 verified in the database".to_owned(),
            all_verified.to_string(),
            all_verified,
        ));
        checks.push(("no errors".to_owned(), no_errors.to_string(), no_errors));
        checks
    }
}

struct Server {
    child: Child,
}

/// A run that fails half way does not leave its server behind.
impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How a scenario's answers are checked beyond their status.
enum Verification {
    None,
    /// Revocations: the database shows each grant answered `200` revoked.
    Database(Vec<Uuid>),
    /// Every answer's body passes the check.
    Answers(load::Check),
}

/// Who presents the tokens of a scenario.
enum Presenting {
    Nobody,
    Public(&'static str),
    /// `client_secret_basic`, round-robin over these clients.
    Basic(Vec<(String, String)>),
}

fn revocations(grants: &[Minted], presenting: &Presenting) -> (Vec<Request>, Vec<Uuid>) {
    let requests = grants
        .iter()
        .enumerate()
        .map(|(i, grant)| revocation_request(&grant.access_token, presenting, i))
        .collect();
    (requests, grants.iter().map(|g| g.grant_id).collect())
}

fn revocation_request(token: &str, presenting: &Presenting, index: usize) -> Request {
    let mut body = format!("token={token}");
    let mut headers = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    match presenting {
        Presenting::Nobody => {}
        Presenting::Public(id) => {
            let _ = write!(body, "&client_id={id}");
        }
        Presenting::Basic(clients) => {
            let (id, secret) = &clients[index % clients.len()];
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            headers.push(("authorization", format!("Basic {encoded}")));
        }
    }
    Request {
        method: Method::POST,
        path: "/oauth2/revoke",
        headers,
        body: Bytes::from(body),
    }
}

fn metadata_requests(count: usize) -> (Vec<Request>, Vec<Uuid>) {
    let requests = (0..count)
        .map(|_| Request {
            method: Method::GET,
            path: "/.well-known/oauth-authorization-server",
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .collect();
    (requests, Vec::new())
}

/// [`rescind::storage::postgres::REVOKE_STATEMENT`] with pgbench's values in
/// place of the server's parameters, a batch of one request; the token hash is computed from the
/// client's transaction counter (see [`seed::pgbench_grants`]).
fn pgbench_script(tag: &str, as_public_client: bool) -> String {
    let (own, kind) = if as_public_client {
        ("'client_request'", "'public'")
    } else {
        ("'anonymous_report'", "'anonymous'")
    };
    // Bound as parameters, as the server binds them, so that the plan is the
    // same: literals would let PostgreSQL fold the presenter check away.
    let presenter = "NULLIF(:presenter, '-')::text";
    let revision = "NULLIF(:revision, '-')::bigint";
    let foreign = if as_public_client {
        "'foreign_client_report'"
    } else {
        own
    };
    let token_hash = format!("sha256(convert_to('{tag}:' || :n, 'UTF8'))");
    let request_id = format!("'{tag}'");
    let mut statement = rescind::storage::postgres::REVOKE_STATEMENT.to_owned();
    // `$10` before `$1`, which is its prefix.
    for (parameter, value) in [
        ("$10", "NULL::text"),
        ("$9", request_id.as_str()),
        ("$8", kind),
        ("$7", "true"),
        ("$6", foreign),
        ("$5", own),
        ("$4", "now()"),
        ("$3", revision),
        ("$2", presenter),
        ("$1", token_hash.as_str()),
    ] {
        // Each parameter is an array, one element per request of a batch:
        // pgbench runs the statement with one request, as an idle server does.
        statement = statement.replace(parameter, &format!("ARRAY[{value}]"));
    }
    let (presenter, revision) = pgbench_presenter(as_public_client);
    format!(
        "-- pgbench -M prepared -D i=0 -D presenter={presenter} -D revision={revision}\n\
         -- with PGOPTIONS='-c plan_cache_mode=force_generic_plan', as the server's connections\n\
         \\set i :i + 1\n\\set n :client_id * 1000000 + :i\n{statement};\n"
    )
}

/// pgbench's `presenter` and `revision` variables (`-`: `NULL`, anonymous;
/// pgbench refuses empty values).
const fn pgbench_presenter(as_public_client: bool) -> (&'static str, &'static str) {
    if as_public_client {
        ("spa", "0")
    } else {
        ("-", "-")
    }
}

fn peak_rss_kib(pid: u32) -> Result<u64, Failure> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix("VmHWM:")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| "no VmHWM in /proc status".into())
}

fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split(':')
                    .nth(1)
                    .map(|m| m.trim().to_owned())
            })
        });
    let postgres = Command::new("postgres")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    json!({ "cpus": cpus, "cpu_model": model, "postgres": postgres, "os": std::env::consts::OS })
}

fn human_count(n: i64) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else {
        format!("{}k", n / 1000)
    }
}

fn progress(message: &str) {
    eprintln!("bench: {message}");
}
