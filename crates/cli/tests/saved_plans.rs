//! Saved plans: `enact plan --out FILE` then `enact apply FILE` executes exactly that plan, and
//! a plan made stale by a policy edit or a change on the server is refused.
//!
//! Each test runs on a private server, because a saved plan covers every login role on the
//! server and other tests create roles on the shared one all the time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, ident, identity, PrivateServer, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saved_plan_applies_exactly() {
    let server = PrivateServer::start();
    let ws = Workspace::on_private(&server);
    let role = ws.role("svc");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &credential(&ws.sink("svc"), "90d"),
    )]);
    let plan_file = ws.path("plan.json");
    let plan_path = plan_file.to_str().expect("a UTF-8 path");

    let planned = ws.enact(&["plan", "--out", plan_path]).await;
    planned.expect_code(2);
    assert!(plan_file.exists());
    assert_eq!(ws.role_login(&role).await, None, "plan changed the server");

    let applied = ws.enact(&["apply", plan_path]).await;
    applied.expect_code(0);
    assert_eq!(ws.role_login(&role).await, Some(true));
    let (client, _) = ws.open_session(&role, &ws.sink_value("svc")).await;
    drop(client);
    ws.enact(&["plan"]).await.expect_code(0);

    // The same file again is refused as applied, not as stale.
    let again = ws.enact(&["apply", plan_path]).await;
    again.expect_code(1);
    assert!(again.stderr.contains("was applied already"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edited_policy_makes_plan_stale() {
    let server = PrivateServer::start();
    let ws = Workspace::on_private(&server);
    let role = ws.role("svc");
    let group = ws.role("readers");
    ws.create_role(&group, "NOLOGIN").await;
    let account = credential(&ws.sink("svc"), "90d");
    ws.write_policy(&[identity("svc", "active", &role, &account)]);
    let plan_file = ws.path("plan.json");
    let plan_path = plan_file.to_str().expect("a UTF-8 path");
    ws.enact(&["plan", "--out", plan_path]).await.expect_code(2);

    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &format!("entitlements:\n  - member_of: {group}\n{account}"),
    )]);
    let stale = ws.enact(&["apply", plan_path]).await;
    stale.expect_code(1);
    assert!(stale.stderr.contains("stale plan"), "{stale}");
    assert_eq!(
        ws.role_login(&role).await,
        None,
        "a stale plan created the role"
    );
    assert!(!ws.sink("svc").exists(), "a stale plan wrote the sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_change_makes_plan_stale() {
    let server = PrivateServer::start();
    let ws = Workspace::on_private(&server);
    ws.create_schema().await;
    let table = ws.create_table("orders").await;
    let first = ws.role("first");
    let second = ws.role("second");
    let first_identity = identity(
        "first",
        "active",
        &first,
        &credential(&ws.sink("first"), "90d"),
    );
    ws.write_policy(std::slice::from_ref(&first_identity));
    ws.enact(&["apply"]).await.expect_code(0);

    ws.write_policy(&[
        first_identity,
        identity(
            "second",
            "active",
            &second,
            &credential(&ws.sink("second"), "90d"),
        ),
    ]);
    let plan_file = ws.path("plan.json");
    let plan_path = plan_file.to_str().expect("a UTF-8 path");
    ws.enact(&["plan", "--out", plan_path]).await.expect_code(2);

    ws.admin()
        .await
        .batch_execute(&format!("GRANT SELECT ON {table} TO {}", ident(&first)))
        .await
        .expect("grant behind enact's back");
    let stale = ws.enact(&["apply", plan_path]).await;
    stale.expect_code(1);
    assert!(stale.stderr.contains("stale plan"), "{stale}");
    assert_eq!(
        ws.role_login(&second).await,
        None,
        "a stale plan created a role"
    );
    assert_eq!(
        ws.table_privileges(&first, &table).await,
        vec!["SELECT".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ignored_role_keeps_plan_fresh() {
    let server = PrivateServer::start();
    let ws = Workspace::on_private(&server);
    let role = ws.role("svc");
    let text = format!(
        "version: 1\n{}identities:\n{}",
        ws.target_yaml(
            &ws.pg.endpoint(),
            "2s",
            &format!("{{ action: report, ignore: [\"{}_other_*\"] }}", ws.prefix)
        ),
        identity("svc", "active", &role, &credential(&ws.sink("svc"), "90d"))
    );
    ws.write_policy_text(&text);
    let plan_file = ws.path("plan.json");
    let plan_path = plan_file.to_str().expect("a UTF-8 path");
    ws.enact(&["plan", "--out", plan_path]).await.expect_code(2);

    // Another application creates its own role, which the policy ignores by pattern.
    ws.create_role(&ws.role("other_app"), "LOGIN").await;

    let applied = ws.enact(&["apply", plan_path]).await;
    applied.expect_code(0);
    assert_eq!(ws.role_login(&role).await, Some(true));
}
