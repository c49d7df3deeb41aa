//! The stable-toolchain counterpart of the cargo-fuzz targets in `crates/evidence/fuzz`:
//! arbitrary bytes as a log, and a valid signed log, checkpoints and proofs with a few bytes
//! damaged, go through the reader, the verifier and the proof decoder. Nothing may panic, and
//! damage that still verifies must leave what was proven unchanged: a log that verifies is a
//! prefix of the original, and a proof that verifies proves the original's statement.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use ed25519_dalek::SigningKey;
use enact_evidence::{
    prove_consistency, prove_inclusion, read_checkpoints, read_records, verify, Checkpoint,
    ConsistencyProof, EvidenceLog, InclusionProof,
};
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// A valid log of six records in two commits, with the chain hash after each record (index
/// 0 is the empty log). It comes with two serialized proofs: record 2 in the last tree head,
/// and the first tree head in the last.
struct Sample {
    _dir: tempfile::TempDir,
    log: Vec<u8>,
    checkpoints: Vec<u8>,
    hashes: Vec<String>,
    inclusion: Vec<u8>,
    consistency: Vec<u8>,
}

fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EvidenceLog::open(dir.path(), signing_key()).unwrap();
        for batch in 0..2 {
            for n in 0..3 {
                let body = serde_json::json!({
                    "type": "action", "batch": batch, "n": n, "note": "ünïcode ✓",
                });
                log.append(&body).unwrap();
            }
            log.commit().unwrap();
        }
        drop(log);
        let evidence = dir.path().join("evidence");
        let bytes = std::fs::read(evidence.join("log.jsonl")).unwrap();
        let mut hashes = vec!["0".repeat(64)];
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let value: serde_json::Value = serde_json::from_slice(line).unwrap();
            hashes.push(value["hash"].as_str().unwrap().to_string());
        }
        let first = read_checkpoints(dir.path()).unwrap().remove(0);
        let inclusion = serde_json::to_vec(&prove_inclusion(dir.path(), 2).unwrap()).unwrap();
        let consistency =
            serde_json::to_vec(&prove_consistency(dir.path(), &first).unwrap()).unwrap();
        Sample {
            log: bytes,
            checkpoints: std::fs::read(evidence.join("checkpoints.jsonl")).unwrap(),
            hashes,
            inclusion,
            consistency,
            _dir: dir,
        }
    })
}

/// One byte edit at a fraction of the length: overwrite, delete, insert, or cut the rest.
#[derive(Clone, Debug)]
enum Edit {
    Overwrite(f64, u8),
    Delete(f64),
    Insert(f64, u8),
    Cut(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, any::<u8>()).prop_map(|(at, b)| Edit::Overwrite(at, b)),
        (0.0..1.0f64).prop_map(Edit::Delete),
        (0.0..1.0f64, any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (0.0..1.0f64).prop_map(Edit::Cut),
    ]
}

fn damage(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for edit in edits {
        if out.is_empty() {
            break;
        }
        let at = |fraction: f64| ((fraction * out.len() as f64) as usize).min(out.len() - 1);
        match *edit {
            Edit::Overwrite(f, b) => {
                let i = at(f);
                out[i] = b;
            }
            Edit::Delete(f) => {
                let i = at(f);
                out.remove(i);
            }
            Edit::Insert(f, b) => {
                let i = at(f);
                out.insert(i, b);
            }
            Edit::Cut(f) => {
                let i = at(f);
                out.truncate(i);
            }
        }
    }
    out
}

/// The fields of a checkpoint that its signature covers, with the signature.
///
/// NOTE: the `key` field is not signed, and proof verification does not compare it with the
/// key it verifies under (log verification does), so a proof whose `key` was damaged still
/// verifies. The comparison leaves it out.
fn signed(checkpoint: &Checkpoint) -> (u64, &str, Option<&str>, i64, &str) {
    (
        checkpoint.seq,
        &checkpoint.hash,
        checkpoint.root.as_deref(),
        checkpoint.signed_at.0,
        &checkpoint.signature,
    )
}

