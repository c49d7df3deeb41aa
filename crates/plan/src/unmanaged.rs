//! Planning for accounts that exist on a target but that no identity declares.

use enact_model::glob::glob_matches;
use enact_model::{
    Action, ActionKind, Policy, SessionSelector, Target, TargetObservation, UnmanagedAction,
    UnmanagedFinding,
};
use std::collections::BTreeSet;
use tracing::debug;

/// Lists undeclared accounts on one target and, where the policy sets `disable`, plans
/// disabling them.
pub(crate) fn plan_unmanaged(
    policy: &Policy,
    target: &Target,
    observed: &TargetObservation,
) -> (Vec<Action>, Vec<UnmanagedFinding>) {
    let declared: BTreeSet<&str> = policy
        .accounts_on(&target.id)
        .map(|(_, account)| account.name.as_str())
        .collect();

    let mut actions = Vec::new();
    let mut findings = Vec::new();
    for (name, account) in &observed.accounts {
        if declared.contains(name.as_str()) {
            continue;
        }
        if target
            .unmanaged
            .ignore
            .iter()
            .any(|pattern| glob_matches(pattern, name))
        {
            debug!(target = %target.id, account = %name, "unmanaged account ignored by pattern");
            continue;
        }
        let handling = match target.unmanaged.action {
            UnmanagedAction::Report => "report",
            UnmanagedAction::Disable => "disable",
        };
        findings.push(UnmanagedFinding {
            target: target.id.clone(),
            account: name.clone(),
            login_enabled: account.login_enabled,
            open_sessions: account.sessions.len(),
            handling: handling.to_string(),
        });
        if target.unmanaged.action == UnmanagedAction::Disable {
            let kind = if account.login_enabled {
                Some(ActionKind::DisableLogin)
            } else if !account.sessions.is_empty() {
                Some(ActionKind::EndSessions {
                    selector: SessionSelector::All,
                })
            } else {
                None
            };
            if let Some(kind) = kind {
                actions.push(Action {
                    id: Action::stable_id(&target.id, name, &kind),
                    target: target.id.clone(),
                    identity: None,
                    account: name.clone(),
                    kind,
                    reason: "account is not declared and the policy disables unmanaged accounts"
                        .to_string(),
                    depends_on: Vec::new(),
                });
            }
        }
    }
    (actions, findings)
}
