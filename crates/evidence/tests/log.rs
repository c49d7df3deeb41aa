//! The evidence log through its public API: writing, reopening, repairing, exporting, and
//! verification failing with the right message for each kind of tampering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ed25519_dalek::SigningKey;
use enact_evidence::{
    export_jsonl, read_records, verify, EvidenceError, EvidenceLog, RepairKind, VerifyError,
};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;

fn verify_state(state: &Path) -> Result<enact_evidence::VerifyReport, VerifyError> {
    verify(state, &signing_key().verifying_key())
}

fn verify_error(state: &Path) -> String {
    match verify_state(state) {
        Ok(report) => panic!("verification passed: {report:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn log_with_two_commits_verifies() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());

    let report = verify_state(state.path()).unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.signed_through, 5);
    assert_eq!(report.unsigned_records, 0);
    assert!(report.warnings().is_empty());
    assert_eq!(lines_of(&log_path(state.path())).len(), 5);
    assert_eq!(lines_of(&checkpoints_path(state.path())).len(), 2);
}

#[test]
fn evidence_directory_is_accepted() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let report = verify(
        &state.path().join("evidence"),
        &signing_key().verifying_key(),
    );
    assert_eq!(report.unwrap().records, 5);
}

#[test]
fn record_lines_follow_documented_hashes() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());

    let mut prev = [0u8; 32];
    for (index, line) in lines_of(&log_path(state.path())).iter().enumerate() {
        let seq = index as u64 + 1;
        let value: serde_json::Value = serde_json::from_slice(line).unwrap();
        let body = serde_json::to_string(&value["body"]).unwrap();
        let text = std::str::from_utf8(line).unwrap();
        let raw_body = text
            .split_once(",\"body\":")
            .and_then(|(_, rest)| rest.rsplit_once(",\"hash\":"))
            .map(|(body, _)| body)
            .unwrap();
        assert_eq!(raw_body.len(), body.len());

        let leaf: [u8; 32] = Sha256::new()
            .chain_update([0u8])
            .chain_update(raw_body.as_bytes())
            .finalize()
            .into();
        let hash: [u8; 32] = Sha256::new()
            .chain_update([1u8])
            .chain_update(prev)
            .chain_update(leaf)
            .chain_update(seq.to_be_bytes())
            .finalize()
            .into();
        assert_eq!(value["seq"], seq);
        assert_eq!(value["prev"], hex::encode(prev));
        assert_eq!(value["hash"], hex::encode(hash));
        assert!(text.starts_with(&format!("{{\"seq\":{seq},\"prev\":\"")));
        prev = hash;
    }
}

#[test]
fn typed_bodies_carry_their_type() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let records: Vec<_> = read_records(state.path())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 5);
    let (seq, first) = &records[0];
    assert_eq!(*seq, 1);
    assert_eq!(first["type"], "action");
    assert_eq!(first["action"]["account"], "svc_a");
    assert_eq!(first["outcome"]["status"], "judged");
    assert_eq!(first["outcome"]["verdict"]["verdict"], "verified");
    assert_eq!(records[1].1["outcome"]["status"], "failed");
    let (seq, run) = &records[4];
    assert_eq!(*seq, 5);
    assert_eq!(run["type"], "run");
    assert_eq!(run["counts"]["verified"], 3);
    assert_eq!(run["counts"]["failed"], 1);
    assert_eq!(run["planned"], 4);
}

#[test]
fn reopened_log_continues_chain() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());

    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert_eq!(log.last_seq(), 5);
    assert!(log.repairs().is_empty());
    assert_eq!(log.last_checkpoint().map(|c| c.seq), Some(5));
    let appended = log
        .append(&serde_json::json!({"type": "note", "text": "reopened"}))
        .unwrap();
    assert_eq!(appended.seq, 6);
    log.commit().unwrap();
    drop(log);

    let report = verify_state(state.path()).unwrap();
    assert_eq!(report.records, 6);
    assert_eq!(report.checkpoints, 3);
}

