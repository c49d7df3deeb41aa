//! `enact evidence prove`, `verify --proof`, `verify --since` and `export --format ocsf`,
//! through the binary, on a generated evidence log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use enact_evidence::{EvidenceLog, Keys};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sample_state(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    Keys::init(&state).unwrap();
    let (signing, _, _) = Keys::load(&state).unwrap().into_parts();
    enact_report::sample::write_sample_log(&state, signing, 3, 10).unwrap();
    state
}

fn enact(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enact"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn expect_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn proof_verifies_with_public_key_only() {
    let work = tempfile::tempdir().unwrap();
    let state = sample_state(work.path());
    let proved = enact(&state, &["evidence", "prove", "act-0001-0003"]);
    expect_code(&proved, 0);
    let proof = work.path().join("proof.json");
    std::fs::write(&proof, &proved.stdout).unwrap();

    // An auditor with the public key and the proof, and no state directory.
    let key = state.join("keys/evidence.pub");
    let nowhere = work.path().join("no-state");
    let checked = enact(
        &nowhere,
        &[
            "evidence",
            "verify",
            "--public-key",
            key.to_str().unwrap(),
            "--proof",
            proof.to_str().unwrap(),
        ],
    );
    expect_code(&checked, 0);
    assert!(
        stdout(&checked).contains("inclusion proven: record 15"),
        "{}",
        stdout(&checked)
    );

    // The same proof with one changed byte in the record fails.
    let forged = String::from_utf8(proved.stdout)
        .unwrap()
        .replace("svc_", "svx_");
    std::fs::write(&proof, forged).unwrap();
    let checked = enact(
        &nowhere,
        &[
            "evidence",
            "verify",
            "--public-key",
            key.to_str().unwrap(),
            "--proof",
            proof.to_str().unwrap(),
        ],
    );
    expect_code(&checked, 4);
    assert!(
        stdout(&checked).contains("proof NOT valid"),
        "{}",
        stdout(&checked)
    );
}

#[test]
fn unknown_action_has_no_proof() {
    let work = tempfile::tempdir().unwrap();
    let state = sample_state(work.path());
    let output = enact(&state, &["evidence", "prove", "act-none"]);
    expect_code(&output, 1);
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("no evidence record for action `act-none`"));
}

#[test]
fn since_checkpoint_is_consistent() {
    let work = tempfile::tempdir().unwrap();
    let state = sample_state(work.path());
    let checkpoints = std::fs::read_to_string(state.join("evidence/checkpoints.jsonl")).unwrap();
    let first = checkpoints.lines().next().unwrap();
    let kept = work.path().join("kept-checkpoint");
    std::fs::write(&kept, format!("{first}\n")).unwrap();

    let output = enact(
        &state,
        &["evidence", "verify", "--since", kept.to_str().unwrap()],
    );
    expect_code(&output, 0);
    let text = stdout(&output);
    assert!(
        text.contains(
            "consistent: the log signed at record 33 extends the checkpoint at record 11"
        ),
        "{text}"
    );

    // The printed proof checks offline too.
    let proof_text = &text[text.find('{').unwrap()..];
    let proof = work.path().join("consistency.json");
    std::fs::write(&proof, proof_text).unwrap();
    let output = enact(
        &state,
        &["evidence", "verify", "--proof", proof.to_str().unwrap()],
    );
    expect_code(&output, 0);
}

#[test]
fn forked_checkpoint_is_not_consistent() {
    // A checkpoint signed by the same key over another history.
    let work = tempfile::tempdir().unwrap();
    let state = sample_state(work.path());
    let fork = work.path().join("fork");
    std::fs::create_dir_all(fork.join("keys")).unwrap();
    let (signing, _, _) = Keys::load(&state).unwrap().into_parts();
    let mut log = EvidenceLog::open(&fork, signing).unwrap();
    log.append(&serde_json::json!({"type": "note", "text": "another history"}))
        .unwrap();
    let forked = log.commit().unwrap();
    drop(log);
    let line = serde_json::to_string(&forked).unwrap();

    let output = enact(&state, &["evidence", "verify", "--since", &line]);
    expect_code(&output, 4);
    assert!(
        stdout(&output).contains("consistency NOT proven"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn ocsf_export_has_one_event_per_action() {
    let work = tempfile::tempdir().unwrap();
    let state = sample_state(work.path());
    let output = enact(&state, &["evidence", "export", "--format", "ocsf"]);
    expect_code(&output, 0);
    let events: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // Three runs of ten actions; the run summaries are not events.
    assert_eq!(events.len(), 30);
    for event in &events {
        assert_eq!(event["metadata"]["version"], "1.6.0");
        assert_eq!(event["category_uid"], 3);
    }
}

#[test]
fn framework_report_lists_controls() {
    let work = tempfile::tempdir().unwrap();
    let state = sample_state(work.path());
    for (framework, control) in [
        ("owasp-nhi", "NHI5"),
        ("csf2", "PR.AA-05"),
        ("sp800-207", "T6"),
    ] {
        let output = enact(&state, &["report", "--framework", framework]);
        expect_code(&output, 0);
        assert!(
            stdout(&output).contains(control),
            "{framework}: {}",
            stdout(&output)
        );
    }
    let output = enact(&state, &["report", "--framework", "csf2", "-o", "json"]);
    expect_code(&output, 0);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let total: u64 = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|control| control["id"] == "PR.PS-04")
        .map(|control| {
            ["verified", "refuted", "failed", "indeterminate"]
                .iter()
                .map(|column| control[column].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    // Every action record is log evidence (PR.PS-04).
    assert_eq!(total, 30);
}

#[test]
fn export_to_a_closed_pipe_exits_zero() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // A log far larger than a pipe's buffer, so enact is still writing when the pipe closes.
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    Keys::init(&state).unwrap();
    let (signing, _, _) = Keys::load(&state).unwrap().into_parts();
    enact_report::sample::write_sample_log(&state, signing, 40, 50).unwrap();
    for format in ["jsonl", "ocsf"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_enact"))
            .arg("--state-dir")
            .arg(&state)
            .args(["evidence", "export", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one line, as `head -1` does, then close the pipe.
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with('{'), "{format}: {first}");
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{format}");
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("Broken pipe"),
            "{format}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
