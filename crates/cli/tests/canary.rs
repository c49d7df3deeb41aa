//! Canary secrets through the whole product: known canary passwords planted on PostgreSQL,
//! Redis and OpenLDAP are rotated by every connector, the AppRole secret ID OpenBao gets and
//! the new values of the other layers are reported leaked and handled by `enact respond`, and
//! the evidence goes through `enact report` (each framework and HTML) and `evidence export`
//! (JSON lines and OCSF). No secret value may then appear in any output, with debug logs, in
//! any file of the state directory, in the reports, or in clear in the servers' own logs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    account, credential, identity_with, scram_literal, secret_id_credential, BaoWorkspace, LdapEnv,
    Outcome, RedisEnv,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

const IGNORE_ALL: &str = "{ action: report, ignore: [\"*\"] }";

/// Draws a canary value that no other test uses.
fn canary(layer: &str) -> String {
    format!("canary-{layer}-{:032x}", rand::random::<u128>())
}

/// Adds every non-empty value held in the workspace's sink files: current, staged or previous.
fn collect_sink_values(dir: &Path, secrets: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            let value = text.trim_end_matches('\n');
            if !value.is_empty() {
                secrets.insert(value.to_string());
            }
        }
    }
}

/// Lists every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn assert_free_of(what: &str, haystack: &[u8], secrets: &BTreeSet<String>) {
    // Every secret is ASCII, so a lossy conversion keeps each occurrence, and `str::contains`
    // searches the audit log's tens of megabytes far faster than a byte-window scan.
    let text = String::from_utf8_lossy(haystack);
    for secret in secrets {
        assert!(secret.is_ascii(), "a secret that is not ASCII");
        // The secret itself is not printed: the assertion names its length only.
        assert!(
            !text.contains(secret.as_str()),
            "{what} contains a secret value ({} bytes long)",
            secret.len()
        );
    }
}

