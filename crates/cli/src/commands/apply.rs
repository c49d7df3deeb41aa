//! `enact apply`: execute and verify, then sign the evidence.

use crate::args::{ApplyArgs, GlobalArgs, OutputFormat};
use crate::commands::{exit, plan};
use crate::context::{self, SharedEvidence, Sinks, State};
use crate::render;
use anyhow::{bail, Result};
use enact_evidence::{EvidenceLog, RunCounts, RunRecord};
use enact_execute::{
    ActionResult, ActionStatus, ExecuteOptions, Executor, OsSecretGenerator, Progress,
};
use enact_model::{Action, Clock, SystemClock};
use enact_store_sqlite::SqliteStore;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use std::io::IsTerminal;
use std::sync::Arc;

/// A progress bar on standard error, shown only when it is a terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn started(&self, action: &Action) {
        self.0.set_message(format!(
            "{}/{} {}",
            action.target,
            action.account,
            action.kind.verb()
        ));
    }

    fn finished(&self, action: &Action, status: ActionStatus, _reason: Option<&str>) {
        self.0.inc(1);
        if status != ActionStatus::Verified {
            self.0.println(format!(
                "{:<13} {}/{}  {}",
                status.as_str(),
                action.target,
                action.account,
                action.kind
            ));
        }
    }
}

fn progress_bar(total: usize) -> Arc<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(enact_execute::NoProgress);
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    Arc::new(Bar(bar))
}

fn new_run_id(now: enact_model::Timestamp) -> String {
    let suffix: u32 = rand::thread_rng().gen();
    format!("run-{}-{suffix:08x}", now.0)
}

