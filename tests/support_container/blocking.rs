//! A build held in the middle of a long step, without sleeps: the step's stand-in (Bazel's,
//! Go's) reads a fifo the test made, so it blocks there until the test lets go. Opening the
//! fifo for writing returns once the stand-in opened it to read, which tells the test that the
//! build is in that step; the test can then signal it.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};

use super::{PATIENCE, describe, signal};

/// What happened first.
pub enum Event {
    /// The stand-in is reading the fifo: holding this writer keeps it waiting.
    Blocked(File),
    /// The build ended (before blocking, or after a signal).
    Exited(Output),
}

/// A spawned build and what it does.
pub struct Held {
    pub pid: u32,
    events: Receiver<Event>,
}

/// Make a fifo at `path`.
pub fn make_fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

impl Held {
    /// Start `cmd` with its output captured, and watch for a reader of `fifo`.
    pub fn spawn(cmd: &mut Command, fifo: &Path) -> Held {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, events) = channel();
        let blocked = tx.clone();
        let fifo = fifo.to_path_buf();
        std::thread::spawn(move || {
            if let Ok(writer) = OpenOptions::new().write(true).open(fifo) {
                let _ = blocked.send(Event::Blocked(writer));
            }
        });
        std::thread::spawn(move || {
            let _ = tx.send(Event::Exited(child.wait_with_output().unwrap()));
        });
        Held { pid, events }
    }

    /// The next event; a build that does nothing for [`PATIENCE`] has hung.
    pub fn next(&self) -> Event {
        self.events.recv_timeout(PATIENCE).expect("the build hung")
    }

    /// The writer once the stand-in reads the fifo; a build that ended before `step` is a
    /// failure to show, not something to wait for.
    pub fn blocked(&self, step: &str) -> File {
        match self.next() {
            Event::Blocked(writer) => writer,
            Event::Exited(out) => panic!("the build ended before {step}: {}", describe(&out)),
        }
    }

    /// SIGTERM to the held build, and how it ended; the stand-in is let go only after that.
    pub fn terminate(&self, writer: File) -> Output {
        signal(self.pid, "TERM");
        let Event::Exited(out) = self.next() else {
            unreachable!("the fifo opens once")
        };
        drop(writer);
        out
    }
}
