//! Canary secrets on Redis and OpenLDAP. The passwords of Redis ACL users and LDAP service
//! accounts (canaries set by hand and every value that ever sat in a sink file) and the
//! passwords of the servers must never reach enact's output with debug logs, its state
//! database, its evidence, a saved plan, the Redis server log or the slapd log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    account, contains_bytes, credential, identity_with, sha256_hex, LdapEnv, Outcome, RedisEnv,
    Workspace,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Unmanaged accounts are reported, and every account that is not the test's own is ignored.
const IGNORE_ALL: &str = "{ action: report, ignore: [\"*\"] }";

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

/// Adds every value in the workspace's sink files: current, staged or previous.
fn collect_sink_values(ws: &Workspace, secrets: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(ws.path("secrets")) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            let value = text.strip_suffix('\n').unwrap_or(&text).to_string();
            if !value.is_empty() {
                secrets.insert(value);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_ldap_secrets_never_leak() {
    let redis = RedisEnv::shared();
    let ldap = LdapEnv::shared();
    let mut ws = Workspace::new();
    ws.use_redis(&redis);
    ws.use_ldap(&ldap);
    let _redis_cleanup = redis.cleanup_on_drop(&ws.prefix);
    let _ldap_cleanup = ldap.cleanup_on_drop(&ws.prefix);

    let canary = |what: &str| format!("canary-{what}-{:032x}", rand::random::<u128>());
    let redis_canary = canary("redis");
    let ldap_canary = canary("ldap");
    let ldap_extra = canary("ldap-extra");
    let fresh_extra = canary("fresh-extra");
    let mut secrets: BTreeSet<String> = BTreeSet::new();
    for value in [&redis_canary, &ldap_canary, &ldap_extra, &fresh_extra] {
        secrets.insert(value.clone());
    }
    for value in [
        &redis.admin_password,
        &redis.default_password,
        &ldap.admin_password,
        &ldap.root_password,
        &ws.pg.admin_password,
        &ws.pg.superuser_password,
    ] {
        secrets.insert(value.clone());
    }

    // The canary accounts exist with passwords enact never set, which their sinks contain. The
    // Redis user has no credential record and the LDAP account has a second password, so
    // enact rotates both.
    let canary_user = ws.role("canary");
    let fresh_user = ws.role("fresh");
    redis
        .create_user(&canary_user, &redis_canary, &["+@read"])
        .await;
    let canary_dn = ldap.create_account(&canary_user).await;
    ldap.set_password(&canary_dn, &ldap_canary).await;
    ldap.add_password(&canary_dn, &ldap_extra).await;
    std::fs::create_dir_all(ws.path("secrets")).expect("create the sink directory");
    std::fs::write(ws.sink("canary-redis"), format!("{redis_canary}\n"))
        .expect("write the Redis canary sink");
    std::fs::write(ws.sink("canary-ldap"), format!("{ldap_canary}\n"))
        .expect("write the LDAP canary sink");
    let _canary_session = redis.session(&canary_user, &redis_canary).await;
    assert_eq!(ldap.bind_code(&canary_dn, &ldap_canary).await, 0);

    let sessions = "sessions: { max_lifetime: 8h, idle_limit: 1h, end_on_rotation: true }\n";
    let accounts = |name: &str, user: &str| {
        vec![
            account(
                "cache",
                user,
                &format!(
                    "entitlements:\n  - rule: \"+@read\"\n{}{sessions}",
                    credential(&ws.sink(&format!("{name}-redis")), "30d")
                ),
            ),
            account(
                "directory",
                user,
                &credential(&ws.sink(&format!("{name}-ldap")), "90d"),
            ),
        ]
    };
    let policy = |state: &str| {
        ws.write_policy_with_targets(
            &[
                redis.target_yaml("cache", IGNORE_ALL),
                ldap.target_yaml("directory", IGNORE_ALL),
            ],
            &[
                identity_with("canary", state, &accounts("canary", &canary_user)),
                identity_with("fresh", state, &accounts("fresh", &fresh_user)),
            ],
        );
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    let plan_file = ws.path("plan.json");
    let plan_path = plan_file.to_str().expect("a UTF-8 path");

    // Create the fresh accounts and rotate the canaries, through a saved plan.
    policy("active");
    let planned = ws
        .enact(&["plan", "--out", plan_path, "--log", "debug"])
        .await;
    planned.expect_code(2);
    outcomes.push(planned);
    let applied = ws.enact(&["apply", plan_path, "--log", "debug"]).await;
    applied.expect_code(0);
    assert!(
        applied.stderr.contains("DEBUG"),
        "no debug log lines\n{applied}"
    );
    outcomes.push(applied);
    collect_sink_values(&ws, &mut secrets);
    assert_ne!(
        ws.sink_value("canary-redis"),
        redis_canary,
        "the Redis canary was not rotated"
    );
    assert_ne!(
        ws.sink_value("canary-ldap"),
        ldap_canary,
        "the LDAP canary was not rotated"
    );
    let acl = redis.user(&canary_user).await.expect("the canary user");
    assert_eq!(
        acl.passwords,
        vec![sha256_hex(&ws.sink_value("canary-redis"))]
    );

    // Rotate the fresh accounts, ending the Redis session, with JSON logs.
    let _fresh_session = redis
        .session(&fresh_user, &ws.sink_value("fresh-redis"))
        .await;
    let long_ago = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros()
        - 100 * 86_400_000_000)
        .to_string();
    let _: i64 = redis
        .run(&[
            "HSET",
            common::CREDENTIAL_SET_AT_KEY,
            &fresh_user,
            &long_ago,
        ])
        .await;
    ldap.add_password(&ldap.account_dn(&fresh_user), &fresh_extra)
        .await;
    let before = ws.sink_value("fresh-ldap");
    let rotated = ws
        .enact(&["apply", "--log", "debug", "--log-format", "json"])
        .await;
    rotated.expect_code(0);
    assert!(
        rotated.stderr.contains("\"level\":\"DEBUG\""),
        "no JSON debug log lines\n{rotated}"
    );
    outcomes.push(rotated);
    collect_sink_values(&ws, &mut secrets);
    assert_ne!(
        ws.sink_value("fresh-ldap"),
        before,
        "the LDAP password was not rotated"
    );

    let status = ws.enact(&["status", "-o", "json", "--log", "debug"]).await;
    status.expect_code(0);
    outcomes.push(status);

    // Disable both identities, then decommission them.
    policy("disabled");
    let disabled = ws.enact(&["apply", "--log", "debug"]).await;
    disabled.expect_code(0);
    outcomes.push(disabled);
    collect_sink_values(&ws, &mut secrets);
    policy("decommissioned");
    let deleted = ws
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
    assert_eq!(redis.user(&canary_user).await, None);
    assert_eq!(ldap.entry(&canary_dn, &["uid"]).await, None);

    let export = ws.enact(&["evidence", "export", "--log", "debug"]).await;
    export.expect_code(0);
    outcomes.push(export);
    let verify = ws.enact(&["evidence", "verify", "--log", "debug"]).await;
    verify.expect_code(0);
    outcomes.push(verify);

    // Four canaries, six server passwords and six generated passwords: one per canary account
    // and two per fresh account.
    assert!(
        secrets.len() >= 16,
        "only {} secret values were collected",
        secrets.len()
    );

    for outcome in &outcomes {
        let what = format!("the output of `enact {}`", outcome.args.join(" "));
        assert_free_of(&what, outcome.stdout.as_bytes(), &secrets);
        assert_free_of(&what, outcome.stderr.as_bytes(), &secrets);
    }
    let state = ws.state_dir();
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
        assert_free_of(&file.display().to_string(), &bytes, &secrets);
    }
    assert_free_of("the Redis server log", &redis.log_bytes(), &secrets);
    assert_free_of("the slapd log", &ldap.log_bytes(), &secrets);
}
