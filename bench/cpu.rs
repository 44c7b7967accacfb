//! CPU time spent by each party of a scenario, from `/proc`: the server, all
//! PostgreSQL processes, and this driver (the load generator). Divided by the
//! requests answered, it shows where a request's cost goes.

use std::path::Path;
use std::time::Duration;

/// Cumulative CPU time (user + system) of the three parties.
#[derive(Clone, Copy, Default)]
pub struct Sample {
    pub server: Duration,
    pub postgres: Duration,
    pub driver: Duration,
}

impl Sample {
    pub fn take(server_pid: u32) -> Self {
        let postgres = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| process_cpu(&entry.path().join("stat"), "postgres"))
            .sum();
        Self {
            server: process_cpu(Path::new(&format!("/proc/{server_pid}/stat")), "")
                .unwrap_or_default(),
            postgres,
            driver: process_cpu(Path::new("/proc/self/stat"), "").unwrap_or_default(),
        }
    }

    /// Microseconds of CPU per request between `self` and `later`, per party.
    pub fn per_request_us(&self, later: &Self, requests: usize) -> [f64; 3] {
        let per = |a: Duration, b: Duration| {
            (b.saturating_sub(a)).as_secs_f64() * 1e6 / requests.max(1) as f64
        };
        [
            per(self.server, later.server),
            per(self.postgres, later.postgres),
            per(self.driver, later.driver),
        ]
    }
}

/// CPU time of a process and its reaped children, if its command name is
/// `name` (any if empty).
/// Linux counts in clock ticks of 1/100 s (`USER_HZ`) on every common platform.
fn process_cpu(stat: &Path, name: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(stat).ok()?;
    let (head, rest) = text.rsplit_once(')')?;
    if !name.is_empty() && head.split_once('(')?.1 != name {
        return None;
    }
    // Fields after the command: state is field 3, utime 14, stime 15, and the
    // reaped children's cutime 16 and cstime 17 (PostgreSQL backends that
    // exited, pgbench's among them, are counted in the postmaster's).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let mut ticks = 0;
    for index in 11..=14 {
        ticks += fields.get(index)?.parse::<u64>().ok()?;
    }
    Some(Duration::from_millis(ticks * 10))
}
