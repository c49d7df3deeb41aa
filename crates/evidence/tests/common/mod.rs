//! Fixtures shared by the evidence integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::SigningKey;
use enact_evidence::{
    ActionRecord, CredentialFingerprint, EvidenceLog, Outcome, RunCounts, RunRecord, SessionNote,
    StepRecord,
};
use enact_model::verdict::judge;
use enact_model::{
    Action, ActionId, ActionKind, FingerprintKey, NhiId, ObservedSession, PlanId, Probe,
    ProbeOutcome, TargetId, Timestamp,
};
use std::fs;
use std::path::{Path, PathBuf};

pub const T0: Timestamp = Timestamp(1_796_428_800_000_000);

/// Returns a fixed signing key, so failures reproduce.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

pub fn log_path(state: &Path) -> PathBuf {
    state.join("evidence").join("log.jsonl")
}

pub fn checkpoints_path(state: &Path) -> PathBuf {
    state.join("evidence").join("checkpoints.jsonl")
}

/// Reads the lines of a file, each with its newline.
pub fn lines_of(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    fs::write(path, lines.concat()).unwrap();
}

/// Appends one action record whose account is `account`, verified or failed in turn.
pub fn append_action(log: &mut EvidenceLog, account: &str, verified: bool) {
    let action = Action {
        id: ActionId::new(format!("act-{account}")),
        target: TargetId::new("pg"),
        identity: Some(NhiId::new("billing")),
        account: account.to_string(),
        kind: ActionKind::DisableLogin,
        // Quotes, a newline and non-ASCII text exercise string escapes in the body.
        reason: "identity \"billing\" is retired → disable\nsecond line".to_string(),
        depends_on: vec![],
    };
    let verdict = judge(vec![Probe {
        name: "login-rejected".to_string(),
        expectation: "a login with the current credential is rejected".to_string(),
        outcome: ProbeOutcome::Confirmed,
        started_at: T0,
        ended_at: T0.plus(enact_model::Duration::from_secs(1)),
        attempts: 2,
        window_ms: 5_000,
    }]);
    let steps = [StepRecord {
        name: "alter-role-nologin".to_string(),
        started_at: T0,
        ended_at: T0,
        attempts: 1,
        result: "ok".to_string(),
    }];
    let fingerprint = FingerprintKey::from_bytes([5; 32]).fingerprint(b"not a real password");
    let credentials = [CredentialFingerprint {
        role: "previous".to_string(),
        fingerprint,
    }];
    let sessions = [SessionNote {
        session: ObservedSession {
            id: "4711".to_string(),
            started_at: T0,
            idle_since: None,
            application_name: "psql".to_string(),
            client_addr: Some("127.0.0.1".to_string()),
            metadata: Default::default(),
        },
        fate: "ended".to_string(),
    }];
    let plan_id = PlanId::new("plan-1");
    let outcome = if verified {
        Outcome::Judged { verdict: &verdict }
    } else {
        Outcome::Failed {
            step: "alter-role-nologin",
            reason: "connection refused",
        }
    };
    let record = ActionRecord {
        run_id: "run-1",
        plan_id: &plan_id,
        policy_digest: "sha256:0123",
        action: &action,
        steps: &steps,
        outcome,
        credentials: &credentials,
        sessions: &sessions,
        recorded_at: T0,
    };
    log.append_action(&record).unwrap();
}

pub fn run_record(counts: RunCounts) -> RunRecord {
    RunRecord {
        run_id: "run-1".to_string(),
        plan_id: PlanId::new("plan-1"),
        policy_digest: "sha256:0123".to_string(),
        enact_version: "0.1.0".to_string(),
        started_at: T0,
        ended_at: T0.plus(enact_model::Duration::from_secs(3)),
        planned: counts.total(),
        counts,
    }
}

/// Writes a log of five records: three, a checkpoint, two more and a second checkpoint.
pub fn five_record_log(state: &Path) {
    let mut log = EvidenceLog::open(state, signing_key()).unwrap();
    append_action(&mut log, "svc_a", true);
    append_action(&mut log, "svc_b", false);
    append_action(&mut log, "svc_c", true);
    log.commit_at(T0).unwrap();
    append_action(&mut log, "svc_d", true);
    let counts = RunCounts {
        verified: 3,
        failed: 1,
        ..RunCounts::default()
    };
    log.append_run(&run_record(counts)).unwrap();
    log.commit_at(T0.plus(enact_model::Duration::from_secs(1)))
        .unwrap();
}
