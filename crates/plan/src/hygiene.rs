//! Hygiene rules evaluated over an observation, with three values.
//!
//! Each observed account gets its attributes (see [`enact_policy::ATTRIBUTES`]). An attribute
//! the target does not record is unknown, and a rule whose expression reads an unknown
//! attribute is judged unknown without being run. Unknown never satisfies a rule that changes
//! the account: a `rotate`, `disable` or `delete` rule plans nothing for it, and a `report`
//! rule lists it as unknown.

use enact_model::{
    Account, Action, ActionKind, Identity, Observation, ObservedAccount, OwnedObjects, Policy,
    TargetId, Timestamp,
};
use enact_policy::{HygieneRule, RuleAction};
use std::collections::{BTreeMap, HashMap};

/// A rule's judgement of one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// The expression holds.
    Satisfied,
    /// The expression does not hold.
    NotSatisfied,
    /// The expression reads attributes the target does not record, named here.
    Unknown { attributes: Vec<String> },
    /// The expression failed at run time or did not return a boolean.
    Failed { reason: String },
}

/// One account a rule matched or could not judge.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFinding {
    pub rule: String,
    pub target: TargetId,
    pub account: String,
    pub judgement: Judgement,
    /// The action planned for it, if any.
    pub action: Option<Action>,
    /// The reason no action was planned, or when a pending deletion falls due.
    pub note: Option<String>,
}

/// The outcome of every rule over one observation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HygieneReport {
    pub findings: Vec<RuleFinding>,
}

impl HygieneReport {
    /// Returns the (target, account, rule) triples whose rule holds.
    pub fn holding(&self) -> Vec<(String, String, String)> {
        self.findings
            .iter()
            .filter(|finding| finding.judgement == Judgement::Satisfied)
            .map(|f| (f.target.to_string(), f.account.clone(), f.rule.clone()))
            .collect()
    }

    /// Returns the planned actions, each once, in rule order.
    pub fn actions(&self) -> Vec<Action> {
        let mut seen = std::collections::BTreeSet::new();
        self.findings
            .iter()
            .filter_map(|finding| finding.action.clone())
            .filter(|action| seen.insert(action.id.clone()))
            .collect()
    }
}

/// One attribute value; `None` is unknown.
type Attributes = BTreeMap<&'static str, Option<cel_interpreter::Value>>;

/// The identity and account that declare an observed account, if any.
type Declared<'p> = Option<(&'p Identity, &'p Account)>;

fn attributes(
    declared: Declared<'_>,
    target: &TargetId,
    observed: &ObservedAccount,
    now: Timestamp,
) -> Attributes {
    use cel_interpreter::Value;
    let mut out = Attributes::new();
    out.insert(
        "age_days",
        observed
            .credential_set_at
            .map(|set_at| Value::Int(now.since(set_at).as_secs() / 86_400)),
    );
    // NOTE: no connector reports last use yet, so this attribute is unknown everywhere and a
    // destructive rule that reads it never fires.
    out.insert("last_used_days", None);
    out.insert(
        "owner_missing",
        Some(Value::Bool(declared.is_none_or(|(identity, _)| {
            identity.owner.trim().is_empty()
        }))),
    );
    out.insert("unmanaged", Some(Value::Bool(declared.is_none())));
    out.insert("login_enabled", Some(Value::Bool(observed.login_enabled)));
    out.insert(
        "sessions",
        Some(Value::Int(
            i64::try_from(observed.sessions.len()).unwrap_or(i64::MAX),
        )),
    );
    out.insert(
        "target",
        Some(Value::String(target.as_str().to_string().into())),
    );
    out.insert("account", Some(Value::String(observed.name.clone().into())));
    out.insert(
        "identity",
        Some(Value::String(
            declared
                .map(|(identity, _)| identity.id.to_string())
                .unwrap_or_default()
                .into(),
        )),
    );
    out
}

fn judge(rule: &HygieneRule, attributes: &Attributes) -> Judgement {
    let unknown: Vec<String> = rule
        .attributes
        .iter()
        .filter(|name| matches!(attributes.get(name.as_str()), Some(None) | None))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Judgement::Unknown {
            attributes: unknown,
        };
    }
    let program = match cel_interpreter::Program::compile(&rule.expression) {
        Ok(program) => program,
        Err(error) => {
            return Judgement::Failed {
                reason: format!("does not compile: {error}"),
            }
        }
    };
    let mut context = cel_interpreter::Context::default();
    for (name, value) in attributes {
        if let Some(value) = value {
            context.add_variable_from_value(*name, value.clone());
        }
    }
    match program.execute(&context) {
        Ok(cel_interpreter::Value::Bool(true)) => Judgement::Satisfied,
        Ok(cel_interpreter::Value::Bool(false)) => Judgement::NotSatisfied,
        Ok(other) => Judgement::Failed {
            reason: format!("returned {other:?}, not a boolean"),
        },
        Err(error) => Judgement::Failed {
            reason: error.to_string(),
        },
    }
}

