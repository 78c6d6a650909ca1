//! What a build has finished: `WORKDIR/state.json`, one record per stage with the hash of the
//! stage's inputs and what it produced. Written atomically after each stage, so a kill at any
//! point leaves either the old or the new state, never a torn one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::stage::Stage;
use crate::error::{Error, IoContext, Result};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    /// SHA-256 over the stage's inputs; a change means the stage runs again.
    pub inputs: String,
    /// What the stage produced (paths, the pin, the image tag…), for later stages.
    pub outputs: BTreeMap<String, String>,
    pub seconds: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub stages: BTreeMap<String, StageRecord>,
}

impl State {
    pub fn path(workdir: &Path) -> PathBuf {
        workdir.join("state.json")
    }

    pub fn load(workdir: &Path) -> Result<State> {
        let path = State::path(workdir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Error::input(format!(
                    "{}: unreadable build state ({e}); delete it to start over",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).at(&path),
        }
    }

    pub fn save(&self, workdir: &Path) -> Result<()> {
        let path = State::path(workdir);
        let text = serde_json::to_string_pretty(self).expect("state serializes");
        crate::atomic::write(&path, text.as_bytes(), 0o644)?;
        Ok(())
    }

    /// The record of a stage that finished with exactly these inputs.
    pub fn done(&self, stage: Stage, inputs: &str) -> Option<&StageRecord> {
        self.stages
            .get(stage.name())
            .filter(|record| record.inputs == inputs)
    }

    pub fn record(&mut self, stage: Stage, record: StageRecord) {
        self.stages.insert(stage.name().to_string(), record);
    }

    /// Forget `stage` and every stage after it (`--from STAGE`).
    pub fn forget_from(&mut self, stage: Stage) {
        for later in Stage::ALL.iter().filter(|s| **s >= stage) {
            self.stages.remove(later.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forget() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::load(dir.path()).unwrap();
        assert!(state.stages.is_empty());
        for stage in Stage::ALL {
            state.record(
                stage,
                StageRecord {
                    inputs: format!("h-{}", stage.name()),
                    ..Default::default()
                },
            );
        }
        state.save(dir.path()).unwrap();
        let mut loaded = State::load(dir.path()).unwrap();
        assert_eq!(loaded, state);
        assert!(loaded.done(Stage::Compile, "h-compile").is_some());
        assert!(loaded.done(Stage::Compile, "other").is_none());
        loaded.forget_from(Stage::Compile);
        assert!(loaded.done(Stage::Prepare, "h-prepare").is_some());
        assert!(!loaded.stages.contains_key("compile") && !loaded.stages.contains_key("verify"));
    }

    #[test]
    fn a_corrupt_state_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(State::path(dir.path()), "{not json").unwrap();
        let err = State::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("state.json: unreadable build state"), "{err}");
    }
}
