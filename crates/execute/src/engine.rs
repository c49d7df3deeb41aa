//! The executor: runs a plan's actions, verifies each one and records it.

use crate::journal::{ActionStatus, JournaledStep, StateStore, StepResult, StoreError};
use crate::steps::{perform, steps_of, to_result, Step, StepContext, StepState};
use crate::{EvidenceWriter, Progress, SecretGenerator, SinkResolver};
use enact_connector::{Connector, ConnectorError, Sink};
use enact_evidence::{ActionRecord, CredentialFingerprint, Outcome, SessionNote, StepRecord};
use enact_model::{
    judge, Action, ActionKind, Clock, FingerprintKey, Plan, PlanId, Policy, RotationStrategy,
    SinkRef, TargetId, Verdict,
};
use enact_verify::{all_confirmed, probe_action, probe_previous_purged, VerifyContext};
use futures::future::join_all;
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

/// Tuning for one run.
#[derive(Clone, Debug)]
pub struct ExecuteOptions {
    /// Attempts per step, the first included, before a transient error fails the step.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles for each later one, plus jitter.
    pub base_backoff: StdDuration,
    /// How many accounts of one target are worked on at once.
    pub per_target_concurrency: usize,
    /// Refuse the plan if it has more destructive actions than this; `None` allows any number.
    pub max_destructive: Option<usize>,
    /// A crash to simulate, for tests of recovery; `None` in normal use.
    pub crash: Option<CrashPoint>,
}

/// Where a simulated crash stops the process: right after a step's intent is journaled, before
/// its side effect, or right after its result is journaled. The process aborts as if killed,
/// with nothing flushed or cleaned up. Parsed from `before:STEP` or `after:STEP`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    pub after: bool,
    pub step: String,
}

impl std::str::FromStr for CrashPoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some(("before", step)) if !step.is_empty() => Ok(CrashPoint {
                after: false,
                step: step.to_owned(),
            }),
            Some(("after", step)) if !step.is_empty() => Ok(CrashPoint {
                after: true,
                step: step.to_owned(),
            }),
            _ => Err(format!(
                "invalid crash point `{text}`: write `before:STEP` or `after:STEP`, such as `after:promote-credential`"
            )),
        }
    }
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            max_attempts: 4,
            base_backoff: StdDuration::from_millis(200),
            per_target_concurrency: 8,
            max_destructive: Some(10),
            crash: None,
        }
    }
}

/// A failure that stops the whole run, as opposed to one action failing.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The plan has more destructive actions than the limit allows.
    #[error("the plan has {count} destructive actions (revoke, disable, delete), more than the limit of {limit}; review the plan, then rerun with `--max-destructive {count}` or `--allow-destructive`")]
    TooDestructive { count: usize, limit: usize },
    /// The journal could not be written or read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The end state of one action.
#[derive(Clone, Debug)]
pub struct ActionResult {
    pub run_id: String,
    pub action: Action,
    pub status: ActionStatus,
    /// The reason the action is not verified, in one line.
    pub reason: Option<String>,
    /// The evidence record's sequence number, when one was written.
    pub evidence_seq: Option<u64>,
}

/// Every action of a run, with the actions resumed from earlier runs first.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    pub run_id: String,
    pub resumed: Vec<ActionResult>,
    pub results: Vec<ActionResult>,
}

impl RunReport {
    /// Every result, resumed ones first.
    pub fn all(&self) -> impl Iterator<Item = &ActionResult> {
        self.resumed.iter().chain(self.results.iter())
    }

    /// How many results have `status`.
    pub fn count(&self, status: ActionStatus) -> usize {
        self.all().filter(|r| r.status == status).count()
    }
}

/// Runs plans against targets, journaling every step and proving every action.
pub struct Executor {
    pub policy: Arc<Policy>,
    pub connectors: BTreeMap<TargetId, Arc<dyn Connector>>,
    pub sinks: Arc<dyn SinkResolver>,
    pub store: Arc<dyn StateStore>,
    pub evidence: Arc<dyn EvidenceWriter>,
    pub key: FingerprintKey,
    pub clock: Arc<dyn Clock>,
    pub generator: Arc<dyn SecretGenerator>,
    pub progress: Arc<dyn Progress>,
    pub options: ExecuteOptions,
}

