//! The journal: the state store's contract.
//!
//! The executor writes a step's intent before the step's side effect and its result after it.
//! On the next run, a step whose result is recorded is not repeated, and a step with an intent
//! but no result is repeated, which is safe because every step is idempotent.

use enact_model::{Action, ActionId, Plan, PlanId, TargetId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an action stands in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Planned, not started.
    Pending,
    /// At least one step has started; the action has no verdict yet.
    Running,
    /// Executed and proven by every probe.
    Verified,
    /// Executed, but a probe showed the effect is not there.
    Refuted,
    /// Executed, but the probes could not decide; the next run verifies again.
    Indeterminate,
    /// A step failed, or an action it depends on was not verified.
    Failed,
    /// Never started by an interrupted run; a fresh plan replaces it.
    Superseded,
}

impl ActionStatus {
    /// The status as stored and shown: `pending`, `running`, `verified` and so on.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Running => "running",
            ActionStatus::Verified => "verified",
            ActionStatus::Refuted => "refuted",
            ActionStatus::Indeterminate => "indeterminate",
            ActionStatus::Failed => "failed",
            ActionStatus::Superseded => "superseded",
        }
    }

    /// Parses a stored status.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => ActionStatus::Pending,
            "running" => ActionStatus::Running,
            "verified" => ActionStatus::Verified,
            "refuted" => ActionStatus::Refuted,
            "indeterminate" => ActionStatus::Indeterminate,
            "failed" => ActionStatus::Failed,
            "superseded" => ActionStatus::Superseded,
            _ => return None,
        })
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one attempt of one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepResult {
    /// The step's effect is in place. `detail` carries what later steps and the verifier need,
    /// such as fingerprints; never a secret value.
    Ok { detail: serde_json::Value },
    /// The attempt failed; `transient` says whether it will be retried.
    Failed { reason: String, transient: bool },
}

/// One attempt of one step as journaled.
#[derive(Clone, Debug, PartialEq)]
pub struct JournaledStep {
    pub name: String,
    pub attempt: u32,
    pub started_at: Timestamp,
    pub intent: serde_json::Value,
    /// `None` when the run stopped between the intent and the result.
    pub ended_at: Option<Timestamp>,
    pub result: Option<StepResult>,
}

/// An action an earlier run left unfinished or unverified.
#[derive(Clone, Debug)]
pub struct ResumableAction {
    pub run_id: String,
    pub plan_id: PlanId,
    pub policy_digest: String,
    pub action: Action,
    pub status: ActionStatus,
}

/// An action that a run left running or indeterminate, as a read shows it.
#[derive(Clone, Debug)]
pub struct OpenAction {
    pub run_id: String,
    pub action: Action,
    pub status: ActionStatus,
    /// The reason it is still open, such as the transient failure that stopped it.
    pub reason: Option<String>,
    pub updated_at: Timestamp,
}

/// The last verified action on one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastVerified {
    pub target: TargetId,
    pub account: String,
    pub action_id: ActionId,
    pub summary: String,
    pub verified_at: Timestamp,
}

/// A failure of the state store.
#[derive(Debug, thiserror::Error)]
#[error("state store: {message}")]
pub struct StoreError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A store failure with `message`, keeping `source`.
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// The durable journal of runs, actions and steps. SQLite is the embedded default; a shared
/// PostgreSQL store for several workers implements the same trait.
pub trait StateStore: Send + Sync {
    /// Records a new run of `plan` with every action pending, in one transaction.
    fn begin_run(&self, run_id: &str, plan: &Plan, started_at: Timestamp)
        -> Result<(), StoreError>;

    /// Marks the run finished with a summary status.
    fn finish_run(&self, run_id: &str, status: &str, ended_at: Timestamp)
        -> Result<(), StoreError>;

    /// Sets an action's status, with a one-line reason where it failed or was not verified.
    fn set_status(
        &self,
        run_id: &str,
        action: &ActionId,
        status: ActionStatus,
        reason: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Durably records that a step attempt is about to start. Must return only once the record
    /// would survive the process being killed.
    fn step_intent(
        &self,
        run_id: &str,
        action: &ActionId,
        step: &str,
        attempt: u32,
        at: Timestamp,
        intent: &serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Durably records the result of a step attempt.
    fn step_result(
        &self,
        run_id: &str,
        action: &ActionId,
        step: &str,
        attempt: u32,
        at: Timestamp,
        result: &StepResult,
    ) -> Result<(), StoreError>;

    /// Every journaled step attempt of an action in a run, in order.
    fn steps(&self, run_id: &str, action: &ActionId) -> Result<Vec<JournaledStep>, StoreError>;

    /// Actions that a later run must finish: running or indeterminate ones. Pending actions of
    /// runs that did not finish are marked superseded by this call and not returned.
    fn take_resumable(&self, at: Timestamp) -> Result<Vec<ResumableAction>, StoreError>;

    /// The latest verified action of every account that has one.
    fn last_verified(&self) -> Result<Vec<LastVerified>, StoreError>;

    /// Actions that are running or indeterminate: those the next apply resumes, and those a
    /// run in progress is working on. Unlike [`StateStore::take_resumable`], it changes nothing.
    fn open_actions(&self) -> Result<Vec<OpenAction>, StoreError>;
}
