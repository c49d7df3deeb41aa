//! Canary secrets: no secret value (a known canary password, the server passwords, or any
//! value that ever sat in a sink file) reaches enact's output, logs, state, evidence, saved
//! plans, status output or the PostgreSQL server log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, identity, scram_literal, Outcome, Workspace};
use std::collections::BTreeSet;
use std::path::Path;

/// Adds every value held in the workspace's sink files, current, staged or previous.
fn collect_sink_values(ws: &Workspace, secrets: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(ws.path("secrets")) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            let value = text.strip_suffix('\n').unwrap_or(&text).to_string();
            if !value.is_empty() {
                secrets.insert(value);
            }
        }
    }
}

/// Lists every file under `dir` whose name starts with `prefix`, recursively.
fn files_under(dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("read a state directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path, ""));
        } else if entry.file_name().to_string_lossy().starts_with(prefix) {
            out.push(path);
        }
    }
    out
}

fn assert_free_of(what: &str, haystack: &[u8], secrets: &BTreeSet<String>) {
    for secret in secrets {
        let found = haystack
            .windows(secret.len())
            .any(|window| window == secret.as_bytes());
        // The secret itself is not printed: the assertion names its length only.
        assert!(
            !found,
            "{what} contains a secret value ({} bytes long)",
            secret.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_never_leak() {
    let ws = Workspace::new();
    let fresh = ws.role("fresh");
    let canary_role = ws.role("canary");
    let canary = format!("canary-{:032x}", rand::random::<u128>());
    let mut secrets: BTreeSet<String> = BTreeSet::new();
    secrets.insert(canary.clone());
    secrets.insert(ws.pg.admin_password.clone());
    secrets.insert(ws.pg.superuser_password.clone());

    // The canary account exists already, with the canary password on the server and in its
    // sink; enact never set it, so it rotates it.
    ws.create_role(
        &canary_role,
        &format!("LOGIN PASSWORD {}", scram_literal(&canary)),
    )
    .await;
    std::fs::create_dir_all(ws.path("secrets")).expect("create the sink directory");
    std::fs::write(ws.sink("canary"), format!("{canary}\n")).expect("write the canary sink");
    let (_canary_session, _) = ws.open_session(&canary_role, &canary).await;

    let sessions = "sessions: { max_lifetime: 8h, idle_limit: 1h, end_on_rotation: true }\n";
    let policy = |state: &str| {
        vec![
            identity(
                "fresh",
                state,
                &fresh,
                &format!("{}{sessions}", credential(&ws.sink("fresh"), "90d")),
            ),
            identity(
                "canary",
                state,
                &canary_role,
                &format!("{}{sessions}", credential(&ws.sink("canary"), "90d")),
            ),
        ]
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    let plan_file = ws.path("plan.json");
    let plan_path = plan_file.to_str().expect("a UTF-8 path");

    // Create one account and rotate the canary, through a saved plan.
    ws.write_policy(&policy("active"));
    let planned = ws
        .enact(&["plan", "--out", plan_path, "--log", "debug"])
        .await;
    planned.expect_code(2);
    outcomes.push(planned);
    let applied = ws.enact(&["apply", plan_path, "--log", "debug"]).await;
    applied.expect_code(0);
    assert!(
        applied.stderr.contains("DEBUG"),
        "no debug log lines\n{applied}"
    );
    outcomes.push(applied);
    collect_sink_values(&ws, &mut secrets);
    assert_ne!(
        ws.sink_value("canary"),
        canary,
        "the canary was not rotated"
    );

    // Rotate the created account, ending its session, with JSON logs.
    let (_fresh_session, _) = ws.open_session(&fresh, &ws.sink_value("fresh")).await;
    ws.age_credential(&fresh, 100).await;
    let rotated = ws
        .enact(&["apply", "--log", "debug", "--log-format", "json"])
        .await;
    rotated.expect_code(0);
    assert!(
        rotated.stderr.contains("\"level\":\"DEBUG\""),
        "no JSON debug log lines\n{rotated}"
    );
    outcomes.push(rotated);
    collect_sink_values(&ws, &mut secrets);

    let status = ws.enact(&["status", "-o", "json", "--log", "debug"]).await;
    status.expect_code(0);
    outcomes.push(status);

    // Disable both, then decommission both.
    ws.write_policy(&policy("disabled"));
    let disabled = ws.enact(&["apply", "--log", "debug"]).await;
    disabled.expect_code(0);
    outcomes.push(disabled);
    collect_sink_values(&ws, &mut secrets);
    ws.write_policy(&policy("decommissioned"));
    let deleted = ws
        .enact(&[
            "apply",
            "--allow-destructive",
            "--log",
            "debug",
            "--log-format",
            "json",
        ])
        .await;
    deleted.expect_code(0);
    outcomes.push(deleted);
    assert_eq!(ws.role_login(&fresh).await, None);
    assert_eq!(ws.role_login(&canary_role).await, None);

    let export = ws.enact(&["evidence", "export", "--log", "debug"]).await;
    export.expect_code(0);
    outcomes.push(export);
    let verify = ws.enact(&["evidence", "verify", "--log", "debug"]).await;
    verify.expect_code(0);
    outcomes.push(verify);

    // At least the canary, the server passwords and three generated values.
    assert!(
        secrets.len() >= 6,
        "only {} secret values were collected",
        secrets.len()
    );

    for outcome in &outcomes {
        let what = format!("the output of `enact {}`", outcome.args.join(" "));
        assert_free_of(&what, outcome.stdout.as_bytes(), &secrets);
        assert_free_of(&what, outcome.stderr.as_bytes(), &secrets);
    }
    let state = ws.state_dir();
    let mut files = files_under(&state, "state.db");
    files.extend(files_under(&state.join("evidence"), ""));
    assert!(
        files.iter().any(|f| f.ends_with("state.db")),
        "no state database found"
    );
    assert!(
        files.iter().any(|f| f.ends_with("log.jsonl")),
        "no evidence log found"
    );
    files.push(plan_file.clone());
    for file in &files {
        let bytes = std::fs::read(file).expect("read a state file");
        assert_free_of(&file.display().to_string(), &bytes, &secrets);
    }
    let server_log = std::fs::read(&ws.pg.log).expect("read the server log");
    assert_free_of("the PostgreSQL server log", &server_log, &secrets);
}
