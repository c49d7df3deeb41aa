//! The planner: a pure function from (policy, observation) to a plan.
//!
//! Given the same inputs it returns the same actions in the same order with the same ids. It
//! reads no clock: "now" is the instant of the observation. Within one account, actions follow
//! a fixed order (create, enable, grant, revoke, rotate, end sessions, disable, delete), and an
//! action that needs the account to exist depends on the action that creates it.

mod account;
pub mod hygiene;
mod unmanaged;

use enact_model::{Action, Observation, Plan, Policy, TargetId, UnmanagedFinding};
use std::collections::HashSet;
use std::fmt;

pub use account::plan_account;

/// A reason the planner could not plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A target in the policy has no observation, so nothing about it can be decided.
    MissingObservation { target: String },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::MissingObservation { target } => {
                write!(
                    f,
                    "target `{target}` was not observed, so no plan can be made for it"
                )
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// Computes the plan that brings `observation` to the state `policy` declares.
pub fn plan(policy: &Policy, observation: &Observation) -> Result<Plan, PlanError> {
    plan_with(policy, observation, &PlanRequest::default())
}

/// What the operator asks for beyond the policy's identities.
#[derive(Clone, Debug, Default)]
pub struct PlanRequest {
    /// Rotate the credentials of these identities now, whatever their age, as `--rotate` asks.
    pub rotate: std::collections::BTreeSet<enact_model::NhiId>,
    /// The policy's hygiene rules.
    pub rules: Vec<enact_policy::HygieneRule>,
    /// When each rule was first seen to hold, by (target, account, rule).
    pub rules_held: std::collections::BTreeMap<(String, String, String), enact_model::Timestamp>,
}

/// Computes the plan like [`plan`], with the operator's `request` on top of the policy.
pub fn plan_with(
    policy: &Policy,
    observation: &Observation,
    request: &PlanRequest,
) -> Result<Plan, PlanError> {
    plan_full(policy, observation, request).map(|(plan, _)| plan)
}

/// Computes the plan like [`plan_with`] and also returns what the hygiene rules found. A rule's
/// action joins the plan unless the plan already does the same to that account.
pub fn plan_full(
    policy: &Policy,
    observation: &Observation,
    request: &PlanRequest,
) -> Result<(Plan, hygiene::HygieneReport), PlanError> {
    let mut plan = plan_declared(policy, observation, request)?;
    if request.rules.is_empty() {
        return Ok((plan, hygiene::HygieneReport::default()));
    }
    let first_held = |target: &TargetId, account: &str, rule: &str| {
        request
            .rules_held
            .get(&(target.to_string(), account.to_owned(), rule.to_owned()))
            .copied()
    };
    let report = hygiene::evaluate(&request.rules, policy, observation, &first_held);
    let mut added = false;
    for action in report.actions() {
        let duplicate = plan.actions.iter().any(|planned| {
            planned.target == action.target
                && planned.account == action.account
                && planned.kind.verb() == action.kind.verb()
        });
        if !duplicate {
            plan.actions.push(action);
            added = true;
        }
    }
    if added {
        plan.id = Plan::compute_id(&plan.policy_digest, &plan.observation_digest, &plan.actions);
    }
    Ok((plan, report))
}

fn plan_declared(
    policy: &Policy,
    observation: &Observation,
    request: &PlanRequest,
) -> Result<Plan, PlanError> {
    let now = observation.observed_at;
    let mut actions: Vec<Action> = Vec::new();
    let mut findings: Vec<UnmanagedFinding> = Vec::new();

    for (target_id, target) in &policy.targets {
        let observed =
            observation
                .targets
                .get(target_id)
                .ok_or_else(|| PlanError::MissingObservation {
                    target: target_id.to_string(),
                })?;

        let mut declared: Vec<_> = policy.accounts_on(target_id).collect();
        declared.sort_by(|a, b| (&a.0.id, &a.1.name).cmp(&(&b.0.id, &b.1.name)));
        for (identity, account) in declared {
            let found = observed.accounts.get(&account.name);
            let sink = account
                .credential
                .as_ref()
                .and_then(|credential| observation.sink(&credential.sink));
            let forced = request.rotate.contains(&identity.id);
            actions.extend(account::plan_account_with(
                identity, account, found, sink, now, forced,
            ));
        }

        let (unmanaged_actions, unmanaged_findings) =
            unmanaged::plan_unmanaged(policy, target, observed);
        actions.extend(unmanaged_actions);
        findings.extend(unmanaged_findings);
    }

    // Every declared (target, account) pair, so the scope check below is a lookup rather than
    // a scan of the policy for each observed account.
    let declared: HashSet<(&TargetId, &str)> = policy
        .identities
        .values()
        .flat_map(|identity| identity.accounts.iter())
        .map(|account| (&account.target, account.name.as_str()))
        .collect();
    let observation_digest = observation
        .durable_digest_where(|target, account| in_scope(policy, &declared, target, account));
    let id = Plan::compute_id(&policy.digest, &observation_digest, &actions);
    Ok(Plan {
        id,
        created_at: now,
        policy_digest: policy.digest.clone(),
        observation_digest,
        actions,
        unmanaged: findings,
    })
}

/// Whether an observed account can change a plan: it is declared, or it is undeclared on a
/// target that disables unmanaged accounts and no ignore pattern matches it. Reported-only and
/// ignored accounts never lead to an action, so they do not make a saved plan stale.
fn in_scope(
    policy: &Policy,
    declared: &HashSet<(&TargetId, &str)>,
    target: &TargetId,
    account: &str,
) -> bool {
    if declared.contains(&(target, account)) {
        return true;
    }
    policy.targets.get(target).is_some_and(|t| {
        t.unmanaged.action == enact_model::UnmanagedAction::Disable
            && !t
                .unmanaged
                .ignore
                .iter()
                .any(|pattern| enact_model::glob::glob_matches(pattern, account))
    })
}

#[cfg(test)]
mod tests;