/// One account's place among the accounts of its target worked on at once. A step that only
/// waits, such as the dependents stage, gives the place up while it waits, so a long grace
/// period does not hold back the target's other accounts.
pub struct Slot {
    semaphore: Option<Arc<Semaphore>>,
    permit: Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
}

impl Slot {
    fn new(semaphore: Option<Arc<Semaphore>>) -> Slot {
        Slot {
            semaphore,
            permit: Mutex::new(None),
        }
    }

    /// Takes a place, waiting for one to free up.
    pub async fn acquire(&self) {
        let Some(semaphore) = &self.semaphore else {
            return;
        };
        let permit = semaphore.clone().acquire_owned().await.ok();
        if let Ok(mut held) = self.permit.lock() {
            *held = permit;
        }
    }

    /// Gives the place up until [`Slot::acquire`] is called again.
    pub fn release(&self) {
        if let Ok(mut held) = self.permit.lock() {
            *held = None;
        }
    }
}

/// The run an action belongs to, as journaled.
struct RunRef<'a> {
    run_id: &'a str,
    plan_id: &'a PlanId,
    policy_digest: &'a str,
}

/// Why an action stopped before verification.
struct Failure {
    step: &'static str,
    reason: String,
    /// The target was unreachable to the end, so the action stays open for the next run.
    transient: bool,
}

impl Executor {
    /// Finishes what earlier runs left open: actions that were running when a run stopped, and
    /// actions whose verification was indeterminate. Steps with a journaled result are not run
    /// again. Pending actions of stopped runs are marked superseded; a fresh plan replaces them.
    pub async fn resume(&self) -> Result<Vec<ActionResult>, ExecuteError> {
        let items = self.store.take_resumable(self.clock.now())?;
        if !items.is_empty() {
            info!(
                actions = items.len(),
                "resuming actions left open by earlier runs"
            );
        }
        let statuses = Mutex::new(HashMap::new());
        let semaphores = self.semaphores();
        let futures = items.iter().map(|item| {
            let run = RunRef {
                run_id: &item.run_id,
                plan_id: &item.plan_id,
                policy_digest: &item.policy_digest,
            };
            let slot = Slot::new(semaphores.get(&item.action.target).cloned());
            let statuses = &statuses;
            async move {
                slot.acquire().await;
                self.execute_action(&run, &item.action, statuses, &slot)
                    .await
            }
        });
        Ok(join_all(futures).await)
    }

    /// Runs every action of `plan` as run `run_id`. Actions on one account run in plan order;
    /// accounts run concurrently, up to the per-target limit.
    pub async fn run(&self, plan: &Plan, run_id: &str) -> Result<Vec<ActionResult>, ExecuteError> {
        let destructive = plan.destructive_count();
        if let Some(limit) = self.options.max_destructive {
            if destructive > limit {
                return Err(ExecuteError::TooDestructive {
                    count: destructive,
                    limit,
                });
            }
        }
        self.store.begin_run(run_id, plan, self.clock.now())?;
        info!(plan = %plan.id, run = run_id, actions = plan.actions.len(), "run started");

        let mut groups: BTreeMap<(TargetId, String), Vec<&Action>> = BTreeMap::new();
        let mut order: Vec<(TargetId, String)> = Vec::new();
        for action in &plan.actions {
            let key = (action.target.clone(), action.account.clone());
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push(action);
        }

        let run = RunRef {
            run_id,
            plan_id: &plan.id,
            policy_digest: &plan.policy_digest,
        };
        let statuses = Mutex::new(HashMap::new());
        let semaphores = self.semaphores();
        let futures = order.iter().map(|key| {
            let actions = groups.get(key).cloned().unwrap_or_default();
            let slot = Slot::new(semaphores.get(&key.0).cloned());
            let run = &run;
            let statuses = &statuses;
            async move {
                slot.acquire().await;
                let mut results = Vec::new();
                for action in actions {
                    results.push(self.execute_action(run, action, statuses, &slot).await);
                }
                results
            }
        });
        let mut by_id: HashMap<_, _> = join_all(futures)
            .await
            .into_iter()
            .flatten()
            .map(|r| (r.action.id.clone(), r))
            .collect();
        let results: Vec<ActionResult> = plan
            .actions
            .iter()
            .filter_map(|a| by_id.remove(&a.id))
            .collect();

        let verified = results
            .iter()
            .filter(|r| r.status == ActionStatus::Verified)
            .count();
        let status = if verified == results.len() {
            "verified"
        } else {
            "incomplete"
        };
        self.store.finish_run(run_id, status, self.clock.now())?;
        info!(
            run = run_id,
            verified,
            total = results.len(),
            "run finished"
        );
        Ok(results)
    }

