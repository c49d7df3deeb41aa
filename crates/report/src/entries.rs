//! The action records of the evidence log, read into the few fields the reports use.

use crate::ReportError;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// How an action record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// The verifier's probes confirmed the action.
    Verified,
    /// A probe showed the action did not take effect.
    Refuted,
    /// The probes could not tell; the next run verifies again.
    Indeterminate,
    /// A step failed, so the action was not verified.
    Failed,
}

impl Status {
    /// The status as the evidence names it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Refuted => "refuted",
            Status::Indeterminate => "indeterminate",
            Status::Failed => "failed",
        }
    }
}

/// One probe of an action record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeEntry {
    pub name: String,
    /// `confirmed`, `refuted`, `indeterminate` or `not_applicable`.
    pub outcome: String,
}

/// One action record, reduced to what the reports show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionEntry {
    /// The record's sequence number in the log.
    pub seq: u64,
    pub run_id: String,
    pub action_id: String,
    /// The action kind's verb, as `ActionKind::verb` spells it (`create`, `rotate`, …).
    pub verb: String,
    pub target: String,
    /// The identity the account belongs to; `None` for an unmanaged account.
    pub identity: Option<String>,
    pub account: String,
    /// The planner's reason for the action.
    pub reason: String,
    /// The entitlement a grant or revoke changes, as text.
    pub entitlement: Option<String>,
    pub status: Status,
    /// Why the action was not verified: the failed step's reason or the first probe's.
    pub detail: Option<String>,
    pub probes: Vec<ProbeEntry>,
    /// When the first step started, in microseconds since the Unix epoch.
    pub started_at: i64,
    /// When the record was written, in microseconds since the Unix epoch.
    pub recorded_at: i64,
    /// When the last probe ended, for a verified action.
    pub verified_at: Option<i64>,
}

impl ActionEntry {
    /// Returns the key the reports group by: the identity, or `target/account` for an account
    /// no identity declares.
    pub fn identity_key(&self) -> String {
        match &self.identity {
            Some(identity) => identity.clone(),
            None => format!("{}/{} (unmanaged)", self.target, self.account),
        }
    }

    /// Returns the microseconds from the first step to the last confirming probe, for a
    /// verified action.
    pub fn time_to_verified(&self) -> Option<i64> {
        self.verified_at
            .map(|verified| verified.saturating_sub(self.started_at).max(0))
    }
}

/// The parts of an action record body the reports read. Unknown fields are ignored, so
/// records of later versions still read.
#[derive(Deserialize)]
struct RawAction {
    run_id: String,
    action: RawActionFields,
    #[serde(default)]
    steps: Vec<RawStep>,
    outcome: RawOutcome,
    recorded_at: i64,
}