#[test]
fn uncommitted_records_are_reported_unsigned() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    append_action(&mut log, "svc_e", true);
    append_action(&mut log, "svc_f", true);
    drop(log);

    let report = verify_state(state.path()).unwrap();
    assert_eq!(report.records, 7);
    assert_eq!(report.signed_through, 5);
    assert_eq!(report.unsigned_records, 2);
    assert_eq!(
        report.warnings(),
        vec!["2 record(s) after record 5 are not covered by a signed checkpoint".to_string()]
    );
}

#[test]
fn commit_without_new_records_writes_nothing() {
    let state = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    append_action(&mut log, "svc_a", true);
    let first = log.commit_at(T0).unwrap();
    let second = log
        .commit_at(T0.plus(enact_model::Duration::from_secs(9)))
        .unwrap();
    assert_eq!(first, second);
    drop(log);
    assert_eq!(lines_of(&checkpoints_path(state.path())).len(), 1);
}

#[test]
fn empty_log_checkpoint_verifies() {
    let state = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    let checkpoint = log.commit_at(T0).unwrap();
    assert_eq!(checkpoint.seq, 0);
    assert_eq!(checkpoint.hash, "0".repeat(64));
    drop(log);

    let report = verify_state(state.path()).unwrap();
    assert_eq!(report.records, 0);
    assert_eq!(report.checkpoints, 1);
}

#[test]
fn checkpoint_line_has_documented_fields() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let lines = lines_of(&checkpoints_path(state.path()));
    let value: serde_json::Value = serde_json::from_slice(&lines[0]).unwrap();
    assert_eq!(value["seq"], 3);
    assert_eq!(value["signed_at"], T0.0);
    assert_eq!(
        value["key"],
        hex::encode(signing_key().verifying_key().as_bytes())
    );

    // The root is RFC 9162's Merkle tree hash of the first three records' leaf hashes.
    let leaves: Vec<[u8; 32]> = lines_of(&log_path(state.path()))[..3]
        .iter()
        .map(|line| {
            let text = std::str::from_utf8(line).unwrap();
            let body =
                &text[text.find(",\"body\":").unwrap() + 8..text.rfind(",\"hash\":").unwrap()];
            sha256(&[&[0x00], body.as_bytes()])
        })
        .collect();
    let node = |left: &[u8; 32], right: &[u8; 32]| sha256(&[&[0x01], left, right]);
    let root = node(&node(&leaves[0], &leaves[1]), &leaves[2]);
    assert_eq!(value["root"], hex::encode(root));

    // The signature covers exactly the documented message.
    let message = format!(
        "enact-checkpoint-v2\n3\n{}\n{}\n{}\n",
        value["hash"].as_str().unwrap(),
        hex::encode(root),
        T0.0
    );
    use base64::Engine as _;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(value["signature"].as_str().unwrap())
        .unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
    signing_key()
        .verifying_key()
        .verify_strict(message.as_bytes(), &signature)
        .unwrap();
}

#[test]
fn every_flipped_byte_names_its_record() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let lines = lines_of(&path);
    let target = 2; // record 3, the last one the first checkpoint covers
    let original = lines[target].clone();

    let mut checked = 0;
    for offset in 0..original.len() {
        for mask in [0x01u8, 0x20, 0x80, 0xff] {
            let mut tampered = lines.clone();
            tampered[target][offset] ^= mask;
            write_lines(&path, &tampered);

            let error = verify_state(state.path()).expect_err(&format!(
                "flipping byte {offset} with {mask:#04x} passed verification"
            ));
            assert_eq!(
                error.log_line(),
                Some(3),
                "byte {offset} with {mask:#04x}: {error}"
            );
            let message = error.to_string();
            assert!(
                message.starts_with("record 3: ") || message.starts_with("line 3: "),
                "byte {offset} with {mask:#04x}: {message}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, original.len() * 4);

    write_lines(&path, &lines);
    assert!(verify_state(state.path()).is_ok());
}

#[test]
fn added_whitespace_fails() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let mut lines = lines_of(&path);

    let text = String::from_utf8(lines[1].clone()).unwrap();
    lines[1] = text.replacen("\"seq\":2", "\"seq\": 2", 1).into_bytes();
    write_lines(&path, &lines);
    assert!(verify_error(state.path()).starts_with("line 2: not a valid record line"));

    let mut lines = lines_of(&path);
    lines[1] = text.replacen("{\"type\":", "{ \"type\":", 1).into_bytes();
    write_lines(&path, &lines);
    assert_eq!(
        verify_error(state.path()),
        "record 2: body is not in canonical form (its bytes were changed)"
    );
}

#[test]
fn changed_body_with_old_hash_fails() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let mut lines = lines_of(&path);
    let text = String::from_utf8(lines[3].clone()).unwrap();
    lines[3] = text.replacen("svc_d", "svc_x", 1).into_bytes();
    write_lines(&path, &lines);
    assert_eq!(
        verify_error(state.path()),
        "record 4: hash does not match its content"
    );
}