fn write_state(dir: &Path, log: &[u8], checkpoints: Option<&[u8]>) {
    let evidence = dir.join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(evidence.join("log.jsonl"), log).unwrap();
    if let Some(checkpoints) = checkpoints {
        std::fs::write(evidence.join("checkpoints.jsonl"), checkpoints).unwrap();
    }
}

/// Log lines built from JSON-ish fragments, so that more inputs get past the first byte.
fn log_text() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just(r#"{"seq":1,"prev":""#.to_string()),
        Just(r#"","body":{"type":"action"},"hash":""#.to_string()),
        Just("0".repeat(64)),
        Just("\"}\n".to_string()),
        Just("\n".to_string()),
        "[0-9a-f]{1,64}",
        any::<String>(),
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_log_never_panics(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), log_text()],
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_state(dir.path(), &bytes, None);
        let mut read = 0u64;
        let mut clean = true;
        if let Ok(records) = read_records(dir.path()) {
            for record in records {
                match record {
                    Ok((seq, _)) => {
                        read += 1;
                        clean &= seq == read;
                    }
                    Err(_) => {
                        clean = false;
                        break;
                    }
                }
            }
        }
        if let Ok(report) = verify(dir.path(), &signing_key().verifying_key()) {
            prop_assert!(clean, "a log that verifies did not read back");
            prop_assert_eq!(report.records, read);
            prop_assert_eq!(report.checkpoints, 0);
        }
        let _ = EvidenceLog::open(dir.path(), signing_key());
    }

    #[test]
    fn damaged_log_verifies_only_as_prefix(
        damage_log in any::<bool>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let sample = sample();
        let (log, checkpoints) = if damage_log {
            (damage(&sample.log, &edits), sample.checkpoints.clone())
        } else {
            (sample.log.clone(), damage(&sample.checkpoints, &edits))
        };
        let dir = tempfile::tempdir().unwrap();
        write_state(dir.path(), &log, Some(&checkpoints));
        if let Ok(report) = verify(dir.path(), &signing_key().verifying_key()) {
            let records = usize::try_from(report.records).unwrap();
            prop_assert!(records < sample.hashes.len());
            prop_assert_eq!(&report.last_hash, &sample.hashes[records]);
            prop_assert!(report.signed_through <= report.records);
        }
    }

    #[test]
    fn damaged_proof_proves_nothing_else(
        inclusion in any::<bool>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let sample = sample();
        let key = signing_key().verifying_key();
        if inclusion {
            let bytes = damage(&sample.inclusion, &edits);
            if let Ok(proof) = serde_json::from_slice::<InclusionProof>(&bytes) {
                if proof.verify(&key).is_ok() {
                    let original: InclusionProof =
                        serde_json::from_slice(&sample.inclusion).unwrap();
                    prop_assert_eq!(proof.seq, original.seq);
                    prop_assert_eq!(proof.record.get(), original.record.get());
                    prop_assert_eq!(signed(&proof.checkpoint), signed(&original.checkpoint));
                }
            }
        } else {
            let bytes = damage(&sample.consistency, &edits);
            if let Ok(proof) = serde_json::from_slice::<ConsistencyProof>(&bytes) {
                if proof.verify(&key).is_ok() {
                    let original: ConsistencyProof =
                        serde_json::from_slice(&sample.consistency).unwrap();
                    prop_assert_eq!(signed(&proof.old), signed(&original.old));
                    prop_assert_eq!(signed(&proof.new), signed(&original.new));
                }
            }
        }
    }
}

#[test]
fn undamaged_sample_verifies() {
    let sample = sample();
    let dir = tempfile::tempdir().unwrap();
    write_state(dir.path(), &sample.log, Some(&sample.checkpoints));
    let report = verify(dir.path(), &signing_key().verifying_key()).unwrap();
    assert_eq!(report.records, 6);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.last_hash, sample.hashes[6]);
    let key = signing_key().verifying_key();
    let inclusion: InclusionProof = serde_json::from_slice(&sample.inclusion).unwrap();
    inclusion.verify(&key).unwrap();
    let consistency: ConsistencyProof = serde_json::from_slice(&sample.consistency).unwrap();
    consistency.verify(&key).unwrap();
}
