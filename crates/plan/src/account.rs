//! Planning for one declared account.

use enact_model::{
    Account, Action, ActionId, ActionKind, Identity, LifecycleState, ObservedAccount,
    SessionSelector, SinkState, Timestamp,
};
use std::collections::BTreeSet;
use tracing::debug;

/// Collects actions for one account, giving each its stable id.
struct Builder<'a> {
    identity: &'a Identity,
    account: &'a Account,
    actions: Vec<Action>,
    created_by: Option<ActionId>,
}

impl Builder<'_> {
    fn push(&mut self, kind: ActionKind, reason: String) {
        let id = Action::stable_id(&self.account.target, &self.account.name, &kind);
        debug!(
            nhi = %self.identity.id,
            target = %self.account.target,
            account = %self.account.name,
            action = kind.verb(),
            %reason,
            "planned action"
        );
        let depends_on = self.created_by.iter().cloned().collect();
        if matches!(kind, ActionKind::CreateAccount { .. }) {
            self.created_by = Some(id.clone());
        }
        self.actions.push(Action {
            id,
            target: self.account.target.clone(),
            identity: Some(self.identity.id.clone()),
            account: self.account.name.clone(),
            kind,
            reason,
            depends_on,
        });
    }
}

/// Plans the actions that bring one account to its declared state. `found` is the account as
/// observed, or `None` when it does not exist; `now` is the instant of the observation.
pub fn plan_account(
    identity: &Identity,
    account: &Account,
    found: Option<&ObservedAccount>,
    sink: Option<SinkState>,
    now: Timestamp,
) -> Vec<Action> {
    plan_account_with(identity, account, found, sink, now, false)
}

/// Plans one account like [`plan_account`]; with `rotate`, an active account's credential is
/// rotated whatever its age.
pub(crate) fn plan_account_with(
    identity: &Identity,
    account: &Account,
    found: Option<&ObservedAccount>,
    sink: Option<SinkState>,
    now: Timestamp,
    rotate: bool,
) -> Vec<Action> {
    let mut builder = Builder {
        identity,
        account,
        actions: Vec::new(),
        created_by: None,
    };

    match (identity.state, found) {
        (LifecycleState::Decommissioned, None) => {
            // The account is gone, but its credential may still sit in its sink, for example
            // after a Redis restart lost the user.
            if let (Some(credential), Some(state)) = (&account.credential, sink) {
                if state.any {
                    builder.push(
                        ActionKind::PurgeCredential {
                            sink: credential.sink.clone(),
                        },
                        format!(
                            "identity `{}` is decommissioned and its account is gone, but {} still holds its credential",
                            identity.id, credential.sink
                        ),
                    );
                }
            }
        }
        (LifecycleState::Decommissioned, Some(_)) => {
            builder.push(
                ActionKind::DeleteAccount {
                    owned_objects: account.owned_objects.clone(),
                    purge: account.credential.as_ref().map(|c| c.sink.clone()),
                },
                format!("identity `{}` is decommissioned", identity.id),
            );
        }
        (state, None) => {
            let login = state == LifecycleState::Active;
            let sink = if login {
                account.credential.as_ref().map(|c| c.sink.clone())
            } else {
                None
            };
            builder.push(
                ActionKind::CreateAccount {
                    login,
                    sink,
                    settings: account.settings.clone(),
                },
                "declared account does not exist".to_string(),
            );
            plan_entitlements(&mut builder, &BTreeSet::new());
        }
        (state, Some(observed)) => {
            if state == LifecycleState::Active && !observed.login_enabled {
                builder.push(
                    ActionKind::EnableLogin,
                    "login is disabled but the identity is active".to_string(),
                );
            }
            plan_settings(&mut builder, observed);
            plan_entitlements(&mut builder, &observed.entitlements);
            if state == LifecycleState::Active {
                plan_credential(&mut builder, observed, sink, now, rotate);
                plan_sessions(&mut builder, observed, now);
            } else if observed.login_enabled {
                builder.push(
                    ActionKind::DisableLogin,
                    format!(
                        "identity `{}` is disabled but its login is enabled",
                        identity.id
                    ),
                );
            } else if !observed.sessions.is_empty() {
                builder.push(
                    ActionKind::EndSessions {
                        selector: SessionSelector::All,
                    },
                    format!(
                        "identity `{}` is disabled but has {} open session(s)",
                        identity.id,
                        observed.sessions.len()
                    ),
                );
            }
        }
    }
    builder.actions
}

fn plan_settings(builder: &mut Builder<'_>, observed: &ObservedAccount) {
    let declared = &builder.account.settings;
    let differing: Vec<String> = declared
        .iter()
        .filter(|(key, value)| observed.settings.get(*key) != Some(*value))
        .map(|(key, value)| {
            let actual = observed
                .settings
                .get(key)
                .map(String::as_str)
                .unwrap_or("unset");
            format!("{key} is {actual}, declared {value}")
        })
        .collect();
    if !differing.is_empty() {
        builder.push(
            ActionKind::Configure {
                settings: declared.clone(),
            },
            differing.join("; "),
        );
    }
}