/// Runs `enact ARGS` with `input` on standard input.
async fn enact_with_stdin(bw: &BaoWorkspace, args: &[&str], input: &str) -> Outcome {
    let mut command = bw.command(args);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canaries_never_leak_anywhere() {
    let redis = RedisEnv::shared();
    let ldap = LdapEnv::shared();
    let mut bw = BaoWorkspace::new();
    bw.ws.use_redis(&redis);
    bw.ws.use_ldap(&ldap);
    let _redis_cleanup = redis.cleanup_on_drop(&bw.prefix);
    let _ldap_cleanup = ldap.cleanup_on_drop(&bw.prefix);

    let pg_canary = canary("pg");
    let redis_canary = canary("redis");
    let ldap_canary = canary("ldap");
    // A second password makes the LDAP account drift from one credential, so it is rotated.
    let ldap_extra = canary("ldap-extra");
    let mut secrets: BTreeSet<String> = BTreeSet::new();
    for value in [&pg_canary, &redis_canary, &ldap_canary, &ldap_extra] {
        secrets.insert(value.clone());
    }
    for value in [
        &bw.pg.admin_password,
        &bw.pg.superuser_password,
        &bw.bao.token,
        &bw.bao.root_token,
        &redis.admin_password,
        &redis.default_password,
        &ldap.admin_password,
        &ldap.root_password,
    ] {
        secrets.insert(value.clone());
    }

    // The canary accounts exist already, with the canaries on the servers and in the sinks;
    // enact never set them, so it rotates them.
    let role = bw.role("svc");
    let app = bw.bao_name("svc");
    bw.create_role(
        &role,
        &format!("LOGIN PASSWORD {}", scram_literal(&pg_canary)),
    )
    .await;
    redis.create_user(&role, &redis_canary, &["+@read"]).await;
    let dn = ldap.create_account(&role).await;
    ldap.set_password(&dn, &ldap_canary).await;
    ldap.add_password(&dn, &ldap_extra).await;
    std::fs::create_dir_all(bw.path("secrets")).expect("create the sink directory");
    for (sink, value) in [
        ("svc-pg", &pg_canary),
        ("svc-redis", &redis_canary),
        ("svc-ldap", &ldap_canary),
    ] {
        std::fs::write(bw.sink(sink), format!("{value}\n")).expect("write a canary sink");
    }

    bw.write_policy_with_targets(
        &[
            BaoWorkspace::bao_target_yaml(&bw.bao.addr, "2s", IGNORE_ALL),
            redis.target_yaml("cache", IGNORE_ALL),
            ldap.target_yaml("directory", IGNORE_ALL),
        ],
        &[identity_with(
            "svc",
            "active",
            &[
                account("pg-main", &role, &credential(&bw.sink("svc-pg"), "90d")),
                account(
                    "bao-main",
                    &app,
                    &secret_id_credential(&bw.secret_id_sink("svc"), "30d"),
                ),
                account(
                    "cache",
                    &role,
                    &format!(
                        "entitlements:\n  - rule: \"+@read\"\n{}",
                        credential(&bw.sink("svc-redis"), "30d")
                    ),
                ),
                account("directory", &role, &credential(&bw.sink("svc-ldap"), "90d")),
            ],
        )],
    );

    let mut outcomes: Vec<Outcome> = Vec::new();
    let applied = bw.enact(&["apply", "--log", "debug"]).await;
    applied.expect_code(0);
    assert!(applied.stderr.contains("DEBUG"), "no debug logs\n{applied}");
    // The PostgreSQL rotation sends a SCRAM verifier, which the client library's debug log would
    // show with the statement.
    assert!(
        !applied.stderr.contains("SCRAM-SHA-256$"),
        "a SCRAM verifier in the log\n{applied}"
    );
    outcomes.push(applied);
    collect_sink_values(&bw.path("secrets"), &mut secrets);
    for (sink, old) in [
        ("svc-pg", &pg_canary),
        ("svc-redis", &redis_canary),
        ("svc-ldap", &ldap_canary),
    ] {
        assert_ne!(&bw.sink_value(sink), old, "`{sink}` was not rotated");
    }

    // The respond path: the secret ID and the new PostgreSQL and Redis passwords are reported
    // leaked, each is revoked and replaced, and the replacements are collected too. A planted
    // canary, already rotated away, goes through the "already revoked" path.
    let leaked = [
        bw.secret_id_value("svc"),
        bw.sink_value("svc-pg"),
        bw.sink_value("svc-redis"),
    ];
    for value in &leaked {
        let responded = enact_with_stdin(
            &bw,
            &["respond", "--stdin", "--log", "debug"],
            &format!("{value}\n"),
        )
        .await;
        responded.expect_code(0);
        outcomes.push(responded);
        collect_sink_values(&bw.path("secrets"), &mut secrets);
    }
    for value in &leaked {
        assert_ne!(
            [
                bw.secret_id_value("svc"),
                bw.sink_value("svc-pg"),
                bw.sink_value("svc-redis"),
            ]
            .iter()
            .filter(|current| *current == value)
            .count(),
            1,
            "a leaked value is still current"
        );
    }
    let old_canary = enact_with_stdin(
        &bw,
        &["respond", "--stdin", "-o", "json", "--log", "debug"],
        &format!("{pg_canary}\n"),
    )
    .await;
    outcomes.push(old_canary);

    // Every report and export of the evidence.
    let html = bw.path("report.html");
    let html_path = html.to_str().expect("a UTF-8 path");
    for args in [
        vec!["report", "--html", html_path, "--log", "debug"],
        vec!["report", "--framework", "owasp-nhi", "--log", "debug"],
        vec![
            "report",
            "--framework",
            "csf2",
            "-o",
            "json",
            "--log",
            "debug",
        ],
        vec!["report", "--framework", "sp800-207", "--log", "debug"],
        vec!["evidence", "export", "--format", "ocsf", "--log", "debug"],
        vec!["evidence", "export", "--log", "debug"],
        vec!["evidence", "verify", "--log", "debug"],
        vec!["status", "-o", "json", "--log", "debug"],
    ] {
        let outcome = bw.enact(&args).await;
        outcome.expect_code(0);
        outcomes.push(outcome);
    }
    assert!(html.is_file(), "no HTML report was written");

    // At least the four canaries, eight server secrets, four first values and three
    // replacements.
    assert!(
        secrets.len() >= 19,
        "only {} secret values were collected",
        secrets.len()
    );
    for outcome in &outcomes {
        let what = format!("the output of `enact {}`", outcome.args.join(" "));
        assert_free_of(&what, outcome.stdout.as_bytes(), &secrets);
        assert_free_of(&what, outcome.stderr.as_bytes(), &secrets);
    }
    let mut files = files_under(&bw.state_dir());
    assert!(files.iter().any(|f| f.ends_with("state.db")));
    assert!(files.iter().any(|f| f.ends_with("log.jsonl")));
    files.push(html);
    for file in &files {
        let bytes = std::fs::read(file).expect("read a file");
        assert_free_of(&file.display().to_string(), &bytes, &secrets);
    }
    let server_logs = [
        (
            "the PostgreSQL server log",
            std::fs::read(&bw.pg.log).unwrap_or_default(),
        ),
        ("the OpenBao server log", bw.bao.server_log_bytes()),
        // The audit log records request bodies with every value HMAC'd.
        ("the OpenBao audit log", bw.bao.audit_log_bytes()),
        ("the Redis server log", redis.log_bytes()),
        ("the slapd log", ldap.log_bytes()),
    ];
    // An OpenBao dev server prints its root token when it starts; that line is the test
    // setup's, not enact's.
    let mut handled = secrets.clone();
    handled.remove(&bw.bao.root_token);
    for (what, bytes) in &server_logs {
        assert!(!bytes.is_empty(), "{what} is empty");
        assert_free_of(what, bytes, &handled);
    }
}
