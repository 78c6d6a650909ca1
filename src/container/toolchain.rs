//! The builder image's toolchain self-check. The built-in image runs
//! `containers/centos7/toolchain-check.sh` as its last build step; an image given with `--image`
//! gets the same script before compile uses it, so a missing tool fails in seconds, not an hour
//! into Envoy's build (or pilot-agent's).

use std::ffi::OsString;

use super::Engine;
use super::args::RunSpec;
use crate::run::Cmd;
use crate::{Error, Reporter, Result};

/// The check (POSIX sh, shell builtins only), also written into the built-in image's context.
pub const TOOLCHAIN_CHECK: &str = include_str!("../../containers/centos7/toolchain-check.sh");
/// Its name in the build context, where the Dockerfile `COPY`s it from.
pub const TOOLCHAIN_CHECK_FILE: &str = "toolchain-check.sh";

/// Run the check in `image` through its entry point (the real image enables devtoolset-7 and
/// rh-git218 there), also for the `extra` tools a release line needs (`python3`, `gn`: its
/// profile's `builder.needs`). One line of error naming every missing or wrong tool.
pub fn check(engine: &Engine, image: &str, extra: &[&str], reporter: &Reporter) -> Result<()> {
    let cmd = check_cmd(engine, image, extra)?;
    reporter.verbose(format!("+ {} (toolchain check)", shown(&cmd)));
    let mut lines = Vec::new();
    // The lines become the error or the summary; they are not echoed as they come.
    let result = cmd.run_lines(&Reporter::silent(), |line| lines.push(line.to_string()));
    let problems: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| is_problem(l))
        .collect();
    match result {
        Ok(()) => {
            let summary = lines
                .iter()
                .rev()
                .find(|l| l.starts_with("toolchain ok"))
                .map_or("toolchain ok", String::as_str);
            reporter.info(format!("image {image}: {summary}"));
            Ok(())
        }
        // The script ran and found problems; any other failure is the engine's (no such
        // image, no `sh` in it…) and keeps its own error.
        Err(_) if !problems.is_empty() => Err(lacks(image, &problems, extra)),
        Err(e) => Err(e.into()),
    }
}

/// `ENGINE run --rm … IMAGE sh -c SCRIPT toolchain-check [EXTRA…]`: no TTY, no mounts, no
/// environment passed in (the check downloads nothing); the extra names are the script's
/// arguments.
pub fn check_cmd(engine: &Engine, image: &str, extra: &[&str]) -> Result<Cmd> {
    let mut spec = RunSpec::new(image, "toolchain-check");
    spec.pass_env.clear();
    spec.command = ["sh", "-c", TOOLCHAIN_CHECK, "toolchain-check"]
        .into_iter()
        .chain(extra.iter().copied())
        .map(OsString::from)
        .collect();
    spec.to_cmd(engine)
}

/// A line of the script's report about one tool.
fn is_problem(line: &str) -> bool {
    line.starts_with("missing ") || line.starts_with("wrong ")
}

/// The refusal, saying which image to build instead: the variant with these extra tools.
fn lacks(image: &str, problems: &[&str], extra: &[&str]) -> Error {
    let rebuild = match super::variant::with_needs(extra) {
        Some(variant) => format!("proxy-rpm image --variant {}", variant.name),
        None => "proxy-rpm image".to_string(),
    };
    Error::input(format!(
        "image {image} lacks what the build needs: {}; rebuild it with `{rebuild}` or fix it",
        problems.join("; ")
    ))
}

/// The command without the script's text (it would fill the screen at `-v` and in plans), but
/// with the extra tool names it asks about.
pub fn shown(cmd: &Cmd) -> String {
    let full = cmd.display();
    let Some(at) = full.find(" sh -c ") else {
        return full;
    };
    let words = cmd.words();
    // After the script comes its $0, then the names.
    let extra = words
        .iter()
        .position(|a| a == TOOLCHAIN_CHECK)
        .map(|i| words[i + 2..].to_vec())
        .unwrap_or_default();
    let mut shown = format!("{} sh -c <{TOOLCHAIN_CHECK_FILE}>", &full[..at]);
    for name in extra {
        shown.push(' ');
        shown.push_str(&name);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::EngineKind;

    #[test]
    fn the_check_runs_the_script_through_the_entry_point_without_a_terminal() {
        let engine = Engine::new(EngineKind::Podman, "podman", true);
        let cmd = check_cmd(&engine, "builder:1", &[]).unwrap();
        let args = cmd.words();
        let at = args.iter().position(|a| a == "builder:1").unwrap();
        assert_eq!(
            args[at + 1..],
            ["sh", "-c", TOOLCHAIN_CHECK, "toolchain-check"]
        );
        assert_eq!(args[0], "run");
        assert!(args.contains(&"--rm".to_string()));
        for bad in ["-t", "-i", "-it", "--entrypoint", "-e"] {
            assert!(!args[..at].contains(&bad.to_string()), "{bad} in {args:?}");
        }
        let shown = shown(&cmd);
        assert!(shown.starts_with("podman run --rm"), "{shown}");
        assert!(
            shown.ends_with(" builder:1 sh -c <toolchain-check.sh>"),
            "{shown}"
        );
    }

    #[test]
    fn extra_tools_are_the_scripts_arguments_and_show_in_the_plan() {
        let engine = Engine::new(EngineKind::Podman, "podman", true);
        let cmd = check_cmd(&engine, "builder:2", &["python3", "gn"]).unwrap();
        let args = cmd.arguments();
        let at = args.iter().position(|a| a == "builder:2").unwrap();
        assert_eq!(
            args[at + 1..],
            [
                "sh",
                "-c",
                TOOLCHAIN_CHECK,
                "toolchain-check",
                "python3",
                "gn"
            ]
        );
        let shown = shown(&cmd);
        assert!(
            shown.ends_with(" builder:2 sh -c <toolchain-check.sh> python3 gn"),
            "{shown}"
        );
    }

    #[test]
    fn problems_make_one_line_naming_each_tool() {
        let lines = [
            "missing gcc: expected devtoolset-7's gcc 7.x",
            "some engine warning",
            "wrong clang: found 14.0.0, expected 9.0.0",
        ];
        let problems: Vec<&str> = lines.into_iter().filter(|l| is_problem(l)).collect();
        let err = lacks("img:1", &problems, &[]).to_string();
        assert_eq!(
            err,
            "image img:1 lacks what the build needs: missing gcc: expected devtoolset-7's \
             gcc 7.x; wrong clang: found 14.0.0, expected 9.0.0; rebuild it with \
             `proxy-rpm image` or fix it"
        );
        // Missing a variant's tools: build that variant.
        let err = lacks("img:1", &["missing gn: expected gn"], &["python3", "gn"]).to_string();
        assert!(
            err.ends_with(
                "; rebuild it with `proxy-rpm image --variant centos7-python3-gn` or fix it"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_script_checks_what_the_issue_names() {
        for tool in [
            "gcc", "clang", "cmake", "ninja", "python", "git", "patch", "make", "autoconf",
            "automake", "libtool", "unzip", "bazelisk",
        ] {
            assert!(
                TOOLCHAIN_CHECK.contains(&format!(" {tool}")),
                "{tool} is not checked"
            );
        }
        assert!(TOOLCHAIN_CHECK.starts_with("#!/bin/sh\n"));
        // The extra names a profile can ask for, each checked by name.
        for extra in ["python3)", "gn)"] {
            assert!(TOOLCHAIN_CHECK.contains(extra), "{extra} is not checked");
        }
    }
}
