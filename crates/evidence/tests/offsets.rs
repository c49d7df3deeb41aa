//! The line offsets file through the public API: it records where each record line starts, is
//! completed from the log when missing or short, and is never trusted for a proof.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use enact_evidence::{prove_inclusion, EvidenceLog};
use std::fs;
use std::path::{Path, PathBuf};

fn offsets_path(state: &Path) -> PathBuf {
    state.join("evidence").join("offsets.bin")
}

/// Returns the offset of each line of the log, computed from the log itself.
fn line_starts(state: &Path) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut position = 0u64;
    for line in lines_of(&log_path(state)) {
        starts.push(position);
        position += line.len() as u64;
    }
    starts
}

/// Reads the entries of the offsets file.
fn stored_offsets(state: &Path) -> Vec<u64> {
    let bytes = fs::read(offsets_path(state)).unwrap();
    assert_eq!(bytes.len() % 8, 0, "the offsets file holds a partial entry");
    bytes
        .chunks_exact(8)
        .map(|entry| u64::from_be_bytes(entry.try_into().unwrap()))
        .collect()
}

/// Asserts that the proof of every record carries that record's body and verifies.
fn assert_every_proof_holds(state: &Path, records: u64) {
    let key = signing_key().verifying_key();
    let lines = lines_of(&log_path(state));
    for seq in 1..=records {
        let proof = prove_inclusion(state, seq).unwrap();
        let line = std::str::from_utf8(&lines[seq as usize - 1]).unwrap();
        assert!(
            line.contains(&format!("\"body\":{},\"hash\"", proof.record.get())),
            "the proof of record {seq} carries another record's body"
        );
        proof.verify(&key).unwrap();
    }
}

#[test]
fn offsets_point_at_each_line() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    assert_eq!(stored_offsets(state.path()), line_starts(state.path()));
    assert_every_proof_holds(state.path(), 5);
}

#[test]
fn missing_offsets_file_is_rebuilt() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let original = fs::read(offsets_path(state.path())).unwrap();
    fs::remove_file(offsets_path(state.path())).unwrap();

    // A reader scans the log instead; the writer computes the file again.
    assert_every_proof_holds(state.path(), 5);
    drop(EvidenceLog::open(state.path(), signing_key()).unwrap());
    assert_eq!(fs::read(offsets_path(state.path())).unwrap(), original);
}

#[test]
fn short_offsets_file_is_completed() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let original = fs::read(offsets_path(state.path())).unwrap();
    // Two whole entries and part of a third, as a crash between two writes can leave it.
    fs::write(offsets_path(state.path()), &original[..19]).unwrap();

    assert_every_proof_holds(state.path(), 5);
    drop(EvidenceLog::open(state.path(), signing_key()).unwrap());
    assert_eq!(fs::read(offsets_path(state.path())).unwrap(), original);
}

#[test]
fn wrong_offsets_are_not_trusted() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let original = fs::read(offsets_path(state.path())).unwrap();
    let starts = line_starts(state.path());
    // Each entry leads to another record's line, into the middle of a line, or past the end.
    let wrong: Vec<u64> = vec![
        starts[1],
        starts[2] + 1,
        starts[0],
        u64::MAX - 7,
        starts[4] - 1,
    ];
    let bytes: Vec<u8> = wrong
        .iter()
        .flat_map(|offset| offset.to_be_bytes())
        .collect();
    fs::write(offsets_path(state.path()), bytes).unwrap();

    assert_every_proof_holds(state.path(), 5);
    // The last entry does not lead to record 5, so the writer computes the file again.
    drop(EvidenceLog::open(state.path(), signing_key()).unwrap());
    assert_eq!(fs::read(offsets_path(state.path())).unwrap(), original);
}

#[test]
fn offsets_follow_torn_line_repair() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let path = log_path(state.path());
    let intact = fs::read(&path).unwrap();
    fs::write(
        &path,
        [intact.as_slice(), br#"{"seq":6,"prev":"0a"#].concat(),
    )
    .unwrap();

    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    assert_eq!(log.repairs().len(), 1);
    append_action(&mut log, "svc_e", true);
    append_action(&mut log, "svc_f", false);
    log.commit_at(T0).unwrap();
    drop(log);

    assert_eq!(stored_offsets(state.path()), line_starts(state.path()));
    assert_every_proof_holds(state.path(), 7);
}

#[test]
fn offsets_survive_reopening() {
    let state = tempfile::tempdir().unwrap();
    five_record_log(state.path());
    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    append_action(&mut log, "svc_e", true);
    // Flushed but not committed: the entry is written with the line.
    log.flush().unwrap();
    drop(log);
    assert_eq!(stored_offsets(state.path()), line_starts(state.path()));

    let mut log = EvidenceLog::open(state.path(), signing_key()).unwrap();
    append_action(&mut log, "svc_f", true);
    log.commit_at(T0).unwrap();
    drop(log);
    assert_eq!(stored_offsets(state.path()), line_starts(state.path()));
    assert_every_proof_holds(state.path(), 7);
}
