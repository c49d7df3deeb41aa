//! Every action kind, run through `enact apply` against a real PostgreSQL server, with its
//! outcome read back from the server, the sink files and the evidence.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    action_records, credential, identity, plan_actions, record_verdict, PrivateServer, Workspace,
};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// Renders the entitlements block granting membership in `group` and SELECT on `table`.
fn entitlements(group: &str, table: &str) -> String {
    format!("entitlements:\n  - member_of: {group}\n  - privilege: SELECT\n    on: table {table}\n")
}

/// Asserts that a login as `role` with `password` fails with SQLSTATE `code`.
async fn assert_login_rejected(
    ws: &Workspace,
    role: &str,
    password: &str,
    code: &SqlState,
) -> String {
    match ws.pg.client_as(role, password).await {
        Ok(_) => panic!("`{role}` could still log in"),
        Err(error) => {
            assert_eq!(error.code(), Some(code), "unexpected login error: {error}");
            error
                .as_db_error()
                .map(|db| db.message().to_string())
                .unwrap_or_default()
        }
    }
}

/// Asserts that the session with backend `pid` is gone, and that its client sees it closed.
async fn assert_session_ended(
    ws: &Workspace,
    role: &str,
    pid: i32,
    client: &tokio_postgres::Client,
) {
    assert!(
        !ws.session_pids(role).await.contains(&pid),
        "session {pid} of `{role}` is still open"
    );
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "the client of session {pid} can still run queries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_delivers_working_password() {
    let ws = Workspace::new();
    ws.create_schema().await;
    let table = ws.create_table("orders").await;
    let group = ws.role("readers");
    ws.create_role(&group, "NOLOGIN").await;
    let role = ws.role("svc");
    let sink = ws.sink("svc");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &format!(
            "{}{}",
            entitlements(&group, &table),
            credential(&sink, "90d")
        ),
    )]);

    ws.enact(&["apply"]).await.expect_code(0);

    assert_eq!(
        ws.role_login(&role).await,
        Some(true),
        "the role exists and can log in"
    );
    assert_eq!(ws.memberships(&role).await, vec![group.clone()]);
    assert_eq!(
        ws.table_privileges(&role, &table).await,
        vec!["SELECT".to_string()]
    );
    let mode = std::fs::metadata(&sink)
        .expect("the sink file exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the sink file mode is {mode:o}");
    let password = ws.sink_value("svc");
    assert!(
        password.len() >= 16,
        "the delivered password is too short to be generated"
    );
    let (client, _) = ws.open_session(&role, &password).await;
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("query as the new role")
        .get(0);
    assert_eq!(who, role);
    ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grants_converge_to_least_privilege() {
    let ws = Workspace::new();
    ws.create_schema().await;
    let table = ws.create_table("orders").await;
    let group = ws.role("readers");
    let extra_group = ws.role("writers");
    ws.create_role(&group, "NOLOGIN").await;
    ws.create_role(&extra_group, "NOLOGIN").await;
    let role = ws.role("svc");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &format!(
            "{}{}",
            entitlements(&group, &table),
            credential(&ws.sink("svc"), "90d")
        ),
    )]);
    ws.enact(&["apply"]).await.expect_code(0);

    // Behind enact's back: two extra grants, and one declared grant taken away.
    ws.admin()
        .await
        .batch_execute(&format!(
            "GRANT INSERT ON {table} TO {r}; GRANT {g} TO {r}; REVOKE SELECT ON {table} FROM {r}",
            r = common::ident(&role),
            g = common::ident(&extra_group),
        ))
        .await
        .expect("change grants behind enact's back");

    let (code, plan) = ws.plan_json().await;
    assert_eq!(code, 2);
    let mut kinds: Vec<String> = plan_actions(&plan)
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    kinds.sort();
    assert_eq!(kinds, vec!["grant", "revoke", "revoke"]);

    let applied = ws.enact(&["apply"]).await;
    applied.expect_code(0);
    assert!(
        applied.stdout.contains("revoke INSERT on table"),
        "{applied}"
    );

    assert_eq!(
        ws.table_privileges(&role, &table).await,
        vec!["SELECT".to_string()]
    );
    assert_eq!(ws.memberships(&role).await, vec![group]);
    ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_ends_older_sessions() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &format!(
            "{}sessions: {{ max_lifetime: 8h, idle_limit: 1h, end_on_rotation: true }}\n",
            credential(&ws.sink("svc"), "90d")
        ),
    )]);
    ws.enact(&["apply"]).await.expect_code(0);
    let old = ws.sink_value("svc");
    let (client, pid) = ws.open_session(&role, &old).await;
    ws.age_credential(&role, 100).await;

    let (code, plan) = ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("rotate_credential".to_string(), role.clone())]
    );
    let applied = ws.enact(&["apply"]).await;
    applied.expect_code(0);

    let new = ws.sink_value("svc");
    assert_ne!(new, old, "the sink still holds the old password");
    ws.open_session(&role, &new).await;
    let message = assert_login_rejected(&ws, &role, &old, &SqlState::INVALID_PASSWORD).await;
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert_session_ended(&ws, &role, pid, &client).await;
    assert!(
        !ws.path("secrets/svc.pw.previous").exists(),
        "the previous password was kept"
    );

    let records = ws.evidence().await;
    let rotation = action_records(&records)
        .into_iter()
        .find(|r| r["action"]["kind"]["kind"] == "rotate_credential")
        .expect("a rotation record");
    assert_eq!(record_verdict(rotation), "verified");
    let fates: Vec<(String, String)> = rotation["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["session"]["id"].as_str().unwrap_or("").to_string(),
                s["fate"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        fates.contains(&(pid.to_string(), "ended".to_string())),
        "{fates:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_leaves_sessions_when_allowed() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &format!(
            "{}sessions: {{ max_lifetime: 8h, idle_limit: 1h, end_on_rotation: false }}\n",
            credential(&ws.sink("svc"), "90d")
        ),
    )]);
    ws.enact(&["apply"]).await.expect_code(0);
    let old = ws.sink_value("svc");
    let (client, pid) = ws.open_session(&role, &old).await;
    ws.age_credential(&role, 100).await;

    ws.enact(&["apply"]).await.expect_code(0);

    let new = ws.sink_value("svc");
    assert_ne!(new, old);
    ws.open_session(&role, &new).await;
    assert_login_rejected(&ws, &role, &old, &SqlState::INVALID_PASSWORD).await;
    assert!(
        ws.session_pids(&role).await.contains(&pid),
        "the old session was ended"
    );
    client
        .simple_query("SELECT 1")
        .await
        .expect("the old session still works");

    let records = ws.evidence().await;
    let rotation = action_records(&records)
        .into_iter()
        .find(|r| r["action"]["kind"]["kind"] == "rotate_credential")
        .expect("a rotation record");
    assert_eq!(record_verdict(rotation), "verified");
    let left_open = rotation["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .any(|s| s["session"]["id"] == pid.to_string().as_str() && s["fate"] == "left open");
    assert!(
        left_open,
        "the record does not list session {pid} as left open: {}",
        rotation["sessions"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_limits_terminate_sessions() {
    let ws = Workspace::new();
    let lifetime_role = ws.role("lifetime");
    let idle_role = ws.role("idle");
    ws.write_policy(&[
        identity(
            "lifetime",
            "active",
            &lifetime_role,
            &format!(
                "{}sessions: {{ max_lifetime: 2s, idle_limit: 1h, end_on_rotation: true }}\n",
                credential(&ws.sink("lifetime"), "90d")
            ),
        ),
        identity(
            "idle",
            "active",
            &idle_role,
            &format!(
                "{}sessions: {{ max_lifetime: 8h, idle_limit: 2s, end_on_rotation: true }}\n",
                credential(&ws.sink("idle"), "90d")
            ),
        ),
    ]);
    ws.enact(&["apply"]).await.expect_code(0);
    let (lifetime_client, lifetime_pid) = ws
        .open_session(&lifetime_role, &ws.sink_value("lifetime"))
        .await;
    let (idle_client, idle_pid) = ws.open_session(&idle_role, &ws.sink_value("idle")).await;

    // Both sessions stay idle until enact plans to end them.
    let plan = common::poll_until(
        "sessions past their limits",
        Duration::from_secs(30),
        || async {
            let (_, plan) = ws.plan_json().await;
            let actions = plan_actions(&plan);
            let both = [&lifetime_role, &idle_role]
                .iter()
                .all(|role| actions.contains(&("end_sessions".to_string(), role.to_string())));
            both.then_some(plan)
        },
    )
    .await;
    let selectors: Vec<String> = plan["plan"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["account"].as_str().unwrap_or(""),
                a["kind"]["selector"]["select"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        selectors.contains(&format!("{lifetime_role}:older_than")),
        "{selectors:?}"
    );
    assert!(
        selectors.contains(&format!("{idle_role}:idle_longer_than")),
        "{selectors:?}"
    );

    ws.enact(&["apply"]).await.expect_code(0);

    assert_session_ended(&ws, &lifetime_role, lifetime_pid, &lifetime_client).await;
    assert_session_ended(&ws, &idle_role, idle_pid, &idle_client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabled_identity_loses_access() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    let account = credential(&ws.sink("svc"), "90d");
    ws.write_policy(&[identity("svc", "active", &role, &account)]);
    ws.enact(&["apply"]).await.expect_code(0);
    let password = ws.sink_value("svc");
    let (client, pid) = ws.open_session(&role, &password).await;

    ws.write_policy(&[identity("svc", "disabled", &role, &account)]);
    let (code, plan) = ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("disable_login".to_string(), role.clone())]
    );
    ws.enact(&["apply"]).await.expect_code(0);

    assert_eq!(
        ws.role_login(&role).await,
        Some(false),
        "the role can still log in"
    );
    assert_session_ended(&ws, &role, pid, &client).await;
    let message = assert_login_rejected(
        &ws,
        &role,
        &password,
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
    )
    .await;
    assert!(message.contains("not permitted to log in"), "{message}");
    ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decommission_deletes_role_and_sink() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    let account = credential(&ws.sink("svc"), "90d");
    ws.write_policy(&[identity("svc", "active", &role, &account)]);
    ws.enact(&["apply"]).await.expect_code(0);
    let (client, pid) = ws.open_session(&role, &ws.sink_value("svc")).await;

    ws.write_policy(&[identity("svc", "decommissioned", &role, &account)]);
    ws.enact(&["apply"]).await.expect_code(0);

    assert_eq!(ws.role_login(&role).await, None, "the role still exists");
    assert!(!ws.sink("svc").exists(), "the sink file still exists");
    assert!(!ws.path("secrets/svc.pw.pending").exists());
    assert!(!ws.path("secrets/svc.pw.previous").exists());
    assert_session_ended(&ws, &role, pid, &client).await;
    ws.enact(&["plan"]).await.expect_code(0);
}

/// Makes `role` the owner of a new table in the workspace schema and returns the table's name.
async fn give_table(ws: &Workspace, role: &str, name: &str) -> String {
    let table = ws.create_table(name).await;
    ws.superuser()
        .await
        .batch_execute(&format!(
            "ALTER TABLE {table} OWNER TO {}",
            common::ident(role)
        ))
        .await
        .expect("hand the table to the role");
    table
}

async fn table_owner(ws: &Workspace, table: &str) -> String {
    ws.superuser()
        .await
        .query_one(
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .await
        .expect("read the table owner")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decommission_reassigns_owned_table() {
    let ws = Workspace::new();
    ws.create_schema().await;
    let role = ws.role("svc");
    let heir = ws.role("heir");
    ws.create_role(&heir, "NOLOGIN").await;
    let account = format!(
        "{}owned_objects: {{ reassign_to: {heir} }}\n",
        credential(&ws.sink("svc"), "90d")
    );
    ws.write_policy(&[identity("svc", "active", &role, &account)]);
    ws.enact(&["apply"]).await.expect_code(0);
    let table = give_table(&ws, &role, "ledger").await;

    ws.write_policy(&[identity("svc", "decommissioned", &role, &account)]);
    ws.enact(&["apply"]).await.expect_code(0);

    assert_eq!(ws.role_login(&role).await, None, "the role still exists");
    assert_eq!(table_owner(&ws, &table).await, heir);
    assert!(!ws.sink("svc").exists(), "the sink file still exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decommission_refuses_owned_objects() {
    let ws = Workspace::new();
    ws.create_schema().await;
    let role = ws.role("svc");
    let account = format!(
        "{}owned_objects: refuse\n",
        credential(&ws.sink("svc"), "90d")
    );
    ws.write_policy(&[identity("svc", "active", &role, &account)]);
    ws.enact(&["apply"]).await.expect_code(0);
    let table = give_table(&ws, &role, "ledger").await;

    ws.write_policy(&[identity("svc", "decommissioned", &role, &account)]);
    let applied = ws.enact(&["apply"]).await;
    applied.expect_code(3);
    assert!(applied.stdout.contains("failed"), "{applied}");
    assert!(applied.all_output().contains("owns"), "{applied}");

    assert!(ws.role_login(&role).await.is_some(), "the role was deleted");
    assert_eq!(table_owner(&ws, &table).await, role);
    let records = ws.evidence().await;
    let delete = action_records(&records)
        .into_iter()
        .find(|r| r["action"]["kind"]["kind"] == "delete_account")
        .expect("a delete record");
    assert_eq!(record_verdict(delete), "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unmanaged_report_lists_strays() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    let stray = ws.role("stray");
    let group = ws.role("group");
    ws.create_role(&stray, "LOGIN").await;
    ws.create_role(&group, "NOLOGIN").await;
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &credential(&ws.sink("svc"), "90d"),
    )]);
    ws.enact(&["apply"]).await.expect_code(0);

    let (code, plan) = ws.plan_json().await;
    assert_eq!(code, 0, "reported accounts are not changes: {plan}");
    let unmanaged: Vec<&serde_json::Value> = plan["plan"]["unmanaged"]
        .as_array()
        .expect("unmanaged")
        .iter()
        .collect();
    let names: Vec<&str> = unmanaged
        .iter()
        .filter_map(|u| u["account"].as_str())
        .collect();
    let finding = unmanaged
        .iter()
        .find(|u| u["account"] == stray.as_str())
        .unwrap_or_else(|| panic!("`{stray}` is not reported: {names:?}"));
    assert_eq!(finding["handling"], "report");
    assert_eq!(finding["login_enabled"], true);
    assert!(
        !names.contains(&role.as_str()),
        "the declared role is reported: {names:?}"
    );
    assert!(
        !names.contains(&group.as_str()),
        "a role without login is reported: {names:?}"
    );
    for name in &names {
        assert!(
            !name.starts_with("pg_"),
            "built-in role `{name}` is reported"
        );
        assert_ne!(*name, "enact_admin");
        assert_ne!(*name, "postgres");
    }
    assert_eq!(ws.role_login(&stray).await, Some(true));

    let text = ws.enact(&["plan"]).await;
    assert!(text.stdout.contains(&format!("pg-main/{stray}")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unmanaged_disable_ends_strays() {
    let server = PrivateServer::start();
    let ws = Workspace::on_private(&server);
    let role = ws.role("svc");
    let stray = ws.role("stray");
    let kept = ws.role("keep_legacy");
    let stray_password = format!("pw-{:032x}", rand::random::<u128>());
    ws.create_role(
        &stray,
        &format!("LOGIN PASSWORD {}", common::scram_literal(&stray_password)),
    )
    .await;
    ws.create_role(&kept, "LOGIN").await;
    let (stray_client, stray_pid) = ws.open_session(&stray, &stray_password).await;
    let text = format!(
        "version: 1\n{}identities:\n{}",
        ws.target_yaml(
            &ws.pg.endpoint(),
            "2s",
            &format!("{{ action: disable, ignore: [\"{}_keep_*\"] }}", ws.prefix)
        ),
        identity("svc", "active", &role, &credential(&ws.sink("svc"), "90d"))
    );
    ws.write_policy_text(&text);

    let (code, plan) = ws.plan_json().await;
    assert_eq!(code, 2);
    let actions = plan_actions(&plan);
    assert!(
        actions.contains(&("disable_login".to_string(), stray.clone())),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|(_, account)| account == &kept),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|(_, account)| account == "enact_admin"),
        "{actions:?}"
    );

    ws.enact(&["apply", "--allow-destructive"])
        .await
        .expect_code(0);

    assert_eq!(
        ws.role_login(&stray).await,
        Some(false),
        "the stray can still log in"
    );
    assert_session_ended(&ws, &stray, stray_pid, &stray_client).await;
    assert_eq!(
        ws.role_login(&kept).await,
        Some(true),
        "the ignored role was disabled"
    );
    assert_eq!(ws.role_login("enact_admin").await, Some(true));
    assert_eq!(ws.role_login(&role).await, Some(true));
    ws.enact(&["plan"]).await.expect_code(0);
}