    fn semaphores(&self) -> HashMap<TargetId, Arc<Semaphore>> {
        self.connectors
            .keys()
            .map(|t| {
                let permits = self.options.per_target_concurrency.max(1);
                (t.clone(), Arc::new(Semaphore::new(permits)))
            })
            .collect()
    }

    /// The sink of the account an action works on: named by the action itself, or declared by
    /// the account's credential policy.
    fn sink_of(&self, action: &Action) -> Option<SinkRef> {
        match &action.kind {
            ActionKind::CreateAccount { sink, .. } => sink.clone(),
            ActionKind::RotateCredential { sink, .. } => Some(sink.clone()),
            ActionKind::DeleteAccount { purge, .. } => purge.clone(),
            ActionKind::PurgeCredential { sink } => Some(sink.clone()),
            _ => self
                .policy
                .accounts_on(&action.target)
                .find(|(_, account)| account.name == action.account)
                .and_then(|(_, account)| account.credential.as_ref().map(|c| c.sink.clone())),
        }
    }

    /// The declared dependents of the credential an action rotates, and the two users of an
    /// alternating-users account that the action gives a credential to.
    fn credential_context(
        &self,
        action: &Action,
    ) -> (Vec<enact_model::Dependent>, Option<[String; 2]>) {
        let declared = self
            .policy
            .accounts_on(&action.target)
            .find(|(_, account)| account.name == action.account)
            .and_then(|(_, account)| account.credential.clone());
        let users_of = |strategy: &RotationStrategy| match strategy {
            RotationStrategy::Alternating { users, .. } => Some(users.clone()),
            _ => None,
        };
        match &action.kind {
            // The action names its strategy, so a saved plan is carried out as it was made.
            ActionKind::RotateCredential { strategy, .. } => (
                declared.map(|c| c.dependents).unwrap_or_default(),
                users_of(strategy),
            ),
            ActionKind::CreateAccount { sink: Some(_), .. } => {
                (Vec::new(), declared.and_then(|c| users_of(&c.strategy)))
            }
            _ => (Vec::new(), None),
        }
    }

    async fn execute_action(
        &self,
        run: &RunRef<'_>,
        action: &Action,
        statuses: &Mutex<HashMap<enact_model::ActionId, ActionStatus>>,
        slot: &Slot,
    ) -> ActionResult {
        self.progress.started(action);
        let blocked = {
            let known = statuses.lock().map(|s| s.clone()).unwrap_or_default();
            action
                .depends_on
                .iter()
                .find(|d| known.get(*d).is_some_and(|s| *s != ActionStatus::Verified))
                .cloned()
        };
        let (status, reason, seq) = if let Some(dependency) = blocked {
            let reason = format!("depends on `{dependency}`, which was not verified");
            self.finish_failed(
                run,
                action,
                "dependency",
                &reason,
                &[],
                &StepState::default(),
            )
        } else if let Some(recorded) = self.recorded_verdict(run, action) {
            recorded
        } else {
            self.execute_checked(run, action, slot).await
        };
        if let Ok(mut known) = statuses.lock() {
            known.insert(action.id.clone(), status);
        }
        self.progress.finished(action, status, reason.as_deref());
        ActionResult {
            run_id: run.run_id.to_string(),
            action: action.clone(),
            status,
            reason,
            evidence_seq: seq,
        }
    }

