//! A target that goes down between executing an action and verifying it: the action is
//! indeterminate, never verified, and the next apply resumes and verifies it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{action_records, credential, identity, record_verdict, Proxy, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_during_verification_resumes() {
    let ws = Workspace::new();
    let group = ws.role("readers");
    ws.create_role(&group, "NOLOGIN").await;
    let role = ws.role("svc");
    let account = credential(&ws.sink("svc"), "90d");
    ws.write_policy(&[identity("svc", "active", &role, &account)]);
    ws.enact(&["apply"]).await.expect_code(0);

    // The proxy forwards two connections: the observation's and the executor's admin
    // connection. The verifier's new connections are refused.
    let proxy = Proxy::start(ws.pg.address(), 2).await;
    let granted = format!("entitlements:\n  - member_of: {group}\n{account}");
    let text = format!(
        "version: 1\n{}identities:\n{}",
        ws.target_yaml(&proxy.address.to_string(), "1s", "{ action: report }"),
        identity("svc", "active", &role, &granted)
    );
    ws.write_policy_text(&text);

    let first = ws.enact(&["apply", "-o", "json"]).await;
    first.expect_code(4);
    let report = first.json();
    assert_eq!(
        report["results"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["results"][0]["action"]["kind"]["kind"], "grant");
    assert_eq!(report["results"][0]["status"], "indeterminate", "{report}");
    assert_eq!(report["counts"]["indeterminate"], 1);
    assert_eq!(report["counts"]["verified"], 0);
    assert!(proxy.accepted() > 2, "the verifier never tried to connect");
    let action_id = report["results"][0]["action"]["id"]
        .as_str()
        .expect("an action id")
        .to_string();
    // The grant itself went through before the outage.
    assert_eq!(ws.memberships(&role).await, vec![group.clone()]);

    proxy.allow_all();
    let second = ws.enact(&["apply"]).await;
    second.expect_code(0);
    assert!(second.stdout.contains("Resumed 1 action(s)"), "{second}");

    let records = ws.evidence().await;
    let verdicts: Vec<String> = action_records(&records)
        .into_iter()
        .filter(|r| r["action"]["id"] == action_id.as_str())
        .map(record_verdict)
        .collect();
    assert_eq!(verdicts, vec!["indeterminate", "verified"]);
    ws.enact(&["evidence", "verify"]).await.expect_code(0);

    // Straight to the server, the policy holds.
    ws.write_policy(&[identity("svc", "active", &role, &granted)]);
    ws.enact(&["plan"]).await.expect_code(0);
}
