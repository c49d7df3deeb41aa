//! The response to matched findings: the probes that tell a live value from a revoked one,
//! and the plan of existing actions that revokes, replaces and purges it.
//!
//! The plan holds only action kinds the executor already runs and the verifier already
//! proves: a rotation with the single strategy (the exposed value stops working at once, a new
//! one is delivered, every earlier value in the sink is destroyed after the probes show the
//! target rejects it, and sessions opened before it are ended), and a purge for the sink of a
//! decommissioned identity.

use crate::matching::{Exposure, Holding, Owner, RecordedCredential};
use enact_connector::{Connector, LoginProbe, SinkResolver};
use enact_model::digest::json_sha256;
use enact_model::{
    Action, ActionKind, Clock, Fingerprint, FingerprintKey, LifecycleState, Plan, Policy, Probe,
    ProbeOutcome, RotationStrategy, Secret,
};
use std::collections::BTreeSet;

/// The name of the probe that tries the exposed value on its target.
pub const EXPOSED_REJECTED: &str = "exposed-value-rejected";

/// The name of the probe that searches every declared sink for the exposed value.
pub const NO_COPY_HELD: &str = "no-copy-held";

/// Tries `value` as the credential of `account` on a new connection. Confirmed when the target
/// rejects it, refuted when it accepts it, indeterminate when it cannot tell.
pub async fn probe_exposed(
    connector: &dyn Connector,
    account: &str,
    value: &Secret,
    clock: &dyn Clock,
) -> Probe {
    let started_at = clock.now();
    let outcome = match connector.probe_login(account, value).await {
        LoginProbe::Rejected(rejection) => {
            tracing::debug!(account, %rejection, "exposed value rejected");
            ProbeOutcome::Confirmed
        }
        LoginProbe::Accepted => ProbeOutcome::Refuted {
            reason: "the target accepts the exposed value".to_string(),
        },
        LoginProbe::Unavailable { reason } => ProbeOutcome::Indeterminate { reason },
    };
    Probe {
        name: EXPOSED_REJECTED.to_string(),
        expectation: format!(
            "{} rejects the exposed value {} for `{account}`",
            connector.target(),
            value.fingerprint().short()
        ),
        outcome,
        started_at,
        ended_at: clock.now(),
        attempts: 1,
        window_ms: 0,
    }
}

/// Reads every sink of `owners`' policy anew and checks that none holds `fingerprint`.
/// Confirmed when none does; refuted, naming the sinks, when one does; indeterminate when a
/// sink could not be read.
pub async fn probe_no_copy(
    sinks: &[enact_model::SinkRef],
    resolver: &dyn SinkResolver,
    fingerprint: &Fingerprint,
    key: &FingerprintKey,
    clock: &dyn Clock,
) -> Probe {
    let started_at = clock.now();
    let mut holding = Vec::new();
    let mut unreadable = Vec::new();
    for sink in sinks {
        let held = match resolver.open(sink) {
            Ok(opened) => opened.held_fingerprints(key).await,
            Err(error) => Err(error),
        };
        match held {
            Ok(held) if held.iter().any(|h| h == fingerprint) => holding.push(sink.to_string()),
            Ok(_) => {}
            Err(error) => unreadable.push(format!("{sink}: {error}")),
        }
    }
    let outcome = if !holding.is_empty() {
        ProbeOutcome::Refuted {
            reason: format!("still held by {}", holding.join(", ")),
        }
    } else if !unreadable.is_empty() {
        ProbeOutcome::Indeterminate {
            reason: format!("could not read {}", unreadable.join("; ")),
        }
    } else {
        ProbeOutcome::Confirmed
    };
    Probe {
        name: NO_COPY_HELD.to_string(),
        expectation: format!(
            "none of the {} declared sinks holds {}",
            sinks.len(),
            fingerprint.short()
        ),
        outcome,
        started_at,
        ended_at: clock.now(),
        attempts: 1,
        window_ms: 0,
    }
}

/// What a finding turned out to be before any action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assessment {
    /// No declared sink holds the value and no evidence record names it.
    Unmatched,
    /// Every account it belongs to rejects it already.
    AlreadyRevoked,
    /// At least one account accepts it, or could not be asked.
    Live,
}

impl Assessment {
    /// The assessment's name: `unmatched`, `already revoked` or `live`.
    pub fn name(self) -> &'static str {
        match self {
            Assessment::Unmatched => "unmatched",
            Assessment::AlreadyRevoked => "already revoked",
            Assessment::Live => "live",
        }
    }
}

