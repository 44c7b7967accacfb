//! Running `pgbench` as both yardsticks run it: prepared statements, the
//! benchmark's connection count, a fixed number of transactions per client
//! (so every transaction can be handed a distinct grant of its own), and the
//! server's plan cache mode. Commits are durable: the cluster's defaults.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::seed::Failure;
use crate::{Bench, cpu};

/// One pgbench run of `script`; returns its transactions per second.
/// `defines` are pgbench variables (`-D name=value`) the script reads.
fn transactions_per_second(
    pgbench: &Path,
    database_url: &str,
    script: &Path,
    (clients, per_client): (usize, usize),
    defines: &[(&str, String)],
) -> Result<f64, Failure> {
    let mut command = Command::new(pgbench);
    command
        .env("PGOPTIONS", "-c plan_cache_mode=force_generic_plan")
        .args(["-n", "-M", "prepared", "-j", "2", "-D", "i=0"]);
    for (name, value) in defines {
        command.arg(format!("--define={name}={value}"));
    }
    let output = command
        .args([
            "-c",
            &clients.to_string(),
            "-t",
            &per_client.to_string(),
            "-f",
        ])
        .arg(script)
        .arg(database_url)
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8(output.stdout)?;
    if !output.status.success() {
        return Err(format!("pgbench failed:\n{text}").into());
    }
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .ok_or_else(|| format!("no tps in pgbench's output:\n{text}").into())
}

impl Bench {
    /// Runs `script` (written to `file` in the work directory, to rerun by
    /// hand) with the benchmark's connections and transactions per client;
    /// records its rate under `label`, with PostgreSQL's CPU per transaction,
    /// and returns the rate.
    pub(crate) fn pgbench(
        &mut self,
        label: String,
        (file, script): (&str, &str),
        defines: &[(&str, String)],
    ) -> Result<f64, Failure> {
        let load = (self.options.connections, self.sizes.pgbench_per_client);
        let path = self.options.work_dir.join(file);
        std::fs::write(&path, script)?;
        let before = cpu::Sample::take(self.server_pid);
        let tps = transactions_per_second(
            &self.options.pgbench,
            &self.options.database_url,
            &path,
            load,
            defines,
        )?;
        let [_, postgres_us, _] =
            before.per_request_us(&cpu::Sample::take(self.server_pid), load.0 * load.1);
        self.ceilings.push((label, tps));
        self.ceilings.push((
            "  PostgreSQL CPU per transaction (us)".to_owned(),
            postgres_us,
        ));
        Ok(tps)
    }
}