/// Evaluates `rules` over every observed account at the observation's instant. `first_held`
/// gives, per (target, account, rule), when the rule was first seen to hold; a `delete` rule
/// deletes only once that is at least its grace period ago, and disables the account until
/// then.
pub fn evaluate(
    rules: &[HygieneRule],
    policy: &Policy,
    observation: &Observation,
    first_held: &dyn Fn(&TargetId, &str, &str) -> Option<Timestamp>,
) -> HygieneReport {
    let now = observation.observed_at;
    let mut report = HygieneReport::default();
    // Indexed once, so judging each observed account costs no scan of the policy.
    let mut declarations: HashMap<(&TargetId, &str), (&Identity, &Account)> = HashMap::new();
    for identity in policy.identities.values() {
        for account in &identity.accounts {
            declarations.insert(
                (&account.target, account.name.as_str()),
                (identity, account),
            );
        }
    }
    for rule in rules {
        for (target, observed_target) in &observation.targets {
            for observed in observed_target.accounts.values() {
                let declared = declarations.get(&(target, observed.name.as_str())).copied();
                if declared.is_none() && ignored(policy, target, &observed.name) {
                    continue;
                }
                let attributes = attributes(declared, target, observed, now);
                let judgement = judge(rule, &attributes);
                if judgement == Judgement::NotSatisfied {
                    continue;
                }
                let (action, note) = match &judgement {
                    Judgement::Satisfied => {
                        plan_action(rule, declared, target, observed, now, first_held)
                    }
                    Judgement::Unknown { .. } if rule.action.changes_account() => (
                        None,
                        Some(format!(
                            "not satisfied: unknown never satisfies a `{}` rule",
                            rule.action.name()
                        )),
                    ),
                    Judgement::Unknown { .. } => (None, Some("unknown".to_string())),
                    Judgement::Failed { reason } => (None, Some(reason.clone())),
                    Judgement::NotSatisfied => (None, None),
                };
                tracing::debug!(rule = %rule.name, target = %target, account = %observed.name, ?judgement, "hygiene rule judged");
                report.findings.push(RuleFinding {
                    rule: rule.name.clone(),
                    target: target.clone(),
                    account: observed.name.clone(),
                    judgement,
                    action,
                    note,
                });
            }
        }
    }
    report
}

/// Reports whether `account` matches an `unmanaged.ignore` pattern of its target. The policy
/// leaves such undeclared accounts alone entirely, so no rule judges them.
fn ignored(policy: &Policy, target: &TargetId, account: &str) -> bool {
    policy.targets.get(target).is_some_and(|settings| {
        settings
            .unmanaged
            .ignore
            .iter()
            .any(|pattern| enact_model::glob::glob_matches(pattern, account))
    })
}

fn plan_action(
    rule: &HygieneRule,
    declared: Declared<'_>,
    target: &TargetId,
    observed: &ObservedAccount,
    now: Timestamp,
    first_held: &dyn Fn(&TargetId, &str, &str) -> Option<Timestamp>,
) -> (Option<Action>, Option<String>) {
    if let (Some((identity, _)), RuleAction::Disable | RuleAction::Delete) =
        (declared, &rule.action)
    {
        // The policy decides a declared account's state; a rule that disabled it would be
        // undone by the next plan, which enables it again.
        return (
            None,
            Some(format!(
                "declared by identity `{}`; set its `state` in the policy to {} it",
                identity.id,
                rule.action.name()
            )),
        );
    }
    let kind = match rule.action {
        RuleAction::Report => return (None, None),
        RuleAction::Rotate => match declared.and_then(|(_, account)| account.credential.as_ref()) {
            Some(credential) => ActionKind::RotateCredential {
                sink: credential.sink.clone(),
                end_sessions: false,
                strategy: credential.strategy.clone(),
            },
            None => {
                return (
                    None,
                    Some("the account has no declared credential sink to rotate into".to_string()),
                )
            }
        },
        RuleAction::Disable if !observed.login_enabled => {
            return (None, Some("login is disabled already".to_string()))
        }
        RuleAction::Disable => ActionKind::DisableLogin,
        RuleAction::Delete => {
            let grace = rule
                .grace_period
                .unwrap_or_else(|| enact_model::Duration::from_secs(0));
            let since = first_held(target, &observed.name, &rule.name).unwrap_or(now);
            if now.since(since) >= grace && grace.as_micros() > 0 {
                ActionKind::DeleteAccount {
                    owned_objects: declared
                        .map(|(_, account)| account.owned_objects.clone())
                        .unwrap_or(OwnedObjects::Refuse),
                    purge: declared
                        .and_then(|(_, account)| account.credential.as_ref())
                        .map(|credential| credential.sink.clone()),
                }
            } else if observed.login_enabled {
                ActionKind::DisableLogin
            } else {
                return (None, Some(format!("deletion due at {}", since.plus(grace))));
            }
        }
    };
    let action = Action {
        id: Action::stable_id(target, &observed.name, &kind),
        target: target.clone(),
        identity: declared.map(|(identity, _)| identity.id.clone()),
        account: observed.name.clone(),
        kind,
        reason: format!("hygiene rule `{}`: {}", rule.name, rule.expression),
        depends_on: Vec::new(),
    };
    (Some(action), None)
}

#[cfg(test)]
mod tests;