#[test]
fn deleted_middle_record_fails() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let mut lines = lines_of(&path);
    lines.remove(2);
    write_lines(&path, &lines);
    assert_eq!(
        verify_error(state.path()),
        "line 3: seq is 4, expected 3 (a record is missing, duplicated or out of order)"
    );
}

#[test]
fn swapped_records_fail() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let mut lines = lines_of(&path);
    lines.swap(1, 2);
    write_lines(&path, &lines);
    assert_eq!(
        verify_error(state.path()),
        "line 2: seq is 3, expected 2 (a record is missing, duplicated or out of order)"
    );
}

#[test]
fn renumbered_records_fail_on_prev() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let mut lines = lines_of(&path);
    // Record 3 removed and record 4 given its number: the seq fits, the link does not.
    let text = String::from_utf8(lines[3].clone()).unwrap();
    lines[3] = text.replacen("{\"seq\":4,", "{\"seq\":3,", 1).into_bytes();
    lines.remove(2);
    write_lines(&path, &lines);
    assert_eq!(
        verify_error(state.path()),
        "record 3: prev does not match the hash of record 2"
    );
}

#[test]
fn truncated_log_fails_checkpoint() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let lines = lines_of(&path);
    write_lines(&path, &lines[..3]);
    assert_eq!(
        verify_error(state.path()),
        "checkpoint 2: names record 5, past the end of the log at record 3 (log truncated?)"
    );

    // Appending to a truncated log would fork the chain, so opening refuses.
    let error = EvidenceLog::open(state.path(), signing_key()).unwrap_err();
    assert!(matches!(
        error,
        EvidenceError::CheckpointAhead {
            checkpoint_seq: 5,
            last_seq: 3
        }
    ));
}

#[test]
fn rewritten_chain_fails_checkpoint() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());

    // Someone who can write the files but lacks the key changes record 2 and recomputes every
    // hash, so the chain itself is consistent again.
    let mut prev = [0u8; 32];
    let mut rewritten = Vec::new();
    for (index, line) in lines_of(&path).iter().enumerate() {
        let seq = index as u64 + 1;
        let text = std::str::from_utf8(line).unwrap();
        let (_, rest) = text.split_once(",\"body\":").unwrap();
        let (body, _) = rest.rsplit_once(",\"hash\":").unwrap();
        let body = body.replacen("svc_b", "svc_z", 1);
        let leaf: [u8; 32] = Sha256::new()
            .chain_update([0u8])
            .chain_update(&body)
            .finalize()
            .into();
        let hash: [u8; 32] = Sha256::new()
            .chain_update([1u8])
            .chain_update(prev)
            .chain_update(leaf)
            .chain_update(seq.to_be_bytes())
            .finalize()
            .into();
        rewritten.push(
            format!(
                "{{\"seq\":{seq},\"prev\":\"{}\",\"body\":{body},\"hash\":\"{}\"}}\n",
                hex::encode(prev),
                hex::encode(hash)
            )
            .into_bytes(),
        );
        prev = hash;
    }
    write_lines(&path, &rewritten);
    assert_eq!(
        verify_error(state.path()),
        "checkpoint 1: signed hash does not match the hash of record 3 (the log was rewritten)"
    );
}

#[test]
fn altered_checkpoint_hash_fails() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = checkpoints_path(state.path());
    let mut lines = lines_of(&path);
    let mut value: serde_json::Value = serde_json::from_slice(&lines[1]).unwrap();
    let hash = value["hash"].as_str().unwrap().to_string();
    let altered = if hash.starts_with('0') { "1" } else { "0" }.to_string() + &hash[1..];
    value["hash"] = serde_json::Value::String(altered);
    lines[1] = serialize_checkpoint(&value);
    write_lines(&path, &lines);
    assert_eq!(
        verify_error(state.path()),
        "checkpoint 2: signature invalid"
    );
}

