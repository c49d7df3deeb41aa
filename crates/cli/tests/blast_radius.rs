//! The blast-radius limit: a plan with more destructive actions than `limits.max_destructive`
//! is refused before any change, unless the command line raises the limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{action_records, credential, ident, identity, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destructive_limit_refuses_plan() {
    let ws = Workspace::new();
    ws.create_schema().await;
    let table = ws.create_table("orders").await;
    let role = ws.role("svc");
    let identities = [identity(
        "svc",
        "active",
        &role,
        &credential(&ws.sink("svc"), "90d"),
    )];
    let policy = |limit: u32| {
        format!(
            "version: 1\nlimits:\n  max_destructive: {limit}\n{}identities:\n{}",
            ws.target_yaml(&ws.pg.endpoint(), "2s", "{ action: report }"),
            identities.concat()
        )
    };
    ws.write_policy_text(&policy(1));
    ws.enact(&["apply"]).await.expect_code(0);
    let records_before = ws.evidence().await.len();

    // Two grants behind enact's back make a plan with two revokes.
    ws.admin()
        .await
        .batch_execute(&format!(
            "GRANT SELECT, INSERT ON {table} TO {}",
            ident(&role)
        ))
        .await
        .expect("grant behind enact's back");
    let held = vec!["INSERT".to_string(), "SELECT".to_string()];

    // The plan warns before apply refuses.
    let plan = ws.enact(&["plan"]).await;
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("`enact apply` refuses this plan as it is"),
        "{plan}"
    );

    let refused = ws.enact(&["apply"]).await;
    refused.expect_code(1);
    assert!(refused.stderr.contains("refused"), "{refused}");
    assert!(refused.stderr.contains("2 destructive"), "{refused}");
    assert_eq!(
        ws.table_privileges(&role, &table).await,
        held,
        "a refused plan changed grants"
    );

    let still_refused = ws.enact(&["apply", "--max-destructive", "1"]).await;
    still_refused.expect_code(1);
    assert!(still_refused.stderr.contains("refused"), "{still_refused}");
    assert_eq!(ws.table_privileges(&role, &table).await, held);
    let records = ws.evidence().await;
    assert_eq!(
        records.len(),
        records_before,
        "a refused plan wrote evidence"
    );

    ws.enact(&["apply", "--max-destructive", "2"])
        .await
        .expect_code(0);
    assert!(ws.table_privileges(&role, &table).await.is_empty());
    let records = ws.evidence().await;
    let revokes = action_records(&records)
        .into_iter()
        .filter(|r| r["action"]["kind"]["kind"] == "revoke")
        .count();
    assert_eq!(revokes, 2);
}
