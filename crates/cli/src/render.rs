//! What the CLI prints for a person: plan diffs, verdict tables, status tables.

use enact_execute::{ActionResult, ActionStatus, OpenAction};
use enact_model::{Action, ActionKind, LifecycleState, NhiId, Plan, Policy};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The sign shown before an action: `+` adds, `-` takes away, `~` replaces.
fn sign(kind: &ActionKind) -> char {
    match kind {
        ActionKind::Configure { .. } => '~',
        ActionKind::CreateAccount { .. } | ActionKind::Grant { .. } | ActionKind::EnableLogin => {
            '+'
        }
        ActionKind::RotateCredential { .. } => '~',
        ActionKind::Revoke { .. }
        | ActionKind::EndSessions { .. }
        | ActionKind::DisableLogin
        | ActionKind::DeleteAccount { .. }
        | ActionKind::PurgeCredential { .. } => '-',
    }
}

/// The heading of an identity's group of actions.
fn identity_heading(policy: &Policy, identity: Option<&NhiId>) -> String {
    match identity {
        Some(id) => {
            let detail = policy
                .identities
                .get(id)
                .map(|i| format!(" (owner {}, {})", i.owner, i.state))
                .unwrap_or_default();
            format!("identity {id}{detail}")
        }
        None => "unmanaged accounts".to_string(),
    }
}

/// Renders a plan as a readable diff, grouped per identity, then per account.
pub fn plan_text(policy: &Policy, plan: &Plan) -> String {
    let mut out = String::new();
    if plan.actions.is_empty() {
        let _ = writeln!(out, "No changes. The real state matches the policy.");
    } else {
        let targets: std::collections::BTreeSet<_> =
            plan.actions.iter().map(|a| &a.target).collect();
        let _ = writeln!(
            out,
            "Plan {}: {} action(s) on {} target(s), {} destructive; observed at {}\n",
            plan.id,
            plan.actions.len(),
            targets.len(),
            plan.destructive_count(),
            plan.created_at
        );
        // Identities in name order, then unmanaged accounts; within each, accounts in order.
        type Accounts<'a> = BTreeMap<(String, String), Vec<&'a Action>>;
        let mut groups: BTreeMap<(bool, Option<&NhiId>), Accounts<'_>> = BTreeMap::new();
        for action in &plan.actions {
            let identity = action.identity.as_ref();
            groups
                .entry((identity.is_none(), identity))
                .or_default()
                .entry((action.target.to_string(), action.account.clone()))
                .or_default()
                .push(action);
        }
        for ((_, identity), accounts) in &groups {
            let _ = writeln!(out, "  {}", identity_heading(policy, *identity));
            for ((target, account), actions) in accounts {
                let _ = writeln!(out, "    on {target}/{account}");
                for action in actions {
                    let _ = writeln!(
                        out,
                        "      {} {:<12} {}",
                        sign(&action.kind),
                        action.kind.verb(),
                        action.kind
                    );
                    let _ = writeln!(out, "        because {}", action.reason);
                }
            }
            let _ = writeln!(out);
        }
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "Unmanaged accounts (found on a target, declared by no identity):"
        );
        for finding in &plan.unmanaged {
            let _ = writeln!(
                out,
                "  ! {}/{}  login {}, {} open session(s); handling: {}",
                finding.target,
                finding.account,
                if finding.login_enabled {
                    "enabled"
                } else {
                    "disabled"
                },
                finding.open_sessions,
                finding.handling
            );
        }
        let _ = writeln!(out);
    }
    if !plan.actions.is_empty() {
        let count = |f: fn(&ActionKind) -> bool| plan.actions.iter().filter(|a| f(&a.kind)).count();
        // Ending sessions takes access away but is not destructive: it counts against no limit.
        // A rotation that ends the sessions opened before it counts here too.
        let _ = writeln!(
            out,
            "Summary: {} to add, {} to rotate, {} to take away ({} destructive, {} ending sessions).",
            count(|k| sign(k) == '+'),
            count(|k| sign(k) == '~'),
            count(|k| sign(k) == '-'),
            count(|k| k.is_destructive()),
            count(|k| matches!(
                k,
                ActionKind::EndSessions { .. }
                    | ActionKind::RotateCredential {
                        end_sessions: true,
                        ..
                    }
            )),
        );
    }
    out
}

