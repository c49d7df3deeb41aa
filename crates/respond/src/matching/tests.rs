#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::finding::Finding;

fn key() -> FingerprintKey {
    FingerprintKey::from_bytes([4; 32])
}

fn secret(value: &str) -> Secret {
    Secret::new(value.to_string(), &key())
}

fn credential(account: &str, state: LifecycleState) -> ManagedCredential {
    ManagedCredential {
        identity: NhiId::new(format!("id-{account}")),
        state,
        target: TargetId::new("pg-main"),
        account: account.to_string(),
        sink: SinkRef::File {
            path: format!("/tmp/{account}.pw").into(),
        },
    }
}

fn read(account: &str, contents: SinkContents) -> SinkRead {
    SinkRead {
        credential: credential(account, LifecycleState::Active),
        contents: Ok(contents),
    }
}

fn value_finding(value: &str) -> Finding {
    Finding {
        location: "r#/0".to_string(),
        exposed: Exposed::Value(secret(value)),
        detector: None,
        found_in: None,
    }
}

fn sha1_finding(value: &str) -> Finding {
    let mut hash = [0u8; 20];
    hash.copy_from_slice(&Sha1::digest(value.as_bytes()));
    Finding {
        location: "b#/results/x/0".to_string(),
        exposed: Exposed::Sha1(hash),
        detector: None,
        found_in: None,
    }
}

fn sinks() -> Vec<SinkRead> {
    let older = secret("oldest");
    vec![
        read(
            "svc_a",
            SinkContents::new(
                Some(secret("a-current")),
                Some(secret("a-previous")),
                None,
                vec![
                    secret("a-current").fingerprint().clone(),
                    secret("a-previous").fingerprint().clone(),
                    older.fingerprint().clone(),
                ],
            ),
        ),
        read(
            "svc_b",
            SinkContents::new(
                Some(secret("b-current")),
                None,
                None,
                vec![secret("b-current").fingerprint().clone()],
            ),
        ),
        SinkRead {
            credential: credential("svc_c", LifecycleState::Active),
            contents: Err("connection refused".to_string()),
        },
    ]
}

#[test]
fn value_matches_current_holding() {
    let exposure = match_finding(value_finding("b-current"), &sinks(), &[]);
    assert_eq!(exposure.owners.len(), 1);
    assert_eq!(exposure.owners[0].credential.account, "svc_b");
    assert_eq!(exposure.owners[0].holdings, vec![Holding::Current]);
    assert_eq!(exposure.searched.sinks.len(), 2);
    assert_eq!(exposure.searched.unreadable.len(), 1);
}

#[test]
fn earlier_version_matches_by_fingerprint() {
    let exposure = match_finding(value_finding("oldest"), &sinks(), &[]);
    assert_eq!(exposure.owners.len(), 1);
    assert_eq!(exposure.owners[0].holdings, vec![Holding::EarlierVersion]);
}

#[test]
fn sha1_matches_previous_value() {
    let exposure = match_finding(sha1_finding("a-previous"), &sinks(), &[]);
    assert_eq!(exposure.owners.len(), 1);
    assert_eq!(exposure.owners[0].holdings, vec![Holding::Previous]);
    assert_eq!(
        exposure.fingerprint(),
        Some(secret("a-previous").fingerprint())
    );
}

#[test]
fn sha1_of_earlier_version_is_unmatched() {
    let exposure = match_finding(sha1_finding("oldest"), &sinks(), &[]);
    assert!(exposure.owners.is_empty());
    assert!(exposure.value().is_none());
}

#[test]
fn recorded_fingerprint_names_owner() {
    let recorded = vec![RecordedCredential {
        target: TargetId::new("pg-main"),
        account: "svc_b".to_string(),
        fingerprint: secret("rotated-away").fingerprint().clone(),
        seq: 17,
    }];
    let exposure = match_finding(value_finding("rotated-away"), &sinks(), &recorded);
    assert_eq!(exposure.owners.len(), 1);
    assert!(exposure.owners[0].holdings.is_empty());
    assert_eq!(exposure.owners[0].recorded_in, vec![17]);
    assert_eq!(exposure.searched.recorded, 1);
}

#[test]
fn unknown_value_is_unmatched() {
    let exposure = match_finding(value_finding("never-seen"), &sinks(), &[]);
    assert!(exposure.owners.is_empty());
    assert_eq!(
        exposure.searched.sinks,
        vec![
            "file /tmp/svc_a.pw".to_string(),
            "file /tmp/svc_b.pw".to_string()
        ]
    );
}
