//! The one place external programs are run (git, podman/docker, bazel, gpg, createrepo_c).
//! It logs the shell-quoted command at `-v`, sends output to a stage log when asked, and on
//! failure returns a [`CommandError`] with the program, arguments, exit status and the last
//! lines of output.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::report::Reporter;

/// How many trailing output lines an error carries.
const TAIL_LINES: usize = 20;

/// A command to run, built up like `std::process::Command`, but displayable and logged.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    dir: Option<PathBuf>,
    log: Option<PathBuf>,
    track: Option<ChildPids>,
}

/// The process ids of a command while it runs, shared with a signal handler that must stop it
/// (see `container::interrupt`). Empty before the child starts and after it exits. Once
/// [`ChildPids::stop`] was called, a command tracked by it no longer starts: a signal that comes
/// between the handler's setup and the spawn would otherwise find nothing to stop, and the
/// child would run to its end.
#[derive(Clone, Debug, Default)]
pub struct ChildPids(Arc<Mutex<Tracked>>);

#[derive(Debug, Default)]
struct Tracked {
    pids: Vec<u32>,
    stopped: bool,
}

impl ChildPids {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self) -> Vec<u32> {
        self.lock().pids.clone()
    }

    /// Ask the tracked command to stop: returns the ids running now (for the caller to signal),
    /// and keeps a command not started yet from starting.
    pub fn stop(&self) -> Vec<u32> {
        let mut tracked = self.lock();
        tracked.stopped = true;
        tracked.pids.clone()
    }

    fn set(&self, pids: Vec<u32>) {
        self.lock().pids = pids;
    }

    /// Spawn under the lock, unless stopped, and publish the child's ids before letting go: a
    /// concurrent [`ChildPids::stop`] either comes first (nothing starts: `None`) or sees them.
    fn start<T>(
        &self,
        spawn: impl FnOnce() -> std::io::Result<T>,
        pids: impl FnOnce(&T) -> Vec<u32>,
    ) -> Option<std::io::Result<T>> {
        let mut tracked = self.lock();
        if tracked.stopped {
            return None;
        }
        let child = spawn();
        if let Ok(child) = &child {
            tracked.pids = pids(child);
        }
        Some(child)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A command that failed: what ran, how it ended, and what it said last.
#[derive(Debug, thiserror::Error)]
pub struct CommandError {
    pub command: String,
    /// `None` when the program could not be started at all.
    pub status: Option<i32>,
    pub start_error: Option<String>,
    pub log: Option<PathBuf>,
    pub tail: Vec<String>,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.start_error, self.status) {
            (Some(e), _) => write!(f, "could not run `{}`: {e}", self.command)?,
            (None, Some(code)) => write!(f, "`{}` failed with exit status {code}", self.command)?,
            (None, None) => write!(f, "`{}` was killed by a signal", self.command)?,
        }
        if let Some(log) = &self.log {
            write!(f, " (log: {})", log.display())?;
        }
        if !self.tail.is_empty() {
            write!(f, "\n  last output:")?;
            for line in &self.tail {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            dir: None,
            log: None,
            track: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env_remove.push(key.as_ref().to_owned());
        self
    }

    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Append the command's stdout and stderr to this log file instead of inheriting them.
    pub fn log(mut self, path: impl AsRef<Path>) -> Self {
        self.log = Some(path.as_ref().to_path_buf());
        self
    }

    /// Publish the child's process ids in `pids` while `run`/`run_lines` waits for it.
    pub fn track(mut self, pids: &ChildPids) -> Self {
        self.track = Some(pids.clone());
        self
    }

    pub fn program(&self) -> &OsStr {
        &self.program
    }

    pub fn arguments(&self) -> &[OsString] {
        &self.args
    }

    /// The arguments as (lossy) strings, for comparing command lines.
    pub fn words(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The command as a shell would need it typed (used in logs, errors and `--dry-run`).
    pub fn display(&self) -> String {
        let mut words: Vec<String> = Vec::new();
        if let Some(dir) = &self.dir {
            words.push(format!("(cd {} &&", quote(dir.as_os_str())));
        }
        for (k, v) in &self.env {
            words.push(format!("{}={}", k.to_string_lossy(), quote(v)));
        }
        words.push(quote(&self.program));
        words.extend(self.args.iter().map(|a| quote(a)));
        let mut s = words.join(" ");
        if self.dir.is_some() {
            s.push(')');
        }
        s
    }

    fn expression(&self) -> duct::Expression {
        let mut e = duct::cmd(&self.program, &self.args).unchecked();
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        for k in &self.env_remove {
            e = e.env_remove(k);
        }
        if let Some(dir) = &self.dir {
            e = e.dir(dir);
        }
        e
    }

    fn error(&self, status: Option<i32>, tail: Vec<String>) -> CommandError {
        CommandError {
            command: self.display(),
            status,
            start_error: None,
            log: self.log.clone(),
            tail,
        }
    }

    fn start_error(&self, e: std::io::Error) -> CommandError {
        CommandError {
            command: self.display(),
            status: None,
            start_error: Some(e.to_string()),
            log: self.log.clone(),
            tail: Vec::new(),
        }
    }

    /// Run to completion. Output goes to the log if one is set, else to our stderr
    /// (stdout is reserved for the artifact path).
    pub fn run(&self, reporter: &Reporter) -> Result<(), CommandError> {
        self.run_lines(reporter, |_| {})
    }

    /// Run to completion, calling `on_line` for every line of (merged) output as it arrives,
    /// e.g. to draw Bazel's `[N / M]` progress. Lines go to the log, or to stderr.
    pub fn run_lines(
        &self,
        reporter: &Reporter,
        mut on_line: impl FnMut(&str),
    ) -> Result<(), CommandError> {
        reporter.verbose(format!("+ {}", self.display()));
        let mut log = match &self.log {
            Some(path) => Some(open_log(path).map_err(|e| self.start_error(e))?),
            None => None,
        };
        if let Some(log) = log.as_mut() {
            let _ = writeln!(log, "+ {}", self.display());
        }
        let spawn = || self.expression().stderr_to_stdout().reader();
        let reader = match &self.track {
            None => spawn(),
            Some(track) => track.start(spawn, |r| r.pids()).unwrap_or_else(|| {
                Err(std::io::Error::other(
                    "not started: a stop was asked for (Ctrl-C or SIGTERM)",
                ))
            }),
        }
        .map_err(|e| self.start_error(e))?;
        let mut tail = std::collections::VecDeque::with_capacity(TAIL_LINES);
        let mut lines = BufReader::new(&reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match lines.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(self.start_error(e)),
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            match log.as_mut() {
                Some(log) => {
                    let _ = writeln!(log, "{line}");
                }
                None if !reporter.is_quiet() => eprintln!("{line}"),
                None => {}
            }
            on_line(line);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
        }
        drop(lines);
        let output = reader.try_wait();
        if let Some(track) = &self.track {
            track.set(Vec::new());
        }
        let output = output
            .map_err(|e| self.start_error(e))?
            .expect("reader reached EOF, so the child has exited")
            .clone();
        if output.status.success() {
            Ok(())
        } else {
            Err(self.error(output.status.code(), tail.into()))
        }
    }

    /// Run and return stdout (trimmed of the final newline). Stderr is kept for the error.
    pub fn read(&self, reporter: &Reporter) -> Result<String, CommandError> {
        let stdout = self.read_bytes(reporter)?;
        let mut s = String::from_utf8_lossy(&stdout).into_owned();
        if s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// Run and return stdout byte for byte (for file contents, e.g. `git cat-file blob`).
    pub fn read_bytes(&self, reporter: &Reporter) -> Result<Vec<u8>, CommandError> {
        reporter.verbose(format!("+ {}", self.display()));
        let output = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .run()
            .map_err(|e| self.start_error(e))?;
        if let Some(path) = &self.log
            && let Ok(mut log) = open_log(path)
        {
            let _ = writeln!(log, "+ {}", self.display());
            let _ = log.write_all(&output.stderr);
        }
        if output.status.success() {
            Ok(output.stdout)
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            let tail = lines[lines.len().saturating_sub(TAIL_LINES)..]
                .iter()
                .map(|s| s.to_string())
                .collect();
            Err(self.error(output.status.code(), tail))
        }
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Quote one word for a POSIX shell.
pub fn quote(word: &OsStr) -> String {
    shell_words::quote(&word.to_string_lossy()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command that would leave a file behind, and where.
    fn marking(dir: &Path) -> (Cmd, PathBuf) {
        let marker = dir.join("ran");
        let cmd = Cmd::new("sh").args(["-c", ": > \"$1\"", "sh"]).arg(&marker);
        (cmd, marker)
    }

    #[test]
    fn a_stopped_tracker_keeps_its_command_from_starting() {
        let dir = tempfile::tempdir().unwrap();
        let (cmd, marker) = marking(dir.path());
        let pids = ChildPids::new();
        assert!(pids.stop().is_empty(), "nothing runs yet");
        let err = cmd
            .clone()
            .track(&pids)
            .run(&Reporter::silent())
            .unwrap_err();
        assert!(err.to_string().contains("not started"), "{err}");
        assert!(!marker.exists(), "the command ran after the stop");

        // Tracked but not stopped, it runs, and leaves no ids behind.
        let fresh = ChildPids::new();
        cmd.track(&fresh).run(&Reporter::silent()).unwrap();
        assert!(marker.exists());
        assert!(fresh.get().is_empty());
    }

    #[test]
    fn ids_are_published_while_the_command_runs() {
        let pids = ChildPids::new();
        let mut seen = Vec::new();
        Cmd::new("sh")
            .args(["-c", "echo up"])
            .track(&pids)
            .run_lines(&Reporter::silent(), |_| seen = pids.get())
            .unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(pids.get().is_empty());
    }
}
