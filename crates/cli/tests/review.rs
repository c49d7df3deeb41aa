//! `enact review` on a real PostgreSQL: a campaign's revoke decision becomes a revoke action,
//! the membership is gone from the server, and the decision stays pending until the evidence
//! holds the verified revoke.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, identity, Workspace};
use serde_json::Value;

fn decision_rows(status: &Value) -> Vec<(String, String)> {
    status["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|row| {
            (
                row["decision"].as_str().unwrap_or_default().to_string(),
                row["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_decision_verified_end_to_end() {
    let ws = Workspace::new();
    let role = ws.role("app");
    let writers = ws.role("writers");
    let readers = ws.role("readers");
    ws.create_role(&writers, "NOLOGIN").await;
    ws.create_role(&readers, "NOLOGIN").await;
    ws.write_policy(&[identity(
        "app",
        "active",
        &role,
        &format!(
            "entitlements:\n  - member_of: {writers}\n  - member_of: {readers}\n{}",
            credential(&ws.sink("app"), "90d")
        ),
    )]);
    ws.enact(&["apply"]).await.expect_code(0);
    assert_eq!(ws.memberships(&role).await, {
        let mut both = vec![readers.clone(), writers.clone()];
        both.sort();
        both
    });

    let campaign = ws.path("campaign.csv");
    std::fs::write(
        &campaign,
        format!(
            "identity,target,entitlement,decision,reviewer,decided_at\n\
             app,pg-main,member_of: {writers},revoke,alice@example.com,2025-01-01T00:00:00Z\n\
             app,pg-main,member_of: {readers},keep,alice@example.com,2025-01-01T00:00:00Z\n"
        ),
    )
    .expect("write the campaign");
    let campaign = campaign.to_str().expect("a UTF-8 path");

    // Planned only: stored, not carried out, and pending.
    let planned = ws
        .enact(&["review", "import", campaign, "--plan-only"])
        .await;
    planned.expect_code(2);
    assert!(planned.stdout.contains("2 new"), "{planned}");
    assert!(ws.memberships(&role).await.contains(&writers));
    let status = ws.enact(&["review", "status", "-o", "json"]).await;
    status.expect_code(2);
    assert_eq!(
        decision_rows(&status.json()),
        vec![
            ("revoke".to_string(), "pending".to_string()),
            ("keep".to_string(), "kept".to_string()),
        ]
    );

    // Carried out: the membership is gone and the decision is verified.
    let imported = ws.enact(&["review", "import", campaign]).await;
    imported.expect_code(0);
    assert!(imported.stdout.contains("0 new"), "{imported}");
    assert!(
        imported
            .stdout
            .contains("warning: the policy still declares"),
        "{imported}"
    );
    assert_eq!(ws.memberships(&role).await, vec![readers.clone()]);
    let status = ws.enact(&["review", "status", "-o", "json"]).await;
    status.expect_code(0);
    let body = status.json();
    assert_eq!(
        decision_rows(&body),
        vec![
            ("revoke".to_string(), "verified".to_string()),
            ("keep".to_string(), "kept".to_string()),
        ]
    );
    let revoke = &body["decisions"][0];
    assert!(revoke["decision_to_proof_ms"].as_u64().unwrap_or(0) > 0);
    let records = ws.evidence().await;
    let action = records
        .iter()
        .find(|r| r["type"] == "action" && r["action"]["id"] == revoke["action_id"])
        .expect("the revoke's evidence record");
    assert_eq!(common::record_verdict(action), "verified");

    // Importing the campaign again finds nothing left to do.
    let again = ws.enact(&["review", "import", campaign]).await;
    again.expect_code(0);
    assert!(
        again.stdout.contains("0 revoke(s) not yet verified"),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_campaign_changes_nothing() {
    let ws = Workspace::new();
    let role = ws.role("app");
    ws.write_policy(&[identity(
        "app",
        "active",
        &role,
        &credential(&ws.sink("app"), "90d"),
    )]);
    let campaign = ws.path("campaign.csv");
    std::fs::write(
        &campaign,
        "identity,target,entitlement,decision,reviewer,decided_at\n\
         app,pg-main,policy: x,keep,bob,2025-01-01T00:00:00Z\n\
         app,pg-main,member_of: g,remove,bob,2025-01-01T00:00:00Z\n",
    )
    .expect("write the campaign");
    let outcome = ws
        .enact(&["review", "import", campaign.to_str().unwrap()])
        .await;
    outcome.expect_code(1);
    assert!(
        outcome.stderr.contains(&format!(
            "{}:3: decision `remove` is invalid",
            campaign.display()
        )),
        "{outcome}"
    );
    let status = ws.enact(&["review", "status", "-o", "json"]).await;
    status.expect_code(0);
    assert!(decision_rows(&status.json()).is_empty());
}
