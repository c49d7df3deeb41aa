//! Staged rotation with alternating users on the real PostgreSQL server, watched by a dependent
//! that re-reads its credential from the sink and logs in without pause: it never fails with
//! the credential the sink holds, through ordinary rotations and through a crash at each stage
//! boundary. A dependent that does not move keeps the previous credential working, and
//! sessions of undeclared dependents are reported.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{identity, Workspace};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

/// The application name the dependent's sessions carry.
const WORKER_APP: &str = "billing-worker";

/// Returns how many rotations the continuous-client test performs; `ENACT_ROTATIONS` overrides it.
fn rotations() -> usize {
    std::env::var("ENACT_ROTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// Renders the policy of one alternating-users identity `billing` whose dependent `worker` is
/// observed through its application name, plus `extra` lines in its credential.
fn alternating_policy(ws: &Workspace, extra: &str) -> String {
    let dependents = format!(
        "    dependents:\n      - name: worker\n        application_name: {WORKER_APP}\n{extra}"
    );
    identity(
        "billing",
        "active",
        &ws.role("billing"),
        &format!(
            "entitlements:\n  - privilege: CONNECT\n    on: database {db}\ncredential:\n    kind: password\n    strategy: alternating\n    grace_period: 20s\n    max_age: 90d\n    deliver_to: {{ file: {sink} }}\n{dependents}",
            db = ws.pg.database,
            sink = ws.sink("billing").display(),
        ),
    )
}

/// Splits an alternating-users sink value into its user and password.
fn split(value: &str) -> (String, String) {
    let parsed: Value = serde_json::from_str(value).expect("the sink holds a JSON object");
    (
        parsed["username"].as_str().expect("username").to_owned(),
        parsed["password"].as_str().expect("password").to_owned(),
    )
}

async fn connect(ws: &Workspace, value: &str, app: &str) -> Result<Client, tokio_postgres::Error> {
    let (user, password) = split(value);
    let mut config = tokio_postgres::Config::new();
    config
        .host(&ws.pg.host)
        .port(ws.pg.port)
        .dbname(&ws.pg.database)
        .user(&user)
        .password(&password)
        .application_name(app)
        .connect_timeout(Duration::from_secs(10));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// What the continuous client counted.
#[derive(Default)]
struct Counts {
    logins: AtomicU64,
    /// Failed logins with the value the sink still held afterwards.
    failures: AtomicU64,
    /// Failed logins whose value the sink replaced meanwhile; the dependent retries with the
    /// new one, as a real one would.
    raced: AtomicU64,
    errors: Mutex<Vec<String>>,
}

/// A dependent in a tight loop: it reads the sink, logs in with what it read and runs a
/// query. It also keeps one pooled session, reopened whenever the sink changes, as a
/// connection pool that follows its credential would.
fn start_client(
    ws: Arc<Workspace>,
    sink: PathBuf,
) -> (Arc<AtomicBool>, Arc<Counts>, tokio::task::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let handle = tokio::spawn({
        let stop = stop.clone();
        let counts = counts.clone();
        async move {
            let mut pooled: Option<(String, Client)> = None;
            while !stop.load(Ordering::Relaxed) {
                let Ok(value) = std::fs::read_to_string(&sink) else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                if pooled.as_ref().map(|(held, _)| held) != Some(&value) {
                    if let Ok(client) = connect(&ws, &value, WORKER_APP).await {
                        pooled = Some((value.clone(), client));
                    }
                }
                match connect(&ws, &value, WORKER_APP).await {
                    Ok(client) => {
                        client.simple_query("SELECT 1").await.expect("query");
                        counts.logins.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        let now = std::fs::read_to_string(&sink).unwrap_or_default();
                        if now == value {
                            counts.failures.fetch_add(1, Ordering::Relaxed);
                            counts.errors.lock().unwrap().push(error.to_string());
                        } else {
                            counts.raced.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    });
    (stop, counts, handle)
}

/// Returns whether `value` is rejected at login.
async fn rejected(ws: &Workspace, value: &str) -> bool {
    match connect(ws, value, "enact-e2e").await {
        Ok(_) => false,
        Err(error) => {
            let code = error.code().cloned();
            assert_eq!(
                code,
                Some(tokio_postgres::error::SqlState::INVALID_PASSWORD),
                "{error}"
            );
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_client_never_fails() {
    let ws = Arc::new(Workspace::new());
    ws.write_policy(&[alternating_policy(&ws, "")]);
    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["apply"]).await.expect_code(0);
    let group = ws.role("billing");
    // The group has the entitlements and cannot log in. The users are its members.
    assert_eq!(ws.role_login(&group).await, Some(false));
    for user in [format!("{group}_blue"), format!("{group}_green")] {
        assert_eq!(ws.role_login(&user).await, Some(true));
        assert_eq!(ws.memberships(&user).await, vec![group.clone()]);
    }

    let (stop, counts, client) = start_client(ws.clone(), ws.sink("billing"));
    let total = rotations();
    let started = Instant::now();
    let mut users_seen = std::collections::BTreeSet::new();
    for round in 0..total {
        let before = ws.sink_value("billing");
        let outcome = ws.enact(&["apply", "--rotate", "billing"]).await;
        assert_eq!(outcome.code, Some(0), "rotation {round}\n{outcome}");
        let after = ws.sink_value("billing");
        assert_ne!(before, after, "rotation {round} changed nothing");
        users_seen.insert(split(&after).0);
        // The previous credential is dead once the rotation completes.
        assert!(rejected(&ws, &before).await, "rotation {round}");
        assert!(!rejected(&ws, &after).await, "rotation {round}");
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();

    let failures = counts.failures.load(Ordering::Relaxed);
    let logins = counts.logins.load(Ordering::Relaxed);
    let raced = counts.raced.load(Ordering::Relaxed);
    eprintln!(
        "continuous client: {total} rotations in {:.1} s, {logins} logins, {failures} failures with the sink's current value, {raced} raced a rotation",
        elapsed.as_secs_f64()
    );
    assert_eq!(failures, 0, "{:?}", counts.errors.lock().unwrap());
    assert!(logins > total as u64, "the client logged in {logins} times");
    assert_eq!(users_seen.len(), 2, "both users took turns");

    // The evidence shows each dependents stage confirmed by the worker's session.
    let records = ws.evidence().await;
    let moved = records
        .iter()
        .filter(|r| r.to_string().contains("dependent `worker` moved"))
        .count();
    assert_eq!(moved, total, "one confirmed dependents stage per rotation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_each_stage_boundary_recovers() {
    let ws = Arc::new(Workspace::new());
    ws.write_policy(&[alternating_policy(&ws, "")]);
    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["apply"]).await.expect_code(0);
    let (stop, counts, client) = start_client(ws.clone(), ws.sink("billing"));

    let stages = [
        "list-sessions",
        "stage-credential",
        "add-credential",
        "test-credential",
        "promote-credential",
        "wait-for-dependents",
        "retire-previous",
    ];
    for stage in stages {
        for point in ["before", "after"] {
            let crash = format!("{point}:{stage}");
            let before = ws.sink_value("billing");
            let mut command = ws.command(&["apply", "--rotate", "billing"]);
            command.env("ENACT_TEST_CRASH", &crash);
            let output = command.output().await.expect("run enact");
            assert_eq!(output.status.code(), None, "{crash}: enact was to abort");

            // The next apply finishes what the crashed one started.
            let outcome = ws.enact(&["apply"]).await;
            assert_eq!(outcome.code, Some(0), "{crash}\n{outcome}");
            assert!(
                outcome.stdout.contains("Resumed 1 action(s)"),
                "{crash}\n{outcome}"
            );
            let after = ws.sink_value("billing");
            assert!(!rejected(&ws, &after).await, "{crash}");
            if after != before {
                assert!(rejected(&ws, &before).await, "{crash}");
            }
            // Nothing is left to do.
            let (code, plan) = ws.plan_json().await;
            assert_eq!(code, 0, "{crash}: {plan}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();
    let failures = counts.failures.load(Ordering::Relaxed);
    eprintln!(
        "crash loop: {} crashes, {} logins, {failures} failures with the sink's current value",
        stages.len() * 2,
        counts.logins.load(Ordering::Relaxed)
    );
    assert_eq!(failures, 0, "{:?}", counts.errors.lock().unwrap());
    let verify = ws.enact(&["evidence", "verify"]).await;
    assert_eq!(verify.code, Some(0), "{verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmoved_dependent_keeps_old_credential() {
    let ws = Workspace::new();
    let marker = ws.path("worker-moved");
    let probe = ws.path("worker-moved.sh");
    std::fs::write(&probe, format!("#!/bin/sh\ntest -f {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let policy = identity(
        "billing",
        "active",
        &ws.role("billing"),
        &format!(
            "credential:\n    kind: password\n    strategy: alternating\n    grace_period: 2s\n    max_age: 90d\n    deliver_to: {{ file: {sink} }}\n    dependents:\n      - name: cron\n        command: [{probe}]\n",
            sink = ws.sink("billing").display(),
            probe = probe.display(),
        ),
    );
    ws.write_policy(&[policy]);
    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["apply"]).await.expect_code(0);
    let before = ws.sink_value("billing");

    // The dependent never confirms: the stage gives up after the grace period, the action is
    // not verified, and the previous credential still logs in.
    let outcome = ws.enact(&["apply", "--rotate", "billing"]).await;
    assert_eq!(outcome.code, Some(3), "{outcome}");
    assert!(
        outcome.all_output().contains("not every dependent moved"),
        "{outcome}"
    );
    assert!(outcome.all_output().contains("`cron`"), "{outcome}");
    let promoted = ws.sink_value("billing");
    assert_ne!(promoted, before);
    assert!(
        !rejected(&ws, &before).await,
        "the previous credential was cut off"
    );
    assert!(!rejected(&ws, &promoted).await);

    // Until then, plan and status show the rotation as open, not done.
    let plan = ws.enact(&["plan"]).await;
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("1 action(s) left open by an earlier run"),
        "{plan}"
    );
    assert!(plan.stdout.contains("No other changes."), "{plan}");
    let plan = ws.enact(&["plan", "-o", "json"]).await;
    plan.expect_code(2);
    let report = plan.json();
    assert_eq!(report["changes_pending"], true, "{report}");
    assert_eq!(report["open_actions"][0]["status"], "running", "{report}");
    let status = ws.enact(&["status", "-o", "json"]).await;
    status.expect_code(0);
    let report = status.json();
    assert_eq!(report["accounts"][0]["open_actions"], 1, "{report}");
    assert_eq!(report["accounts"][0]["in_policy"], false, "{report}");

    // Once the dependent moves, the next apply resumes the rotation and retires the old one.
    std::fs::write(&marker, "").unwrap();
    let outcome = ws.enact(&["apply"]).await;
    assert_eq!(outcome.code, Some(0), "{outcome}");
    assert!(outcome.stdout.contains("Resumed 1 action(s)"), "{outcome}");
    assert!(rejected(&ws, &before).await);
    assert!(!rejected(&ws, &promoted).await);
    let records = ws.evidence().await;
    assert!(records
        .iter()
        .any(|r| r.to_string().contains("dependent `cron` moved (probe")));
    ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_dependents_are_reported() {
    let ws = Workspace::new();
    ws.write_policy(&[alternating_policy(&ws, "")]);
    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["apply"]).await.expect_code(0);
    let value = ws.sink_value("billing");
    let worker = connect(&ws, &value, WORKER_APP).await.unwrap();
    let stranger = connect(&ws, &value, "nightly-export").await.unwrap();
    let pid: i32 = stranger
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let plan = ws.enact(&["plan", "--rotate", "billing"]).await;
    assert_eq!(plan.code, Some(2), "{plan}");
    assert!(
        plan.stdout
            .contains("undeclared dependents: 1 open session(s)"),
        "{plan}"
    );
    assert!(plan.stdout.contains("nightly-export"), "{plan}");
    assert!(!plan
        .stdout
        .contains(&format!("(application `{WORKER_APP}`")));
    // The worker's pooled session closes when it reads the new credential.
    drop(worker);

    // The worker moves; the stranger does not, and is named in the evidence.
    let ws = Arc::new(ws);
    let (stop, _counts, client) = start_client(ws.clone(), ws.sink("billing"));
    let outcome = ws.enact(&["apply", "--rotate", "billing"]).await;
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();
    assert_eq!(outcome.code, Some(0), "{outcome}");
    let records = ws.evidence().await;
    let text = format!("{:?}", records.last());
    assert!(
        records.iter().any(|r| r.to_string().contains(&format!(
            "sessions {pid} on the previous credential belong to no declared dependent"
        ))),
        "{text}"
    );
    assert!(records
        .iter()
        .any(|r| r.to_string().contains("left open, undeclared dependent")));
}

#[tokio::test]
async fn rotate_names_a_declared_identity() {
    let ws = Workspace::new();
    ws.write_policy(&[alternating_policy(&ws, "")]);
    ws.enact(&["init"]).await.expect_code(0);
    let outcome = ws.enact(&["plan", "--rotate", "biling"]).await;
    assert_eq!(outcome.code, Some(64), "{outcome}");
    assert!(
        outcome
            .stderr
            .contains("no identity `biling` in the policy"),
        "{outcome}"
    );
}

#[tokio::test]
async fn rejected_new_credential_rolls_back() {
    let ws = Workspace::new();
    ws.write_policy(&[alternating_policy(&ws, "")]);
    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["apply"]).await.expect_code(0);
    let before = ws.sink_value("billing");
    let (current_user, _) = split(&before);
    let group = ws.role("billing");
    let other = if current_user.ends_with("_blue") {
        format!("{group}_green")
    } else {
        format!("{group}_blue")
    };
    // An expired password is rejected at login however right it is, so the test step fails.
    ws.admin()
        .await
        .batch_execute(&format!(
            "ALTER ROLE {} VALID UNTIL '2000-01-01'",
            common::ident(&other)
        ))
        .await
        .unwrap();

    let outcome = ws.enact(&["apply", "--rotate", "billing"]).await;
    assert_eq!(outcome.code, Some(3), "{outcome}");
    assert!(outcome.stdout.contains("test-credential"), "{outcome}");
    assert!(outcome.stdout.contains("rolled back"), "{outcome}");
    // The sink still holds the previous value, which still logs in; the other user has no
    // password again.
    assert_eq!(ws.sink_value("billing"), before);
    assert!(!rejected(&ws, &before).await);
    let row = ws
        .superuser()
        .await
        .query_one(
            "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = $1",
            &[&other],
        )
        .await
        .unwrap();
    assert!(
        row.get::<_, bool>(0),
        "`{other}` kept the rejected password"
    );
    let records = ws.evidence().await;
    assert!(records
        .iter()
        .any(|r| r.to_string().contains("\"rollback-credential\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probe_dependent_confirms_move() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A dependent's health endpoint on 127.0.0.1 that returns 200 and records each request.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let server = tokio::spawn({
        let requests = requests.clone();
        async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut buffer = vec![0u8; 4096];
                let read = socket.read(&mut buffer).await.unwrap_or(0);
                requests
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buffer[..read]).into_owned());
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        }
    });

    let ws = Workspace::new();
    let policy = identity(
        "billing",
        "active",
        &ws.role("billing"),
        &format!(
            "credential:\n    kind: password\n    strategy: alternating\n    grace_period: 10s\n    max_age: 90d\n    deliver_to: {{ file: {sink} }}\n    dependents:\n      - name: web\n        http: http://127.0.0.1:{port}/healthz/db\n",
            sink = ws.sink("billing").display(),
        ),
    );
    ws.write_policy(&[policy]);
    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["apply"]).await.expect_code(0);
    let before = ws.sink_value("billing");
    let outcome = ws.enact(&["apply", "--rotate", "billing"]).await;
    assert_eq!(outcome.code, Some(0), "{outcome}");
    assert!(rejected(&ws, &before).await);
    server.abort();

    let records = ws.evidence().await;
    assert!(records.iter().any(|r| r
        .to_string()
        .contains("dependent `web` moved (probe http://127.0.0.1")));
    let requests = requests.lock().unwrap();
    let request = requests.last().expect("the probe called the endpoint");
    assert!(request.starts_with("GET /healthz/db"), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains("x-enact-credential-fingerprint: hmac-sha256:"),
        "{request}"
    );
    // The probe carries the fingerprint, never the value.
    let (_, password) = split(&ws.sink_value("billing"));
    assert!(!request.contains(&password), "the probe sent the password");
}
