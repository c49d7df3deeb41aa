//! Canary secrets on OpenBao: no secret ID, KV value or admin token reaches enact's output,
//! debug logs, state, evidence or saved plans, and none is in clear in the OpenBao server log
//! or audit log. The audit log must hold each value's HMAC instead, which proves the search
//! looked at the entries that carried the values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    account, contains_bytes, identity_with, scram_literal, secret_id_credential, vault_credential,
    BaoWorkspace, Outcome,
};
use reqwest::Method;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lists every file under `dir` whose name starts with `prefix`, recursively.
fn files_under(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("read a state directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path, ""));
        } else if entry.file_name().to_string_lossy().starts_with(prefix) {
            out.push(path);
        }
    }
    out
}

fn assert_free_of(what: &str, haystack: &[u8], secrets: &BTreeSet<String>) {
    for secret in secrets {
        // The secret itself is not printed: the assertion names its length only.
        assert!(
            !contains_bytes(haystack, secret.as_bytes()),
            "{what} contains a secret value ({} bytes long)",
            secret.len()
        );
    }
}

/// The secret values one test has seen, and which of them went through OpenBao.
#[derive(Default)]
struct Seen {
    /// Every value to search for.
    all: BTreeSet<String>,
    /// The values OpenBao received in a request, whose HMAC the audit log must hold.
    through_bao: BTreeSet<String>,
}

impl Seen {
    fn bao(&mut self, value: &str) {
        if !value.is_empty() {
            self.all.insert(value.to_string());
            self.through_bao.insert(value.to_string());
        }
    }