    /// The final verdict an earlier run recorded in the evidence for this action, when the run
    /// stopped after writing the record but before journaling the verdict. The journal is
    /// brought up to date and the action is not verified a second time. An indeterminate record
    /// is not final, so the action is verified again.
    fn recorded_verdict(
        &self,
        run: &RunRef<'_>,
        action: &Action,
    ) -> Option<(ActionStatus, Option<String>, Option<u64>)> {
        let (seq, outcome) = match self.evidence.recorded_outcome(run.run_id, &action.id) {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(error) => {
                warn!(action = %action.id, %error, "could not search the evidence for an earlier verdict");
                return None;
            }
        };
        let status = match outcome.as_str() {
            "verified" => ActionStatus::Verified,
            "refuted" => ActionStatus::Refuted,
            "failed" => ActionStatus::Failed,
            _ => return None,
        };
        let reason =
            format!("recorded as {outcome} in evidence record {seq} by the run that stopped");
        if let Err(error) = self.store.set_status(
            run.run_id,
            &action.id,
            status,
            Some(&reason),
            self.clock.now(),
        ) {
            warn!(action = %action.id, %error, "could not journal the recorded verdict");
        }
        info!(action = %action.id, seq, outcome = outcome.as_str(), "verdict already in the evidence");
        Some((status, Some(reason), Some(seq)))
    }

    async fn execute_checked(
        &self,
        run: &RunRef<'_>,
        action: &Action,
        slot: &Slot,
    ) -> (ActionStatus, Option<String>, Option<u64>) {
        let Some(connector) = self.connectors.get(&action.target).cloned() else {
            let reason = format!("no connector for target `{}`", action.target);
            return self.finish_failed(run, action, "connect", &reason, &[], &StepState::default());
        };
        let sink: Option<Box<dyn Sink>> = match self.sink_of(action).map(|s| self.sinks.open(&s)) {
            None => None,
            Some(Ok(sink)) => Some(sink),
            Some(Err(error)) => {
                let reason = format!("cannot open the credential sink: {error}");
                return self.finish_failed(
                    run,
                    action,
                    "open-sink",
                    &reason,
                    &[],
                    &StepState::default(),
                );
            }
        };
        let journaled = match self.store.steps(run.run_id, &action.id) {
            Ok(steps) => steps,
            Err(error) => {
                return self.finish_failed(
                    run,
                    action,
                    "journal",
                    &error.to_string(),
                    &[],
                    &StepState::default(),
                );
            }
        };
        if let Err(error) = self.store.set_status(
            run.run_id,
            &action.id,
            ActionStatus::Running,
            None,
            self.clock.now(),
        ) {
            return self.finish_failed(
                run,
                action,
                "journal",
                &error.to_string(),
                &[],
                &StepState::default(),
            );
        }

        let (dependents, alternating) = self.credential_context(action);
        let ctx = StepContext {
            action,
            connector: connector.as_ref(),
            sink: sink.as_deref(),
            key: &self.key,
            generator: self.generator.as_ref(),
            clock: self.clock.as_ref(),
            dependents: &dependents,
            alternating: alternating.as_ref(),
            slot,
        };
        let mut state = StepState::default();
        let mut records = Vec::new();
        let window = self
            .policy
            .targets
            .get(&action.target)
            .map(|t| {
                StdDuration::from_micros(u64::try_from(t.verify_window.as_micros()).unwrap_or(0))
            })
            .unwrap_or(StdDuration::from_secs(5));
        for step in steps_of(action) {
            if let Err(failure) = self
                .resume_or_run_step(run, &ctx, step, &journaled, &mut state, &mut records)
                .await
            {
                if !failure.transient
                    && self
                        .took_effect_anyway(action, connector.as_ref(), window, &state)
                        .await
                {
                    // The change reached the target although its call failed, for example when
                    // the reply was lost and the repeat found the work done. The verifier below
                    // judges the action, and the failed step stays in its record.
                    warn!(action = %action.id, step = failure.step, reason = %failure.reason, "step failed, but the target is in the declared state");
                    break;
                }
                return self
                    .handle_failure(run, action, &ctx, failure, &records, &state)
                    .await;
            }
        }

        // Verification: an independent read of the result, on new connections.
        let vctx = VerifyContext {
            connector: connector.as_ref(),
            sink: sink.as_deref(),
            key: &self.key,
            clock: self.clock.as_ref(),
            window,
            executed_at: state.effect_at.unwrap_or_else(|| self.clock.now()),
            new_fingerprint: state.new_fingerprint.clone(),
        };
        let mut probes = probe_action(action, &vctx).await;

        // The replaced credential stays in the sink until the probes have shown the target
        // rejects it. Only then is it removed, and the removal is proven too.
        if let (ActionKind::RotateCredential { .. }, Some(previous)) =
            (&action.kind, state.previous_fingerprint.clone())
        {
            if all_confirmed(&probes) {
                match self
                    .resume_or_run_step(
                        run,
                        &ctx,
                        Step::DiscardPrevious,
                        &journaled,
                        &mut state,
                        &mut records,
                    )
                    .await
                {
                    Ok(()) => probes.push(probe_previous_purged(&vctx, &previous).await),
                    Err(failure) => {
                        return self
                            .handle_failure(run, action, &ctx, failure, &records, &state)
                            .await;
                    }
                }
            }
        }

        let verdict = judge(probes);
        let status = match &verdict {
            Verdict::Verified(_) => ActionStatus::Verified,
            Verdict::Refuted { .. } => ActionStatus::Refuted,
            Verdict::Indeterminate { .. } => ActionStatus::Indeterminate,
        };
        let reason = verdict.first_reason();
        let seq = match self.record(
            run,
            action,
            Outcome::Judged { verdict: &verdict },
            &records,
            &state,
        ) {
            Ok(seq) => Some(seq),
            Err(error) => {
                // Without evidence the action may not count as verified. It stays running in
                // the journal, so the next run verifies and records it again.
                error!(action = %action.id, %error, "evidence record could not be written");
                return (
                    ActionStatus::Failed,
                    Some(format!("evidence record could not be written: {error}")),
                    None,
                );
            }
        };
        if let Err(error) = self.store.set_status(
            run.run_id,
            &action.id,
            status,
            reason.as_deref(),
            self.clock.now(),
        ) {
            warn!(action = %action.id, %error, "verdict recorded in evidence but not in the journal; the next run verifies again");
        }
        match status {
            ActionStatus::Verified => {
                info!(action = %action.id, account = %action.account, target = %action.target, "action verified")
            }
            _ => {
                warn!(action = %action.id, account = %action.account, target = %action.target, verdict = verdict.name(), reason = reason.as_deref().unwrap_or(""), "action not verified")
            }
        }
        (status, reason, seq)
    }

