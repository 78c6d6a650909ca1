//! A long build step (Bazel's compile of Envoy, Go's build of pilot-agent) in the builder
//! container, or on this host with `--engine none`. Either way its output goes to the stage
//! log, and a Ctrl-C or SIGTERM stops it (and removes its container) instead of leaving it
//! running behind our back. In the container it runs as the caller, without a terminal, with
//! the work and cache dirs mounted at the same paths and the environment passed by name.

use std::ffi::OsString;
use std::path::PathBuf;

use super::args::{Mount, RunSpec, WORKDIR_LABEL, set_names, unique_name};
use super::guard::ContainerGuard;
use super::interrupt::{Watch, signal_name};
use super::{Engine, caller_ids};
use crate::report::Step;
use crate::run::{ChildPids, Cmd};
use crate::{Error, Reporter, Result};

/// One command of a stage and where it runs.
#[derive(Clone, Debug)]
pub struct Job {
    /// Names the container (`proxy-rpm-PURPOSE-…`) and the progress step.
    pub purpose: &'static str,
    /// `None`: run on this host.
    pub engine: Option<Engine>,
    /// The builder image (ignored on the host).
    pub image: String,
    /// The work dir the container works for: its label, so leftovers can be found.
    pub workdir: PathBuf,
    pub mounts: Vec<Mount>,
    /// Where the command starts.
    pub dir: PathBuf,
    /// Set on the host and in the container.
    pub env: Vec<(String, String)>,
    /// Set only in the container (e.g. `HOME`): on the host the caller's own stay.
    pub container_env: Vec<(String, String)>,
    /// Passed into the container by name when set here; on the host they are inherited.
    pub pass_env: &'static [&'static str],
    pub program: String,
    pub args: Vec<OsString>,
    pub log: PathBuf,
}

/// Why a job did not finish.
#[derive(Debug)]
pub enum Stop {
    /// Ctrl-C or SIGTERM came: the child was told to stop, its container removed.
    Interrupted {
        signal: i32,
        container: Option<String>,
    },
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

impl Stop {
    /// The error to report: a failure as it is; an interruption as "WHAT interrupted by
    /// SIGTERM: container NAME removed; HINT" (`PROGRAM stopped` on the host).
    pub fn into_error(self, what: &str, program: &str, hint: &str) -> Error {
        match self {
            Stop::Failed(e) => e,
            Stop::Interrupted { signal, container } => {
                let stopped = match container {
                    Some(name) => format!("container {name} removed"),
                    None => format!("{program} stopped"),
                };
                Error::failed(format!(
                    "{what} interrupted by {}: {stopped}; {hint}",
                    signal_name(signal)
                ))
            }
        }
    }
}

impl Job {
    /// The command as a plan shows it (the container name is one example of the unique names
    /// a real run picks).
    pub fn plan(&self) -> Result<Cmd> {
        Ok(self.command(&unique_name(self.purpose))?.0)
    }

    /// Run to the end, calling `on_line` with each line of output and the progress step. On
    /// success the step is the caller's to finish, after it has copied or checked the output.
    pub fn run(
        &self,
        reporter: &Reporter,
        mut on_line: impl FnMut(&str, &Step),
    ) -> std::result::Result<Step, Stop> {
        if let Some(engine) = &self.engine {
            // The image is ours and local: one that is missing is an error, never a pull.
            if !engine.has_image(&self.image, reporter) {
                return Err(Stop::Failed(super::missing_image(&self.image)));
            }
        }
        let (cmd, container) = self.command(&unique_name(self.purpose))?;
        let pids = ChildPids::new();
        let cmd = cmd.log(&self.log).track(&pids);
        // Dropped in reverse order: the watch stops reacting to signals, then the guard removes
        // the container if anything is left of it.
        let _guard = match (&self.engine, &container) {
            (Some(engine), Some(name)) => Some(ContainerGuard::new(engine, name, reporter)),
            _ => None,
        };
        let watch = Watch::new(&pids, self.engine.clone().zip(container.clone()))?;
        let step = reporter.step(self.purpose);
        let result = cmd.run_lines(reporter, |line| on_line(line, &step));
        if let Some(signal) = watch.signal() {
            step.finish("interrupted");
            return Err(Stop::Interrupted { signal, container });
        }
        if let Err(e) = result {
            step.finish("failed");
            return Err(Stop::Failed(e.into()));
        }
        Ok(step)
    }