/// Runs `enact apply`.
pub async fn run(global: &GlobalArgs, args: &ApplyArgs) -> Result<u8> {
    let (policy, rules) = context::load_policy_with_rules(&global.policy)?;
    let policy = Arc::new(policy);
    let state = State::open(&global.state_dir, &global.policy)?;
    let request = plan::full_request(&policy, &args.rotate, rules, &state)?;
    let _lock = state.lock()?;
    let key = state.keys.fingerprint_key().clone();
    let connectors = context::connectors(&policy, &key)?;
    let store = Arc::new(SqliteStore::open(&state.database())?);
    let log = EvidenceLog::open(&state.dir, state.keys.signing_key().clone())?;
    for repair in log.repairs() {
        eprintln!("warning: evidence log repaired: {repair}");
    }
    let evidence = Arc::new(SharedEvidence::new(log, &state.dir));
    let clock = Arc::new(SystemClock);

    let max_destructive = if args.allow_destructive {
        None
    } else {
        Some(
            args.max_destructive
                .unwrap_or(policy.limits.max_destructive as usize),
        )
    };
    let mut executor = Executor {
        policy: policy.clone(),
        connectors: connectors.clone(),
        sinks: Arc::new(Sinks::new(&policy, &key)?),
        store: store.clone(),
        evidence: evidence.clone(),
        key,
        clock: clock.clone(),
        generator: Arc::new(OsSecretGenerator),
        progress: Arc::new(enact_execute::NoProgress),
        options: ExecuteOptions {
            per_target_concurrency: args.concurrency,
            max_destructive,
            crash: crash_point()?,
            ..ExecuteOptions::default()
        },
    };
    let text = args.output == OutputFormat::Text;
    let started_at = clock.now();

    // First finish what an earlier run left open, so no action is lost.
    let resumed = executor.resume().await?;
    if text && !resumed.is_empty() {
        outln!(
            "Resumed {} action(s) left open by an earlier run:",
            resumed.len()
        );
        for result in &resumed {
            outln!("  {}", render::result_line(result));
        }
        outln!();
    }

    let planned = match &args.plan_file {
        Some(path) => {
            plan::load_fresh(path, &store, &policy, &connectors, &executor.key, &request).await
        }
        None => plan::observe_and_plan_with(&policy, &connectors, &executor.key, &request)
            .await
            .map(|(_, plan, hygiene)| (plan, hygiene)),
    };
    let (plan, hygiene) = match planned {
        Ok(planned) => planned,
        Err(error) if !resumed.is_empty() => {
            // The resumed actions are done and in the log, so sign them before stopping.
            let mut log = evidence
                .log
                .lock()
                .map_err(|_| anyhow::anyhow!("the evidence log lock is poisoned"))?;
            log.commit()?;
            let (_, counts) = render::apply_summary(resumed.iter());
            return Err(error.context(format!(
                "apply stopped after resuming {} action(s) ({} verified, {} failed, {} refuted, {} indeterminate), whose evidence is signed; no new action ran",
                resumed.len(),
                counts.verified,
                counts.failed,
                counts.refuted,
                counts.indeterminate
            )));
        }
        Err(error) => return Err(error),
    };
    if !request.rules.is_empty() {
        // A `delete` rule's grace period counts from the first apply that saw it hold.
        store.record_rules_held(&hygiene.holding(), clock.now())?;
    }
    if text {
        out!("{}", render::plan_text(&policy, &plan));
        out!("{}", render::hygiene_text(&hygiene));
        outln!();
    }
    if let Some(limit) = max_destructive {
        let count = plan.destructive_count();
        if count > limit {
            bail!(
                "refused: the plan has {count} destructive action(s) (revoke, disable, delete), more than the limit of {limit}; nothing was changed. Review the plan, then rerun with `--max-destructive {count}` or `--allow-destructive`"
            );
        }
    }

    let run_id = new_run_id(started_at);
    let mut results: Vec<ActionResult> = Vec::new();
    if !plan.actions.is_empty() {
        executor.progress = progress_bar(plan.actions.len());
        results = executor.run(&plan, &run_id).await?;
    }

    // Sign what this run recorded.
    let all: Vec<&ActionResult> = resumed.iter().chain(results.iter()).collect();
    {
        let mut log = evidence
            .log
            .lock()
            .map_err(|_| anyhow::anyhow!("the evidence log lock is poisoned"))?;
        if !plan.actions.is_empty() {
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
        }
        let checkpoint = log.commit()?;
        if text && !all.is_empty() {
            outln!(
                "Evidence: records up to {} signed in `{}`.",
                checkpoint.seq,
                state.dir.join("evidence").display()
            );
        }
    }

    let (summary, counts) = render::apply_summary(all.iter().copied());
    let offboarding = render::offboarding(&policy, &plan, &all);
    match args.output {
        OutputFormat::Text => {
            for result in &results {
                outln!("{}", render::result_line(result));
            }
            if !all.is_empty() {
                outln!("\n{summary}");
            }
            let text = render::offboarding_text(&offboarding);
            if !text.is_empty() {
                out!("\n{text}");
            }
        }
        OutputFormat::Json => {
            let value = serde_json::json!({
                "run_id": run_id,
                "plan_id": plan.id,
                "resumed": resumed.iter().map(render::result_json).collect::<Vec<_>>(),
                "results": results.iter().map(render::result_json).collect::<Vec<_>>(),
                "unmanaged": plan.unmanaged,
                "offboarding": offboarding,
                "counts": counts,
            });
            outln!("{}", serde_json::to_string_pretty(&value)?);
        }
    }
    Ok(if counts.failed > 0 {
        exit::ACTION_FAILED
    } else if counts.refuted + counts.indeterminate > 0 {
        exit::NOT_VERIFIED
    } else {
        exit::OK
    })
}

/// The simulated crash that `ENACT_TEST_CRASH` asks for, such as `after:promote-credential`.
/// Recovery tests use it to stop a run exactly at a stage boundary.
fn crash_point() -> Result<Option<enact_execute::CrashPoint>> {
    match std::env::var("ENACT_TEST_CRASH") {
        Ok(text) if !text.is_empty() => text
            .parse()
            .map(Some)
            .map_err(|message: String| anyhow::anyhow!("ENACT_TEST_CRASH: {message}")),
        _ => Ok(None),
    }
}