    /// Whether an action whose step failed for good is in effect on the target all the same,
    /// as its probes confirm. Only for actions that carry no credential: a credential's new
    /// value is staged, and a failure there has its own rollback.
    async fn took_effect_anyway(
        &self,
        action: &Action,
        connector: &dyn Connector,
        window: StdDuration,
        state: &StepState,
    ) -> bool {
        let carries_credential = match &action.kind {
            ActionKind::RotateCredential { .. } | ActionKind::PurgeCredential { .. } => true,
            ActionKind::CreateAccount { sink, .. } => sink.is_some(),
            ActionKind::DeleteAccount { purge, .. } => purge.is_some(),
            _ => false,
        };
        if carries_credential {
            return false;
        }
        let vctx = VerifyContext {
            connector,
            sink: None,
            key: &self.key,
            clock: self.clock.as_ref(),
            window,
            executed_at: state.effect_at.unwrap_or_else(|| self.clock.now()),
            new_fingerprint: None,
        };
        let probes = probe_action(action, &vctx).await;
        let confirmed = probes
            .iter()
            .any(|p| matches!(p.outcome, enact_model::ProbeOutcome::Confirmed));
        confirmed && all_confirmed(&probes)
    }

    /// Runs `step` unless the journal shows it completed, folding what it learned into `state`.
    async fn resume_or_run_step(
        &self,
        run: &RunRef<'_>,
        ctx: &StepContext<'_>,
        step: Step,
        journaled: &[JournaledStep],
        state: &mut StepState,
        records: &mut Vec<StepRecord>,
    ) -> Result<(), Failure> {
        let previous: Vec<&JournaledStep> =
            journaled.iter().filter(|j| j.name == step.name()).collect();
        if let Some(done) = previous
            .iter()
            .rev()
            .find(|j| matches!(j.result, Some(StepResult::Ok { .. })))
        {
            if let Some(StepResult::Ok { detail }) = &done.result {
                state.merge(detail);
            }
            records.push(StepRecord {
                name: step.name().to_string(),
                started_at: done.started_at,
                ended_at: done.ended_at.unwrap_or(done.started_at),
                attempts: 0,
                result: "already done".to_string(),
            });
            return Ok(());
        }
        let first_attempt = previous.iter().map(|j| j.attempt).max().unwrap_or(0) + 1;
        let last_attempt = first_attempt + self.options.max_attempts.max(1) - 1;
        let started_at = self.clock.now();
        let intent = serde_json::json!({
            "step": step.name(),
            "account": ctx.action.account,
            "new_fingerprint": state.new_fingerprint,
        });
        let mut attempt = first_attempt;
        loop {
            let now = self.clock.now();
            if let Err(error) = self.store.step_intent(
                run.run_id,
                &ctx.action.id,
                step.name(),
                attempt,
                now,
                &intent,
            ) {
                // No intent, no side effect.
                return Err(Failure {
                    step: step.name(),
                    reason: error.to_string(),
                    transient: false,
                });
            }
            self.maybe_crash(step, false);
            let outcome = perform(step, ctx, state, now).await;
            let result = to_result(&outcome);
            if let Err(error) = self.store.step_result(
                run.run_id,
                &ctx.action.id,
                step.name(),
                attempt,
                self.clock.now(),
                &result,
            ) {
                // The side effect happened but its result is not journaled: the next run
                // repeats this idempotent step.
                return Err(Failure {
                    step: step.name(),
                    reason: error.to_string(),
                    transient: true,
                });
            }
            self.maybe_crash(step, true);
            match outcome {
                Ok(learned) => {
                    state.merge(&serde_json::to_value(&learned).unwrap_or_default());
                    records.push(StepRecord {
                        name: step.name().to_string(),
                        started_at,
                        ended_at: self.clock.now(),
                        attempts: attempt - first_attempt + 1,
                        result: match learned.summary() {
                            Some(summary) => format!("ok: {summary}"),
                            None => "ok".to_string(),
                        },
                    });
                    return Ok(());
                }
                Err(error) if error.is_transient() && attempt < last_attempt => {
                    let pause = self.backoff(attempt - first_attempt);
                    warn!(action = %ctx.action.id, step = step.name(), attempt, %error, pause_ms = pause.as_millis() as u64, "transient failure, retrying");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(error) => {
                    records.push(StepRecord {
                        name: step.name().to_string(),
                        started_at,
                        ended_at: self.clock.now(),
                        attempts: attempt - first_attempt + 1,
                        result: format!("failed: {error}"),
                    });
                    return Err(Failure {
                        step: step.name(),
                        reason: describe(&error),
                        transient: error.is_transient(),
                    });
                }
            }
        }
    }

    /// Stops the process at the configured crash point, as `kill -9` would.
    fn maybe_crash(&self, step: Step, after: bool) {
        if let Some(point) = &self.options.crash {
            if point.after == after && point.step == step.name() {
                error!(
                    step = step.name(),
                    after, "stopping at the simulated crash point"
                );
                std::process::abort();
            }
        }
    }

    fn backoff(&self, retry: u32) -> StdDuration {
        let base = self.options.base_backoff;
        let exponential = base.saturating_mul(1 << retry.min(10));
        let jitter_ms = rand::thread_rng().gen_range(0..=base.as_millis().max(1) as u64);
        exponential + StdDuration::from_millis(jitter_ms)
    }

    async fn handle_failure(
        &self,
        run: &RunRef<'_>,
        action: &Action,
        ctx: &StepContext<'_>,
        failure: Failure,
        records: &[StepRecord],
        state: &StepState,
    ) -> (ActionStatus, Option<String>, Option<u64>) {
        if failure.transient {
            // The target may or may not have applied the step. The action stays running in
            // the journal and the next apply resumes it, repeating the idempotent step. The
            // staged credential is kept so that it can be applied again.
            let reason = format!(
                "step `{}` failed: {}; the next apply resumes it",
                failure.step, failure.reason
            );
            error!(action = %action.id, step = failure.step, reason = %failure.reason, "action interrupted by a transient failure");
            let _ = self.store.set_status(
                run.run_id,
                &action.id,
                ActionStatus::Running,
                Some(&reason),
                self.clock.now(),
            );
            return (ActionStatus::Failed, Some(reason), None);
        }
        // A definite failure before promotion rolls back: the staged value is removed and the
        // previous credential stays current. If the target already took the new credential,
        // the previous one is set on it again first, and that rollback is recorded as a step.
        let completed = |step: Step| {
            records
                .iter()
                .any(|r| r.name == step.name() && !r.result.starts_with("failed"))
        };
        let target_changed = matches!(action.kind, ActionKind::RotateCredential { .. })
            && (completed(Step::SetCredential) || completed(Step::AddCredential));
        let promoted = completed(Step::PromoteCredential);
        let mut records = records.to_vec();
        let mut reason = failure.reason.clone();
        if state.new_fingerprint.is_some() && !promoted {
            if target_changed {
                let mut rollback_state = state.clone();
                match self
                    .resume_or_run_step(
                        run,
                        ctx,
                        Step::RollbackCredential,
                        &[],
                        &mut rollback_state,
                        &mut records,
                    )
                    .await
                {
                    Ok(()) => {
                        info!(action = %action.id, "rolled back to the previous credential");
                        reason = format!(
                            "{reason}; rolled back: the previous credential is current again"
                        );
                    }
                    Err(rollback) => {
                        error!(action = %action.id, reason = %rollback.reason, "rollback failed");
                        reason = format!("{reason}; the rollback failed too: {}", rollback.reason);
                    }
                }
            } else if let Some(sink) = ctx.sink {
                if let Err(error) = sink.discard_staged().await {
                    warn!(action = %action.id, %error, "could not remove the staged credential");
                }
            }
        }
        self.finish_failed(run, action, failure.step, &reason, &records, state)
    }

    fn finish_failed(
        &self,
        run: &RunRef<'_>,
        action: &Action,
        step: &str,
        reason: &str,
        records: &[StepRecord],
        state: &StepState,
    ) -> (ActionStatus, Option<String>, Option<u64>) {
        error!(action = %action.id, account = %action.account, target = %action.target, step, reason, "action failed");
        let seq = self
            .record(
                run,
                action,
                Outcome::Failed { step, reason },
                records,
                state,
            )
            .map_err(
                |error| error!(action = %action.id, %error, "evidence record could not be written"),
            )
            .ok();
        let full = format!("step `{step}` failed: {reason}");
        let _ = self.store.set_status(
            run.run_id,
            &action.id,
            ActionStatus::Failed,
            Some(&full),
            self.clock.now(),
        );
        (ActionStatus::Failed, Some(full), seq)
    }

    fn record(
        &self,
        run: &RunRef<'_>,
        action: &Action,
        outcome: Outcome<'_>,
        steps: &[StepRecord],
        state: &StepState,
    ) -> Result<u64, String> {
        let mut credentials = Vec::new();
        if let Some(fingerprint) = &state.new_fingerprint {
            credentials.push(CredentialFingerprint {
                role: "new".into(),
                fingerprint: fingerprint.clone(),
            });
        }
        if let Some(fingerprint) = &state.previous_fingerprint {
            credentials.push(CredentialFingerprint {
                role: "previous".into(),
                fingerprint: fingerprint.clone(),
            });
        }
        let ended: Vec<&str> = state.ended.iter().map(|s| s.id.as_str()).collect();
        let mut sessions: Vec<SessionNote> = state
            .sessions_before
            .iter()
            .map(|s| {
                let fate = if ended.contains(&s.id.as_str()) {
                    "ended"
                } else {
                    "left open"
                };
                let fate = if state.undeclared.contains(&s.id) {
                    format!("{fate}, undeclared dependent")
                } else {
                    fate.to_string()
                };
                SessionNote {
                    session: s.clone(),
                    fate,
                }
            })
            .collect();
        for session in &state.ended {
            if !state.sessions_before.iter().any(|s| s.id == session.id) {
                sessions.push(SessionNote {
                    session: session.clone(),
                    fate: "ended".to_string(),
                });
            }
        }
        let record = ActionRecord {
            run_id: run.run_id,
            plan_id: run.plan_id,
            policy_digest: run.policy_digest,
            action,
            steps,
            outcome,
            credentials: &credentials,
            sessions: &sessions,
            recorded_at: self.clock.now(),
        };
        self.evidence.append_action(&record)
    }
}

/// One line for a connector error, with its underlying cause when it adds something.
fn describe(error: &ConnectorError) -> String {
    match &error.source {
        Some(source) => {
            let cause = source.to_string();
            if error.message.contains(&cause) {
                error.message.clone()
            } else {
                format!("{}: {cause}", error.message)
            }
        }
        None => error.message.clone(),
    }
}
