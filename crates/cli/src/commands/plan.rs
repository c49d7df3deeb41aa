//! `enact plan`: observe every target afresh and show the actions that would fix the drift.

use crate::args::{GlobalArgs, OutputFormat, PlanArgs};
use crate::commands::{exit, UsageError};
use crate::context::{self, Sinks, State};
use crate::render;
use anyhow::{anyhow, bail, Context as _, Result};
use enact_connector::Connector;
use enact_execute::StateStore;
use enact_model::{Clock, FingerprintKey, Observation, Plan, Policy, SystemClock, TargetId};
use enact_plan::hygiene::HygieneReport;
use enact_plan::PlanRequest;
use enact_store_sqlite::SqliteStore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The format marker of a saved plan file.
const PLAN_FORMAT: &str = "enact-plan/1";

/// A plan saved by `enact plan --out`.
#[derive(Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub plan: Plan,
}

/// Observes every target and plans.
pub async fn observe_and_plan(
    policy: &Policy,
    connectors: &BTreeMap<TargetId, Arc<dyn Connector>>,
    key: &FingerprintKey,
) -> Result<(Observation, Plan)> {
    let (observation, plan, _) =
        observe_and_plan_with(policy, connectors, key, &PlanRequest::default()).await?;
    Ok((observation, plan))
}

/// Observes every target and plans, with the operator's `request` on top of the policy.
pub async fn observe_and_plan_with(
    policy: &Policy,
    connectors: &BTreeMap<TargetId, Arc<dyn Connector>>,
    key: &FingerprintKey,
    request: &PlanRequest,
) -> Result<(Observation, Plan, HygieneReport)> {
    let sinks = Sinks::new(policy, key)?;
    // Accounts a hygiene rule is waiting on stay in view after it disables them.
    let mut held: BTreeMap<TargetId, Vec<String>> = BTreeMap::new();
    for (target, account, _) in request.rules_held.keys() {
        held.entry(TargetId::new(target.as_str()))
            .or_default()
            .push(account.clone());
    }
    let observation =
        enact_observe::observe_with(policy, connectors, &sinks, key, SystemClock.now(), &held)
            .await?;
    let (plan, hygiene) = enact_plan::plan_full(policy, &observation, request)?;
    Ok((observation, plan, hygiene))
}

/// The request for a plan: the `--rotate` identities, the policy's hygiene rules and when each
/// was first seen to hold, from the state database.
pub fn full_request(
    policy: &Policy,
    rotate: &[String],
    rules: Vec<enact_policy::HygieneRule>,
    state: &State,
) -> Result<PlanRequest> {
    let mut request = rotate_request(policy, rotate)?;
    if !rules.is_empty() {
        request.rules_held =
            enact_store_sqlite::SqliteStore::open(&state.database())?.rules_held()?;
        request.rules = rules;
    }
    Ok(request)
}

/// The request that `--rotate` makes, checked against the policy's identities before anything
/// is observed.
pub fn rotate_request(policy: &Policy, names: &[String]) -> Result<PlanRequest> {
    let mut request = PlanRequest::default();
    for name in names {
        let id = enact_model::NhiId::new(name.as_str());
        let Some(identity) = policy.identities.get(&id) else {
            let known: Vec<String> = policy.identities.keys().map(|id| id.to_string()).collect();
            return Err(UsageError(format!(
                "`--rotate {name}`: no identity `{name}` in the policy; declared identities: {}",
                known.join(", ")
            ))
            .into());
        };
        if !identity.accounts.iter().any(|a| a.credential.is_some()) {
            return Err(UsageError(format!(
                "`--rotate {name}`: identity `{name}` has no account with a managed credential"
            ))
            .into());
        }
        request.rotate.insert(id);
    }
    Ok(request)
}

