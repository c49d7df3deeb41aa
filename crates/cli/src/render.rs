//! What the CLI prints for a person: plan diffs, verdict tables, status tables.

use enact_execute::{ActionResult, ActionStatus};
use enact_model::{Action, ActionKind, Plan, Policy};
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
        | ActionKind::DeleteAccount { .. } => '-',
    }
}

/// The heading of an account's group of actions.
fn heading(policy: &Policy, action: &Action) -> String {
    match &action.identity {
        Some(id) => {
            let owner = policy
                .identities
                .get(id)
                .map(|i| format!(" (owner {}, {})", i.owner, i.state))
                .unwrap_or_default();
            format!(
                "identity {id}{owner} on {}/{}",
                action.target, action.account
            )
        }
        None => format!("unmanaged account {}/{}", action.target, action.account),
    }
}

/// Renders a plan as a readable diff, grouped per identity and account.
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
        let mut groups: BTreeMap<(Option<String>, String, String), Vec<&Action>> = BTreeMap::new();
        for action in &plan.actions {
            // Identities first in name order, then unmanaged accounts.
            let identity = action.identity.as_ref().map(|i| i.to_string());
            let key = (
                identity.clone().or(Some("~".into())),
                action.target.to_string(),
                action.account.clone(),
            );
            groups.entry(key).or_default().push(action);
        }
        for actions in groups.values() {
            let _ = writeln!(out, "  {}", heading(policy, actions[0]));
            for action in actions {
                let _ = writeln!(
                    out,
                    "    {} {:<12} {}",
                    sign(&action.kind),
                    action.kind.verb(),
                    action.kind
                );
                let _ = writeln!(out, "      because {}", action.reason);
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
        let _ = writeln!(
            out,
            "Summary: {} to add, {} to rotate, {} to take away.",
            count(|k| sign(k) == '+'),
            count(|k| sign(k) == '~'),
            count(|k| sign(k) == '-'),
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
