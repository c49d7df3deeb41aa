//! `enact respond` on the real servers: a value reported by gitleaks, TruffleHog or a
//! detect-secrets baseline, or passed on standard input, is matched to its managed
//! credential, revoked on PostgreSQL, OpenBao or Redis, replaced in its sink, purged from every
//! declared sink and KV version, its sessions ended, and each step proven. Every outcome is
//! read back with the test's own clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    account, credential, identity_with, secret_id_credential, vault_credential, BaoWorkspace,
    Outcome, RedisCleanup, RedisEnv, Workspace,
};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// Writes a gitleaks JSON report that found `value` in `config/app.env`.
fn gitleaks_report(ws: &Workspace, value: &str) -> String {
    let report = json!([{
        "Description": "Generic Password",
        "StartLine": 4,
        "Match": format!("DATABASE_PASSWORD={value}"),
        "Secret": value,
        "File": "config/app.env",
        "RuleID": "generic-password",
    }]);
    let path = ws.path("gitleaks.json");
    std::fs::write(&path, report.to_string()).expect("write the report");
    path.to_str().expect("a UTF-8 path").to_string()
}

/// Runs `enact respond ARGS` with `input` on standard input.
async fn respond_with_stdin(ws: &Workspace, args: &[&str], input: &str) -> Outcome {
    let mut command = ws.command(args);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("start enact");
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    let output = child.wait_with_output().await.expect("wait for enact");
    Outcome {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn assert_no_value(outcome: &Outcome, value: &str) {
    assert!(
        !outcome.all_output().contains(value),
        "the output contains the exposed value\n{outcome}"
    );
}

fn holdings(owner: &Value) -> Vec<String> {
    owner["holdings"]
        .as_array()
        .expect("holdings")
        .iter()
        .map(|h| h.as_str().unwrap_or_default().to_string())
        .collect()
}

fn result_kinds(outcome: &Value) -> Vec<(String, String)> {
    outcome["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["action"]["kind"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitleaks_finding_revoked_everywhere() {
    let bw = BaoWorkspace::new();
    let role = bw.role("orders");
    let kv = bw.kv_path("orders-db");
    let stray = bw.sink("stray");
    bw.write_bao_policy(&[
        identity_with(
            "orders",
            "active",
            &[account(
                "pg-main",
                &role,
                &vault_credential("password", "secret", &kv, "90d"),
            )],
        ),
        identity_with(
            "old-etl",
            "decommissioned",
            &[account(
                "pg-main",
                &bw.role("old_etl"),
                &credential(&stray, "90d"),
            )],
        ),
    ]);
    bw.enact(&["apply"]).await.expect_code(0);
    let leaked = bw
        .bao
        .kv_value("secret", &kv, None)
        .await
        .expect("a password in KV");

    // The value leaks: a session uses it, and a stray copy sits in the decommissioned
    // identity's sink file.
    let (session, pid) = bw.open_session(&role, &leaked).await;
    std::fs::create_dir_all(bw.path("secrets")).expect("create the sink directory");
    std::fs::write(&stray, format!("{leaked}\n")).expect("write the stray copy");
    let report = gitleaks_report(&bw, &leaked);

    let outcome = bw
        .enact(&["respond", "--finding", &report, "-o", "json"])
        .await;
    outcome.expect_code(0);
    assert_no_value(&outcome, &leaked);
    let body = outcome.json();
    let finding = &body["findings"][0];
    assert_eq!(finding["assessment"], "live", "{outcome}");
    assert_eq!(finding["verified"], true, "{outcome}");
    assert!(finding["time_to_verified_ms"].is_u64(), "{outcome}");
    assert!(body["time_to_verified_revocation_ms"].is_u64(), "{outcome}");
    assert_eq!(finding["detector"], "generic-password");
    assert_eq!(finding["found_in"], "config/app.env:4");
    let owners = finding["owners"].as_array().expect("owners");
    assert_eq!(owners.len(), 2, "{outcome}");
    assert_eq!(holdings(&owners[0]), vec!["current"]);
    assert_eq!(holdings(&owners[1]), vec!["current"]);
    let mut kinds = result_kinds(&body);
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("purge_credential".to_string(), "verified".to_string()),
            ("rotate_credential".to_string(), "verified".to_string()),
        ]
    );

    // PostgreSQL rejects the leaked password and accepts the one now in KV.
    assert!(
        bw.pg.client_as(&role, &leaked).await.is_err(),
        "the leaked password still logs in"
    );
    let replacement = bw
        .bao
        .kv_value("secret", &kv, None)
        .await
        .expect("a new value");
    assert_ne!(replacement, leaked);
    bw.pg
        .client_as(&role, &replacement)
        .await
        .expect("the replacement logs in");

    // Every earlier KV version is destroyed, the stray copy is gone, the session ended.
    let metadata = bw.bao.kv_metadata("secret", &kv).await.expect("metadata");
    let versions = metadata["versions"].as_object().expect("versions");
    let current = metadata["current_version"]
        .as_u64()
        .expect("a current version");
    for (number, state) in versions {
        if number.parse::<u64>().expect("a version number") < current {
            assert_eq!(state["destroyed"], true, "KV version {number} is kept");
        }
    }
    assert!(!stray.exists(), "the stray copy is still on disk");
    assert!(
        !bw.session_pids(&role).await.contains(&pid),
        "the session opened with the leaked value is still open"
    );
    assert!(session.simple_query("SELECT 1").await.is_err());

    // The evidence holds the exposure with its proofs, and the log verifies.
    let records = bw.evidence().await;
    let exposure = records
        .iter()
        .find(|r| r["type"] == "exposure")
        .expect("an exposure record");
    assert_eq!(exposure["verified"], true);
    let proofs: Vec<&str> = exposure["proofs"]
        .as_array()
        .expect("proofs")
        .iter()
        .map(|p| p["outcome"]["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(proofs, vec!["confirmed", "confirmed", "confirmed"]);
    bw.enact(&["evidence", "verify"]).await.expect_code(0);
    assert!(!std::fs::read_to_string(bw.evidence_log())
        .expect("read the log")
        .contains(&leaked));

    // The same value again is recognized from the evidence and already revoked.
    let again = respond_with_stdin(
        &bw,
        &["respond", "--stdin", "-o", "json"],
        &format!("{leaked}\n"),
    )
    .await;
    again.expect_code(0);
    assert_no_value(&again, &leaked);
    let body = again.json();
    let finding = &body["findings"][0];
    assert_eq!(finding["assessment"], "already revoked", "{again}");
    assert_eq!(finding["probes"][0]["outcome"]["outcome"], "confirmed");
    assert!(finding["owners"][0]["recorded_in"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
    assert!(
        body["results"].as_array().is_some_and(Vec::is_empty),
        "{again}"
    );
    assert_eq!(
        bw.bao.kv_value("secret", &kv, None).await.as_deref(),
        Some(replacement.as_str()),
        "an already revoked value must not rotate the credential"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trufflehog_finding_rotates_secret_id() {
    let bw = BaoWorkspace::new();
    let app = bw.bao_name("billing");
    let sink = bw.secret_id_sink("billing");
    bw.write_bao_policy(&[identity_with(
        "billing",
        "active",
        &[account(
            "bao-main",
            &app,
            &secret_id_credential(&sink, "30d"),
        )],
    )]);
    bw.enact(&["apply"]).await.expect_code(0);
    let leaked = bw.secret_id_value("billing");
    let login = bw.login(&app, &leaked).await;

    let line = json!({
        "SourceMetadata": { "Data": { "Filesystem": { "file": "deploy/run.sh", "line": 9 } } },
        "DetectorName": "VaultAuth",
        "Verified": true,
        "Raw": leaked,
    });
    let report = bw.path("trufflehog.jsonl");
    std::fs::write(&report, format!("{line}\n")).expect("write the report");

    let outcome = bw
        .enact(&[
            "respond",
            "--finding",
            report.to_str().unwrap(),
            "-o",
            "json",
        ])
        .await;
    outcome.expect_code(0);
    assert_no_value(&outcome, &leaked);
    let body = outcome.json();
    assert_eq!(body["findings"][0]["assessment"], "live", "{outcome}");
    assert_eq!(body["findings"][0]["found_in"], "deploy/run.sh:9");
    assert_eq!(
        result_kinds(&body),
        vec![("rotate_credential".to_string(), "verified".to_string())]
    );

    let (status, _) = bw.try_login(&app, &leaked).await;
    assert!(!status.is_success(), "the leaked secret ID still logs in");
    let replacement = bw.secret_id_value("billing");
    assert_ne!(replacement, leaked);
    bw.login(&app, &replacement).await;
    assert!(
        !bw.bao.token_valid(&login.accessor).await,
        "the token obtained with the leaked secret ID is still valid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn detect_secrets_hash_rotates_redis_password() {
    let redis = RedisEnv::shared();
    let mut ws = Workspace::new();
    ws.use_redis(&redis);
    let _cleanup: RedisCleanup = redis.cleanup_on_drop(&ws.prefix);
    let user = ws.role("cache");
    let rules = format!(
        "entitlements:\n  - rule: \"~{}:*\"\n  - rule: \"+get\"\n",
        ws.prefix
    );
    let body = format!("{rules}{}", credential(&ws.sink("cache"), "30d"));
    ws.write_policy_with_targets(
        &[redis.target_yaml("cache", "{ action: report, ignore: [\"*\"] }")],
        &[identity_with(
            "cache",
            "active",
            &[account("cache", &user, &body)],
        )],
    );
    ws.enact(&["apply"]).await.expect_code(0);
    let leaked = ws.sink_value("cache");
    let mut session = redis.session(&user, &leaked).await;

    let hash = hex::encode(Sha1::digest(leaked.as_bytes()));
    let baseline = format!(
        "{{\n  \"version\": \"1.5.0\",\n  \"plugins_used\": [],\n  \"results\": {{\n    \"settings.py\": [\n      {{\"type\": \"Secret Keyword\", \"filename\": \"settings.py\", \"hashed_secret\": \"{hash}\", \"is_verified\": false, \"line_number\": 12}}\n    ]\n  }}\n}}\n"
    );
    let path = ws.path(".secrets.baseline");
    std::fs::write(&path, baseline).expect("write the baseline");

    let outcome = ws
        .enact(&["respond", "--finding", path.to_str().unwrap(), "-o", "json"])
        .await;
    outcome.expect_code(0);
    assert_no_value(&outcome, &leaked);
    let body = outcome.json();
    assert_eq!(body["findings"][0]["sha1"], hash.as_str());
    assert_eq!(body["findings"][0]["assessment"], "live", "{outcome}");
    assert_eq!(body["findings"][0]["verified"], true, "{outcome}");

    let reply = redis
        .auth(&user, &leaked)
        .await
        .expect_err("the leaked password is rejected");
    assert!(reply.starts_with("WRONGPASS"), "{reply}");
    let replacement = ws.sink_value("cache");
    assert_ne!(replacement, leaked);
    redis
        .auth(&user, &replacement)
        .await
        .expect("the replacement works");
    assert!(
        !session.is_open().await,
        "the connection opened with the leaked password is open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unmatched_and_malformed_reports() {
    let ws = Workspace::new();
    let role = ws.role("app");
    ws.write_policy(&[common::identity(
        "app",
        "active",
        &role,
        &credential(&ws.sink("app"), "90d"),
    )]);
    ws.enact(&["apply"]).await.expect_code(0);
    let current = ws.sink_value("app");
    let records_before = ws.evidence().await.len();

    // A value no managed credential has is reported as unmatched, with what was searched.
    let stranger = format!("not-managed-{:032x}", rand::random::<u128>());
    let report = gitleaks_report(&ws, &stranger);
    let outcome = ws.enact(&["respond", "--finding", &report]).await;
    outcome.expect_code(2);
    assert_no_value(&outcome, &stranger);
    assert!(outcome.stdout.contains("unmatched"), "{outcome}");
    assert!(
        outcome
            .stdout
            .contains(&ws.sink("app").display().to_string()),
        "the searched sink is not listed\n{outcome}"
    );
    assert_eq!(ws.sink_value("app"), current);

    // A malformed report names the place of the problem and changes nothing.
    let records_after_unmatched = ws.evidence().await.len();
    let bad = ws.path("bad.json");
    std::fs::write(
        &bad,
        format!("[{{\"Secret\": \"{current}\"}}, {{\"RuleID\": 3}}]"),
    )
    .expect("write the report");
    let outcome = ws
        .enact(&["respond", "--finding", bad.to_str().unwrap()])
        .await;
    outcome.expect_code(1);
    assert_no_value(&outcome, &current);
    assert!(
        outcome
            .stderr
            .contains(&format!("{}#/1: missing field `Secret`", bad.display())),
        "{outcome}"
    );
    assert_eq!(ws.sink_value("app"), current);
    assert!(ws.pg.client_as(&role, &current).await.is_ok());
    assert_eq!(ws.evidence().await.len(), records_after_unmatched);
    assert!(records_after_unmatched > records_before);
}
