//! How many argon2 verifications may run at once when
//! `auth.argon2_concurrency` is unset: one per CPU, but no more than the
//! container's memory limit holds. Each verification keeps argon2's whole
//! working area (19 MiB at the default cost), so one per CPU on a many-core
//! node in a 256 MiB container would be killed by the kernel under a flood
//! of bad secrets, the very load the limit exists for.

use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// The memory one verification holds at the default cost (m = 19 MiB).
pub const PER_VERIFICATION: u64 = 19 * MIB;

/// What the rest of the process needs beside the verifications: runtime,
/// pools, the credential and introspection caches at their default sizes.
pub const HEADROOM: u64 = 64 * MIB;

/// Where a container's cgroup file system is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The default concurrency on this machine, and the memory limit it took
/// into account (for the startup log).
#[must_use]
pub fn from_machine() -> (usize, Option<u64>) {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let limit = memory_limit(Path::new(CGROUP_ROOT));
    (for_limits(cpus, limit), limit)
}

/// One verification per CPU, as many as `memory_limit` holds beside
/// [`HEADROOM`]; never fewer than one, never more than `cpus`.
#[must_use]
pub fn for_limits(cpus: usize, memory_limit: Option<u64>) -> usize {
    let cpus = cpus.max(1);
    let Some(limit) = memory_limit else {
        return cpus;
    };
    let fits = limit.saturating_sub(HEADROOM) / PER_VERIFICATION;
    usize::try_from(fits).unwrap_or(usize::MAX).clamp(1, cpus)
}

/// The memory limit of this process's cgroup: cgroup v2's `memory.max`,
/// else cgroup v1's `memory/memory.limit_in_bytes`; `None` when neither
/// exists or neither sets a limit.
#[must_use]
pub fn memory_limit(root: &Path) -> Option<u64> {
    ["memory.max", "memory/memory.limit_in_bytes"]
        .iter()
        .find_map(|file| std::fs::read_to_string(root.join(file)).ok())
        .and_then(|text| parse_limit(&text))
}

/// cgroup v1 writes "no limit" as the largest page-aligned `i64`; anything
/// past this is no limit either.
const UNLIMITED_FROM: u64 = 1 << 62;

/// A limit file's content: bytes, or `max` (v2) or a huge number (v1) for
/// none.
#[must_use]
pub fn parse_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < UNLIMITED_FROM).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_files_are_read_as_bytes_or_no_limit() {
        assert_eq!(parse_limit("268435456\n"), Some(256 * MIB));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit(""), None);
        assert_eq!(parse_limit("garbage"), None);
    }

    #[test]
    fn a_memory_limit_caps_the_concurrency_between_one_and_the_cpu_count() {
        let limit = |text: &str| parse_limit(text);
        // The Deployment's 256 MiB: (256 - 64) / 19 = 10 verifications.
        assert_eq!(for_limits(16, limit("268435456")), 10);
        assert_eq!(for_limits(4, limit("268435456")), 4, "never above the CPUs");
        // 128 MiB: (128 - 64) / 19 = 3.
        assert_eq!(for_limits(16, limit("134217728")), 3);
        // Exactly one verification's worth beside the headroom.
        assert_eq!(for_limits(16, Some(HEADROOM + PER_VERIFICATION)), 1);
        assert_eq!(
            for_limits(16, Some(HEADROOM + PER_VERIFICATION - 1)),
            1,
            "never below one"
        );
        assert_eq!(for_limits(16, limit("1048576")), 1);
        assert_eq!(for_limits(16, limit("max")), 16, "no limit: one per CPU");
        assert_eq!(for_limits(0, None), 1);
    }

    #[test]
    fn v2_is_read_first_then_v1() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory_limit(dir.path()), None, "no cgroup files");
        std::fs::create_dir(dir.path().join("memory")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "134217728\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory_limit(dir.path()), Some(128 * MIB), "v1");
        std::fs::write(dir.path().join("memory.max"), "268435456\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory_limit(dir.path()), Some(256 * MIB), "v2 first");
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory_limit(dir.path()), None, "v2 without a limit");
    }
}