#[test]
fn altered_checkpoint_signature_fails() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = checkpoints_path(state.path());
    let mut lines = lines_of(&path);
    let mut value: serde_json::Value = serde_json::from_slice(&lines[0]).unwrap();
    let signature = value["signature"].as_str().unwrap().to_string();
    let altered = if signature.starts_with('A') { "B" } else { "A" }.to_string() + &signature[1..];
    value["signature"] = serde_json::Value::String(altered);
    lines[0] = serialize_checkpoint(&value);
    write_lines(&path, &lines);
    assert_eq!(
        verify_error(state.path()),
        "checkpoint 1: signature invalid"
    );
}

#[test]
fn other_public_key_fails() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let error = verify(state.path(), &other).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "checkpoint 1: signed by key `{}`, not by the given key `{}`",
            hex::encode(signing_key().verifying_key().as_bytes()),
            hex::encode(other.as_bytes())
        )
    );

    // Renaming the signer in the checkpoint does not help: the signature still fails.
    let path = checkpoints_path(state.path());
    let mut lines = lines_of(&path);
    for line in &mut lines {
        let mut value: serde_json::Value = serde_json::from_slice(line).unwrap();
        value["key"] = serde_json::Value::String(hex::encode(other.as_bytes()));
        *line = serialize_checkpoint(&value);
    }
    write_lines(&path, &lines);
    let error = verify(state.path(), &other).unwrap_err().to_string();
    assert_eq!(error, "checkpoint 1: signature invalid");
}

#[test]
fn missing_files_are_named() {
    let state = tempfile::tempdir().unwrap();
    let error = verify_error(state.path());
    assert!(error.contains("log.jsonl` not found"), "{error}");
}

/// Writes a checkpoint value back in the field order the log uses.
fn serialize_checkpoint(value: &serde_json::Value) -> Vec<u8> {
    format!(
        "{{\"seq\":{},\"hash\":{},\"signed_at\":{},\"key\":{},\"signature\":{}}}\n",
        value["seq"], value["hash"], value["signed_at"], value["key"], value["signature"]
    )
    .into_bytes()
}

#[test]
fn torn_last_line_is_repaired_on_open() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let intact = fs::read(&path).unwrap();
    let torn = br#"{"seq":6,"prev":"0a1b"#;
    fs::write(&path, [intact.as_slice(), torn].concat()).unwrap();
    assert_eq!(
        verify_error(state.path()),
        "line 6: incomplete last line (a write was interrupted); opening the log for writing repairs it"
    );

    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert_eq!(log.repairs().len(), 1);
    assert_eq!(
        log.repairs()[0].kind,
        RepairKind::RemovedTornLine {
            offset: intact.len() as u64,
            bytes: torn.len() as u64
        }
    );
    assert!(log.repairs()[0]
        .to_string()
        .contains("removed an incomplete last line"));
    assert_eq!(log.last_seq(), 5);
    assert_eq!(fs::read(&path).unwrap(), intact);

    append_action(&mut log, "svc_e", true);
    log.commit_at(T0).unwrap();
    drop(log);
    assert_eq!(verify_state(state.path()).unwrap().records, 6);
}

