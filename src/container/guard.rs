//! A build container must not outlive the command that started it: `--rm` removes it when it
//! exits, but not when the engine client is killed or we return early. The guard removes it
//! when dropped, whatever happened.

use super::Engine;
use crate::Reporter;

/// Kills and removes the named container when dropped (errors ignored: usually it is gone).
pub struct ContainerGuard {
    engine: Engine,
    name: String,
    reporter: Reporter,
}

impl ContainerGuard {
    pub fn new(engine: &Engine, name: &str, reporter: &Reporter) -> ContainerGuard {
        ContainerGuard {
            engine: engine.clone(),
            name: name.to_string(),
            reporter: reporter.clone(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        // `read` keeps the engine's "no such container" out of the user's terminal.
        for cmd in self.engine.kill_and_remove(&self.name) {
            let _ = cmd.read(&self.reporter);
        }
    }
}
