//! Kill and resume: an apply killed with SIGKILL part-way through is finished by the next
//! applies, with every identity in its declared state, each action verified exactly once and
//! each role created exactly once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{action_records, credential, identity, record_verdict, Workspace};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Identities in the policy; each needs a create and two grants.
const IDENTITIES: usize = 120;

/// Counts the evidence log's lines. A line being written counts once it ends.
fn log_line_count(ws: &Workspace) -> usize {
    std::fs::read(ws.evidence_log())
        .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
        .unwrap_or(0)
}

/// Applies a 360-action policy and kills the apply once the evidence log has `kill_at` lines.
/// Then applies again until it succeeds, and checks the server, the evidence and the server log.
async fn kill_and_resume(point: &str, kill_at: usize) {
    let ws = Workspace::new();
    ws.create_schema().await;
    let table = ws.create_table("orders").await;
    let group = ws.role("readers");
    ws.create_role(&group, "NOLOGIN").await;
    let names: Vec<String> = (0..IDENTITIES).map(|i| format!("w{i:03}")).collect();
    let identities: Vec<String> = names
        .iter()
        .map(|name| {
            identity(
                name,
                "active",
                &ws.role(name),
                &format!(
                    "entitlements:\n  - member_of: {group}\n  - privilege: SELECT\n    on: table {table}\n{}",
                    credential(&ws.sink(name), "90d")
                ),
            )
        })
        .collect();
    ws.write_policy(&identities);

    // The first apply, killed part-way.
    let mut child = ws
        .command(&["apply", "--allow-destructive"])
        .spawn()
        .expect("start enact apply");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().expect("poll the apply") {
            panic!(
                "{point}: the apply ended with {status} before the evidence log reached {kill_at} lines ({} lines)",
                log_line_count(&ws)
            );
        }
        if log_line_count(&ws) >= kill_at {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{point}: the apply made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().expect("send SIGKILL");
    let status = child.wait().await.expect("wait for the killed apply");
    assert_eq!(
        status.code(),
        None,
        "{point}: the apply was not killed but exited with {status}"
    );
    let lines_at_kill = log_line_count(&ws);
    assert!(
        lines_at_kill < 3 * IDENTITIES + 1,
        "{point}: the apply had finished all actions before the kill"
    );

    // Apply again until every action is verified.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = ws.enact(&["apply", "--allow-destructive"]).await;
        if outcome.code == Some(0) {
            break;
        }
        assert!(
            attempts < 5,
            "{point}: apply still fails after {attempts} attempts\n{outcome}"
        );
    }

    // Every identity is in its declared state, read in one query per fact.
    let superuser = ws.superuser().await;
    let rows = superuser
        .query(
            "SELECT r.rolname::text, r.rolcanlogin, \
                    coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) \
                              FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                              WHERE m.member = r.oid), ''), \
                    coalesce((SELECT string_agg(e.privilege_type, ',' ORDER BY e.privilege_type) \
                              FROM pg_class c, aclexplode(c.relacl) e \
                              WHERE c.oid = to_regclass($2) AND e.grantee = r.oid), '') \
             FROM pg_roles r WHERE starts_with(r.rolname, $1) AND r.rolname <> $3",
            &[&ws.prefix, &table, &group],
        )
        .await
        .expect("read the roles");
    let found: BTreeMap<String, (bool, String, String)> = rows
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2), row.get(3))))
        .collect();
    assert_eq!(
        found.len(),
        IDENTITIES,
        "{point}: roles found: {:?}",
        found.keys()
    );
    for name in &names {
        let role = ws.role(name);
        let expected = (true, group.clone(), "SELECT".to_string());
        assert_eq!(found.get(&role), Some(&expected), "{point}: `{role}`");
        let password = ws.sink_value(name);
        if let Err(error) = ws.pg.client_as(&role, &password).await {
            panic!("{point}: `{role}` cannot log in with its sink's password: {error}");
        }
    }
    ws.enact(&["plan"]).await.expect_code(0);
    ws.enact(&["evidence", "verify"]).await.expect_code(0);

    // Each action is verified exactly once.
    let records = ws.evidence().await;
    let mut verified: BTreeMap<String, usize> = BTreeMap::new();
    for record in action_records(&records) {
        if record_verdict(record) == "verified" {
            let id = record["action"]["id"].as_str().unwrap_or("").to_string();
            *verified.entry(id).or_default() += 1;
        }
    }
    let repeated: Vec<_> = verified.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        repeated.is_empty(),
        "{point}: actions verified more than once: {repeated:?}"
    );
    assert_eq!(verified.len(), 3 * IDENTITIES, "{point}: verified actions");

    // No completed step ran twice, and every CREATE ROLE the server received had its intent
    // journaled first. The server logs a statement when it receives it, so a create whose
    // transaction the kill aborted is logged too, and so is the repeat of a create whose result
    // the kill kept from the journal: both are explained by a journaled attempt.
    let journal =
        rusqlite::Connection::open(ws.state_dir().join("state.db")).expect("open the journal");
    let mut repeated_ok = journal
        .prepare(
            "SELECT a.account, s.step, COUNT(*) FROM steps s \
             JOIN actions a ON a.run_id = s.run_id AND a.action_id = s.action_id \
             WHERE s.result_json LIKE '%\"result\":\"ok\"%' \
             GROUP BY a.account, s.action_id, s.step HAVING COUNT(*) > 1",
        )
        .expect("prepare");
    let repeated: Vec<(String, String, i64)> = repeated_ok
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        repeated.is_empty(),
        "{point}: steps completed more than once: {repeated:?}"
    );
    let log = ws.pg.server_log();
    for name in &names {
        let role = ws.role(name);
        let received = log.matches(&format!("CREATE ROLE \"{role}\" ")).count();
        let intents: i64 = journal
            .query_row(
                "SELECT COUNT(*) FROM steps s JOIN actions a ON a.run_id = s.run_id AND a.action_id = s.action_id \
                 WHERE a.account = ?1 AND s.step = 'create-account'",
                [&role],
                |row| row.get(0),
            )
            .expect("count intents");
        assert!(
            received >= 1,
            "{point}: no CREATE ROLE for `{role}` in the server log"
        );
        assert!(
            received as i64 <= intents,
            "{point}: the server received CREATE ROLE for `{role}` {received} times but the journal has {intents} attempt(s)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_apply_resumes_cleanly() {
    for (point, kill_at) in [("early", 10), ("middle", 180), ("late", 330)] {
        kill_and_resume(point, kill_at).await;
    }
}

/// Identities in the rotation test; each needs one rotation that ends older sessions.
const ROTATIONS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_rotation_resumes_cleanly() {
    let ws = Workspace::new();
    let names: Vec<String> = (0..ROTATIONS).map(|i| format!("r{i:03}")).collect();
    let identities: Vec<String> = names
        .iter()
        .map(|name| {
            identity(
                name,
                "active",
                &ws.role(name),
                &format!(
                    "{}sessions: {{ max_lifetime: 8h, idle_limit: 1h, end_on_rotation: true }}\n",
                    credential(&ws.sink(name), "90d")
                ),
            )
        })
        .collect();
    ws.write_policy(&identities);
    ws.enact(&["apply"]).await.expect_code(0);
    let old: Vec<String> = names.iter().map(|name| ws.sink_value(name)).collect();
    for name in &names {
        ws.age_credential(&ws.role(name), 100).await;
    }
    let records_before = log_line_count(&ws);

    let mut child = ws.command(&["apply"]).spawn().expect("start enact apply");
    let kill_at = records_before + ROTATIONS / 2;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().expect("poll the apply") {
            panic!("the apply ended with {status} before the evidence log reached {kill_at} lines");
        }
        if log_line_count(&ws) >= kill_at {
            break;
        }
        assert!(Instant::now() < deadline, "the apply made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().expect("send SIGKILL");
    let status = child.wait().await.expect("wait for the killed apply");
    assert_eq!(
        status.code(),
        None,
        "the apply was not killed but exited with {status}"
    );

    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = ws.enact(&["apply"]).await;
        if outcome.code == Some(0) {
            break;
        }
        assert!(
            attempts < 5,
            "apply still fails after {attempts} attempts\n{outcome}"
        );
    }

    for (name, old) in names.iter().zip(&old) {
        let role = ws.role(name);
        let new = ws.sink_value(name);
        assert_ne!(&new, old, "`{role}` was not rotated");
        if let Err(error) = ws.pg.client_as(&role, &new).await {
            panic!("`{role}` cannot log in with its sink's password: {error}");
        }
        assert!(
            ws.pg.client_as(&role, old).await.is_err(),
            "`{role}` still accepts its old password"
        );
        assert!(
            !ws.path(&format!("secrets/{name}.pw.pending")).exists(),
            "`{role}` has a staged value left"
        );
        assert!(
            !ws.path(&format!("secrets/{name}.pw.previous")).exists(),
            "`{role}` has a previous value left"
        );
    }
    ws.enact(&["plan"]).await.expect_code(0);
    ws.enact(&["evidence", "verify"]).await.expect_code(0);
    let records = ws.evidence().await;
    let mut verified: BTreeMap<String, usize> = BTreeMap::new();
    for record in action_records(&records) {
        if record_verdict(record) == "verified"
            && record["action"]["kind"]["kind"] == "rotate_credential"
        {
            let id = record["action"]["id"].as_str().unwrap_or("").to_string();
            *verified.entry(id).or_default() += 1;
        }
    }
    let repeated: Vec<_> = verified.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        repeated.is_empty(),
        "rotations verified more than once: {repeated:?}"
    );
    assert_eq!(verified.len(), ROTATIONS, "verified rotations");
}
