//! The Merkle tree through the public API: inclusion and consistency proofs checked with the
//! public key alone, logs written before the tree, and a damaged or missing tree file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::*;
use ed25519_dalek::{Signer as _, SigningKey};
use enact_evidence::{
    find_action_records, prove_consistency, prove_inclusion, read_checkpoints, verify, Checkpoint,
    ConsistencyProof, EvidenceLog, InclusionProof, ProofError, RepairKind,
};
use std::fs;
use std::path::Path;

fn tree_path(state: &Path) -> std::path::PathBuf {
    state.join("evidence").join("tree.bin")
}

/// Round-trips a proof through its JSON text, as an auditor receives it.
fn through_json<T: serde::Serialize + serde::de::DeserializeOwned>(proof: &T) -> T {
    let text = serde_json::to_string_pretty(proof).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_record_has_verifying_inclusion_proof() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let key = signing_key().verifying_key();

    for seq in 1..=5 {
        let proof = through_json(&prove_inclusion(state.path(), seq).unwrap());
        assert_eq!(proof.seq, seq);
        assert_eq!(proof.tree_size, 5);
        proof.verify(&key).unwrap();
    }
}

#[test]
fn inclusion_proof_carries_record_bytes() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let proof = prove_inclusion(state.path(), 2).unwrap();
    let line = &lines_of(&log_path(state.path()))[1];
    let line = std::str::from_utf8(line).unwrap();
    assert!(
        line.contains(&format!("\"body\":{},\"hash\"", proof.record.get())),
        "the proof's record is not the body of line 2"
    );
}

#[test]
fn changed_record_fails_inclusion_proof() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let proof = prove_inclusion(state.path(), 2).unwrap();
    let text = serde_json::to_string(&proof)
        .unwrap()
        .replace("connection refused", "connection accepted");
    let forged: InclusionProof = serde_json::from_str(&text).unwrap();
    let error = forged.verify(&signing_key().verifying_key()).unwrap_err();
    assert!(matches!(error, ProofError::Mismatch(_)), "{error}");
}

#[test]
fn moved_record_fails_inclusion_proof() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let mut proof = prove_inclusion(state.path(), 2).unwrap();
    proof.seq = 3;
    proof.leaf_index = 2;
    let error = proof.verify(&signing_key().verifying_key()).unwrap_err();
    assert!(matches!(error, ProofError::Mismatch(_)), "{error}");
}

#[test]
fn other_key_fails_inclusion_proof() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let proof = prove_inclusion(state.path(), 1).unwrap();
    let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let error = proof.verify(&other).unwrap_err();
    assert!(
        matches!(error, ProofError::SignatureInvalid { .. }),
        "{error}"
    );
}

#[test]
fn unsigned_record_has_no_proof() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    append_action(&mut log, "svc_e", true);
    log.flush().unwrap();
    drop(log);

    let error = prove_inclusion(state.path(), 6).unwrap_err();
    assert!(
        matches!(
            error,
            ProofError::NotSigned {
                seq: 6,
                signed_through: 5
            }
        ),
        "{error}"
    );
}

#[test]
fn consistency_between_checkpoints_verifies() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let first = read_checkpoints(state.path()).unwrap()[0].clone();
    assert_eq!(first.seq, 3);

    let proof = through_json(&prove_consistency(state.path(), &first).unwrap());
    assert_eq!(proof.new.seq, 5);
    assert!(!proof.path.is_empty());
    proof.verify(&signing_key().verifying_key()).unwrap();
}

#[test]
fn consistency_over_many_commits_verifies() {
    let state = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    for commit in 0..9u64 {
        for n in 0..=commit {
            append_action(&mut log, &format!("svc_{commit}_{n}"), n % 2 == 0);
        }
        log.commit_at(T0.plus(enact_model::Duration::from_secs(commit as i64)))
            .unwrap();
    }
    drop(log);

    let key = signing_key().verifying_key();
    let checkpoints = read_checkpoints(state.path()).unwrap();
    assert_eq!(checkpoints.len(), 9);
    for old in &checkpoints {
        prove_consistency(state.path(), old)
            .unwrap()
            .verify(&key)
            .unwrap();
    }
}

