#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::finding::{Exposed, Finding};
use crate::matching::{match_finding, ManagedCredential, SinkContents, SinkRead};
use enact_model::{NhiId, SinkRef, TargetId, Timestamp};

fn key() -> FingerprintKey {
    FingerprintKey::from_bytes([5; 32])
}

fn secret(value: &str) -> Secret {
    Secret::new(value.to_string(), &key())
}

fn probe(outcome: ProbeOutcome) -> Probe {
    Probe {
        name: EXPOSED_REJECTED.to_string(),
        expectation: String::new(),
        outcome,
        started_at: Timestamp(0),
        ended_at: Timestamp(0),
        attempts: 1,
        window_ms: 0,
    }
}

fn exposure(state: LifecycleState, holds: bool) -> Exposure {
    let held = secret("leaked");
    let contents = if holds {
        SinkContents::new(
            Some(held.clone()),
            None,
            None,
            vec![held.fingerprint().clone()],
        )
    } else {
        SinkContents::default()
    };
    let sinks = vec![SinkRead {
        credential: ManagedCredential {
            identity: NhiId::new("orders"),
            state,
            target: TargetId::new("pg-main"),
            account: "svc_orders".to_string(),
            sink: SinkRef::File {
                path: "/tmp/orders.pw".into(),
            },
        },
        contents: Ok(contents),
    }];
    let recorded = vec![RecordedCredential {
        target: TargetId::new("pg-main"),
        account: "svc_orders".to_string(),
        fingerprint: held.fingerprint().clone(),
        seq: 3,
    }];
    let finding = Finding {
        location: "r#/0".to_string(),
        exposed: Exposed::Value(held),
        detector: None,
        found_in: None,
    };
    match_finding(finding, &sinks, &recorded)
}

fn kind_of(exposure: &Exposure, outcome: ProbeOutcome) -> Option<&'static str> {
    owner_action(exposure, &exposure.owners[0], &probe(outcome)).map(|a| a.kind.verb())
}

#[test]
fn live_value_is_rotated_with_sessions_ended() {
    let exposure = exposure(LifecycleState::Active, true);
    let refuted = ProbeOutcome::Refuted {
        reason: "accepted".into(),
    };
    let action = owner_action(&exposure, &exposure.owners[0], &probe(refuted)).unwrap();
    assert_eq!(
        action.kind,
        ActionKind::RotateCredential {
            sink: SinkRef::File {
                path: "/tmp/orders.pw".into()
            },
            end_sessions: true,
            strategy: RotationStrategy::Single,
        }
    );
    assert!(!action.reason.contains("leaked"));
}

#[test]
fn unreachable_target_counts_as_live() {
    let exposure = exposure(LifecycleState::Active, false);
    let outcome = ProbeOutcome::Indeterminate {
        reason: "down".into(),
    };
    assert_eq!(kind_of(&exposure, outcome), Some("rotate"));
}

#[test]
fn rejected_and_unheld_needs_nothing() {
    let exposure = exposure(LifecycleState::Active, false);
    assert_eq!(kind_of(&exposure, ProbeOutcome::Confirmed), None);
    assert_eq!(
        assess(&exposure, &[probe(ProbeOutcome::Confirmed)]),
        Assessment::AlreadyRevoked
    );
}

#[test]
fn rejected_but_held_is_purged() {
    let active = exposure(LifecycleState::Active, true);
    assert_eq!(kind_of(&active, ProbeOutcome::Confirmed), Some("rotate"));
    let disabled = exposure(LifecycleState::Disabled, true);
    assert_eq!(kind_of(&disabled, ProbeOutcome::Confirmed), Some("purge"));
    let gone = exposure(LifecycleState::Decommissioned, true);
    assert_eq!(kind_of(&gone, ProbeOutcome::Confirmed), Some("purge"));
}

#[test]
fn plan_keeps_each_action_once() {
    let exposure = exposure(LifecycleState::Active, true);
    let accepted = probe(ProbeOutcome::Refuted {
        reason: "accepted".into(),
    });
    let action = owner_action(&exposure, &exposure.owners[0], &accepted).unwrap();
    let policy: Policy = serde_json::from_value(serde_json::json!({
        "digest": "d",
        "targets": {},
        "identities": {},
        "limits": { "max_destructive": 10 },
    }))
    .unwrap();
    let fingerprints: BTreeSet<Fingerprint> = exposure.fingerprint().into_iter().cloned().collect();
    let plan = response_plan(
        &policy,
        vec![action.clone(), action],
        &fingerprints,
        Timestamp(1),
    );
    assert_eq!(plan.actions.len(), 1);
    assert!(plan.id.as_str().starts_with("plan-"));
}

#[test]
fn evidence_credentials_are_collected() {
    let body = serde_json::json!({
        "type": "action",
        "action": { "target": "pg-main", "account": "svc_x" },
        "credentials": [
            { "role": "new", "fingerprint": "hmac-sha256:aa" },
            { "role": "previous", "fingerprint": "hmac-sha256:bb" },
        ],
    });
    let run = serde_json::json!({ "type": "run" });
    let found = recorded_credentials([(4, &body), (5, &run)]);
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].fingerprint.as_str(), "hmac-sha256:bb");
    assert_eq!(found[0].seq, 4);
}