#[test]
fn complete_line_without_newline_is_kept() {
    let state = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    append_action(&mut log, "svc_a", true);
    append_action(&mut log, "svc_b", true);
    log.commit_at(T0).unwrap();
    drop(log);

    let path = log_path(state.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes.pop();
    fs::write(&path, &bytes).unwrap();

    let log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert_eq!(log.repairs()[0].kind, RepairKind::AddedNewline);
    assert_eq!(log.last_seq(), 2);
    drop(log);
    assert_eq!(verify_state(state.path()).unwrap().records, 2);
}

#[test]
fn torn_checkpoint_is_repaired_on_open() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = checkpoints_path(state.path());
    let intact = fs::read(&path).unwrap();
    fs::write(&path, [intact.as_slice(), br#"{"seq":5,"ha"#].concat()).unwrap();
    assert!(verify_error(state.path()).starts_with("checkpoint 3: not a valid checkpoint"));

    let log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert_eq!(log.repairs().len(), 1);
    assert_eq!(log.last_checkpoint().map(|c| c.seq), Some(5));
    drop(log);
    assert_eq!(fs::read(&path).unwrap(), intact);
    assert!(verify_state(state.path()).is_ok());
}

#[test]
fn damaged_last_record_blocks_open() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let mut lines = lines_of(&path);
    lines[4] = b"garbage\n".to_vec();
    write_lines(&path, &lines);
    let error = EvidenceLog::open(state.path(), signing_key()).unwrap_err();
    assert!(
        error.to_string().starts_with("the last line of `"),
        "{error}"
    );
}

#[test]
fn other_signing_key_cannot_open() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let error = EvidenceLog::open(state.path(), SigningKey::from_bytes(&[7; 32])).unwrap_err();
    assert!(
        matches!(error, EvidenceError::SignedByOtherKey { .. }),
        "{error}"
    );
}

#[test]
fn second_writer_is_locked_out() {
    let state = tempfile::tempdir().unwrap();
    let first = EvidenceLog::open(state.path(), signing_key()).unwrap();
    let error = EvidenceLog::open(state.path(), signing_key()).unwrap_err();
    assert!(matches!(error, EvidenceError::Locked { .. }), "{error}");
    drop(first);
    assert!(EvidenceLog::open(state.path(), signing_key()).is_ok());
}

#[test]
fn invalid_bodies_are_rejected() {
    let state = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    for body in [
        serde_json::json!([1, 2]),
        serde_json::json!("text"),
        serde_json::json!({"seq": 1}),
        serde_json::json!({"type": "note", "hash": "x"}),
    ] {
        let error = log.append(&body).unwrap_err();
        assert!(
            matches!(error, EvidenceError::BodyRejected(_)),
            "{body}: {error}"
        );
    }
    assert_eq!(log.last_seq(), 0);
    #[derive(serde::Serialize)]
    struct Wide {
        n: u128,
    }
    let big = log.append(&Wide { n: u128::MAX });
    assert!(big.is_err(), "a number beyond 64 bits was accepted");
    log.append(&serde_json::json!({"type": "note"})).unwrap();
    log.commit_at(T0).unwrap();
    drop(log);
    assert_eq!(verify_state(state.path()).unwrap().records, 1);
}

#[test]
fn export_puts_seq_and_hash_first() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    log.append(&serde_json::json!({})).unwrap();
    log.commit_at(T0).unwrap();
    drop(log);

    let mut out = Vec::new();
    let count = export_jsonl(state.path(), &mut out).unwrap();
    assert_eq!(count, 6);
    let text = String::from_utf8(out).unwrap();
    let exported: Vec<&str> = text.lines().collect();
    assert_eq!(exported.len(), 6);

    let log_lines = lines_of(&log_path(state.path()));
    for (index, line) in exported.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let record: serde_json::Value = serde_json::from_slice(&log_lines[index]).unwrap();
        assert_eq!(value["seq"], index as u64 + 1);
        assert_eq!(value["hash"], record["hash"]);
        assert!(line.starts_with(&format!("{{\"seq\":{},\"hash\":\"", index + 1)));
        for (key, field) in record["body"].as_object().unwrap() {
            assert_eq!(&value[key], field, "line {index} field {key}");
        }
    }
    // An empty body leaves only the envelope's fields.
    let last: serde_json::Value = serde_json::from_slice(&log_lines[5]).unwrap();
    let hash = last["hash"].as_str().unwrap();
    assert_eq!(exported[5], format!("{{\"seq\":6,\"hash\":\"{hash}\"}}"));
}

#[test]
fn reading_a_missing_log_yields_nothing() {
    let state = tempfile::tempdir().unwrap();
    assert_eq!(read_records(state.path()).unwrap().count(), 0);
}

#[test]
fn reading_stops_at_damaged_line() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let mut lines = lines_of(&path);
    lines[1] = b"not a record\n".to_vec();
    write_lines(&path, &lines);
    let results: Vec<_> = read_records(state.path()).unwrap().collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let error = results[1].as_ref().unwrap_err().to_string();
    assert!(error.contains("line 2: not a valid record line"), "{error}");
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
