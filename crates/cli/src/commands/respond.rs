//! `enact respond`: answer exposed secrets. Each finding is matched to the managed credential
//! it is, probed on its target, revoked and replaced through the executor, and proven gone:
//! the target rejects it and no declared sink holds it.

use crate::args::{GlobalArgs, OutputFormat, RespondArgs, RespondFormat};
use crate::commands::exit;
use crate::context::{self, SharedEvidence, Sinks, State};
use crate::render;
use anyhow::{anyhow, bail, Context as _, Result};
use enact_connector::Connector;
use enact_evidence::{EvidenceLog, RunCounts, RunRecord};
use enact_execute::{ActionResult, ActionStatus, ExecuteOptions, Executor, OsSecretGenerator};
use enact_model::{
    judge, Clock, Fingerprint, FingerprintKey, Probe, ProbeOutcome, SinkRef, SystemClock, TargetId,
    Timestamp,
};
use enact_respond::{
    assess, import_report, import_value, managed_credentials, match_finding, owner_action,
    probe_exposed, probe_no_copy, read_sinks, recorded_credentials, response_plan, Assessment,
    Exposed, Exposure, Finding, ReportFormat,
};
use enact_store_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::sync::Arc;
use zeroize::Zeroizing;

/// One finding with its probes before and its proofs after the response.
struct Answered {
    exposure: Exposure,
    assessment: Assessment,
    /// One probe per owner, before any action.
    before: Vec<Probe>,
    /// One probe per owner and the sink search, after the actions.
    proofs: Vec<Probe>,
}

impl Answered {
    /// Whether the proofs show the value revoked and gone.
    fn verified(&self) -> bool {
        !self.proofs.is_empty() && judge(self.proofs.clone()).name() == "verified"
    }

    /// When the last proof ended.
    fn last_proof(&self) -> Option<Timestamp> {
        self.proofs.iter().map(|probe| probe.ended_at).max()
    }
}

