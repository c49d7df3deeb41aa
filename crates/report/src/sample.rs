//! A generated evidence log with every action kind and every outcome, for tests, for the
//! documentation's screenshot of the HTML report and for trying the reports out.

use ed25519_dalek::SigningKey;
use enact_evidence::{
    ActionRecord, CredentialFingerprint, EvidenceError, EvidenceLog, Outcome, RunCounts, RunRecord,
    StepRecord,
};
use enact_model::verdict::judge;
use enact_model::{
    Action, ActionId, ActionKind, Duration, Entitlement, NhiId, PlanId, Probe, ProbeOutcome,
    RotationStrategy, SessionSelector, SinkRef, TargetId, Timestamp,
};
use std::path::{Path, PathBuf};

/// 2026-11-02T09:00:00Z, the first sample run.
const START: Timestamp = Timestamp(1_793_610_000_000_000);

/// The action kinds the sample cycles through, with the probe each is verified by.
fn kinds(index: usize, identity: &str) -> (ActionKind, &'static str) {
    let sink = SinkRef::File {
        path: PathBuf::from(format!("/run/secrets/{identity}")),
    };
    match index % 10 {
        0 => (
            ActionKind::CreateAccount {
                login: true,
                sink: Some(sink),
                settings: Default::default(),
            },
            "account-read-back",
        ),
        1 => (
            ActionKind::Grant {
                entitlement: Entitlement::Membership {
                    group: "readers".to_string(),
                },
            },
            "entitlement-held",
        ),
        2 => (
            ActionKind::RotateCredential {
                sink,
                end_sessions: true,
                strategy: RotationStrategy::default(),
            },
            "login-with-current-credential",
        ),
        3 => (
            ActionKind::Revoke {
                entitlement: Entitlement::Policy {
                    policy: "admin".to_string(),
                },
            },
            "entitlement-absent",
        ),
        4 => (
            ActionKind::EndSessions {
                selector: SessionSelector::OlderThan {
                    max_lifetime: Duration::from_secs(86_400),
                },
            },
            "sessions-ended",
        ),
        5 => (ActionKind::DisableLogin, "login-rejected"),
        6 => (ActionKind::EnableLogin, "account-read-back"),
        7 => (ActionKind::PurgeCredential { sink }, "sink-purged"),
        8 => (
            ActionKind::Configure {
                settings: [("token_ttl".to_string(), "1h".to_string())]
                    .into_iter()
                    .collect(),
            },
            "settings-read-back",
        ),
        _ => (
            ActionKind::DeleteAccount {
                owned_objects: Default::default(),
                purge: None,
            },
            "account-absent",
        ),
    }
}

/// Appends `runs` runs of `per_run` action records each to the log in `state_dir`, committing
/// after each run, and returns the number of records written. Outcomes follow a fixed
/// pattern: mostly verified, with refuted, failed and indeterminate ones among them, and
/// verification times from under a second to minutes.
pub fn write_sample_log(
    state_dir: &Path,
    key: SigningKey,
    runs: usize,
    per_run: usize,
) -> Result<u64, EvidenceError> {
    let mut log = EvidenceLog::open(state_dir, key)?;
    let identities = [
        "billing",
        "reports",
        "etl-loader",
        "payments-api",
        "backup",
        "ci-runner",
    ];
    let plan_id = PlanId::new("plan-sample");
    let mut written = 0;
    for run in 0..runs {
        let run_id = format!("run-{:04}", run + 1);
        let run_start = START.plus(Duration::from_secs(run as i64 * 86_400));
        let mut counts = RunCounts::default();
        for index in 0..per_run {
            let n = run * per_run + index;
            let identity = identities
                .get(n % identities.len())
                .copied()
                .unwrap_or("billing");
            let (kind, probe_name) = kinds(n / identities.len() + n, identity);
            let started = run_start.plus(Duration::from_secs(index as i64 * 7));
            // Verification times spread from a fraction of a second to a few minutes.
            let took = Duration::from_micros(
                [400, 1_300, 2_700, 6_000, 14_000, 45_000, 130_000][n % 7] * 1_000,
            );
            let outcome = match n % 23 {
                5 => ProbeOutcome::Refuted {
                    reason: "the old credential still logs in".to_string(),
                },
                11 | 17 => ProbeOutcome::Indeterminate {
                    reason: "target unreachable: connection timed out".to_string(),
                },
                _ => ProbeOutcome::Confirmed,
            };
            let verdict = judge(vec![Probe {
                name: probe_name.to_string(),
                expectation: "the change is visible on a new connection".to_string(),
                outcome,
                started_at: started,
                ended_at: started.plus(took),
                attempts: 1,
                window_ms: 30_000,
            }]);
            let action = Action {
                id: ActionId::new(format!("act-{run:04}-{index:04}")),
                target: TargetId::new(if n.is_multiple_of(3) {
                    "pg-main"
                } else {
                    "bao"
                }),
                identity: (n % 17 != 3).then(|| NhiId::new(identity)),
                account: format!("svc_{}", identity.replace('-', "_")),
                kind,
                reason: format!("policy declares `{identity}` differently than observed"),
                depends_on: vec![],
            };
            let steps = [StepRecord {
                name: "apply".to_string(),
                started_at: started,
                ended_at: started,
                attempts: 1,
                result: "ok".to_string(),
            }];
            let failed = n % 19 == 7;
            let outcome = if failed {
                Outcome::Failed {
                    step: "apply",
                    reason: "permission denied for role",
                }
            } else {
                Outcome::Judged { verdict: &verdict }
            };
            counts.add(&outcome);
            let credentials: [CredentialFingerprint; 0] = [];
            let record = ActionRecord {
                run_id: &run_id,
                plan_id: &plan_id,
                policy_digest: "sha256:sample",
                action: &action,
                steps: &steps,
                outcome,
                credentials: &credentials,
                sessions: &[],
                recorded_at: started.plus(took),
            };
            log.append_action(&record)?;
            written += 1;
        }
        log.append_run(&RunRecord {
            run_id: run_id.clone(),
            plan_id: plan_id.clone(),
            policy_digest: "sha256:sample".to_string(),
            enact_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: run_start,
            ended_at: run_start.plus(Duration::from_secs(per_run as i64 * 7 + 200)),
            planned: u32::try_from(per_run).unwrap_or(u32::MAX),
            counts,
        })?;
        written += 1;
        log.commit_at(run_start.plus(Duration::from_secs(per_run as i64 * 7 + 201)))?;
    }
    Ok(written)
}
