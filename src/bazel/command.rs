//! The Bazel command line and what we read back from Bazel's output.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::CompileOptions;

/// The one target we build: Istio's `//...` would also build every test.
pub const TARGET: &str = "//src/envoy:envoy";
/// Where Bazel leaves the binary, relative to the source tree (a symlink into the output base).
pub const OUTPUT: &str = "bazel-bin/src/envoy/envoy";

/// The paths a compile uses, all absolute: the same strings inside the container and outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub workdir: PathBuf,
    /// `WORKDIR/src/istio-proxy`, the tree `prepare` made.
    pub tree: PathBuf,
    pub log: PathBuf,
    /// `WORKDIR/out/envoy`.
    pub output: PathBuf,
    pub cache_dir: PathBuf,
    /// One output base per source tree, so two work dirs never fight over one Bazel server.
    pub output_base: PathBuf,
    /// Bazel's install base lives here (not in `$HOME`, which a container user may not have).
    pub output_user_root: PathBuf,
    /// Downloads keyed by sha256, shared by every tree.
    pub repository_cache: PathBuf,
    /// `$HOME` inside the container (bazelisk, Go and Bazel keep caches there).
    pub home: PathBuf,
    /// The one rc passed with `--bazelrc`: `WORKDIR/bazel/compile.bazelrc` (see `rc`).
    pub bazelrc: PathBuf,
    /// What it imports: prepare's rc files, then the user's, absolute.
    pub rc_imports: Vec<PathBuf>,
    /// The `--distdir` directories, absolute.
    pub distdir: Vec<PathBuf>,
}

impl Layout {
    /// Resolve the paths of `options` without touching the disk beyond reading it.
    pub fn of(options: &CompileOptions) -> std::io::Result<Layout> {
        let workdir = absolute(&options.workdir)?;
        let cache_dir = absolute(&options.cache_dir)?;
        let tree = workdir.join(crate::source::TREE_DIR);
        let all = |paths: &[PathBuf]| -> std::io::Result<Vec<PathBuf>> {
            paths.iter().map(|p| absolute(p)).collect()
        };
        let imports: Vec<PathBuf> = options
            .our_bazelrc
            .iter()
            .chain(&options.user_bazelrc)
            .cloned()
            .collect();
        Ok(Layout {
            bazelrc: super::rc::path(&workdir),
            rc_imports: all(&imports)?,
            distdir: all(&options.distdir)?,
            log: workdir.join("logs").join("compile.log"),
            output: workdir.join("out").join("envoy"),
            output_base: output_base(&cache_dir, &tree),
            output_user_root: cache_dir.join("bazel").join("user_root"),
            repository_cache: cache_dir.join("bazel").join("repository_cache"),
            home: cache_dir.join("home"),
            tree,
            workdir,
            cache_dir,
        })
    }
}

/// `CACHE/bazel/output_base/<12 hex of sha256 of the tree path>`: stable across reruns of the
/// same work dir, which is what lets a rerun resume.
pub fn output_base(cache_dir: &Path, tree: &Path) -> PathBuf {
    let digest = Sha256::digest(tree.as_os_str().as_encoded_bytes());
    cache_dir
        .join("bazel")
        .join("output_base")
        .join(&hex::encode(digest)[..12])
}

/// An absolute path with symlinks resolved as far as the path exists: a container sees the
/// real directory, so the path must be the real one for "same path inside" to hold.
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return Ok(abs),
        }
    }
}

/// `bazel <startup options> build <build options> //src/envoy:envoy`. Startup options (output
/// base, install root, `--bazelrc`) must come before the command or Bazel rejects them. One
/// `--bazelrc` only: Bazel 2.2.0 honours a single one (see `rc`).
pub fn bazel_args(options: &CompileOptions, layout: &Layout) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let flag = |name: &str, value: &Path| {
        let mut s = OsString::from(format!("--{name}="));
        s.push(value);
        s
    };
    args.push(flag("output_user_root", &layout.output_user_root));
    args.push(flag("output_base", &layout.output_base));
    args.push(flag("bazelrc", &layout.bazelrc));
    args.push("build".into());
    args.push("--config=release".into());
    args.push(flag("repository_cache", &layout.repository_cache));
    for dir in &layout.distdir {
        args.push(flag("distdir", dir));
    }
    if let Some(jobs) = options
        .jobs
        .or_else(|| super::remote::default_jobs(&options.remote))
    {
        args.push(format!("--jobs={jobs}").into());
    }
    args.extend(super::remote::bazel_flags(&options.remote));
    args.extend(options.bazel_args.iter().map(OsString::from));
    args.push(TARGET.into());
    args
}

/// Bazel's `[1,234 / 5,678]` action counts at the start of a progress line.
pub fn action_counts(line: &str) -> Option<(u64, u64)> {
    let inner = line.strip_prefix('[')?;
    let (counts, _) = inner.split_once(']')?;
    let (done, total) = counts.split_once(" / ")?;
    let number = |s: &str| -> Option<u64> {
        let digits: String = s.trim().chars().filter(|c| *c != ',').collect();
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    Some((number(done)?, number(total)?))
}

/// The last `INFO: N processes: …` line of a compile log, without `INFO: ` (the summary of
/// the last Bazel run there), for summaries after the fact.
pub fn last_process_summary(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find_map(process_summary)
        .map(str::to_string)
}

/// Bazel's summary of how actions ran, e.g. `INFO: 6 processes: 2 remote cache hit, 4 internal.`
pub fn process_summary(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("INFO: ")?;
    let (count, _) = rest.split_once(' ')?;
    (count.chars().all(|c| c.is_ascii_digit() || c == ',')
        && (rest.contains(" processes: ") || rest.contains(" process: ")))
    .then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_and_without_thousands_separators() {
        assert_eq!(action_counts("[0 / 1] [Prepa] stable-status"), Some((0, 1)));
        assert_eq!(
            action_counts("[1,234 / 5,678] Compiling a.cc; 3s linux-sandbox"),
            Some((1234, 5678))
        );
        assert_eq!(action_counts("[sandbox] no"), None);
        assert_eq!(action_counts("INFO: [1 / 2]"), None);
    }

    #[test]
    fn process_summaries() {
        assert_eq!(
            process_summary("INFO: 6 processes: 2 remote cache hit, 4 internal."),
            Some("6 processes: 2 remote cache hit, 4 internal.")
        );
        assert_eq!(
            process_summary("INFO: 1 process: 1 internal."),
            Some("1 process: 1 internal.")
        );
        assert_eq!(process_summary("INFO: Elapsed time: 0.4s"), None);
    }

    #[test]
    fn absolute_resolves_the_existing_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        let p = absolute(&real.join("link").join("not").join("yet")).unwrap();
        assert_eq!(p, real.join("not").join("yet"));
    }
}
