//! `enact review import` and `enact review status`: an access-review campaign's decisions,
//! carried out and proven. A revoke decision is linked to the revoke action that carries it
//! out, and counts as done only when that action's evidence record says verified.

use crate::args::{GlobalArgs, OutputFormat, ReviewImportArgs, ReviewStatusArgs};
use crate::commands::exit;
use crate::context::{self, SharedEvidence, Sinks, State};
use crate::render;
use anyhow::{anyhow, bail, Result};
use enact_evidence::{EvidenceLog, RunCounts, RunRecord};
use enact_execute::{ActionStatus, ExecuteOptions, Executor, OsSecretGenerator};
use enact_model::digest::json_sha256;
use enact_model::{Action, Clock, Plan, SystemClock, Timestamp};
use enact_respond::review::{import_decisions, Decision, Verdict};
use enact_store_sqlite::{ReviewRecord, SqliteStore};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

/// What the evidence says about one action of one run.
struct Recorded {
    /// `verified`, `refuted`, `indeterminate` or `failed`.
    outcome: String,
    /// When its last probe ended: the proof time of a verified action.
    proven_at: Option<Timestamp>,
}

/// The state of one stored decision.
struct DecisionStatus {
    record: ReviewRecord,
    /// `kept`, `verified` or `pending`.
    state: &'static str,
    detail: String,
    proven_at: Option<Timestamp>,
}