/// Runs `enact respond`.
pub async fn run(global: &GlobalArgs, args: &RespondArgs) -> Result<u8> {
    let clock = Arc::new(SystemClock);
    let started_at = clock.now();
    let policy = Arc::new(context::load_policy(&global.policy)?);
    let state = State::open(&global.state_dir, &global.policy)?;
    let key = state.keys.fingerprint_key().clone();

    // The whole report is read before any connection opens, so a malformed one changes
    // nothing.
    let findings = read_findings(args, &key)?;
    let _lock = state.lock()?;
    let connectors = context::connectors(&policy, &key)?;
    let sinks = Arc::new(Sinks::new(&policy, &key)?);

    let recorded = {
        let mut bodies = Vec::new();
        for record in enact_evidence::read_records(&state.dir)? {
            bodies.push(record?);
        }
        recorded_credentials(bodies.iter().map(|(seq, body)| (*seq, body)))
    };
    let credentials = managed_credentials(&policy);
    let reads = read_sinks(&credentials, sinks.as_ref(), &key).await;

    let mut answered = Vec::with_capacity(findings.len());
    let mut actions = Vec::new();
    for finding in findings {
        let exposure = match_finding(finding, &reads, &recorded);
        let before = probe_owners(&exposure, &connectors, clock.as_ref()).await;
        let assessment = assess(&exposure, &before);
        for (owner, probe) in exposure.owners.iter().zip(&before) {
            actions.extend(owner_action(&exposure, owner, probe));
        }
        answered.push(Answered {
            exposure,
            assessment,
            before,
            proofs: Vec::new(),
        });
    }
    let fingerprints: BTreeSet<Fingerprint> = answered
        .iter()
        .filter_map(|a| a.exposure.fingerprint().cloned())
        .collect();
    let plan = response_plan(&policy, actions, &fingerprints, clock.now());

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
                "refused: the response has {count} destructive action(s) (purge), more than the limit of {limit}; nothing was changed. Review the findings, then rerun with `--max-destructive {count}` or `--allow-destructive`"
            );
        }
    }

    let store = Arc::new(SqliteStore::open(&state.database())?);
    let log = EvidenceLog::open(&state.dir, state.keys.signing_key().clone())?;
    for repair in log.repairs() {
        eprintln!("warning: evidence log repaired: {repair}");
    }
    let evidence = Arc::new(SharedEvidence::new(log, &state.dir));
    let executor = Executor {
        policy: policy.clone(),
        connectors: connectors.clone(),
        sinks: sinks.clone(),
        store,
        evidence: evidence.clone(),
        key: key.clone(),
        clock: clock.clone(),
        generator: Arc::new(OsSecretGenerator),
        progress: Arc::new(enact_execute::NoProgress),
        options: ExecuteOptions {
            max_destructive,
            ..ExecuteOptions::default()
        },
    };
    let run_id = format!("respond-{}-{:08x}", started_at.0, rand::random::<u32>());
    let results = if plan.actions.is_empty() {
        Vec::new()
    } else {
        executor.run(&plan, &run_id).await?
    };

    // The proofs: each owner rejects the value, and no declared sink holds it any more.
    let declared: Vec<SinkRef> = credentials
        .iter()
        .map(|c| c.sink.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for item in &mut answered {
        let Some(fingerprint) = item.exposure.fingerprint().cloned() else {
            continue;
        };
        if item.exposure.owners.is_empty() {
            continue;
        }
        let mut proofs = probe_owners(&item.exposure, &connectors, clock.as_ref()).await;
        proofs.push(
            probe_no_copy(
                &declared,
                sinks.as_ref(),
                &fingerprint,
                &key,
                clock.as_ref(),
            )
            .await,
        );
        item.proofs = proofs;
    }

    record_evidence(
        &evidence,
        &run_id,
        &plan,
        &answered,
        &results,
        started_at,
        clock.as_ref(),
    )?;

    let finished = answered
        .iter()
        .filter(|a| a.assessment != Assessment::Unmatched)
        .collect::<Vec<_>>();
    let all_verified = !finished.is_empty() && finished.iter().all(|a| a.verified());
    let last_proof = finished.iter().filter_map(|a| a.last_proof()).max();
    let time_to_verified = match (all_verified, last_proof) {
        (true, Some(last)) => Some(last.since(started_at)),
        _ => None,
    };

    match args.output {
        OutputFormat::Text => print_text(&answered, &results, &plan, time_to_verified),
        OutputFormat::Json => {
            let value = json!({
                "run_id": run_id,
                "plan_id": plan.id,
                "findings": answered.iter().map(|a| finding_json(a, started_at)).collect::<Vec<_>>(),
                "results": results.iter().map(render::result_json).collect::<Vec<_>>(),
                "time_to_verified_revocation_ms": time_to_verified.map(|d| d.as_micros() / 1000),
            });
            outln!("{}", serde_json::to_string_pretty(&value)?);
        }
    }

    let failed = results.iter().any(|r| r.status == ActionStatus::Failed);
    let unproven = results.iter().any(|r| r.status != ActionStatus::Verified)
        || finished.iter().any(|a| !a.verified());
    // An unmatched finding is an exposure enact could not answer, so a person still has to.
    let unmatched = answered
        .iter()
        .any(|a| a.assessment == Assessment::Unmatched);
    Ok(if failed {
        exit::ACTION_FAILED
    } else if unproven {
        exit::NOT_VERIFIED
    } else if unmatched {
        exit::CHANGES
    } else {
        exit::OK
    })
}