#[derive(Deserialize)]
struct RawActionFields {
    id: String,
    target: String,
    identity: Option<String>,
    account: String,
    kind: Value,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct RawStep {
    started_at: i64,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum RawOutcome {
    Judged { verdict: RawVerdict },
    Failed { step: String, reason: String },
}

#[derive(Deserialize)]
struct RawVerdict {
    verdict: String,
    #[serde(default)]
    probes: Vec<RawProbe>,
}

#[derive(Deserialize)]
struct RawProbe {
    name: String,
    outcome: RawProbeOutcome,
    started_at: i64,
    ended_at: i64,
}

#[derive(Deserialize)]
struct RawProbeOutcome {
    outcome: String,
    reason: Option<String>,
}

/// Returns the verb of a serialized `ActionKind`, from its `kind` tag.
fn verb_of(kind: &Value) -> String {
    let tag = kind
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    match tag {
        "create_account" => "create",
        "rotate_credential" => "rotate",
        "end_sessions" => "end-sessions",
        "disable_login" => "disable",
        "enable_login" => "enable",
        "purge_credential" => "purge",
        "delete_account" => "delete",
        other => other,
    }
    .to_string()
}

/// Describes the entitlement of a grant or revoke as `ActionKind`'s display does.
fn entitlement_of(kind: &Value) -> Option<String> {
    let tagged = kind.get("entitlement")?;
    // The model writes an entitlement as its variant name around its fields, such as
    // `{"policy": {"policy": "payments-write"}}`; older records may hold the fields alone.
    let entitlement = match tagged.as_object() {
        Some(map) if map.len() == 1 && map.values().all(Value::is_object) => {
            map.values().next().unwrap_or(tagged)
        }
        _ => tagged,
    };
    let text = |field: &str| entitlement.get(field).and_then(Value::as_str);
    if let Some(group) = text("group") {
        return Some(format!("member of {group}"));
    }
    if let Some(policy) = text("policy") {
        return Some(format!("policy {policy}"));
    }
    if let Some(rule) = text("rule") {
        return Some(format!("rule {rule}"));
    }
    if let Some(privilege) = text("privilege") {
        let object = entitlement
            .get("object")
            .map(object_text)
            .unwrap_or_default();
        return Some(format!("{privilege} on {object}").trim_end().to_string());
    }
    Some(entitlement.to_string())
}

/// Writes an object reference compactly: the values of its fields joined by spaces.
fn object_text(object: &Value) -> String {
    match object {
        Value::Object(fields) => fields
            .values()
            .map(|value| {
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string)
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl ActionEntry {
    /// Reads an action record body. Returns `Ok(None)` for a record of another type, such as
    /// a run summary.
    pub fn from_body(seq: u64, body: &Value) -> Result<Option<ActionEntry>, ReportError> {
        if body.get("type").and_then(Value::as_str) != Some("action") {
            return Ok(None);
        }
        let raw: RawAction =
            serde_json::from_value(body.clone()).map_err(|error| ReportError::Record {
                seq,
                reason: error.to_string(),
            })?;
        let (status, detail, probes) = match raw.outcome {
            RawOutcome::Failed { step, reason } => (
                Status::Failed,
                Some(format!("{step}: {reason}")),
                Vec::new(),
            ),
            RawOutcome::Judged { verdict } => {
                let status = match verdict.verdict.as_str() {
                    "verified" => Status::Verified,
                    "refuted" => Status::Refuted,
                    _ => Status::Indeterminate,
                };
                let detail = verdict.probes.iter().find_map(|probe| {
                    matches!(probe.outcome.outcome.as_str(), "refuted" | "indeterminate").then(
                        || {
                            let reason = probe.outcome.reason.as_deref().unwrap_or("");
                            format!("{}: {reason}", probe.name)
                        },
                    )
                });
                (status, detail, verdict.probes)
            }
        };
        let started_at = raw
            .steps
            .iter()
            .map(|step| step.started_at)
            .min()
            .or_else(|| probes.iter().map(|probe| probe.started_at).min())
            .unwrap_or(raw.recorded_at);
        let verified_at = (status == Status::Verified)
            .then(|| probes.iter().map(|probe| probe.ended_at).max())
            .flatten();

        Ok(Some(ActionEntry {
            seq,
            run_id: raw.run_id,
            action_id: raw.action.id,
            verb: verb_of(&raw.action.kind),
            entitlement: entitlement_of(&raw.action.kind),
            target: raw.action.target,
            identity: raw.action.identity,
            account: raw.action.account,
            reason: raw.action.reason,
            status,
            detail,
            probes: probes
                .into_iter()
                .map(|probe| ProbeEntry {
                    name: probe.name,
                    outcome: probe.outcome.outcome,
                })
                .collect(),
            started_at,
            recorded_at: raw.recorded_at,
            verified_at,
        }))
    }
}

/// Reads every action record of the log under `path` (the state directory or its `evidence`
/// directory), oldest first. It does not verify the log: run `enact evidence verify` for that.
pub fn load(path: &Path) -> Result<Vec<ActionEntry>, ReportError> {
    let mut entries = Vec::new();
    for record in enact_evidence::read_records(path)? {
        let (seq, body) = record?;
        if let Some(entry) = ActionEntry::from_body(seq, &body)? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use enact_model::{ActionKind, Entitlement, ObjectRef};

    fn text_of(entitlement: Entitlement) -> Option<String> {
        let kind = serde_json::to_value(ActionKind::Grant { entitlement }).unwrap_or_default();
        entitlement_of(&kind)
    }

    #[test]
    fn entitlements_read_as_the_model_writes_them() {
        assert_eq!(
            text_of(Entitlement::Membership {
                group: "readers".into()
            })
            .as_deref(),
            Some("member of readers")
        );
        assert_eq!(
            text_of(Entitlement::Policy {
                policy: "payments-write".into()
            })
            .as_deref(),
            Some("policy payments-write")
        );
        assert_eq!(
            text_of(Entitlement::Privilege {
                privilege: "SELECT".into(),
                object: Box::new(ObjectRef {
                    kind: "table".into(),
                    name: "billing.invoices".into()
                }),
            })
            .as_deref(),
            Some("SELECT on table billing.invoices")
        );
    }
}
