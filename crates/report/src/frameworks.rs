//! The report per framework: for each control, how the actions that bear on it ended, and
//! which identities are out of policy for it.

use crate::entries::{ActionEntry, Status};
use crate::mapping::{controls_for, Control, Framework};
use serde::Serialize;
use std::collections::BTreeMap;

/// One control's line of a framework report. Counts are of action records: an action that was
/// indeterminate and verified by a later run counts once in each column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlSummary {
    /// The control's id, such as `NHI5`.
    pub id: &'static str,
    pub title: &'static str,
    /// Action records executed and verified.
    pub verified: u64,
    /// Action records whose probes refuted the change.
    pub refuted: u64,
    /// Action records with a failed step.
    pub failed: u64,
    /// Action records whose verification was indeterminate.
    pub indeterminate: u64,
    /// Identities whose latest action record for this control did not end verified, sorted.
    pub out_of_policy: Vec<String>,
}

/// A whole framework report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrameworkReport {
    /// The framework's command-line name.
    pub framework: &'static str,
    pub title: &'static str,
    /// One line per control of the framework, in its order, including controls no action
    /// bears on.
    pub controls: Vec<ControlSummary>,
}

/// Builds the report of `framework` over `entries`, which must be in log order.
pub fn framework_report(framework: Framework, entries: &[ActionEntry]) -> FrameworkReport {
    // Per control: the latest status of each identity, which later records overwrite.
    let mut latest: BTreeMap<&str, BTreeMap<String, Status>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for entry in entries {
        let probes = entry.probes.iter().map(|probe| probe.name.as_str());
        for id in controls_for(framework, &entry.verb, probes) {
            let slot = match entry.status {
                Status::Verified => 0,
                Status::Refuted => 1,
                Status::Failed => 2,
                Status::Indeterminate => 3,
            };
            if let Some(count) = counts.entry(id).or_default().get_mut(slot) {
                *count += 1;
            }
            latest
                .entry(id)
                .or_default()
                .insert(entry.identity_key(), entry.status);
        }
    }

    let controls = framework
        .controls()
        .iter()
        .map(|&Control { id, title }| {
            let [verified, refuted, failed, indeterminate] =
                counts.get(id).copied().unwrap_or_default();
            let out_of_policy = latest
                .get(id)
                .map(|statuses| {
                    statuses
                        .iter()
                        .filter(|(_, status)| **status != Status::Verified)
                        .map(|(identity, _)| identity.clone())
                        .collect()
                })
                .unwrap_or_default();
            ControlSummary {
                id,
                title,
                verified,
                refuted,
                failed,
                indeterminate,
                out_of_policy,
            }
        })
        .collect();
    FrameworkReport {
        framework: framework.cli_name(),
        title: framework.title(),
        controls,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::entries::ProbeEntry;

    fn entry(seq: u64, identity: &str, verb: &str, status: Status) -> ActionEntry {
        ActionEntry {
            seq,
            run_id: "run-1".to_string(),
            action_id: format!("act-{seq}"),
            verb: verb.to_string(),
            target: "pg".to_string(),
            identity: Some(identity.to_string()),
            account: identity.to_string(),
            reason: String::new(),
            entitlement: None,
            status,
            detail: None,
            probes: vec![ProbeEntry {
                name: "entitlement-absent".to_string(),
                outcome: "confirmed".to_string(),
            }],
            started_at: 0,
            recorded_at: 0,
            verified_at: None,
        }
    }

    #[test]
    fn latest_record_decides_out_of_policy() {
        let entries = [
            entry(1, "billing", "revoke", Status::Indeterminate),
            entry(2, "billing", "revoke", Status::Verified),
            entry(3, "reports", "revoke", Status::Failed),
        ];
        let report = framework_report(Framework::OwaspNhi, &entries);
        let nhi5 = report.controls.iter().find(|c| c.id == "NHI5").unwrap();
        assert_eq!(nhi5.verified, 1);
        assert_eq!(nhi5.indeterminate, 1);
        assert_eq!(nhi5.failed, 1);
        assert_eq!(nhi5.out_of_policy, ["reports"]);

        let nhi1 = report.controls.iter().find(|c| c.id == "NHI1").unwrap();
        assert_eq!(nhi1.verified + nhi1.failed + nhi1.indeterminate, 0);
        assert_eq!(report.controls.len(), 10);
    }
}
