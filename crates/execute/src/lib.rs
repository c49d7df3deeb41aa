//! Execute: durable, resumable execution of a plan, each action verified and recorded.
//!
//! Invariants this crate keeps:
//! - A step's intent is in the journal before its side effect, and its result after.
//! - A step whose result is journaled is never run again; one with only an intent is run again,
//!   which is safe because steps are idempotent.
//! - Only transient errors are retried, a bounded number of times, with exponential backoff and
//!   jitter.
//! - An action's status becomes verified only from a [`enact_model::Verdict::Verified`], which
//!   only [`enact_model::judge`] can produce, and only after its evidence record is written.

mod dependents;
mod engine;
pub mod journal;
mod steps;

pub use engine::{ActionResult, CrashPoint, ExecuteError, ExecuteOptions, Executor, RunReport};
pub use journal::{
    ActionStatus, JournaledStep, LastVerified, OpenAction, ResumableAction, StateStore, StepResult,
    StoreError,
};
pub use steps::{steps_of, DependentMove, Step, StepState};

pub use enact_connector::SinkResolver;
use enact_evidence::ActionRecord;
use enact_model::{Action, FingerprintKey, Secret};
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::Rng;

/// The source of new credential values, so tests can supply their own.
pub trait SecretGenerator: Send + Sync {
    /// A new credential value, fingerprinted under `key`.
    fn generate(&self, key: &FingerprintKey) -> Secret;
}

/// Generates 40 alphanumeric characters (about 238 bits) from the operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsSecretGenerator;

impl SecretGenerator for OsSecretGenerator {
    fn generate(&self, key: &FingerprintKey) -> Secret {
        let value: String = OsRng
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        Secret::new(value, key)
    }
}

/// Where the executor writes one evidence record per judged or failed action.
pub trait EvidenceWriter: Send + Sync {
    /// Appends `record` so that it survives the process being killed, and returns its sequence
    /// number.
    fn append_action(&self, record: &ActionRecord<'_>) -> Result<u64, String>;

    /// The sequence number and outcome (`verified`, `refuted`, `indeterminate` or `failed`) of
    /// the last record written for `action` in run `run_id`, if any. A resumed run calls this so
    /// that an action whose record was written just before a crash is not recorded twice.
    fn recorded_outcome(
        &self,
        run_id: &str,
        action: &enact_model::ActionId,
    ) -> Result<Option<(u64, String)>, String>;
}

/// Receives progress for a person watching the run.
pub trait Progress: Send + Sync {
    /// An action is about to start.
    fn started(&self, action: &Action);
    /// An action ended with `status`; `reason` explains a status other than verified.
    fn finished(&self, action: &Action, status: ActionStatus, reason: Option<&str>);
}

/// Progress that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&self, _action: &Action) {}
    fn finished(&self, _action: &Action, _status: ActionStatus, _reason: Option<&str>) {}
}
