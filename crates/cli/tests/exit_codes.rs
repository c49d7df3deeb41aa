//! The exit codes of `enact plan` and `enact apply`: 0 in sync or all verified, 2 with changes
//! pending, 3 when an action failed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, identity, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_exit_tracks_pending_changes() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &credential(&ws.sink("svc"), "90d"),
    )]);

    let pending = ws.enact(&["plan"]).await;
    pending.expect_code(2);
    assert!(pending.stdout.contains("create"), "{pending}");
    assert_eq!(ws.role_login(&role).await, None, "plan changed the server");

    let applied = ws.enact(&["apply", "-o", "json"]).await;
    applied.expect_code(0);
    let report = applied.json();
    assert_eq!(report["counts"]["verified"], 1, "{report}");
    assert_eq!(report["counts"]["failed"], 0, "{report}");
    assert_eq!(report["results"][0]["status"], "verified", "{report}");

    let clean = ws.enact(&["plan"]).await;
    clean.expect_code(0);
    assert!(clean.stdout.contains("No changes"), "{clean}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_action_exits_three() {
    let ws = Workspace::new();
    let schema = ws.create_schema().await;
    let role = ws.role("svc");
    let missing = format!("{schema}.missing");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &format!(
            "entitlements:\n  - privilege: SELECT\n    on: table {missing}\n{}",
            credential(&ws.sink("svc"), "90d")
        ),
    )]);

    let applied = ws.enact(&["apply", "-o", "json"]).await;
    applied.expect_code(3);
    let report = applied.json();
    let statuses: Vec<(String, String)> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["action"]["kind"]["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("create_account".to_string(), "verified".to_string()),
            ("grant".to_string(), "failed".to_string())
        ]
    );
    assert_eq!(report["counts"]["failed"], 1);
    let reason = report["results"][1]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("does not exist"), "{reason}");
    assert_eq!(ws.role_login(&role).await, Some(true));

    // The failure is still pending.
    ws.enact(&["plan"]).await.expect_code(2);
}
