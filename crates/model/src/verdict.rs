//! Probes and verdicts.
//!
//! A probe is one independent check of an action's effect. It has three real outcomes:
//! confirmed, refuted and indeterminate (the target could not answer, or answered with something
//! other than the expected acceptance or rejection). A probe that cannot apply, such as "the old
//! password is rejected" when no old password was ever held, is recorded as not applicable with
//! its reason.
//!
//! [`Verified`] has a private field, and [`judge`] is the only function that makes one. It does
//! so only when at least one probe is confirmed and every probe is confirmed or not applicable.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The outcome of one probe.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProbeOutcome {
    Confirmed,
    Refuted { reason: String },
    Indeterminate { reason: String },
    NotApplicable { reason: String },
}

impl ProbeOutcome {
    /// The outcome's name: `confirmed`, `refuted`, `indeterminate` or `not_applicable`.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeOutcome::Confirmed => "confirmed",
            ProbeOutcome::Refuted { .. } => "refuted",
            ProbeOutcome::Indeterminate { .. } => "indeterminate",
            ProbeOutcome::NotApplicable { .. } => "not_applicable",
        }
    }
}

/// One probe with what it expected, what it found and how long it tried.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Probe {
    /// A short name, such as `login-new-credential`.
    pub name: String,
    /// What a confirmed outcome means, for a person.
    pub expectation: String,
    pub outcome: ProbeOutcome,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    /// How many times the probe ran within its window.
    pub attempts: u32,
    /// The retry window the probe was allowed, in milliseconds.
    pub window_ms: u64,
}

/// Proof that an action was verified: every probe confirmed or not applicable, at least one
/// confirmed. Only [`judge`] constructs it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Verified {
    probes: Vec<Probe>,
}

impl Verified {
    /// The probes that verified the action.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }
}

/// The result of verifying one action.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Verified(Verified),
    Refuted { probes: Vec<Probe> },
    Indeterminate { probes: Vec<Probe> },
}

impl Verdict {
    /// The probes behind the verdict, whatever it is.
    pub fn probes(&self) -> &[Probe] {
        match self {
            Verdict::Verified(verified) => verified.probes(),
            Verdict::Refuted { probes } | Verdict::Indeterminate { probes } => probes,
        }
    }

    /// The verdict's name: `verified`, `refuted` or `indeterminate`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Verified(_) => "verified",
            Verdict::Refuted { .. } => "refuted",
            Verdict::Indeterminate { .. } => "indeterminate",
        }
    }

    /// The first reason a probe gave for not confirming, for a one-line summary.
    pub fn first_reason(&self) -> Option<String> {
        self.probes().iter().find_map(|probe| match &probe.outcome {
            ProbeOutcome::Refuted { reason } | ProbeOutcome::Indeterminate { reason } => {
                Some(format!("{}: {reason}", probe.name))
            }
            _ => None,
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Combines probe outcomes into a verdict. Any refuted probe refutes the action; otherwise any
/// indeterminate probe, or the absence of a confirmed one, leaves it indeterminate.
pub fn judge(probes: Vec<Probe>) -> Verdict {
    let refuted = probes
        .iter()
        .any(|p| matches!(p.outcome, ProbeOutcome::Refuted { .. }));
    let indeterminate = probes
        .iter()
        .any(|p| matches!(p.outcome, ProbeOutcome::Indeterminate { .. }));
    let confirmed = probes
        .iter()
        .any(|p| matches!(p.outcome, ProbeOutcome::Confirmed));
    if refuted {
        Verdict::Refuted { probes }
    } else if indeterminate || !confirmed {
        Verdict::Indeterminate { probes }
    } else {
        Verdict::Verified(Verified { probes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(outcome: ProbeOutcome) -> Probe {
        Probe {
            name: "p".into(),
            expectation: "e".into(),
            outcome,
            started_at: Timestamp(0),
            ended_at: Timestamp(0),
            attempts: 1,
            window_ms: 0,
        }
    }

    #[test]
    fn all_confirmed_is_verified() {
        let verdict = judge(vec![
            probe(ProbeOutcome::Confirmed),
            probe(ProbeOutcome::Confirmed),
        ]);
        assert_eq!(verdict.name(), "verified");
    }

    #[test]
    fn no_probes_is_indeterminate() {
        assert_eq!(judge(vec![]).name(), "indeterminate");
    }

    #[test]
    fn not_applicable_alone_is_indeterminate() {
        let verdict = judge(vec![probe(ProbeOutcome::NotApplicable {
            reason: "r".into(),
        })]);
        assert_eq!(verdict.name(), "indeterminate");
    }

    #[test]
    fn indeterminate_blocks_verification() {
        let verdict = judge(vec![
            probe(ProbeOutcome::Confirmed),
            probe(ProbeOutcome::Indeterminate {
                reason: "down".into(),
            }),
        ]);
        assert_eq!(verdict.name(), "indeterminate");
    }

    #[test]
    fn refuted_wins_over_indeterminate() {
        let verdict = judge(vec![
            probe(ProbeOutcome::Indeterminate {
                reason: "down".into(),
            }),
            probe(ProbeOutcome::Refuted {
                reason: "still accepted".into(),
            }),
        ]);
        assert_eq!(verdict.name(), "refuted");
    }
}