/// One line per action result.
pub fn result_line(result: &ActionResult) -> String {
    let mut line = format!(
        "{:<13} {}/{}  {}",
        result.status.as_str(),
        result.action.target,
        result.action.account,
        result.action.kind
    );
    if let Some(reason) = &result.reason {
        if result.status != ActionStatus::Verified {
            let _ = write!(line, "\n              reason: {reason}");
        }
    }
    line
}

/// Renders the actions an earlier run left open, which the next apply resumes.
pub fn open_actions_text(open: &[OpenAction]) -> String {
    let mut out = format!(
        "{} action(s) left open by an earlier run; they are not done, and the next `enact apply` resumes them:\n",
        open.len()
    );
    for item in open {
        let _ = writeln!(
            out,
            "  ~ {:<13} {}/{}  {}",
            item.status.as_str(),
            item.action.target,
            item.action.account,
            item.action.kind
        );
        if let Some(reason) = &item.reason {
            let _ = writeln!(out, "                  reason: {reason}");
        }
    }
    out
}

/// Renders an action left open as JSON.
pub fn open_action_json(item: &OpenAction) -> serde_json::Value {
    serde_json::json!({
        "run_id": item.run_id,
        "action": item.action,
        "status": item.status.as_str(),
        "reason": item.reason,
        "updated_at": item.updated_at.to_rfc3339(),
    })
}

/// The closing summary of an apply.
pub fn apply_summary<'a>(results: impl Iterator<Item = &'a ActionResult>) -> (String, Counts) {
    let mut counts = Counts::default();
    for result in results {
        match result.status {
            ActionStatus::Verified => counts.verified += 1,
            ActionStatus::Refuted => counts.refuted += 1,
            ActionStatus::Indeterminate => counts.indeterminate += 1,
            _ => counts.failed += 1,
        }
    }
    let text = format!(
        "Apply finished: {} verified, {} failed, {} refuted, {} indeterminate.",
        counts.verified, counts.failed, counts.refuted, counts.indeterminate
    );
    (text, counts)
}

/// Verdict counts of an apply.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub verified: usize,
    pub failed: usize,
    pub refuted: usize,
    pub indeterminate: usize,
}

/// The JSON form of an action result.
pub fn result_json(result: &ActionResult) -> serde_json::Value {
    serde_json::json!({
        "run_id": result.run_id,
        "action": result.action,
        "status": result.status.as_str(),
        "reason": result.reason,
        "evidence_seq": result.evidence_seq,
    })
}

/// Whether each decommissioned identity is gone from every layer, and what is left where not.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Offboarding {
    pub identity: String,
    pub complete: bool,
    pub accounts: Vec<OffboardedAccount>,
}

/// One account of a decommissioned identity after a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OffboardedAccount {
    pub target: String,
    pub account: String,
    /// `removed` (deleted and verified in this run), `absent` (already gone) or `left`.
    pub state: String,
    pub reason: Option<String>,
}