#[test]
fn rewritten_history_fails_consistency() {
    // A second log that shares the key but not the first records: its checkpoint is validly
    // signed, yet the current log does not extend it.
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let other = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open(other.path(), signing_key()).unwrap();
    append_action(&mut log, "svc_x", true);
    append_action(&mut log, "svc_y", true);
    append_action(&mut log, "svc_z", true);
    let forked = log.commit_at(T0).unwrap();
    drop(log);

    let proof = prove_consistency(state.path(), &forked).unwrap();
    let error = proof.verify(&signing_key().verifying_key()).unwrap_err();
    assert!(matches!(error, ProofError::Mismatch(_)), "{error}");
}

#[test]
fn forged_old_root_fails_consistency() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let first = read_checkpoints(state.path()).unwrap()[0].clone();
    let mut proof: ConsistencyProof = prove_consistency(state.path(), &first).unwrap();
    proof.old.root = Some(hex::encode([9; 32]));
    let error = proof.verify(&signing_key().verifying_key()).unwrap_err();
    assert!(
        matches!(error, ProofError::SignatureInvalid { which: "earlier" }),
        "{error}"
    );
}

#[test]
fn action_records_are_found_by_id() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    assert_eq!(find_action_records(state.path(), "act-svc_b").unwrap(), [2]);
    assert!(find_action_records(state.path(), "act-none")
        .unwrap()
        .is_empty());
}

/// Rewrites the log's checkpoints as enact wrote them before the tree (format v1) and
/// removes the tree file.
fn downgrade_to_v1(state: &Path) {
    let key = signing_key();
    let mut lines = String::new();
    for checkpoint in read_checkpoints(state).unwrap() {
        let message = format!(
            "enact-checkpoint-v1\n{}\n{}\n{}\n",
            checkpoint.seq, checkpoint.hash, checkpoint.signed_at.0
        );
        let signature = base64::engine::general_purpose::STANDARD
            .encode(key.sign(message.as_bytes()).to_bytes());
        lines.push_str(&format!(
            "{{\"seq\":{},\"hash\":\"{}\",\"signed_at\":{},\"key\":\"{}\",\"signature\":\"{signature}\"}}\n",
            checkpoint.seq,
            checkpoint.hash,
            checkpoint.signed_at.0,
            checkpoint.key
        ));
    }
    fs::write(checkpoints_path(state), lines).unwrap();
    fs::remove_file(tree_path(state)).unwrap();
}

#[test]
fn log_before_tree_still_verifies() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    downgrade_to_v1(state.path());

    let report = verify(state.path(), &signing_key().verifying_key()).unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.chain_only_checkpoints, 2);
    assert_eq!(report.tree_heads, 0);
    assert_eq!(report.last_format, Some(1));
    assert!(
        report.warnings().iter().any(|w| w.contains("format v1")),
        "{:?}",
        report.warnings()
    );
    let error = prove_inclusion(state.path(), 1).unwrap_err();
    assert!(matches!(error, ProofError::NoTreeHead), "{error}");
}

#[test]
fn commit_upgrades_log_before_tree() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    downgrade_to_v1(state.path());

    // Opening rebuilds the tree from the log; a commit with no new record signs a tree head.
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert!(log
        .repairs()
        .iter()
        .any(|repair| repair.kind == RepairKind::RebuiltTree { leaves: 5 }));
    let head = log.commit_at(T0).unwrap();
    drop(log);
    assert_eq!(head.seq, 5);
    assert_eq!(head.format(), 2);

    let key = signing_key().verifying_key();
    let report = verify(state.path(), &key).unwrap();
    assert_eq!(report.chain_only_checkpoints, 2);
    assert_eq!(report.tree_heads, 1);
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
    prove_inclusion(state.path(), 4)
        .unwrap()
        .verify(&key)
        .unwrap();
}

