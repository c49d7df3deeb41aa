//! The content of evidence records.

use enact_model::{Action, Fingerprint, ObservedSession, PlanId, Timestamp, Verdict};
use serde::Serialize;

/// Everything that happened to one action in one run: its intent, each step, each probe and
/// the fingerprints of the credentials involved. It never holds a secret value.
///
/// `outcome` borrows a [`Verdict`], and only the verifier can produce a verified one, so a
/// record can say "verified" only for an action whose probes confirmed it.
#[derive(Clone, Debug, Serialize)]
pub struct ActionRecord<'a> {
    pub run_id: &'a str,
    pub plan_id: &'a PlanId,
    pub policy_digest: &'a str,
    pub action: &'a Action,
    pub steps: &'a [StepRecord],
    pub outcome: Outcome<'a>,
    pub credentials: &'a [CredentialFingerprint],
    /// Sessions the action found and left or ended, such as those opened before a rotation.
    pub sessions: &'a [SessionNote],
    pub recorded_at: Timestamp,
}

/// How an action ended.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome<'a> {
    /// Every step ran and the verifier judged the result.
    Judged { verdict: &'a Verdict },
    /// A step failed, so the action was not verified.
    Failed { step: &'a str, reason: &'a str },
}

impl Outcome<'_> {
    /// The outcome as one word: `verified`, `refuted`, `indeterminate` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Judged { verdict } => verdict.name(),
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// One executed step of an action.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StepRecord {
    pub name: String,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub attempts: u32,
    /// `ok`, `already done` (journaled as complete by an earlier run), or `failed: …`.
    pub result: String,
}

/// A credential's fingerprint and its role in the action.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CredentialFingerprint {
    /// `new` or `previous`.
    pub role: String,
    pub fingerprint: Fingerprint,
}

/// A session the action observed, and what became of it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SessionNote {
    pub session: ObservedSession,
    /// `left open` or `ended`.
    pub fate: String,
}
