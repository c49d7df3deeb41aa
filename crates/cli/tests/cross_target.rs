//! PostgreSQL passwords delivered to OpenBao KV version 2: the new value becomes a new
//! version, older versions are destroyed, a dependent that reads KV with its AppRole follows
//! the rotation, and a delivery that fails stops the rotation before the old password is
//! taken away.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    account, action_records, identity_with, plan_actions, record_verdict, scram_literal,
    secret_id_credential, vault_credential, BaoWorkspace,
};
use serde_json::Value;

/// Asserts that `password` is rejected for `role` with "password authentication failed".
async fn assert_password_rejected(bw: &BaoWorkspace, role: &str, password: &str, what: &str) {
    match bw.pg.client_as(role, password).await {
        Ok(_) => panic!("{what}: the password still logs in as `{role}`"),
        Err(error) => {
            let message = error
                .as_db_error()
                .map(|e| e.message().to_string())
                .unwrap_or_else(|| error.to_string());
            assert!(
                message.contains("password authentication failed"),
                "{what}: the login failed for another reason: {message}"
            );
        }
    }
}

/// Returns the version numbers of a KV secret's metadata with their `destroyed` flags.
fn versions(metadata: &Value) -> Vec<(u64, bool)> {
    let mut out: Vec<(u64, bool)> = metadata["versions"]
        .as_object()
        .expect("the metadata lists versions")
        .iter()
        .map(|(number, state)| {
            (
                number.parse().expect("a version number"),
                state["destroyed"].as_bool().expect("a destroyed flag"),
            )
        })
        .collect();
    out.sort();
    out
}

