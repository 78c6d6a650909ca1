//! A tiny Bazel workspace for Debian's bazel-bootstrap (Bazel 4.2.3), which builds offline
//! when given Debian's rules_cc and rules_java with `--override_repository`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{output, runs, text};

const RULES: &str = "/usr/share/bazel/rules";

/// Debian's Bazel, its rules and a C++ compiler are installed.
pub fn bazel_ready() -> Result<(), String> {
    if !runs("bazel", &["--version"]) && !Path::new("/usr/bin/bazel").exists() {
        return Err("bazel is not installed (apt-get install bazel-bootstrap)".into());
    }
    for (dir, package) in [("cc", "bazel-rules-cc"), ("java", "bazel-rules-java")] {
        if !Path::new(RULES).join(dir).is_dir() {
            return Err(format!(
                "{RULES}/{dir} is missing (apt-get install {package})"
            ));
        }
    }
    if !runs("g++", &["--version"]) {
        return Err("g++ is not installed (apt-get install g++)".into());
    }
    Ok(())
}

/// Copies of Debian's rules_cc and rules_java under `dir`; rules_cc 0.0.4 calls
/// `use_cpp_toolchain()`, which Bazel 4.2.3 lacks: its uses become the toolchain type label.
pub fn rules(dir: &Path) -> (PathBuf, PathBuf) {
    let cc = dir.join("rules_cc");
    let java = dir.join("rules_java");
    for (from, to) in [("cc", &cc), ("java", &java)] {
        let out = output(
            Command::new("cp")
                .arg("-r")
                .arg(Path::new(RULES).join(from))
                .arg(to),
        );
        assert!(out.status.success(), "cp: {}", text(&out.stderr));
    }
    patch_bzl(&cc);
    (cc, java)
}

fn patch_bzl(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            patch_bzl(&path);
        } else if path.extension().is_some_and(|e| e == "bzl") {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("use_cpp_toolchain") {
                let text = text.replace(", \"use_cpp_toolchain\"", "").replace(
                    "use_cpp_toolchain()",
                    "[\"@bazel_tools//tools/cpp:toolchain_type\"]",
                );
                std::fs::write(&path, text).unwrap();
            }
        }
    }
}

/// A line the fixture Envoy prints only when built with `-DFROM_EXTRA` (an extra `--bazelrc`).
pub const EXTRA_LINE: &str = "built with the extra bazelrc";

/// A workspace whose `//src/envoy:envoy` compiles only if both the workspace's
/// `build:release` config and prepare's bazelrc were applied: the bazelrc and workspace-status
/// script are the ones `prepare` writes (the library's own text), so the CentOS 7 cxxopts
/// must reach the compiler. The binary prints [`EXTRA_LINE`] when `FROM_EXTRA` is defined.
pub fn write_workspace(workdir: &Path, tree: &Path) {
    let version: proxy_rpm::release::IstioVersion = "1.6.14".parse().unwrap();
    let pin = "0123456789abcdef0123456789abcdef01234567";
    let status = workdir.join("bazel/workspace-status.sh");
    let main = format!(
        "#include <cstdio>\n\
         #ifndef FIXTURE_RELEASE\n#error \"--config=release was not applied\"\n#endif\n\
         #ifndef ENVOY_IGNORE_GLIBCXX_USE_CXX11_ABI_ERROR\n\
         #error \"prepare's bazelrc (the CentOS 7 cxxopts) was not applied\"\n#endif\n\
         #if _GLIBCXX_USE_CXX11_ABI != 1\n#error \"_GLIBCXX_USE_CXX11_ABI is not 1\"\n#endif\n\
         int main() {{\n  std::puts(\"fixture envoy\");\n\
         #ifdef FROM_EXTRA\n  std::puts(\"{EXTRA_LINE}\");\n#endif\n  return 0;\n}}\n"
    );
    let files = [
        (
            tree.join("WORKSPACE"),
            "workspace(name = \"fixture\")\n".to_string(),
        ),
        (
            tree.join(".bazelrc"),
            "build:release -c opt\nbuild:release --copt=-DFIXTURE_RELEASE=1\n".to_string(),
        ),
        (
            tree.join("src/envoy/BUILD"),
            "cc_binary(\n    name = \"envoy\",\n    srcs = [\"main.cc\"],\n)\n".to_string(),
        ),
        (tree.join("src/envoy/main.cc"), main),
        (
            proxy_rpm::source::bazelrc_path(workdir),
            proxy_rpm::source::files::bazelrc(version, pin, &status),
        ),
        (
            status.clone(),
            proxy_rpm::source::files::workspace_status(version, pin),
        ),
    ];
    for (path, content) in files {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
    }
    std::fs::set_permissions(&status, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Bazel's `--announce_rc` output in `log` says it read `option` for `build` from `file`.
pub fn assert_rc_read(log: &str, file: &Path, option: &str) {
    let announced = format!("Reading rc options for 'build' from {}:", file.display());
    let at = log
        .find(&announced)
        .unwrap_or_else(|| panic!("{announced:?} missing from the log:\n{log}"));
    let next = log[at..].lines().nth(1).unwrap_or_default();
    assert!(next.contains(option), "{option:?} not in {next:?}");
}

/// Shuts down the Bazel servers of the given output bases when dropped (they would otherwise
/// idle for hours after the test).
pub struct Servers {
    pub cache_dirs: Vec<PathBuf>,
    /// The workspace the servers serve: a shutdown from elsewhere restarts a server first.
    pub tree: PathBuf,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for cache in &self.cache_dirs {
            let bases = cache.join("bazel/output_base");
            let Ok(entries) = std::fs::read_dir(&bases) else {
                continue;
            };
            for entry in entries.flatten() {
                let _ = Command::new("bazel")
                    .current_dir(&self.tree)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .arg(format!(
                        "--output_user_root={}",
                        cache.join("bazel/user_root").display()
                    ))
                    .arg(format!("--output_base={}", entry.path().display()))
                    .arg("shutdown")
                    .status();
            }
        }
    }
}
