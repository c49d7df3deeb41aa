//! OpenBao AppRole accounts end to end: the real `enact` binary against the OpenBao server
//! that `scripts/bao.sh start` runs. Every outcome is read back from OpenBao itself: role
//! settings, secret IDs, logins and token accessors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    account, action_records, identity_with, plan_actions, poll_until, record_verdict,
    secret_id_credential, vault_credential, BaoWorkspace, PrivateBao, Proxy, ProxyHook,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Renders an AppRole account `name` holding `policies`, with a secret ID (max_age 30d)
/// delivered to its sink file, and the extra lines `extra`.
fn approle(bw: &BaoWorkspace, name: &str, policies: &[&str], extra: &str) -> String {
    let mut body = String::new();
    if !policies.is_empty() {
        body.push_str("entitlements:\n");
        for policy in policies {
            body.push_str(&format!("  - policy: {policy}\n"));
        }
    }
    body.push_str(&secret_id_credential(&bw.secret_id_sink(name), "30d"));
    body.push_str(extra);
    account("bao-main", &bw.bao_name(name), &body)
}

/// Writes a policy with the single identity `name`, one AppRole account.
fn write_one(bw: &BaoWorkspace, name: &str, state: &str, policies: &[&str], extra: &str) {
    bw.write_bao_policy(&[identity_with(
        name,
        state,
        &[approle(bw, name, policies, extra)],
    )]);
}