/// Summarizes offboarding for every decommissioned identity in the policy, from the plan that
/// ran and its results.
pub fn offboarding(policy: &Policy, plan: &Plan, results: &[&ActionResult]) -> Vec<Offboarding> {
    let mut out = Vec::new();
    for identity in policy.identities.values() {
        if identity.state != LifecycleState::Decommissioned {
            continue;
        }
        let mut accounts = Vec::new();
        for account in &identity.accounts {
            let planned = plan
                .actions
                .iter()
                .any(|a| a.target == account.target && a.account == account.name);
            let result = results.iter().find(|r| {
                r.action.target == account.target
                    && r.action.account == account.name
                    && matches!(
                        r.action.kind,
                        ActionKind::DeleteAccount { .. } | ActionKind::PurgeCredential { .. }
                    )
            });
            let (state, reason) = match result {
                Some(r) if r.status == ActionStatus::Verified => ("removed", None),
                Some(r) => ("left", r.reason.clone().or(Some(r.status.to_string()))),
                None if planned => ("left", Some("its deletion did not run".to_string())),
                None => ("absent", None),
            };
            accounts.push(OffboardedAccount {
                target: account.target.to_string(),
                account: account.name.clone(),
                state: state.to_string(),
                reason,
            });
        }
        out.push(Offboarding {
            identity: identity.id.to_string(),
            complete: accounts.iter().all(|a| a.state != "left"),
            accounts,
        });
    }
    out
}

/// The offboarding summary for a person.
pub fn offboarding_text(summaries: &[Offboarding]) -> String {
    let mut out = String::new();
    if summaries.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Offboarding:");
    for summary in summaries {
        if summary.complete {
            let layers: Vec<String> = summary
                .accounts
                .iter()
                .map(|a| format!("{}/{} {}", a.target, a.account, a.state))
                .collect();
            let _ = writeln!(
                out,
                "  {}: complete on {} layer(s): {}",
                summary.identity,
                summary.accounts.len(),
                layers.join(", ")
            );
        } else {
            let _ = writeln!(out, "  {}: INCOMPLETE; left:", summary.identity);
            for account in summary.accounts.iter().filter(|a| a.state == "left") {
                let _ = writeln!(
                    out,
                    "    {}/{}: {}",
                    account.target,
                    account.account,
                    account.reason.as_deref().unwrap_or("not removed")
                );
            }
        }
    }
    out
}

/// Renders what the hygiene rules found: each account a rule holds for, or could not judge,
/// with the action planned or the reason none was. Empty when no rule found anything.
pub fn hygiene_text(report: &enact_plan::hygiene::HygieneReport) -> String {
    use enact_plan::hygiene::Judgement;
    let mut out = String::new();
    if report.findings.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nHygiene rules:");
    for finding in &report.findings {
        let judgement = match &finding.judgement {
            Judgement::Satisfied => "holds".to_string(),
            Judgement::NotSatisfied => "does not hold".to_string(),
            Judgement::Unknown { attributes } => {
                format!(
                    "unknown ({} not recorded by the target)",
                    attributes.join(", ")
                )
            }
            Judgement::Failed { reason } => format!("failed ({reason})"),
        };
        let outcome = match (&finding.action, &finding.note) {
            (Some(action), _) => format!("; planned: {}", action.kind.verb()),
            (None, Some(note)) => format!("; {note}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "  rule `{}` on {}/{}: {judgement}{outcome}",
            finding.rule, finding.target, finding.account
        );
    }
    out
}

/// The hygiene findings as JSON, for `-o json`.
pub fn hygiene_json(report: &enact_plan::hygiene::HygieneReport) -> serde_json::Value {
    use enact_plan::hygiene::Judgement;
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|finding| {
            let (judgement, detail) = match &finding.judgement {
                Judgement::Satisfied => ("satisfied", serde_json::Value::Null),
                Judgement::NotSatisfied => ("not_satisfied", serde_json::Value::Null),
                Judgement::Unknown { attributes } => ("unknown", serde_json::json!(attributes)),
                Judgement::Failed { reason } => ("failed", serde_json::json!(reason)),
            };
            serde_json::json!({
                "rule": finding.rule,
                "target": finding.target,
                "account": finding.account,
                "judgement": judgement,
                "detail": detail,
                "action": finding.action.as_ref().map(|a| a.id.to_string()),
                "note": finding.note,
            })
        })
        .collect();
    serde_json::Value::Array(findings)
}