/// Runs `enact plan`.
pub async fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<u8> {
    let (policy, rules) = context::load_policy_with_rules(&global.policy)?;
    let state = State::open(&global.state_dir, &global.policy)?;
    let connectors = context::connectors(&policy, state.keys.fingerprint_key())?;
    let request = full_request(&policy, &args.rotate, rules, &state)?;
    let (_, plan, hygiene) =
        observe_and_plan_with(&policy, &connectors, state.keys.fingerprint_key(), &request).await?;

    // Actions an earlier run left open are not done either, so they count as pending changes.
    let open = SqliteStore::open(&state.database())?.open_actions()?;
    let pending = !plan.actions.is_empty() || !open.is_empty();

    if let Some(path) = &args.out {
        save(path, &plan)?;
    }
    match args.output {
        OutputFormat::Text => {
            if open.is_empty() {
                out!("{}", render::plan_text(&policy, &plan));
            } else {
                out!("{}", render::open_actions_text(&open));
                outln!();
                if plan.actions.is_empty() {
                    outln!("No other changes.");
                } else {
                    out!("{}", render::plan_text(&policy, &plan));
                }
            }
            out!("{}", render::hygiene_text(&hygiene));
            let destructive = plan.destructive_count();
            let limit = policy.limits.max_destructive as usize;
            if destructive > limit {
                outln!(
                    "Note: `enact apply` refuses this plan as it is: {destructive} destructive action(s), more than the policy's limit of {limit} (`limits.max_destructive`). Review it, then run `enact apply --max-destructive {destructive}` or `--allow-destructive`."
                );
            }
            if let Some(path) = &args.out {
                outln!(
                    "Saved the plan to `{}`; run `enact apply {}` to execute exactly it.",
                    path.display(),
                    path.display()
                );
            }
        }
        OutputFormat::Json => {
            let value = serde_json::json!({
                "changes_pending": pending,
                "destructive": plan.destructive_count(),
                "max_destructive": policy.limits.max_destructive,
                "open_actions": open.iter().map(render::open_action_json).collect::<Vec<_>>(),
                "plan": plan,
                "hygiene": render::hygiene_json(&hygiene),
            });
            outln!("{}", serde_json::to_string_pretty(&value)?);
        }
    }
    Ok(if pending { exit::CHANGES } else { exit::OK })
}

fn save(path: &Path, plan: &Plan) -> Result<()> {
    let saved = SavedPlan {
        format: PLAN_FORMAT.to_string(),
        plan: plan.clone(),
    };
    let text = serde_json::to_string_pretty(&saved)?;
    std::fs::write(path, text)
        .with_context(|| format!("failed to write the plan to `{}`", path.display()))
}

/// Reads a saved plan and checks it still applies: no earlier run verified it already, the
/// policy and the durable observed state must be what they were, and planning afresh must give
/// the same actions.
pub async fn load_fresh(
    path: &Path,
    store: &SqliteStore,
    policy: &Policy,
    connectors: &BTreeMap<TargetId, Arc<dyn Connector>>,
    key: &FingerprintKey,
    base: &PlanRequest,
) -> Result<(Plan, HygieneReport)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("failed to read the plan file `{}`: {e}", path.display()))?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "`{}` is not a plan saved by `enact plan --out`: {e}",
            path.display()
        )
    })?;
    if saved.format != PLAN_FORMAT {
        bail!(
            "`{}` has plan format `{}`; this enact reads `{PLAN_FORMAT}`",
            path.display(),
            saved.format
        );
    }
    let plan = saved.plan;
    if let Some(run) = store.verified_run_of_plan(&plan.id.to_string())? {
        bail!(
            "plan `{}` in `{}` was applied already: run `{run}` verified every action of it; run `enact plan --out {}` for a new plan",
            plan.id,
            path.display(),
            path.display()
        );
    }
    if plan.policy_digest != policy.digest {
        bail!(
            "stale plan: the policy changed since `{}` was made; run `enact plan --out {}` again",
            path.display(),
            path.display()
        );
    }
    // A rotation the saved plan holds is asked for again, in case `--rotate` made it.
    let request = PlanRequest {
        rotate: plan
            .actions
            .iter()
            .filter(|a| matches!(a.kind, enact_model::ActionKind::RotateCredential { .. }))
            .filter_map(|a| a.identity.clone())
            .collect(),
        ..base.clone()
    };
    let (_, fresh, hygiene) = observe_and_plan_with(policy, connectors, key, &request).await?;
    if fresh.observation_digest != plan.observation_digest {
        bail!("stale plan: the observed state changed since `{}` was made; run `enact plan --out {}` again", path.display(), path.display());
    }
    let saved_ids: Vec<_> = plan.actions.iter().map(|a| &a.id).collect();
    let fresh_ids: Vec<_> = fresh.actions.iter().map(|a| &a.id).collect();
    if saved_ids != fresh_ids {
        bail!("stale plan: the open sessions changed since `{}` was made, so the actions differ; run `enact plan --out {}` again", path.display(), path.display());
    }
    Ok((plan, hygiene))
}