/// Renders a PostgreSQL account `role` whose password goes to the KV secret `path`.
fn pg_to_kv(role: &str, mount: &str, path: &str) -> String {
    account(
        "pg-main",
        role,
        &vault_credential("password", mount, path, "90d"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kv_rotation_destroys_old_versions() {
    let bw = BaoWorkspace::new();
    let role = bw.role("svc");
    let path = bw.kv_path("db");
    bw.write_bao_policy(&[identity_with(
        "svc",
        "active",
        &[pg_to_kv(&role, "secret", &path)],
    )]);
    bw.enact(&["apply"]).await.expect_code(0);

    let first = bw
        .bao
        .kv_value("secret", &path, None)
        .await
        .expect("the KV secret holds the password");
    bw.open_session(&role, &first).await;
    let metadata = bw.bao.kv_metadata("secret", &path).await.expect("metadata");
    assert_eq!(versions(&metadata), vec![(1, false)]);

    bw.age_credential(&role, 100).await;
    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("rotate_credential".to_string(), role.clone())],
        "{plan}"
    );
    bw.enact(&["apply"]).await.expect_code(0);

    let metadata = bw.bao.kv_metadata("secret", &path).await.expect("metadata");
    let current = metadata["current_version"]
        .as_u64()
        .expect("a current version");
    assert!(current >= 2, "no new version was written: {metadata}");
    let second = bw
        .bao
        .kv_value("secret", &path, None)
        .await
        .expect("the KV secret holds the new password");
    assert_ne!(second, first, "the KV secret still holds the old password");
    bw.open_session(&role, &second).await;

    // Every version but the current one is destroyed, and none holds the old value.
    for (number, destroyed) in versions(&metadata) {
        assert_eq!(
            destroyed,
            number != current,
            "version {number} of {current}: destroyed is {destroyed}"
        );
        let value = bw.bao.kv_value("secret", &path, Some(number)).await;
        assert_ne!(
            value.as_deref(),
            Some(first.as_str()),
            "version {number} holds the old value"
        );
    }
    assert_eq!(
        bw.bao
            .kv_metadata("secret", &format!("{path}.staged"))
            .await,
        None,
        "the staged secret is left behind"
    );
    assert_password_rejected(&bw, &role, &first, "the old password").await;
    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dependent_follows_kv_rotation() {
    let bw = BaoWorkspace::new();
    let pg_role = bw.role("orders");
    let app = bw.bao_name("orders");
    let path = bw.kv_path("orders-db");
    let reader = bw.bao_name("orders-db-read");
    bw.put_policy(
        &reader,
        &format!("path \"secret/data/{path}\" {{ capabilities = [\"read\"] }}"),
    )
    .await;
    let app_account = account(
        "bao-main",
        &app,
        &format!(
            "entitlements:\n  - policy: {reader}\n{}sessions: {{ max_lifetime: 1h, idle_limit: 30m }}\n",
            secret_id_credential(&bw.secret_id_sink("orders"), "30d")
        ),
    );
    bw.write_bao_policy(&[identity_with(
        "orders",
        "active",
        &[app_account, pg_to_kv(&pg_role, "secret", &path)],
    )]);
    bw.enact(&["apply"]).await.expect_code(0);

    // The dependent logs in with its AppRole, reads its password from KV and connects.
    let dependent = bw.login(&app, &bw.secret_id_value("orders")).await;
    let read_password = || async {
        let (status, body) = bw
            .bao
            .kv_read_as(&dependent.token, "secret", &path, None)
            .await;
        assert!(
            status.is_success(),
            "the dependent cannot read KV: {status} {body}"
        );
        body["data"]["data"]["value"]
            .as_str()
            .expect("a string value")
            .to_string()
    };
    let first = read_password().await;
    bw.open_session(&pg_role, &first).await;

    // Its token reads nothing else.
    let (status, _) = bw
        .bao
        .kv_read_as(&dependent.token, "secret", &bw.kv_path("other"), None)
        .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);

    bw.age_credential(&pg_role, 100).await;
    bw.enact(&["apply"]).await.expect_code(0);

    let second = read_password().await;
    assert_ne!(second, first, "the dependent reads the old password");
    bw.open_session(&pg_role, &second).await;
    assert_password_rejected(&bw, &pg_role, &first, "the old password").await;
    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_delivery_keeps_old_password() {
    let mut bw = BaoWorkspace::new();
    let role = bw.role("svc");
    let mount = bw.mount_kv("ro").await;
    let path = "apps/db";

    // The role exists with a password enact never set, and a pipeline stored it in KV.
    let old = format!("old-{:032x}", rand::random::<u128>());
    bw.create_role(&role, &format!("LOGIN PASSWORD {}", scram_literal(&old)))
        .await;
    bw.bao.kv_write(&mount, path, &old).await;

    // enact's token can read that mount but not write it.
    let read_only = bw.bao_name("kv-read-only");
    bw.put_policy(
        &read_only,
        &format!(
            "path \"{mount}/data/*\" {{ capabilities = [\"read\"] }}\npath \"{mount}/metadata/*\" {{ capabilities = [\"read\", \"list\"] }}"
        ),
    )
    .await;
    let token = bw.create_token(&["enact-admin", &read_only]).await;
    bw.use_bao_token(&token.token);
    bw.write_bao_policy(&[identity_with(
        "svc",
        "active",
        &[pg_to_kv(&role, &mount, path)],
    )]);

    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("rotate_credential".to_string(), role.clone())],
        "{plan}"
    );
    let applied = bw.enact(&["apply", "-o", "json"]).await;
    applied.expect_code(3);
    let report = applied.json();
    assert_eq!(report["results"][0]["status"], "failed", "{report}");
    assert_eq!(report["counts"]["failed"], 1, "{report}");

    let records = bw.evidence().await;
    let rotation = action_records(&records)
        .into_iter()
        .find(|r| r["action"]["kind"]["kind"] == "rotate_credential")
        .expect("a rotation record");
    assert_eq!(record_verdict(rotation), "failed", "{rotation}");
    assert_eq!(
        rotation["outcome"]["step"], "stage-credential",
        "{rotation}"
    );
    let steps: Vec<&str> = rotation["steps"]
        .as_array()
        .expect("a step list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        !steps.contains(&"set-credential"),
        "the password was set after the delivery failed: {steps:?}"
    );

    // The dependents keep a working credential: PostgreSQL accepts the old password, and KV
    // still holds it as its only version.
    bw.open_session(&role, &old).await;
    assert_eq!(
        bw.bao.kv_value(&mount, path, None).await.as_deref(),
        Some(old.as_str())
    );
    let metadata = bw.bao.kv_metadata(&mount, path).await.expect("metadata");
    assert_eq!(versions(&metadata), vec![(1, false)]);
    assert_eq!(
        bw.bao.kv_metadata(&mount, &format!("{path}.staged")).await,
        None,
        "a staged secret was written"
    );
}
