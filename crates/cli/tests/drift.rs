//! Drift detection: after a clean apply, each change made behind enact's back makes
//! `enact plan` exit 2 and name the action that fixes it, in text and in JSON.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, ident, identity, plan_actions, Workspace};
use std::time::Duration;

/// Asserts that `enact plan` exits 2 and plans exactly `expected` (kind, account) for the
/// drifted account, in JSON and in text, then applies the fix and checks the plan is clean.
async fn assert_drift(ws: &Workspace, kind: &str, verb: &str, account: &str) {
    let text = ws.enact(&["plan"]).await;
    text.expect_code(2);
    let line = text
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("- {verb} ")))
        .unwrap_or_else(|| panic!("the text plan names no `{verb}` action\n{text}"));
    assert!(!line.is_empty());
    assert!(
        text.stdout.contains(&format!("pg-main/{account}")),
        "the text plan does not name `{account}`\n{text}"
    );

    let (code, plan) = ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(plan["changes_pending"], true);
    assert_eq!(
        plan_actions(&plan),
        vec![(kind.to_string(), account.to_string())],
        "{plan}"
    );

    ws.enact(&["apply", "--allow-destructive"])
        .await
        .expect_code(0);
    ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_is_planned_after_apply() {
    let ws = Workspace::new();
    ws.create_schema().await;
    let table = ws.create_table("orders").await;
    let group = ws.role("readers");
    ws.create_role(&group, "NOLOGIN").await;
    let worker = ws.role("worker");
    let retired = ws.role("retired");
    let short = ws.role("short");
    ws.write_policy(&[
        identity(
            "worker",
            "active",
            &worker,
            &format!(
                "entitlements:\n  - member_of: {group}\n{}",
                credential(&ws.sink("worker"), "90d")
            ),
        ),
        identity("retired", "disabled", &retired, ""),
        identity(
            "short",
            "active",
            &short,
            &format!(
                "{}sessions: {{ max_lifetime: 2s, idle_limit: 1h, end_on_rotation: true }}\n",
                credential(&ws.sink("short"), "90d")
            ),
        ),
    ]);
    ws.enact(&["apply"]).await.expect_code(0);
    let (code, clean) = ws.plan_json().await;
    assert_eq!(
        code, 0,
        "the plan after a clean apply is not empty: {clean}"
    );
    assert_eq!(clean["changes_pending"], false);

    // An extra GRANT.
    ws.admin()
        .await
        .batch_execute(&format!("GRANT SELECT ON {table} TO {}", ident(&worker)))
        .await
        .expect("grant behind enact's back");
    assert_drift(&ws, "revoke", "revoke", &worker).await;
    assert!(ws.table_privileges(&worker, &table).await.is_empty());

    // A disabled identity whose login was enabled again.
    ws.admin()
        .await
        .batch_execute(&format!("ALTER ROLE {} LOGIN", ident(&retired)))
        .await
        .expect("enable login behind enact's back");
    assert_drift(&ws, "disable_login", "disable", &retired).await;
    assert_eq!(ws.role_login(&retired).await, Some(false));

    // A session that outlives max_lifetime.
    let (_client, pid) = ws.open_session(&short, &ws.sink_value("short")).await;
    common::poll_until(
        "the session to pass max_lifetime",
        Duration::from_secs(30),
        || async {
            let (code, plan) = ws.plan_json().await;
            (code == 2 && !plan_actions(&plan).is_empty()).then_some(())
        },
    )
    .await;
    assert_drift(&ws, "end_sessions", "end-sessions", &short).await;
    assert!(!ws.session_pids(&short).await.contains(&pid));
}
