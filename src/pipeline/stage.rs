//! The stages of `proxy-rpm build`, in order.

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Stage {
    Resolve,
    Image,
    Prepare,
    Compile,
    /// pilot-agent's Go build (`--sidecar` only).
    Agent,
    Package,
    /// istio-sidecar's RPM (`--sidecar` only).
    // After package: it requires istio-proxy at exactly the version-release written there.
    Sidecar,
    Verify,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Resolve,
        Stage::Image,
        Stage::Prepare,
        Stage::Compile,
        Stage::Agent,
        Stage::Package,
        Stage::Sidecar,
        Stage::Verify,
    ];

    /// Stages only a `--sidecar` build has.
    pub fn sidecar_only(self) -> bool {
        matches!(self, Stage::Agent | Stage::Sidecar)
    }

    /// Where this stage stands among the stages of a build, from 1.
    pub fn number(self, stages: &[Stage]) -> usize {
        stages.iter().position(|s| *s == self).unwrap_or(0) + 1
    }

    /// "[3/6]": [`Stage::number`] among how many, for progress lines.
    pub fn counter(self, stages: &[Stage]) -> String {
        format!("[{}/{}]", self.number(stages), stages.len())
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Image => "image",
            Stage::Prepare => "prepare",
            Stage::Compile => "compile",
            Stage::Agent => "agent",
            Stage::Package => "package",
            Stage::Sidecar => "sidecar",
            Stage::Verify => "verify",
        }
    }
}