/// Judges a finding from the probes of its owners, one per owner in order.
pub fn assess(exposure: &Exposure, probes: &[Probe]) -> Assessment {
    if exposure.owners.is_empty() {
        Assessment::Unmatched
    } else if probes
        .iter()
        .all(|probe| probe.outcome == ProbeOutcome::Confirmed)
    {
        Assessment::AlreadyRevoked
    } else {
        Assessment::Live
    }
}

/// The action that answers one owner of an exposed value, given the probe of that owner.
pub fn owner_action(exposure: &Exposure, owner: &Owner, probe: &Probe) -> Option<Action> {
    let credential = &owner.credential;
    let live = probe.outcome != ProbeOutcome::Confirmed;
    let held = !owner.holdings.is_empty();
    let shown = exposure
        .fingerprint()
        .map(|f| f.short().to_string())
        .unwrap_or_default();
    let where_held = || {
        let names: Vec<&str> = owner.holdings.iter().map(|h| Holding::name(*h)).collect();
        format!("{} holds it as {}", credential.sink, names.join(", "))
    };
    let rotate = ActionKind::RotateCredential {
        sink: credential.sink.clone(),
        end_sessions: true,
        strategy: RotationStrategy::Single,
    };
    let purge = ActionKind::PurgeCredential {
        sink: credential.sink.clone(),
    };
    let (kind, reason) = match (credential.state, live, held) {
        (LifecycleState::Decommissioned, _, true) => (
            purge,
            format!(
                "exposed value {shown} found at {}: identity `{}` is decommissioned and {}",
                exposure.finding.location,
                credential.identity,
                where_held()
            ),
        ),
        (LifecycleState::Decommissioned, _, false) => return None,
        (_, true, _) => (
            rotate,
            format!(
                "exposed value {shown} found at {} and the target does not reject it: revoke it, deliver a new credential and end the sessions opened before",
                exposure.finding.location
            ),
        ),
        (LifecycleState::Active, false, true) => (
            rotate,
            format!(
                "exposed value {shown} found at {} is already rejected, but {}; a rotation destroys every earlier value after proving the target rejects it",
                exposure.finding.location,
                where_held()
            ),
        ),
        (LifecycleState::Disabled, false, true) => (
            purge,
            format!(
                "exposed value {shown} found at {} is already rejected and identity `{}` is disabled, but {}",
                exposure.finding.location,
                credential.identity,
                where_held()
            ),
        ),
        (_, false, false) => return None,
    };
    Some(Action {
        id: Action::stable_id(&credential.target, &credential.account, &kind),
        target: credential.target.clone(),
        identity: Some(credential.identity.clone()),
        account: credential.account.clone(),
        kind,
        reason,
        depends_on: Vec::new(),
    })
}

/// Builds the response plan from the actions of every finding: each action once, in the order
/// first met. Its observation digest covers the exposed fingerprints, so two responses to
/// different values never share a plan id.
pub fn response_plan(
    policy: &Policy,
    actions: Vec<Action>,
    fingerprints: &BTreeSet<Fingerprint>,
    now: enact_model::Timestamp,
) -> Plan {
    let mut seen = BTreeSet::new();
    let actions: Vec<Action> = actions
        .into_iter()
        .filter(|action| seen.insert(action.id.clone()))
        .collect();
    let observation_digest = json_sha256(&("exposure-response", fingerprints, now));
    let id = Plan::compute_id(&policy.digest, &observation_digest, &actions);
    Plan {
        id,
        created_at: now,
        policy_digest: policy.digest.clone(),
        observation_digest,
        actions,
        unmanaged: Vec::new(),
    }
}

/// Collects the credential fingerprints of the action records in an evidence export, one JSON
/// body per record. Bodies that are not action records, or lack a field, are skipped.
pub fn recorded_credentials<'a>(
    records: impl IntoIterator<Item = (u64, &'a serde_json::Value)>,
) -> Vec<RecordedCredential> {
    let mut out = Vec::new();
    for (seq, body) in records {
        if body["type"] != "action" {
            continue;
        }
        let (Some(target), Some(account)) = (
            body["action"]["target"].as_str(),
            body["action"]["account"].as_str(),
        ) else {
            continue;
        };
        let Some(credentials) = body["credentials"].as_array() else {
            continue;
        };
        for credential in credentials {
            if let Some(fingerprint) = credential["fingerprint"].as_str() {
                out.push(RecordedCredential {
                    target: enact_model::TargetId::new(target),
                    account: account.to_string(),
                    fingerprint: Fingerprint::from_string(fingerprint.to_string()),
                    seq,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
