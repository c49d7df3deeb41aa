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

/// The summary of one run: which plan it carried out under which policy, when, and how its
/// actions ended. It is appended after the run's action records.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RunRecord {
    pub run_id: String,
    pub plan_id: PlanId,
    /// The digest of the resolved policy the plan was built from.
    pub policy_digest: String,
    /// The version of enact that performed the run.
    pub enact_version: String,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    /// How many actions the plan contained.
    pub planned: u32,
    pub counts: RunCounts,
}

/// How many of a run's actions ended in each outcome. Actions that never started, such as
/// those whose dependencies were not verified, count as `not_started`.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RunCounts {
    pub verified: u32,
    pub refuted: u32,
    pub indeterminate: u32,
    pub failed: u32,
    pub not_started: u32,
}

impl RunCounts {
    /// Counts one action that ended with `outcome`.
    pub fn add(&mut self, outcome: &Outcome<'_>) {
        let slot = match outcome {
            Outcome::Judged { verdict } => match verdict {
                Verdict::Verified(_) => &mut self.verified,
                Verdict::Refuted { .. } => &mut self.refuted,
                Verdict::Indeterminate { .. } => &mut self.indeterminate,
            },
            Outcome::Failed { .. } => &mut self.failed,
        };
        *slot = slot.saturating_add(1);
    }

    /// Returns the number of actions counted, started or not.
    pub fn total(&self) -> u32 {
        [
            self.verified,
            self.refuted,
            self.indeterminate,
            self.failed,
            self.not_started,
        ]
        .iter()
        .fold(0u32, |sum, n| sum.saturating_add(*n))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use enact_model::verdict::judge;

    #[test]
    fn counts_tally_each_outcome() {
        let indeterminate = judge(vec![]);
        let mut counts = RunCounts::default();
        counts.add(&Outcome::Judged {
            verdict: &indeterminate,
        });
        counts.add(&Outcome::Failed {
            step: "connect",
            reason: "refused",
        });
        counts.add(&Outcome::Failed {
            step: "connect",
            reason: "refused",
        });
        counts.not_started = 4;

        assert_eq!(counts.indeterminate, 1);
        assert_eq!(counts.failed, 2);
        assert_eq!(counts.verified, 0);
        assert_eq!(counts.total(), 7);
    }
}
