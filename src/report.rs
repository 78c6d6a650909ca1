//! The one place diagnostics go: stderr, filtered by `-q`/`-v`. Stdout is kept for the artifact
//! path so that `rpm=$(proxy-rpm build 1.6.14)` works.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Debug)]
pub struct Reporter {
    quiet: bool,
    verbose: u8,
    terminal: bool,
}

impl Reporter {
    pub fn new(quiet: bool, verbose: u8) -> Self {
        Reporter {
            quiet,
            verbose,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// A reporter that prints nothing but errors (for tests and library callers).
    pub fn silent() -> Self {
        Reporter {
            quiet: true,
            verbose: 0,
            terminal: false,
        }
    }

    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Progress and results a user wants to see by default.
    pub fn info(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// Something the user should know about even with `-q`? No: `-q` means errors only.
    pub fn warn(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("warning: {}", message.as_ref());
        }
    }

    /// Details shown with `-v`, such as the shell-quoted commands we run.
    pub fn verbose(&self, message: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// Print an error and each of its causes, one per line.
    pub fn error(&self, err: &dyn std::error::Error) {
        let mut shown = err.to_string();
        eprintln!("error: {shown}");
        let mut source = err.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            // Most of our messages already end with their cause's text; do not repeat it.
            if !shown.contains(&text) {
                eprintln!("  caused by: {text}");
            }
            shown = text;
            source = cause.source();
        }
    }

    /// Start a long step: a spinner with elapsed time on a terminal, a plain line otherwise.
    pub fn step(&self, name: &str) -> Step {
        let bar = if self.terminal && !self.quiet {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {wide_msg}")
                    .expect("static template"),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            Some(bar)
        } else {
            self.info(format!("==> {name}"));
            None
        };
        Step {
            name: name.to_string(),
            started: Instant::now(),
            bar,
            quiet: self.quiet,
        }
    }
}

/// A running step; `message` updates the spinner, `finish` prints the elapsed time.
pub struct Step {
    name: String,
    started: Instant,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Step {
    /// Update the progress line (only drawn on a terminal; plain output stays quiet).
    pub fn message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// End the step with a line saying how long it took.
    pub fn finish(self, outcome: &str) -> Duration {
        let elapsed = self.started.elapsed();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.quiet {
            eprintln!(
                "    {} {} in {:.1}s",
                self.name,
                outcome,
                elapsed.as_secs_f64()
            );
        }
        elapsed
    }
}
