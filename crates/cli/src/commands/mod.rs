//! The commands. Each returns the process exit code on success; an error exits with 1.

pub mod apply;
pub mod evidence;
pub mod plan;
pub mod report;
pub mod respond;
pub mod review;
pub mod status;

use crate::args::GlobalArgs;
use anyhow::Result;
use enact_evidence::Keys;

/// Process exit codes. They are part of the interface and documented in the README.
pub mod exit {
    /// Success: no changes (plan), every action verified (apply), the log is intact (evidence).
    pub const OK: u8 = 0;
    /// An error: invalid policy, unreachable target, stale plan, refused plan, I/O failure.
    pub const ERROR: u8 = 1;
    /// Changes pending (plan), as `terraform plan -detailed-exitcode` does.
    pub const CHANGES: u8 = 2;
    /// At least one action failed to execute.
    pub const ACTION_FAILED: u8 = 3;
    /// Every action executed, but at least one was refuted or indeterminate; or the evidence
    /// log failed verification.
    pub const NOT_VERIFIED: u8 = 4;
    /// The command line was invalid.
    pub const USAGE: u8 = 64;
}

/// A command line that names something the policy does not have, such as `--rotate` with an
/// unknown identity. It exits with [`exit::USAGE`], as a flag clap rejects does.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `enact init`: creates the state directory and keys; never overwrites a key.
pub fn init(global: &GlobalArgs) -> Result<u8> {
    let report = Keys::init(&global.state_dir)?;
    if report.created.is_empty() {
        outln!(
            "enact state in `{}` is already initialized; nothing changed.",
            global.state_dir.display()
        );
    } else {
        outln!(
            "Initialized enact state in `{}`:",
            global.state_dir.display()
        );
        for path in &report.created {
            outln!("  created {}", path.display());
        }
    }
    Ok(exit::OK)
}

/// `enact schema`: prints the policy's JSON Schema.
pub fn schema() -> Result<u8> {
    outln!(
        "{}",
        serde_json::to_string_pretty(&enact_policy::json_schema())?
    );
    Ok(exit::OK)
}