#[test]
fn missing_tree_file_is_rebuilt() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let original = fs::read(tree_path(state.path())).unwrap();
    fs::remove_file(tree_path(state.path())).unwrap();

    // A reader computes the tree in memory; the writer rebuilds the file.
    let key = signing_key().verifying_key();
    prove_inclusion(state.path(), 3)
        .unwrap()
        .verify(&key)
        .unwrap();
    drop(EvidenceLog::open(state.path(), signing_key()).unwrap());
    assert_eq!(fs::read(tree_path(state.path())).unwrap(), original);
}

#[test]
fn damaged_tree_node_is_bypassed() {
    // Leaf 2's node: the signed root does not read it, but the proof of leaf 1 does.
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let mut damaged = fs::read(tree_path(state.path())).unwrap();
    damaged[40] ^= 0xff;
    fs::write(tree_path(state.path()), &damaged).unwrap();

    let key = signing_key().verifying_key();
    for seq in 1..=5 {
        prove_inclusion(state.path(), seq)
            .unwrap()
            .verify(&key)
            .unwrap();
    }
    let first = read_checkpoints(state.path()).unwrap()[0].clone();
    prove_consistency(state.path(), &first)
        .unwrap()
        .verify(&key)
        .unwrap();
}

#[test]
fn damaged_tree_root_is_rebuilt() {
    // The node of leaves 1 to 4, which the signed root of five records reads.
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let original = fs::read(tree_path(state.path())).unwrap();
    let mut damaged = original.clone();
    damaged[6 * 32 + 8] ^= 0xff;
    fs::write(tree_path(state.path()), &damaged).unwrap();

    let log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert!(log
        .repairs()
        .iter()
        .any(|repair| repair.kind == RepairKind::RebuiltTree { leaves: 5 }));
    drop(log);
    assert_eq!(fs::read(tree_path(state.path())).unwrap(), original);
}

#[test]
fn torn_tree_file_is_completed() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let original = fs::read(tree_path(state.path())).unwrap();
    // Cut mid-node, as a crash between two writes can leave it.
    fs::write(tree_path(state.path()), &original[..original.len() - 45]).unwrap();

    let log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert!(log
        .repairs()
        .iter()
        .any(|repair| matches!(repair.kind, RepairKind::RebuiltTree { .. })));
    drop(log);
    assert_eq!(fs::read(tree_path(state.path())).unwrap(), original);
}

#[test]
fn rewritten_tree_root_fails_verify() {
    // A v2 checkpoint whose chain hash is right but whose root is not the tree's: signed by
    // the right key, so only the root comparison can catch it.
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let key = signing_key();
    let mut checkpoints = read_checkpoints(state.path()).unwrap();
    let last = checkpoints.last_mut().unwrap();
    let root = hex::encode([1; 32]);
    let message = format!(
        "enact-checkpoint-v2\n{}\n{}\n{root}\n{}\n",
        last.seq, last.hash, last.signed_at.0
    );
    last.root = Some(root);
    last.signature =
        base64::engine::general_purpose::STANDARD.encode(key.sign(message.as_bytes()).to_bytes());
    let text: String = checkpoints
        .iter()
        .map(|checkpoint| format!("{}\n", serde_json::to_string(checkpoint).unwrap()))
        .collect();
    fs::write(checkpoints_path(state.path()), text).unwrap();

    let error = verify(state.path(), &key.verifying_key()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("signed tree root does not match"),
        "{error}"
    );
}

#[test]
fn checkpoint_parses_from_kept_line() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let line = String::from_utf8(lines_of(&checkpoints_path(state.path()))[0].clone()).unwrap();
    let checkpoint = Checkpoint::from_json(&line).unwrap();
    assert_eq!(checkpoint.seq, 3);
    assert!(Checkpoint::from_json("{\"seq\":3}").is_err());
}