    /// The command on the host, or wrapped in `ENGINE run`; the container's name when wrapped.
    fn command(&self, name: &str) -> Result<(Cmd, Option<String>)> {
        let Some(engine) = &self.engine else {
            let mut cmd = Cmd::new(&self.program).args(&self.args).dir(&self.dir);
            for (k, v) in &self.env {
                cmd = cmd.env(k, v);
            }
            return Ok((cmd, None));
        };
        let (uid, gid) = caller_ids()?;
        let mut spec = RunSpec::new(&self.image, self.purpose);
        spec.name = name.to_string();
        spec.labels = vec![(
            WORKDIR_LABEL.to_string(),
            self.workdir.to_string_lossy().into_owned(),
        )];
        spec.mounts = self.mounts.clone();
        spec.workdir = Some(self.dir.clone());
        spec.user = Some((uid, gid));
        spec.pass_env = set_names(self.pass_env);
        spec.set_env = self
            .container_env
            .iter()
            .chain(&self.env)
            .cloned()
            .collect();
        // Our output is a pipe to the log (and curses-style progress would garble it): no TTY.
        spec.tty = false;
        spec.command = std::iter::once(OsString::from(&self.program))
            .chain(self.args.iter().cloned())
            .collect();
        Ok((spec.to_cmd(engine)?, Some(name.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::EngineKind;

    fn job(engine: Option<Engine>) -> Job {
        Job {
            purpose: "agent",
            engine,
            image: "builder:1".into(),
            workdir: "/w".into(),
            mounts: vec![Mount {
                path: "/w".into(),
                read_only: false,
            }],
            dir: "/w/src".into(),
            env: vec![("CGO_ENABLED".into(), "0".into())],
            container_env: vec![("HOME".into(), "/c/home".into())],
            pass_env: &["PROXY_RPM_JOB_TEST_UNSET"],
            program: "go".into(),
            args: vec!["build".into()],
            log: "/w/logs/agent.log".into(),
        }
    }

    #[test]
    fn on_the_host_only_the_shared_env_is_set() {
        let shown = job(None).plan().unwrap().display();
        assert_eq!(shown, "(cd /w/src && CGO_ENABLED=0 go build)");
    }

    #[test]
    fn in_the_container_home_comes_first_and_unset_names_stay_out() {
        let engine = Engine::new(EngineKind::Podman, "podman", true);
        let cmd = job(Some(engine)).plan().unwrap();
        let words = cmd.words();
        assert!(words[3].starts_with("proxy-rpm-agent-"), "{words:?}");
        let at = words.iter().position(|w| w == "--userns=keep-id").unwrap();
        assert_eq!(
            words[at..],
            [
                "--userns=keep-id",
                "-v",
                "/w:/w",
                "-w",
                "/w/src",
                "-e",
                "HOME=/c/home",
                "-e",
                "CGO_ENABLED=0",
                "builder:1",
                "go",
                "build"
            ]
        );
        assert!(words.contains(&"io.proxy-rpm.workdir=/w".to_string()));
    }

    #[test]
    fn an_interruption_names_what_stopped() {
        let stop = Stop::Interrupted {
            signal: 15,
            container: None,
        };
        assert_eq!(
            stop.into_error("compile", "Bazel", "rerun to resume")
                .to_string(),
            "compile interrupted by SIGTERM: Bazel stopped; rerun to resume"
        );
        let stop = Stop::Interrupted {
            signal: 2,
            container: Some("c1".into()),
        };
        assert_eq!(
            stop.into_error("go build", "go", "rerun").to_string(),
            "go build interrupted by SIGINT: container c1 removed; rerun"
        );
    }
}