/// Reads the findings from the report or standard input, wrapping each value at once.
fn read_findings(args: &RespondArgs, key: &FingerprintKey) -> Result<Vec<Finding>> {
    if args.stdin {
        let mut value = Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut value)
            .context("failed to read the exposed value from standard input")?;
        return Ok(vec![import_value(value, key)?]);
    }
    let Some(path) = &args.finding else {
        bail!("pass a scanner report with `--finding FILE`, or one value with `--stdin`");
    };
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| anyhow!("failed to read the report `{}`: {e}", path.display()))?,
    );
    let format = match args.format {
        RespondFormat::Auto => ReportFormat::Auto,
        RespondFormat::Gitleaks => ReportFormat::Gitleaks,
        RespondFormat::Trufflehog => ReportFormat::Trufflehog,
        RespondFormat::DetectSecrets => ReportFormat::DetectSecrets,
    };
    let origin = path.display().to_string();
    import_report(&bytes, &origin, format, key)
        .map_err(|error| anyhow!("invalid report: {error}; nothing was changed"))
}

/// Tries the exposed value on the target of each owner, in owner order.
async fn probe_owners(
    exposure: &Exposure,
    connectors: &BTreeMap<TargetId, Arc<dyn Connector>>,
    clock: &dyn Clock,
) -> Vec<Probe> {
    let mut probes = Vec::with_capacity(exposure.owners.len());
    for owner in &exposure.owners {
        let connector = connectors.get(&owner.credential.target);
        let probe = match (connector, exposure.value()) {
            (Some(connector), Some(value)) => {
                probe_exposed(connector.as_ref(), &owner.credential.account, value, clock).await
            }
            _ => {
                let now = clock.now();
                Probe {
                    name: "exposed-value-rejected".to_string(),
                    expectation: format!("{} rejects the exposed value", owner.credential),
                    outcome: ProbeOutcome::Indeterminate {
                        reason: "no connector or no value to try".to_string(),
                    },
                    started_at: now,
                    ended_at: now,
                    attempts: 0,
                    window_ms: 0,
                }
            }
        };
        probes.push(probe);
    }
    probes
}

/// The finding's fields for output and evidence. Never the value.
fn finding_json(item: &Answered, started_at: Timestamp) -> Value {
    let exposure = &item.exposure;
    let finding = &exposure.finding;
    let sha1 = match &finding.exposed {
        Exposed::Sha1(hash) => Some(hex::encode(hash)),
        Exposed::Value(_) => None,
    };
    let owners: Vec<Value> = exposure
        .owners
        .iter()
        .map(|owner| {
            json!({
                "identity": owner.credential.identity,
                "target": owner.credential.target,
                "account": owner.credential.account,
                "sink": owner.credential.sink.to_string(),
                "holdings": owner.holdings.iter().map(|h| h.name()).collect::<Vec<_>>(),
                "recorded_in": owner.recorded_in,
            })
        })
        .collect();
    json!({
        "location": finding.location,
        "detector": finding.detector,
        "found_in": finding.found_in,
        "fingerprint": exposure.fingerprint(),
        "sha1": sha1,
        "assessment": item.assessment.name(),
        "owners": owners,
        "searched": {
            "sinks": exposure.searched.sinks,
            "unreadable": exposure.searched.unreadable.iter().map(|(sink, reason)| json!({"sink": sink, "reason": reason})).collect::<Vec<_>>(),
            "recorded_fingerprints": exposure.searched.recorded,
        },
        "probes": item.before,
        "proofs": item.proofs,
        "verified": item.verified(),
        "time_to_verified_ms": if item.verified() {
            item.last_proof().map(|last| last.since(started_at).as_micros() / 1000)
        } else {
            None
        },
    })
}

