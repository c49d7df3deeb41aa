//! Tampering with the evidence log: a changed byte, a deleted line and a truncated file each
//! make `enact evidence verify` exit 4 and name where the log breaks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, identity, Outcome, Workspace};
use std::path::{Path, PathBuf};

/// Copies the state directory of `ws` to a new directory `name` in the workspace.
fn copy_state(ws: &Workspace, name: &str) -> PathBuf {
    let target = ws.path(name);
    copy_dir(&ws.state_dir(), &target);
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the state directory") {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy a state file");
        }
    }
}

/// Creates a workspace with an evidence log of at least three action records.
async fn workspace_with_evidence() -> Workspace {
    let ws = Workspace::new();
    let group = ws.role("readers");
    ws.create_role(&group, "NOLOGIN").await;
    let identities: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|name| {
            identity(
                name,
                "active",
                &ws.role(name),
                &format!(
                    "entitlements:\n  - member_of: {group}\n{}",
                    credential(&ws.sink(name), "90d")
                ),
            )
        })
        .collect();
    ws.write_policy(&identities);
    ws.enact(&["apply"]).await.expect_code(0);
    let intact = ws.enact(&["evidence", "verify"]).await;
    intact.expect_code(0);
    assert!(intact.stdout.contains("intact"), "{intact}");
    ws
}

fn log_lines(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state.join("evidence/log.jsonl"))
        .expect("read the evidence log")
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_log(state: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(state.join("evidence/log.jsonl"), text).expect("write the evidence log");
}

fn assert_broken(outcome: &Outcome, names: &str) {
    outcome.expect_code(4);
    assert!(outcome.stdout.contains("NOT intact"), "{outcome}");
    assert!(
        outcome.stdout.contains(names),
        "the report does not name `{names}`\n{outcome}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changed_byte_names_record() {
    let ws = workspace_with_evidence().await;
    let state = copy_state(&ws, "changed");
    let mut lines = log_lines(&state);
    assert!(
        lines.len() >= 4,
        "expected at least 4 records, found {}",
        lines.len()
    );

    // Change one letter inside the reason of the second record; the line stays valid JSON.
    let line = &mut lines[1];
    assert!(
        line.contains("\"seq\":2,"),
        "line 2 is not record 2: {line}"
    );
    let at = line.find("\"reason\":\"").expect("the record has a reason") + "\"reason\":\"".len();
    let mut bytes = line.clone().into_bytes();
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    *line = String::from_utf8(bytes).expect("still UTF-8");
    write_log(&state, &lines);

    let outcome = ws.enact_in(&state, &["evidence", "verify"]).await;
    assert_broken(&outcome, "record 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleted_line_is_detected() {
    let ws = workspace_with_evidence().await;
    let state = copy_state(&ws, "deleted");
    let mut lines = log_lines(&state);
    lines.remove(1);
    write_log(&state, &lines);

    let outcome = ws.enact_in(&state, &["evidence", "verify"]).await;
    assert_broken(&outcome, "expected 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncated_log_is_detected() {
    let ws = workspace_with_evidence().await;

    // Cut inside the last record.
    let cut = copy_state(&ws, "cut");
    let log = cut.join("evidence/log.jsonl");
    let length = std::fs::metadata(&log).expect("the log exists").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open the log");
    file.set_len(length - 40).expect("truncate the log");
    drop(file);
    let outcome = ws.enact_in(&cut, &["evidence", "verify"]).await;
    outcome.expect_code(4);
    assert!(outcome.stdout.contains("NOT intact"), "{outcome}");

    // Drop whole records at the end, which leaves every remaining line well formed.
    let shortened = copy_state(&ws, "shortened");
    let lines = log_lines(&shortened);
    write_log(&shortened, &lines[..2]);
    let outcome = ws.enact_in(&shortened, &["evidence", "verify"]).await;
    outcome.expect_code(4);
    assert!(outcome.stdout.contains("truncated"), "{outcome}");

    // Empty the file.
    let emptied = copy_state(&ws, "emptied");
    std::fs::write(emptied.join("evidence/log.jsonl"), "").expect("empty the log");
    let outcome = ws.enact_in(&emptied, &["evidence", "verify"]).await;
    outcome.expect_code(4);
    assert!(outcome.stdout.contains("NOT intact"), "{outcome}");

    // The original still verifies.
    ws.enact(&["evidence", "verify"]).await.expect_code(0);
}
