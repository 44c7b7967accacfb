//! This process's CPU time, memory and open files, read from `/proc/self`
//! at each scrape (Linux; elsewhere the metrics are absent).
//!
//! Read by hand instead of through a crate: the three files are stable
//! kernel interfaces, and the crates that wrap them pull in far more (a
//! whole `/proc` parser, or bindings that need `unsafe`, which this crate
//! forbids).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 on every
/// architecture Linux exposes it for; reading it would take `sysconf`, an
/// unsafe call.
const TICKS_PER_SECOND: f64 = 100.0;

/// Samples `/proc/self` whenever the registry is encoded.
#[derive(Debug)]
pub struct ProcessCollector;

/// What one sample found; each part is `None` when it could not be read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Sample {
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

impl Sample {
    /// Reads this process's numbers.
    #[must_use]
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let times = stat.as_deref().and_then(cpu_and_start_ticks);
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .as_deref()
            .and_then(boot_time);
        Self {
            cpu_seconds: times.map(|(cpu, _)| ticks_to_seconds(cpu)),
            start_time_seconds: times
                .zip(boot)
                .map(|((_, start), boot)| to_f64(boot) + ticks_to_seconds(start)),
            resident_bytes: std::fs::read_to_string("/proc/self/status")
                .ok()
                .as_deref()
                .and_then(resident_bytes),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as u64),
            max_fds: rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft),
        }
    }
}

#[allow(clippy::cast_precision_loss)] // Ticks stay far below 2^52.
fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND
}

/// User plus system CPU ticks, and the start time in ticks after boot, from
/// `/proc/self/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from its closing parenthesis.
fn cpu_and_start_ticks(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field n of proc(5) is fields[n - 3]: utime 14, stime 15, starttime 22.
    let number = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some((number(14)? + number(15)?, number(22)?))
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// `VmRSS` from `/proc/self/status`, which the kernel writes in kB (KiB).
fn resident_bytes(status: &str) -> Option<u64> {
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sample = Sample::read();
        if let Some(seconds) = sample.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "CPU time this process has used, user and system",
                None,
                counter.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_start_time_seconds",
                "When this process started, in seconds since the Unix epoch",
                sample.start_time_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory of this process",
                sample.resident_bytes.map(to_f64),
            ),
            (
                "process_open_fds",
                "Open file descriptors of this process (sockets included)",
                sample.open_fds.map(to_f64),
            ),
            (
                "process_max_fds",
                "The soft limit on this process's open file descriptors",
                sample.max_fds.map(to_f64),
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}

#[allow(clippy::cast_precision_loss)] // Exact below 2^53: bytes and file counts.
fn to_f64(value: u64) -> f64 {
    value as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_start_are_counted_after_the_command_name() {
        // A command name with spaces and a parenthesis of its own.
        let stat = "42 (we (ird) name) S 1 42 42 0 -1 4194304 100 0 0 0 \
                    250 50 0 0 20 0 1 0 1234 3133440 394 18446744073709551615";
        assert_eq!(cpu_and_start_ticks(stat), Some((300, 1234)));
        assert_eq!(cpu_and_start_ticks("42 (short) S 1"), None);
    }

    #[test]
    fn resident_memory_and_boot_time_are_read_from_their_lines() {
        let status = "Name:\trescind\nVmPeak:\t  9000 kB\nVmRSS:\t    2144 kB\n";
        assert_eq!(resident_bytes(status), Some(2144 * 1024));
        assert_eq!(resident_bytes("Name:\trescind\n"), None);
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1796136038\nprocesses 9\n"),
            Some(1_796_136_038)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_sampled_on_linux() {
        let sample = Sample::read();
        assert!(sample.cpu_seconds.is_some_and(|s| s >= 0.0), "{sample:?}");
        assert!(
            sample.resident_bytes.is_some_and(|b| b > 1 << 20),
            "{sample:?}"
        );
        assert!(sample.open_fds.is_some_and(|n| n >= 3), "{sample:?}");
        assert!(sample.max_fds.is_some_and(|n| n >= 3), "{sample:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        assert!(
            sample
                .start_time_seconds
                .is_some_and(|start| start <= now + 1.0 && start > now - 86_400.0 * 365.0),
            "{sample:?}"
        );
    }
}