/// Indexes the action records of the evidence log by (run id, action id); the last record of
/// an action wins.
fn recorded_actions(state_dir: &Path) -> Result<HashMap<(String, String), Recorded>> {
    let mut index = HashMap::new();
    for record in enact_evidence::read_records(state_dir)? {
        let (_, body) = record?;
        if body["type"] != "action" {
            continue;
        }
        let run = body["run_id"].as_str().unwrap_or_default().to_string();
        let action = body["action"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let outcome = match body["outcome"]["status"].as_str() {
            Some("judged") => body["outcome"]["verdict"]["verdict"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            Some(other) => other.to_string(),
            None => continue,
        };
        let proven_at = body["outcome"]["verdict"]["probes"]
            .as_array()
            .and_then(|probes| {
                probes
                    .iter()
                    .filter_map(|probe| probe["ended_at"].as_i64())
                    .max()
            })
            .map(Timestamp);
        index.insert((run, action), Recorded { outcome, proven_at });
    }
    Ok(index)
}

fn status_of(
    record: ReviewRecord,
    recorded: &HashMap<(String, String), Recorded>,
) -> DecisionStatus {
    if record.decision != "revoke" {
        return DecisionStatus {
            record,
            state: "kept",
            detail: "the reviewer kept the entitlement".to_string(),
            proven_at: None,
        };
    }
    let (state, detail, proven_at) = match (&record.run_id, &record.action_id) {
        (Some(run), Some(action)) => match recorded.get(&(run.clone(), action.clone())) {
            Some(found) if found.outcome == "verified" => (
                "verified",
                format!("{action} in {run} verified"),
                found.proven_at,
            ),
            Some(found) => (
                "pending",
                format!("{action} in {run} was {}", found.outcome),
                None,
            ),
            None => (
                "pending",
                format!("{action} in {run} has no evidence record yet"),
                None,
            ),
        },
        _ => ("pending", "no action has run yet".to_string(), None),
    };
    DecisionStatus {
        record,
        state,
        detail,
        proven_at,
    }
}

fn to_record(decision: &Decision, imported_at: Timestamp) -> Result<ReviewRecord> {
    Ok(ReviewRecord {
        decision_id: decision.id.clone(),
        identity: decision.identity.to_string(),
        target: decision.target.to_string(),
        account: decision.account.clone(),
        entitlement: decision.entitlement.to_string(),
        entitlement_json: serde_json::to_string(&decision.entitlement)?,
        decision: decision.verdict.to_string(),
        reviewer: decision.reviewer.clone(),
        decided_at: decision.decided_at,
        imported_at,
        source: decision.location.clone(),
        run_id: None,
        action_id: None,
    })
}

/// Runs `enact review import`.
pub async fn import(global: &GlobalArgs, args: &ReviewImportArgs) -> Result<u8> {
    let clock = Arc::new(SystemClock);
    let started_at = clock.now();
    let policy = Arc::new(context::load_policy(&global.policy)?);
    let bytes = std::fs::read(&args.file)
        .map_err(|e| anyhow!("failed to read `{}`: {e}", args.file.display()))?;
    let origin = args.file.display().to_string();
    let decisions = import_decisions(&bytes, &origin, &policy)
        .map_err(|error| anyhow!("invalid campaign: {error}; nothing was changed"))?;

    let state = State::open(&global.state_dir, &global.policy)?;
    let _lock = state.lock()?;
    let store = Arc::new(SqliteStore::open(&state.database())?);
    let mut new = 0;
    for decision in &decisions {
        if store.record_review(&to_record(decision, started_at)?)? {
            new += 1;
        }
    }
    let recorded = recorded_actions(&state.dir)?;

    // Every revoke decision of this campaign that is not verified yet gets its action again;
    // a revoke is idempotent, and its probe proves the entitlement is gone.
    let mut open: Vec<&Decision> = Vec::new();
    for decision in decisions.iter().filter(|d| d.verdict == Verdict::Revoke) {
        let stored = store.review(&decision.id)?;
        let verified = stored
            .map(|record| status_of(record, &recorded).state == "verified")
            .unwrap_or(false);
        if !verified {
            open.push(decision);
        }
    }
    let mut seen = BTreeSet::new();
    let actions: Vec<Action> = open
        .iter()
        .filter_map(|decision| decision.action())
        .filter(|action| seen.insert(action.id.clone()))
        .collect();
    let ids: Vec<&str> = open.iter().map(|d| d.id.as_str()).collect();
    let observation_digest = json_sha256(&("access-review", &ids, started_at));
    let plan = Plan {
        id: Plan::compute_id(&policy.digest, &observation_digest, &actions),
        created_at: started_at,
        policy_digest: policy.digest.clone(),
        observation_digest,
        actions,
        unmanaged: Vec::new(),
    };

    let text = args.output == OutputFormat::Text;
    if text {
        outln!(
            "Read {} decision(s) from `{origin}`, {new} new; {} revoke(s) not yet verified.",
            decisions.len(),
            open.len()
        );
        for decision in open.iter().filter(|d| d.still_declared(&policy)) {
            outln!(
                "warning: the policy still declares `{}` for identity `{}` on `{}`; the next apply grants it again unless the policy drops it",
                decision.entitlement,
                decision.identity,
                decision.target
            );
        }
        out!("{}", render::plan_text(&policy, &plan));
    }
    if args.plan_only || plan.actions.is_empty() {
        if !text {
            outln!(
                "{}",
                serde_json::to_string_pretty(&json!({ "plan": plan, "results": [] }))?
            );
        }
        return Ok(if plan.actions.is_empty() {
            exit::OK
        } else {
            exit::CHANGES
        });
    }

    let max_destructive = if args.allow_destructive {
        None
    } else {
        Some(
            args.max_destructive
                .unwrap_or(policy.limits.max_destructive as usize),
        )
    };
    if let Some(limit) = max_destructive {
        let count = plan.destructive_count();
        if count > limit {
            bail!(
                "refused: the campaign has {count} revoke(s) to carry out, more than the limit of {limit}; the decisions are stored but nothing was changed. Rerun with `--max-destructive {count}` or `--allow-destructive`"
            );
        }
    }

    let key = state.keys.fingerprint_key().clone();
    let connectors = context::connectors(&policy, &key)?;
    let log = EvidenceLog::open(&state.dir, state.keys.signing_key().clone())?;
    let evidence = Arc::new(SharedEvidence::new(log, &state.dir));
    let executor = Executor {
        policy: policy.clone(),
        connectors,
        sinks: Arc::new(Sinks::new(&policy, &key)?),
        store: store.clone(),
        evidence: evidence.clone(),
        key,
        clock: clock.clone(),
        generator: Arc::new(OsSecretGenerator),
        progress: Arc::new(enact_execute::NoProgress),
        options: ExecuteOptions {
            max_destructive,
            ..ExecuteOptions::default()
        },
    };
    let run_id = format!("review-{}-{:08x}", started_at.0, rand::random::<u32>());
    // The link is stored before the run, so a run that stops half way is still found by the
    // status once `enact apply` resumes it.
    for decision in &open {
        if let Some(action) = decision.action() {
            store.link_review(&decision.id, &run_id, &action.id)?;
        }
    }
    let results = executor.run(&plan, &run_id).await?;
    {
        let mut log = evidence
            .log
            .lock()
            .map_err(|_| anyhow!("the evidence log lock is poisoned"))?;
        let mut counts = RunCounts::default();
        for result in &results {
            match result.status {
                ActionStatus::Verified => counts.verified += 1,
                ActionStatus::Refuted => counts.refuted += 1,
                ActionStatus::Indeterminate => counts.indeterminate += 1,
                ActionStatus::Failed => counts.failed += 1,
                _ => counts.not_started += 1,
            }
        }
        log.append_run(&RunRecord {
            run_id: run_id.clone(),
            plan_id: plan.id.clone(),
            policy_digest: plan.policy_digest.clone(),
            enact_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            ended_at: clock.now(),
            planned: u32::try_from(plan.actions.len()).unwrap_or(u32::MAX),
            counts,
        })?;
        log.commit()?;
    }

    match args.output {
        OutputFormat::Text => {
            for result in &results {
                outln!("{}", render::result_line(result));
            }
        }
        OutputFormat::Json => {
            let value = json!({
                "run_id": run_id,
                "plan": plan,
                "results": results.iter().map(render::result_json).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&value)?);
        }
    }
    let failed = results.iter().any(|r| r.status == ActionStatus::Failed);
    let unproven = results.iter().any(|r| r.status != ActionStatus::Verified);
    Ok(if failed {
        exit::ACTION_FAILED
    } else if unproven {
        exit::NOT_VERIFIED
    } else {
        exit::OK
    })
}

/// Runs `enact review status`: every stored decision, whether its removal is verified, and the
/// time from the decision to the proof. Exits 0 when none is pending, 2 otherwise.
pub fn status(global: &GlobalArgs, args: &ReviewStatusArgs) -> Result<u8> {
    let state = State::open(&global.state_dir, &global.policy)?;
    let store = SqliteStore::open(&state.database())?;
    let recorded = recorded_actions(&state.dir)?;
    let statuses: Vec<DecisionStatus> = store
        .reviews()?
        .into_iter()
        .map(|record| status_of(record, &recorded))
        .collect();
    let pending = statuses.iter().filter(|s| s.state == "pending").count();

    match args.output {
        OutputFormat::Text => {
            if statuses.is_empty() {
                outln!("No review decisions; import a campaign with `enact review import FILE`.");
            }
            for status in &statuses {
                let record = &status.record;
                let elapsed = status
                    .proven_at
                    .map(|proof| {
                        format!(
                            ", proven {} after the decision",
                            proof.since(record.decided_at)
                        )
                    })
                    .unwrap_or_default();
                outln!(
                    "{:<9} {} {}/{} {} by {} at {}: {}{elapsed}",
                    status.state,
                    record.decision,
                    record.target,
                    record.account,
                    record.entitlement,
                    record.reviewer,
                    record.decided_at,
                    status.detail
                );
            }
            outln!("\n{} decision(s): {pending} pending.", statuses.len());
        }
        OutputFormat::Json => {
            let rows: Vec<Value> = statuses
                .iter()
                .map(|status| {
                    let record = &status.record;
                    json!({
                        "decision_id": record.decision_id,
                        "identity": record.identity,
                        "target": record.target,
                        "account": record.account,
                        "entitlement": record.entitlement,
                        "decision": record.decision,
                        "reviewer": record.reviewer,
                        "decided_at": record.decided_at.to_rfc3339(),
                        "source": record.source,
                        "run_id": record.run_id,
                        "action_id": record.action_id,
                        "status": status.state,
                        "detail": status.detail,
                        "proven_at": status.proven_at.map(Timestamp::to_rfc3339),
                        "decision_to_proof_ms": status.proven_at.map(|proof| proof.since(record.decided_at).as_micros() / 1000),
                    })
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&json!({ "decisions": rows, "pending": pending }))?
            );
        }
    }
    Ok(if pending == 0 {
        exit::OK
    } else {
        exit::CHANGES
    })
}