/// Appends one exposure record per finding and the run summary, then signs them.
fn record_evidence(
    evidence: &SharedEvidence,
    run_id: &str,
    plan: &enact_model::Plan,
    answered: &[Answered],
    results: &[ActionResult],
    started_at: Timestamp,
    clock: &dyn Clock,
) -> Result<()> {
    let mut log = evidence
        .log
        .lock()
        .map_err(|_| anyhow!("the evidence log lock is poisoned"))?;
    for item in answered {
        let mut body = finding_json(item, started_at);
        if let Value::Object(fields) = &mut body {
            fields.insert("type".to_string(), json!("exposure"));
            fields.insert("run_id".to_string(), json!(run_id));
            fields.insert("plan_id".to_string(), json!(plan.id));
            fields.insert("started_at".to_string(), json!(started_at));
            fields.insert("recorded_at".to_string(), json!(clock.now()));
        }
        log.append(&body)?;
    }
    if !plan.actions.is_empty() {
        let mut counts = RunCounts::default();
        for result in results {
            match result.status {
                ActionStatus::Verified => counts.verified += 1,
                ActionStatus::Refuted => counts.refuted += 1,
                ActionStatus::Indeterminate => counts.indeterminate += 1,
                ActionStatus::Failed => counts.failed += 1,
                _ => counts.not_started += 1,
            }
        }
        log.append_run(&RunRecord {
            run_id: run_id.to_string(),
            plan_id: plan.id.clone(),
            policy_digest: plan.policy_digest.clone(),
            enact_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            ended_at: clock.now(),
            planned: u32::try_from(plan.actions.len()).unwrap_or(u32::MAX),
            counts,
        })?;
    }
    log.commit()?;
    Ok(())
}

fn print_text(
    answered: &[Answered],
    results: &[ActionResult],
    plan: &enact_model::Plan,
    time_to_verified: Option<enact_model::Duration>,
) {
    for item in answered {
        let exposure = &item.exposure;
        outln!("Finding {}", exposure.finding);
        match item.assessment {
            Assessment::Unmatched => {
                outln!("  unmatched: no managed credential has this value");
                outln!(
                    "  searched: {} sink(s), {} recorded credential fingerprint(s)",
                    exposure.searched.sinks.len(),
                    exposure.searched.recorded
                );
                for sink in &exposure.searched.sinks {
                    outln!("    {sink}");
                }
                for (sink, reason) in &exposure.searched.unreadable {
                    outln!("    {sink}: not searched, {reason}");
                }
            }
            _ => {
                for (owner, probe) in exposure.owners.iter().zip(&item.before) {
                    let held = if owner.holdings.is_empty() {
                        "no sink holds it".to_string()
                    } else {
                        let names: Vec<&str> = owner.holdings.iter().map(|h| h.name()).collect();
                        format!("{} holds it as {}", owner.credential.sink, names.join(", "))
                    };
                    outln!("  credential of {}: {held}", owner.credential);
                    outln!("    checked before acting: {}", probe_line(probe));
                }
                let meaning = match item.assessment {
                    Assessment::Live => "the exposed value still works or could not be checked, so enact revokes and replaces it",
                    Assessment::AlreadyRevoked => "every target already rejects the exposed value",
                    Assessment::Unmatched => "no managed credential holds the value",
                };
                outln!("  assessment: {} ({meaning})", item.assessment.name());
            }
        }
    }
    if !plan.actions.is_empty() {
        outln!("\nResponse: {} action(s)", plan.actions.len());
        for result in results {
            outln!("  {}", render::result_line(result));
        }
    }
    let proven: Vec<&Answered> = answered.iter().filter(|a| !a.proofs.is_empty()).collect();
    if !proven.is_empty() {
        outln!("\nProof:");
        for item in proven {
            outln!("  {}", item.exposure.finding.location);
            for probe in &item.proofs {
                outln!("    {}", probe_line(probe));
            }
        }
    }
    match time_to_verified {
        Some(duration) => outln!(
            "\nTime to verified revocation: {:.1} s",
            duration.as_micros() as f64 / 1e6
        ),
        None if answered
            .iter()
            .any(|a| a.assessment != Assessment::Unmatched) =>
        {
            outln!("\nRevocation not verified; see the proofs above.")
        }
        None => {}
    }
}

fn probe_line(probe: &Probe) -> String {
    let mut line = format!(
        "{:<13} {}: {}",
        probe.outcome.name(),
        probe.name,
        probe.expectation
    );
    if let ProbeOutcome::Refuted { reason } | ProbeOutcome::Indeterminate { reason } =
        &probe.outcome
    {
        line.push_str(&format!(" ({reason})"));
    }
    line
}
