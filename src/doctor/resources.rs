//! The host's capacity for an Envoy build: free disk where Bazel keeps its output, cores, and
//! memory per Bazel job.

use std::path::{Path, PathBuf};

use super::Check;

const GIB: u64 = 1 << 30;

/// Free space the cache dir needs: Bazel's output base (objects of Envoy and its ~100
/// dependencies, with debug info) and its repository cache. Reported sizes: a release build of
/// Envoy *with all its tests* filled ~70 GB, a server-only debug build ~5 GB
/// (envoyproxy/envoy#6483); an `-c opt` istio-proxy binary alone is ~1 GB before stripping
/// (istio/istio#22181). We build one opt binary and no tests: 30 GiB leaves room for that.
pub const DISK_NEEDED: u64 = 30 * GIB;

/// Memory per Bazel job: Envoy's build docs recommend 2 GB of RAM per core
/// (envoyproxy/envoy#15091, after envoy#4373 compilers killed for memory); oss-fuzz measured
/// 1.5–2 GB per CPU for Envoy (google/oss-fuzz#4056).
pub const MEMORY_PER_JOB: u64 = 2 * GIB;

/// Rough CPU cost of the build, for the time estimate only: a couple of hours with 8 jobs.
const CORE_HOURS: u64 = 16;

/// `64 MiB`, `1.5 GiB`, `120 GiB` (MiB and GiB are whole KiB of `df -k` / 1024 / 1024).
pub fn gib(bytes: u64) -> String {
    let g = bytes as f64 / GIB as f64;
    if bytes < GIB {
        format!("{} MiB", bytes >> 20)
    } else if g < 10.0 {
        format!("{g:.1} GiB")
    } else {
        format!("{g:.0} GiB")
    }
}

/// Free bytes for an unprivileged user on the filesystem of `path`, or of its nearest existing
/// ancestor when it does not exist yet (the build creates it). `f_bavail` is what `df` shows
/// as "Available".
pub fn free_space(path: &Path) -> std::io::Result<(u64, PathBuf)> {
    let mut at = std::path::absolute(path)?;
    while !at.exists() {
        match at.parent() {
            Some(parent) => at = parent.to_path_buf(),
            None => break,
        }
    }
    let st = rustix::fs::statvfs(&at)?;
    Ok((st.f_bavail.saturating_mul(st.f_frsize), at))
}

pub fn disk(cache_dir: &Path) -> Check {
    let name = "disk";
    match free_space(cache_dir) {
        Err(e) => Check::fail(name, format!("{}: {e}", cache_dir.display())),
        Ok((free, at)) => {
            let place = if at == cache_dir {
                cache_dir.display().to_string()
            } else {
                format!("{} (on {})", cache_dir.display(), at.display())
            };
            let detail = format!(
                "{} free in {place}; an Envoy build needs about {} there{}",
                gib(free),
                gib(DISK_NEEDED),
                if free < DISK_NEEDED {
                    " (free some, or pass --cache-dir DIR on a larger disk)"
                } else {
                    ""
                }
            );
            if free < DISK_NEEDED {
                Check::fail(name, detail)
            } else {
                Check::ok(name, detail)
            }
        }
    }
}

/// Cores and the time to expect with `jobs` Bazel jobs.
pub fn cores(cores: usize, jobs: usize) -> Check {
    let hours = (CORE_HOURS as f64 / jobs.max(1) as f64).max(1.0);
    let detail = format!(
        "{cores} cores, {jobs} Bazel jobs: expect roughly {hours:.0} hours for Envoy \
         (about 2 hours with 8 jobs)"
    );
    if jobs < 4 {
        Check::warn("cores", detail)
    } else {
        Check::ok("cores", detail)
    }
}

/// `MemTotal` and `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn meminfo(text: &str) -> Option<(u64, Option<u64>)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("MemTotal")?, field("MemAvailable")))
}

/// Memory against [`MEMORY_PER_JOB`] for `jobs` jobs.
pub fn memory(meminfo_text: Option<&str>, jobs: usize) -> Check {
    let name = "memory";
    let Some((total, available)) = meminfo_text.and_then(meminfo) else {
        return Check::warn(
            name,
            "cannot read /proc/meminfo; Envoy needs about 2 GiB per job",
        );
    };
    let needed = MEMORY_PER_JOB * jobs as u64;
    let available = available
        .map(|a| format!(" ({} available now)", gib(a)))
        .unwrap_or_default();
    let detail = format!(
        "{}{available} for {jobs} jobs; Envoy needs about {} per job, {} in all",
        gib(total),
        gib(MEMORY_PER_JOB),
        gib(needed)
    );
    if total < MEMORY_PER_JOB {
        Check::fail(name, format!("{detail}: not enough for one job"))
    } else if total < needed {
        let fit = (total / MEMORY_PER_JOB).max(1);
        Check::warn(name, format!("{detail}: pass --jobs {fit}"))
    } else {
        Check::ok(name, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn meminfo_is_read_in_bytes() {
        let text = "MemTotal:       16303440 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(meminfo(text), Some((16303440 * 1024, Some(8000000 * 1024))));
        assert_eq!(meminfo("nothing"), None);
    }

    #[test]
    fn memory_is_judged_per_job() {
        let kb = |g: u64| format!("MemTotal: {} kB\n", g * 1024 * 1024);
        assert_eq!(memory(Some(&kb(16)), 8).status, Status::Ok);
        let low = memory(Some(&kb(8)), 8);
        assert_eq!(low.status, Status::Warn);
        assert!(low.detail.contains("--jobs 4"), "{}", low.detail);
        assert_eq!(memory(Some(&kb(1)), 1).status, Status::Fail);
        assert_eq!(memory(None, 1).status, Status::Warn);
    }

    #[test]
    fn few_cores_warn_with_a_time_estimate() {
        let c = cores(2, 2);
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("roughly 8 hours"), "{}", c.detail);
        assert_eq!(cores(16, 16).status, Status::Ok);
    }

    #[test]
    fn free_space_of_a_missing_dir_is_its_ancestors() {
        let dir = tempfile::tempdir().unwrap();
        let (free, at) = free_space(&dir.path().join("a/b")).unwrap();
        assert_eq!(at, dir.path());
        assert!(free > 0);
    }
}