fn plan_entitlements(builder: &mut Builder<'_>, present: &BTreeSet<enact_model::Entitlement>) {
    let declared = &builder.account.entitlements;
    for entitlement in declared.difference(present) {
        builder.push(
            ActionKind::Grant {
                entitlement: entitlement.clone(),
            },
            "declared but not held".to_string(),
        );
    }
    for entitlement in present.difference(declared) {
        builder.push(
            ActionKind::Revoke {
                entitlement: entitlement.clone(),
            },
            "held but not declared (least privilege)".to_string(),
        );
    }
}

fn plan_credential(
    builder: &mut Builder<'_>,
    observed: &ObservedAccount,
    sink: Option<SinkState>,
    now: Timestamp,
    requested: bool,
) {
    let Some(credential) = &builder.account.credential else {
        return;
    };
    let reason = match (observed.credential_set_at, credential.max_age) {
        _ if requested => Some("rotation requested with `--rotate`".to_string()),
        _ if sink.is_some_and(|state| !state.current) => Some(format!(
            "{} holds no credential, so its dependents have none to use",
            credential.sink
        )),
        _ if observed.extra_credentials > 0 => Some(format!(
            "{} credential(s) exist beyond the one enact manages",
            observed.extra_credentials
        )),
        (None, _) => Some(
            "credential age unknown: no live credential with a recorded set time (never set by enact, or expired)"
                .to_string(),
        ),
        (Some(set_at), Some(max_age)) if now.since(set_at) > max_age => Some(format!(
            "credential age {} exceeds max_age {max_age}",
            now.since(set_at)
        )),
        _ => None,
    };
    if let Some(reason) = reason {
        let end_sessions = builder
            .account
            .sessions
            .as_ref()
            .is_some_and(|s| s.end_on_rotation);
        let mut reason = match credential.strategy {
            enact_model::RotationStrategy::Single => format!(
                "{reason}; single strategy: a dependent holding the old value fails until it reads the new one from the sink"
            ),
            _ => reason,
        };
        if let Some(undeclared) = undeclared_dependents(credential, &observed.sessions) {
            reason.push_str("; ");
            reason.push_str(&undeclared);
        }
        builder.push(
            ActionKind::RotateCredential {
                sink: credential.sink.clone(),
                end_sessions,
                strategy: credential.strategy.clone(),
            },
            reason,
        );
    }
}

/// Describes the open sessions that belong to no declared dependent: processes that use the
/// credential, which the rotation will not wait for.
fn undeclared_dependents(
    credential: &enact_model::CredentialPolicy,
    sessions: &[enact_model::ObservedSession],
) -> Option<String> {
    const SHOWN: usize = 5;
    let undeclared: Vec<&enact_model::ObservedSession> = sessions
        .iter()
        .filter(|session| !credential.dependents.iter().any(|d| d.owns(session)))
        .collect();
    if undeclared.is_empty() {
        return None;
    }
    let mut described: Vec<String> = undeclared
        .iter()
        .take(SHOWN)
        .map(|session| {
            let name = if session.application_name.is_empty() {
                "no application name".to_owned()
            } else {
                format!("application `{}`", session.application_name)
            };
            match &session.client_addr {
                Some(addr) => format!("session {} ({name}, from {addr})", session.id),
                None => format!("session {} ({name})", session.id),
            }
        })
        .collect();
    if undeclared.len() > SHOWN {
        described.push(format!("and {} more", undeclared.len() - SHOWN));
    }
    Some(format!(
        "undeclared dependents: {} open session(s) belong to no declared dependent: {}",
        undeclared.len(),
        described.join(", ")
    ))
}

fn plan_sessions(builder: &mut Builder<'_>, observed: &ObservedAccount, now: Timestamp) {
    let Some(policy) = builder.account.sessions.clone() else {
        return;
    };
    if let Some(max_lifetime) = policy.max_lifetime {
        let selector = SessionSelector::OlderThan { max_lifetime };
        let over = count_matching(observed, &selector, now);
        if over > 0 {
            builder.push(
                ActionKind::EndSessions { selector },
                format!("{over} session(s) older than max_lifetime {max_lifetime}"),
            );
        }
    }
    if let Some(idle_limit) = policy.idle_limit {
        let selector = SessionSelector::IdleLongerThan { idle_limit };
        let over = count_matching(observed, &selector, now);
        if over > 0 {
            builder.push(
                ActionKind::EndSessions { selector },
                format!("{over} session(s) idle longer than idle_limit {idle_limit}"),
            );
        }
    }
}

fn count_matching(observed: &ObservedAccount, selector: &SessionSelector, now: Timestamp) -> usize {
    observed
        .sessions
        .iter()
        .filter(|s| selector.matches(s.started_at, s.idle_since, now))
        .count()
}
