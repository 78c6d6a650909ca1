//! Ctrl-C and SIGTERM while a long child runs (a Bazel build lasts hours): the child is told to
//! stop, its container is killed and removed, and the waiting caller learns which signal came,
//! so that it returns an error instead of leaving a build running behind our back.
//!
//! One thread receives the signals for the whole process. While no [`Watch`] is alive a signal
//! does what it would without us (the process ends), so stages that need no cleanup keep the
//! default behaviour.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::Engine;
use crate::run::{ChildPids, Cmd};
use crate::{Error, Reporter, Result};

#[derive(Clone)]
struct Entry {
    id: u64,
    pids: ChildPids,
    container: Option<(Engine, String)>,
    signal: Arc<AtomicI32>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Stops a running child (and its container) on SIGINT/SIGTERM for as long as it lives.
pub struct Watch {
    id: u64,
    signal: Arc<AtomicI32>,
}

impl Watch {
    /// On a signal: forward it to `pids` (the child started with `Cmd::track`), or keep that
    /// child from starting if it has not yet, then, when a container is named, kill and remove
    /// it.
    pub fn new(pids: &ChildPids, container: Option<(Engine, String)>) -> Result<Watch> {
        install()?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let signal = Arc::new(AtomicI32::new(0));
        lock().push(Entry {
            id,
            pids: pids.clone(),
            container,
            signal: signal.clone(),
        });
        Ok(Watch { id, signal })
    }

    /// The signal that arrived while this watch was alive, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        lock().retain(|e| e.id != self.id);
    }
}

/// `SIGTERM` for 15, and so on (for messages).
pub fn signal_name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".to_string(),
        SIGTERM => "SIGTERM".to_string(),
        other => format!("signal {other}"),
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn install() -> Result<()> {
    INSTALLED
        .get_or_init(|| {
            let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
            std::thread::Builder::new()
                .name("proxy-rpm-signals".into())
                .spawn(move || {
                    for signal in signals.forever() {
                        on_signal(signal);
                    }
                })
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::failed(format!("cannot watch for Ctrl-C/SIGTERM: {e}")))
}

fn on_signal(signal: i32) {
    let entries: Vec<Entry> = lock().clone();
    if entries.is_empty() {
        // Nothing of ours is running: end the process as if we had installed no handler.
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        return;
    }
    let quiet = Reporter::silent();
    let name = if signal == SIGINT { "INT" } else { "TERM" };
    for entry in entries {
        entry.signal.store(signal, Ordering::SeqCst);
        // Marked stopped too: a child about to be spawned is then never started.
        for pid in entry.pids.stop() {
            let _ = Cmd::new("kill")
                .args(["-s", name, &pid.to_string()])
                .read(&quiet);
        }
        if let Some((engine, container)) = entry.container {
            for cmd in engine.kill_and_remove(&container) {
                let _ = cmd.read(&quiet);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SIGTERM after the watch began but before the child was spawned: the handler finds no
    /// process, so the child must not start at all (it would run to its end unwatched).
    #[test]
    fn a_signal_before_the_spawn_keeps_the_child_from_starting() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let pids = ChildPids::new();
        let watch = Watch::new(&pids, None).unwrap();
        // What the signal thread does on SIGTERM (called here, so no real signal and no wait).
        on_signal(SIGTERM);
        assert_eq!(watch.signal(), Some(SIGTERM));
        let ran = Cmd::new("sh")
            .args(["-c", ": > \"$1\"", "sh"])
            .arg(&marker)
            .track(&pids)
            .run(&Reporter::silent());
        assert!(ran.is_err());
        assert!(!marker.exists(), "the child ran after the signal");
        drop(watch);
    }
}