/// Returns the reasons of a JSON plan's actions, in order.
fn plan_reasons(plan: &Value) -> Vec<String> {
    plan["plan"]["actions"]
        .as_array()
        .expect("the plan has actions")
        .iter()
        .map(|a| a["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Returns an integer field of a role's settings.
fn setting(role: &Value, key: &str) -> i64 {
    role[key]
        .as_i64()
        .unwrap_or_else(|| panic!("the role has no integer `{key}`: {role}"))
}

/// Asserts that a login failed with HTTP 400 and an error containing `message`.
fn assert_login_rejected(what: &str, reply: &(StatusCode, Value), message: &str) {
    assert_eq!(reply.0, StatusCode::BAD_REQUEST, "{what}: {}", reply.1);
    assert!(
        reply.1["errors"].to_string().contains(message),
        "{what}: the error is not `{message}`: {}",
        reply.1
    );
}

/// Reads whether `token` itself still authenticates, with `auth/token/lookup-self`.
async fn token_works(bw: &BaoWorkspace, token: &str) -> bool {
    let (status, _) = bw
        .bao
        .request_as(Some(token), Method::GET, "auth/token/lookup-self", None)
        .await;
    status.is_success()
}

/// Returns the session notes of the one rotation record in the evidence, as
/// `(accessor, fate)` pairs.
async fn rotation_sessions(bw: &BaoWorkspace) -> Vec<(String, String)> {
    let records = bw.evidence().await;
    let rotations: Vec<&Value> = action_records(&records)
        .into_iter()
        .filter(|r| r["action"]["kind"]["kind"] == "rotate_credential")
        .collect();
    assert_eq!(rotations.len(), 1, "expected one rotation record");
    assert_eq!(record_verdict(rotations[0]), "verified", "{}", rotations[0]);
    rotations[0]["sessions"]
        .as_array()
        .expect("a session list")
        .iter()
        .map(|note| {
            (
                note["session"]["id"].as_str().unwrap_or("").to_string(),
                note["fate"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approle_created_as_declared() {
    let bw = BaoWorkspace::new();
    let read = bw.bao_name("read");
    let audit = bw.bao_name("audit");
    bw.put_policy(
        &read,
        "path \"secret/data/e2e/*\" { capabilities = [\"read\"] }",
    )
    .await;
    bw.put_policy(&audit, "path \"sys/audit\" { capabilities = [\"read\"] }")
        .await;
    let role = bw.bao_name("api");
    write_one(
        &bw,
        "api",
        "active",
        &[&read, &audit],
        "sessions: { max_lifetime: 8h, idle_limit: 30m }\n",
    );

    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![
            ("create_account".to_string(), role.clone()),
            ("grant".to_string(), role.clone()),
            ("grant".to_string(), role.clone()),
        ],
        "{plan}"
    );
    bw.enact(&["apply"]).await.expect_code(0);

    let settings = bw.bao.role(&role).await.expect("the role exists");
    let mut declared = vec![audit.clone(), read.clone()];
    declared.sort();
    assert_eq!(bw.bao.role_policies(&role).await, declared);
    assert_eq!(setting(&settings, "token_ttl"), 30 * 60);
    assert_eq!(setting(&settings, "token_max_ttl"), 8 * 3600);
    assert_eq!(setting(&settings, "secret_id_ttl"), 30 * 86_400);
    assert_eq!(settings["bind_secret_id"], true);

    // The secret ID is in a private file, and it is the role's only one.
    let sink = bw.secret_id_sink("api");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sink)
            .expect("the sink exists")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "sink mode is {:o}", mode & 0o777);
    assert_eq!(bw.bao.secret_id_accessors(&role).await.len(), 1);

    let login = bw.login(&role, &bw.secret_id_value("api")).await;
    let (status, lookup) = bw
        .bao
        .request_as(
            Some(&login.token),
            Method::GET,
            "auth/token/lookup-self",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{lookup}");
    let policies: Vec<&str> = lookup["data"]["policies"]
        .as_array()
        .expect("the token has policies")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(policies.contains(&read.as_str()), "{lookup}");
    assert!(policies.contains(&audit.as_str()), "{lookup}");

    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_destroys_other_secret_ids() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    write_one(&bw, "api", "active", &[], "");
    bw.enact(&["apply"]).await.expect_code(0);
    let old = bw.secret_id_value("api");

    // A second secret ID, issued by hand, is a credential enact does not manage.
    let extra = bw.bao.issue_secret_id(&role, None).await;
    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("rotate_credential".to_string(), role.clone())],
        "{plan}"
    );
    assert!(
        plan_reasons(&plan)[0].contains("1 credential(s) exist beyond"),
        "{plan}"
    );

    bw.enact(&["apply"]).await.expect_code(0);
    let new = bw.secret_id_value("api");
    assert_ne!(new, old, "the sink still holds the old secret ID");
    bw.login(&role, &new).await;
    let rejected = "invalid role or secret ID";
    assert_login_rejected(
        "the old secret ID",
        &bw.try_login(&role, &old).await,
        rejected,
    );
    assert_login_rejected(
        "the hand-issued secret ID",
        &bw.try_login(&role, &extra).await,
        rejected,
    );
    assert_eq!(bw.bao.secret_id_accessors(&role).await.len(), 1);

    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_token_survives_rotation() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    write_one(
        &bw,
        "api",
        "active",
        &[],
        "sessions: { max_lifetime: 8h, idle_limit: 30m }\n",
    );
    bw.enact(&["apply"]).await.expect_code(0);
    let old = bw.secret_id_value("api");
    let session = bw.login(&role, &old).await;

    bw.bao.issue_secret_id(&role, None).await;
    bw.enact(&["apply"]).await.expect_code(0);
    assert_ne!(bw.secret_id_value("api"), old, "no rotation happened");
    assert_login_rejected(
        "the old secret ID",
        &bw.try_login(&role, &old).await,
        "invalid role or secret ID",
    );

    // OpenBao keeps tokens whose secret ID is destroyed; enact lists them as left open.
    assert!(bw.bao.token_valid(&session.accessor).await);
    assert!(token_works(&bw, &session.token).await);
    let notes = rotation_sessions(&bw).await;
    assert!(
        notes.contains(&(session.accessor.clone(), "left open".to_string())),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_on_rotation_revokes_old_token() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    write_one(
        &bw,
        "api",
        "active",
        &[],
        "sessions: { max_lifetime: 8h, idle_limit: 30m, end_on_rotation: true }\n",
    );
    bw.enact(&["apply"]).await.expect_code(0);
    let old = bw.secret_id_value("api");
    let session = bw.login(&role, &old).await;
    assert!(bw.bao.token_valid(&session.accessor).await);

    bw.bao.issue_secret_id(&role, None).await;
    bw.enact(&["apply"]).await.expect_code(0);
    assert_ne!(bw.secret_id_value("api"), old, "no rotation happened");

    assert!(
        !bw.bao.token_valid(&session.accessor).await,
        "the token from before the rotation is still valid"
    );
    assert!(!token_works(&bw, &session.token).await);
    let notes = rotation_sessions(&bw).await;
    assert!(
        notes.contains(&(session.accessor.clone(), "ended".to_string())),
        "{notes:?}"
    );
    // A login with the new secret ID still works.
    bw.login(&role, &bw.secret_id_value("api")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_past_lifetime_is_revoked() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    write_one(
        &bw,
        "api",
        "active",
        &[],
        "sessions: { max_lifetime: 1h, idle_limit: 10m }\n",
    );
    bw.enact(&["apply"]).await.expect_code(0);
    let session = bw.login(&role, &bw.secret_id_value("api")).await;

    // The lifetime shrinks to 3 s; the token was issued under the old one and lives on.
    write_one(
        &bw,
        "api",
        "active",
        &[],
        "sessions: { max_lifetime: 3s, idle_limit: 3s }\n",
    );
    let plan = poll_until(
        "the token to pass its 3 s lifetime",
        Duration::from_secs(30),
        || async {
            let (_, plan) = bw.plan_json().await;
            plan_actions(&plan)
                .iter()
                .any(|(kind, _)| kind == "end_sessions")
                .then_some(plan)
        },
    )
    .await;
    let mut kinds: Vec<(String, String)> = plan_actions(&plan);
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("configure".to_string(), role.clone()),
            ("end_sessions".to_string(), role.clone()),
        ],
        "{plan}"
    );
    let text = bw.enact(&["plan"]).await;
    text.expect_code(2);
    assert!(
        text.stdout.contains("end-sessions"),
        "the text plan names no end-sessions action\n{text}"
    );

    bw.enact(&["apply"]).await.expect_code(0);
    assert!(
        !bw.bao.token_valid(&session.accessor).await,
        "the token past its lifetime is still valid"
    );
    let settings = bw.bao.role(&role).await.expect("the role exists");
    assert_eq!(setting(&settings, "token_max_ttl"), 3);
    assert_eq!(setting(&settings, "token_ttl"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn extra_policy_is_revoked() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    let read = bw.bao_name("read");
    let write = bw.bao_name("write");
    write_one(&bw, "api", "active", &[&read], "");
    bw.enact(&["apply"]).await.expect_code(0);
    assert_eq!(bw.bao.role_policies(&role).await, vec![read.clone()]);

    bw.bao
        .root_ok(
            Method::POST,
            &format!("auth/approle/role/{role}/policies"),
            Some(serde_json::json!({ "token_policies": [read, write] })),
        )
        .await;
    let text = bw.enact(&["plan"]).await;
    text.expect_code(2);
    assert!(
        text.stdout.contains(&format!("revoke policy {write}")),
        "the text plan does not name the revoke\n{text}"
    );
    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("revoke".to_string(), role.clone())],
        "{plan}"
    );
    assert_eq!(
        plan["plan"]["actions"][0]["kind"]["entitlement"],
        serde_json::json!({ "policy": { "policy": write } }),
        "{plan}"
    );

    bw.enact(&["apply"]).await.expect_code(0);
    assert_eq!(bw.bao.role_policies(&role).await, vec![read.clone()]);
    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undeclared_approle_is_reported() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    let stray = bw.bao_name("stray");
    let hidden = bw.bao_name("hidden");
    let identities = [identity_with(
        "api",
        "active",
        &[approle(&bw, "api", &[], "")],
    )];
    let unmanaged = format!("{{ action: report, ignore: [\"{hidden}\"] }}");
    bw.write_bao_policy_with(&bw.bao.addr, "2s", &unmanaged, &identities);
    bw.enact(&["apply"]).await.expect_code(0);

    for name in [&stray, &hidden] {
        bw.bao
            .root_ok(
                Method::POST,
                &format!("auth/approle/role/{name}"),
                Some(serde_json::json!({ "token_policies": ["default"] })),
            )
            .await;
    }

    // Reported accounts are not changes: the plan exits 0 and lists the stray.
    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 0, "{plan}");
    let findings: Vec<&Value> = plan["plan"]["unmanaged"]
        .as_array()
        .expect("an unmanaged list")
        .iter()
        .filter(|f| f["target"] == "bao-main")
        .collect();
    let named = |name: &str| findings.iter().find(|f| f["account"] == name).copied();
    let finding = named(&stray).unwrap_or_else(|| panic!("`{stray}` is not reported: {plan}"));
    assert_eq!(finding["handling"], "report");
    assert_eq!(finding["login_enabled"], true);
    assert!(named(&hidden).is_none(), "the ignored role is reported");
    assert!(named(&role).is_none(), "the declared role is reported");

    let text = bw.enact(&["plan"]).await;
    text.expect_code(0);
    assert!(
        text.stdout.contains(&format!("! bao-main/{stray}")),
        "the text plan does not list the stray\n{text}"
    );
    // Reporting changes nothing on the server.
    assert!(bw.bao.role(&stray).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unmanaged_approle_is_disabled() {
    // A policy that disables undeclared roles acts on every role of the server, so the test
    // has a server of its own.
    let server = PrivateBao::start();
    let bw = BaoWorkspace::on(server.env.clone());
    let stray = bw.bao_name("stray");
    bw.bao
        .root_ok(
            Method::POST,
            &format!("auth/approle/role/{stray}"),
            Some(serde_json::json!({ "token_policies": ["default"] })),
        )
        .await;
    let secret_id = bw.bao.issue_secret_id(&stray, None).await;
    let session = bw.login(&stray, &secret_id).await;
    let identities = [identity_with(
        "api",
        "active",
        &[approle(&bw, "api", &[], "")],
    )];
    bw.write_bao_policy_with(&bw.bao.addr, "2s", "{ action: disable }", &identities);

    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert!(
        plan_actions(&plan).contains(&("disable_login".to_string(), stray.clone())),
        "{plan}"
    );
    bw.enact(&["apply"]).await.expect_code(0);

    assert_login_rejected(
        "the secret ID of a disabled undeclared role",
        &bw.try_login(&stray, &secret_id).await,
        "unauthorized by CIDR restrictions",
    );
    assert!(
        !bw.bao.token_valid(&session.accessor).await,
        "the undeclared role's token is still valid"
    );
    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changed_token_ttl_is_configured() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    write_one(
        &bw,
        "api",
        "active",
        &[],
        "sessions: { max_lifetime: 8h, idle_limit: 30m }\n",
    );
    bw.enact(&["apply"]).await.expect_code(0);

    bw.bao
        .root_ok(
            Method::POST,
            &format!("auth/approle/role/{role}/token-ttl"),
            Some(serde_json::json!({ "token_ttl": 3000 })),
        )
        .await;
    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("configure".to_string(), role.clone())],
        "{plan}"
    );
    assert!(
        plan_reasons(&plan)[0].contains("token_ttl is 3000, declared 1800"),
        "{plan}"
    );

    bw.enact(&["apply"]).await.expect_code(0);
    let settings = bw.bao.role(&role).await.expect("the role exists");
    assert_eq!(setting(&settings, "token_ttl"), 1800);
    assert_eq!(setting(&settings, "token_max_ttl"), 8 * 3600);
    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabled_role_rejects_login() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    write_one(&bw, "api", "active", &[], "");
    bw.enact(&["apply"]).await.expect_code(0);
    let secret_id = bw.secret_id_value("api");
    let session = bw.login(&role, &secret_id).await;

    write_one(&bw, "api", "disabled", &[], "");
    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("disable_login".to_string(), role.clone())],
        "{plan}"
    );
    bw.enact(&["apply"]).await.expect_code(0);

    assert_login_rejected(
        "the current secret ID of a disabled role",
        &bw.try_login(&role, &secret_id).await,
        "unauthorized by CIDR restrictions",
    );
    assert!(
        !bw.bao.token_valid(&session.accessor).await,
        "the role's token is still valid"
    );
    let settings = bw
        .bao
        .role(&role)
        .await
        .expect("a disabled role still exists");
    assert_eq!(
        settings["secret_id_bound_cidrs"],
        serde_json::json!(["255.255.255.255/32"])
    );
    assert_eq!(bw.bao.secret_id_accessors(&role).await.len(), 1);
    bw.enact(&["plan"]).await.expect_code(0);

    // Active again, the same secret ID logs in.
    write_one(&bw, "api", "active", &[], "");
    bw.enact(&["apply"]).await.expect_code(0);
    assert_eq!(bw.secret_id_value("api"), secret_id);
    bw.login(&role, &secret_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decommissioned_role_is_deleted() {
    let bw = BaoWorkspace::new();
    let filed = bw.bao_name("filed");
    let stored = bw.bao_name("stored");
    let kv_path = bw.kv_path("stored-secret-id");
    let policy = |state: &str| {
        vec![
            identity_with("filed", state, &[approle(&bw, "filed", &[], "")]),
            identity_with(
                "stored",
                state,
                &[account(
                    "bao-main",
                    &stored,
                    &vault_credential("secret_id", "secret", &kv_path, "30d"),
                )],
            ),
        ]
    };
    bw.write_bao_policy(&policy("active"));
    bw.enact(&["apply"]).await.expect_code(0);

    let stored_secret_id = bw
        .bao
        .kv_value("secret", &kv_path, None)
        .await
        .expect("the KV sink holds the secret ID");
    let filed_session = bw.login(&filed, &bw.secret_id_value("filed")).await;
    let stored_session = bw.login(&stored, &stored_secret_id).await;

    bw.write_bao_policy(&policy("decommissioned"));
    let (code, plan) = bw.plan_json().await;
    assert_eq!(code, 2);
    let mut planned = plan_actions(&plan);
    planned.sort();
    assert_eq!(
        planned,
        vec![
            ("delete_account".to_string(), filed.clone()),
            ("delete_account".to_string(), stored.clone()),
        ],
        "{plan}"
    );
    bw.enact(&["apply"]).await.expect_code(0);

    assert!(
        bw.bao.role(&filed).await.is_none(),
        "`{filed}` still exists"
    );
    assert!(
        bw.bao.role(&stored).await.is_none(),
        "`{stored}` still exists"
    );
    assert!(!bw.bao.token_valid(&filed_session.accessor).await);
    assert!(!bw.bao.token_valid(&stored_session.accessor).await);
    assert!(
        !bw.secret_id_sink("filed").exists(),
        "the sink file still exists"
    );
    assert_eq!(
        bw.bao.kv_metadata("secret", &kv_path).await,
        None,
        "the KV secret still exists"
    );
    bw.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_use_secret_id_logs_in() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("once");
    let sink = bw.secret_id_sink("once");
    let credential = format!(
        "credential: {{ kind: secret_id, strategy: single, max_age: 30d, max_uses: 1, deliver_to: {{ file: {} }} }}\n",
        sink.display()
    );
    bw.write_bao_policy(&[identity_with(
        "once",
        "active",
        &[account("bao-main", &role, &credential)],
    )]);
    bw.enact(&["apply"]).await.expect_code(0);
    let settings = bw.bao.role(&role).await.expect("the role exists");
    assert_eq!(setting(&settings, "secret_id_num_uses"), 1);

    // The dependent's one login must work with the secret ID enact delivered.
    let (status, body) = bw.try_login(&role, &bw.secret_id_value("once")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the delivered single-use secret ID does not log in: {body}"
    );
}

/// Returns a hook that deletes the AppRole `role` as root and then sets `deleted`.
fn delete_role_hook(bw: &BaoWorkspace, role: &str, deleted: &Arc<AtomicBool>) -> ProxyHook {
    let bao = bw.bao.clone();
    let role = role.to_string();
    let deleted = deleted.clone();
    Arc::new(move || {
        let bao = bao.clone();
        let role = role.clone();
        let deleted = deleted.clone();
        Box::pin(async move {
            bao.root_ok(Method::DELETE, &format!("auth/approle/role/{role}"), None)
                .await;
            deleted.store(true, Ordering::SeqCst);
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_survives_role_deleted_midway() {
    let bw = BaoWorkspace::new();
    let identities = [identity_with(
        "api",
        "active",
        &[approle(&bw, "api", &[], "")],
    )];
    bw.write_bao_policy(&identities);
    bw.enact(&["apply"]).await.expect_code(0);

    // An undeclared role, which the policy ignores, has a secret ID. Another application
    // deletes it while enact observes the server: after enact has read the role and before
    // it lists the secret IDs, or after it has listed them and before it looks them up.
    let windows = [
        ("after-read", "GET /v1/auth/approle/role/{role} HTTP/1.1"),
        (
            "after-list",
            "GET /v1/auth/approle/role/{role}/secret-id?list=true HTTP/1.1",
        ),
    ];
    let mut failures: Vec<String> = Vec::new();
    for (window, request) in windows {
        let doomed = bw.bao_name(&format!("doomed-{window}"));
        bw.bao
            .root_ok(
                Method::POST,
                &format!("auth/approle/role/{doomed}"),
                Some(serde_json::json!({ "token_policies": ["default"] })),
            )
            .await;
        bw.bao.issue_secret_id(&doomed, None).await;
        let deleted = Arc::new(AtomicBool::new(false));
        let proxy = Proxy::start_with_hook(
            bw.bao.socket_address(),
            &request.replace("{role}", &doomed),
            delete_role_hook(&bw, &doomed, &deleted),
        )
        .await;
        bw.write_bao_policy_with(
            &format!("http://{}", proxy.address),
            "2s",
            "{ action: report, ignore: [\"*\"] }",
            &identities,
        );

        let planned = bw.enact(&["plan"]).await;
        assert!(
            deleted.load(Ordering::SeqCst),
            "{window}: the role was not deleted during the observation\n{planned}"
        );
        if planned.code != Some(0) {
            failures.push(format!("{window}: {}", planned.stderr.trim()));
        }
    }
    assert!(
        failures.is_empty(),
        "a role deleted during the observation failed the plan:\n{}",
        failures.join("\n")
    );
}