    /// Adds every value in the workspace's sink files and in the KV secrets `paths` (current
    /// and staged).
    async fn collect(&mut self, bw: &BaoWorkspace, paths: &[&str]) {
        if let Ok(entries) = std::fs::read_dir(bw.path("secrets")) {
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    self.bao(text.strip_suffix('\n').unwrap_or(&text));
                }
            }
        }
        for path in paths {
            for secret in [path.to_string(), format!("{path}.staged")] {
                if let Some(value) = bw.bao.kv_value("secret", &secret, None).await {
                    self.bao(&value);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openbao_secrets_never_leak() {
    let bw = BaoWorkspace::new();
    let app = bw.bao_name("canary");
    let fresh_app = bw.bao_name("fresh");
    let pg_role = bw.role("canary");
    let db_path = bw.kv_path("canary-db");
    let fresh_path = bw.kv_path("fresh-secret-id");
    let canary = |what: &str| format!("canary-{what}-{:032x}", rand::random::<u128>());
    let canary_secret_id = canary("sid");
    let canary_extra = canary("extra");
    let canary_password = canary("pw");

    let mut seen = Seen::default();
    seen.bao(&canary_secret_id);
    seen.bao(&canary_extra);
    seen.bao(&canary_password);
    seen.bao(&bw.bao.token);
    seen.all.insert(bw.pg.admin_password.clone());
    seen.all.insert(bw.pg.superuser_password.clone());

    // The canary AppRole exists with two secret IDs issued by hand, one of them in its sink
    // and logged in with. The canary PostgreSQL role has a password enact never set, stored
    // in KV by hand.
    bw.bao
        .root_ok(
            Method::POST,
            &format!("auth/approle/role/{app}"),
            Some(serde_json::json!({ "token_policies": ["default"] })),
        )
        .await;
    bw.bao.issue_secret_id(&app, Some(&canary_secret_id)).await;
    bw.bao.issue_secret_id(&app, Some(&canary_extra)).await;
    std::fs::create_dir_all(bw.path("secrets")).expect("create the sink directory");
    std::fs::write(bw.secret_id_sink("canary"), format!("{canary_secret_id}\n"))
        .expect("write the canary sink");
    bw.login(&app, &canary_secret_id).await;
    bw.create_role(
        &pg_role,
        &format!("LOGIN PASSWORD {}", scram_literal(&canary_password)),
    )
    .await;
    bw.bao.kv_write("secret", &db_path, &canary_password).await;

    let sessions = "sessions: { max_lifetime: 8h, idle_limit: 30m, end_on_rotation: true }\n";
    let policy = |state: &str| {
        vec![
            identity_with(
                "canary",
                state,
                &[
                    account(
                        "bao-main",
                        &app,
                        &format!(
                            "{}{sessions}",
                            secret_id_credential(&bw.secret_id_sink("canary"), "30d")
                        ),
                    ),
                    account(
                        "pg-main",
                        &pg_role,
                        &vault_credential("password", "secret", &db_path, "90d"),
                    ),
                ],
            ),
            identity_with(
                "fresh",
                state,
                &[account(
                    "bao-main",
                    &fresh_app,
                    &format!(
                        "{}{sessions}",
                        vault_credential("secret_id", "secret", &fresh_path, "30d")
                    ),
                )],
            ),
        ]
    };
    let paths = [db_path.as_str(), fresh_path.as_str()];
    let mut outcomes: Vec<Outcome> = Vec::new();
    let plan_file = bw.path("plan.json");
    let plan_path = plan_file.to_str().expect("a UTF-8 path");

    // Rotate both canaries and create the fresh AppRole, through a saved plan.
    bw.write_bao_policy(&policy("active"));
    let planned = bw
        .enact(&["plan", "--out", plan_path, "--log", "debug"])
        .await;
    planned.expect_code(2);
    outcomes.push(planned);
    let applied = bw.enact(&["apply", plan_path, "--log", "debug"]).await;
    applied.expect_code(0);
    assert!(
        applied.stderr.contains("DEBUG"),
        "no debug log lines\n{applied}"
    );
    outcomes.push(applied);
    seen.collect(&bw, &paths).await;
    assert_ne!(
        bw.secret_id_value("canary"),
        canary_secret_id,
        "the canary secret ID was not rotated"
    );
    assert_ne!(
        bw.bao.kv_value("secret", &db_path, None).await.as_deref(),
        Some(canary_password.as_str()),
        "the canary password was not rotated"
    );

    // Rotate the fresh AppRole's secret ID (one was issued by hand) and the database password
    // again, with JSON logs.
    let hand_issued = bw.bao.issue_secret_id(&fresh_app, None).await;
    seen.bao(&hand_issued);
    let fresh_secret_id = bw
        .bao
        .kv_value("secret", &fresh_path, None)
        .await
        .expect("the fresh secret ID is in KV");
    bw.login(&fresh_app, &fresh_secret_id).await;
    bw.age_credential(&pg_role, 100).await;
    let rotated = bw
        .enact(&["apply", "--log", "debug", "--log-format", "json"])
        .await;
    rotated.expect_code(0);
    assert!(
        rotated.stderr.contains("\"level\":\"DEBUG\""),
        "no JSON debug log lines\n{rotated}"
    );
    outcomes.push(rotated);
    seen.collect(&bw, &paths).await;
    assert_ne!(
        bw.bao.kv_value("secret", &fresh_path, None).await,
        Some(fresh_secret_id),
        "the fresh secret ID was not rotated"
    );

    let status = bw.enact(&["status", "-o", "json", "--log", "debug"]).await;
    status.expect_code(0);
    outcomes.push(status);

    // Disable everything, then decommission it.
    bw.write_bao_policy(&policy("disabled"));
    let disabled = bw.enact(&["apply", "--log", "debug"]).await;
    disabled.expect_code(0);
    outcomes.push(disabled);
    seen.collect(&bw, &paths).await;
    bw.write_bao_policy(&policy("decommissioned"));
    let deleted = bw
        .enact(&[
            "apply",
            "--allow-destructive",
            "--log",
            "debug",
            "--log-format",
            "json",
        ])
        .await;
    deleted.expect_code(0);
    outcomes.push(deleted);
    assert!(bw.bao.role(&app).await.is_none());
    assert!(bw.bao.role(&fresh_app).await.is_none());
    assert_eq!(bw.role_login(&pg_role).await, None);

    let export = bw.enact(&["evidence", "export", "--log", "debug"]).await;
    export.expect_code(0);
    outcomes.push(export);
    let verify = bw.enact(&["evidence", "verify", "--log", "debug"]).await;
    verify.expect_code(0);
    outcomes.push(verify);

    // The three canaries, the admin token, two passwords of the test server, at least two
    // rotated secret IDs, the hand-issued one and at least two database passwords.
    assert!(
        seen.all.len() >= 11,
        "only {} secret values were collected",
        seen.all.len()
    );

    for outcome in &outcomes {
        let what = format!("the output of `enact {}`", outcome.args.join(" "));
        assert_free_of(&what, outcome.stdout.as_bytes(), &seen.all);
        assert_free_of(&what, outcome.stderr.as_bytes(), &seen.all);
    }
    let state = bw.state_dir();
    let mut files = files_under(&state, "state.db");
    files.extend(files_under(&state.join("evidence"), ""));
    assert!(
        files.iter().any(|f| f.ends_with("state.db")),
        "no state database found"
    );
    assert!(
        files.iter().any(|f| f.ends_with("log.jsonl")),
        "no evidence log found"
    );
    files.push(plan_file.clone());
    for file in &files {
        let bytes = std::fs::read(file).expect("read a state file");
        assert_free_of(&file.display().to_string(), &bytes, &seen.all);
    }
    let pg_log = std::fs::read(&bw.pg.log).expect("read the PostgreSQL server log");
    assert_free_of("the PostgreSQL server log", &pg_log, &seen.all);
    assert_free_of(
        "the OpenBao server log",
        &bw.bao.server_log_bytes(),
        &seen.all,
    );

    let audit = bw.bao.audit_log_bytes();
    assert_free_of("the OpenBao audit log", &audit, &seen.all);
    for value in &seen.through_bao {
        let hashed = bw.bao.audit_hash(value).await;
        assert!(
            contains_bytes(&audit, hashed.as_bytes()),
            "the audit log holds no HMAC of a value ({} bytes long) that OpenBao received",
            value.len()
        );
    }
}
