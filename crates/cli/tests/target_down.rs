//! A target that goes down between executing an action and verifying it: the action is
//! indeterminate, never verified, and the next apply resumes and verifies it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{action_records, credential, identity, record_verdict, Proxy, Workspace};

/// A provisioned identity `svc`, and a policy that grants it membership of a group through a
/// proxy in front of the server.
struct Outage {
    ws: Workspace,
    group: String,
    role: String,
    proxy: Proxy,
    /// The target block that points at the proxy.
    target: String,
    /// The identity block with the grant.
    granted: String,
}

impl Outage {
    async fn start() -> Outage {
        let ws = Workspace::new();
        let group = ws.role("readers");
        ws.create_role(&group, "NOLOGIN").await;
        let role = ws.role("svc");
        let account = credential(&ws.sink("svc"), "90d");
        ws.write_policy(&[identity("svc", "active", &role, &account)]);
        ws.enact(&["apply"]).await.expect_code(0);

        // The proxy forwards two connections: the observation's and the executor's admin
        // connection. The verifier's new connections are refused.
        let proxy = Proxy::start(ws.pg.address(), 2).await;
        let target = ws.target_yaml(&proxy.address.to_string(), "1s", "{ action: report }");
        let granted = identity(
            "svc",
            "active",
            &role,
            &format!("entitlements:\n  - member_of: {group}\n{account}"),
        );
        ws.write_policy_text(&format!("version: 1\n{target}identities:\n{granted}"));
        Outage {
            ws,
            group,
            role,
            proxy,
            target,
            granted,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_during_verification_resumes() {
    let Outage {
        ws,
        group,
        role,
        proxy,
        granted,
        ..
    } = Outage::start().await;

    let first = ws.enact(&["apply", "-o", "json"]).await;
    first.expect_code(4);
    let report = first.json();
    assert_eq!(
        report["results"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["results"][0]["action"]["kind"]["kind"], "grant");
    assert_eq!(report["results"][0]["status"], "indeterminate", "{report}");
    assert_eq!(report["counts"]["indeterminate"], 1);
    assert_eq!(report["counts"]["verified"], 0);
    assert!(proxy.accepted() > 2, "the verifier never tried to connect");
    let action_id = report["results"][0]["action"]["id"]
        .as_str()
        .expect("an action id")
        .to_string();
    // The grant itself went through before the outage.
    assert_eq!(ws.memberships(&role).await, vec![group.clone()]);

    proxy.allow_all();
    let second = ws.enact(&["apply"]).await;
    second.expect_code(0);
    assert!(second.stdout.contains("Resumed 1 action(s)"), "{second}");

    let records = ws.evidence().await;
    let verdicts: Vec<String> = action_records(&records)
        .into_iter()
        .filter(|r| r["action"]["id"] == action_id.as_str())
        .map(record_verdict)
        .collect();
    assert_eq!(verdicts, vec!["indeterminate", "verified"]);
    ws.enact(&["evidence", "verify"]).await.expect_code(0);

    // Straight to the server, the policy holds.
    ws.write_policy(&[granted]);
    ws.enact(&["plan"]).await.expect_code(0);
}

/// An apply that resumes an open action and then cannot observe a target: the resumed action is
/// reported in the error and its evidence is signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_then_observe_failure_signs_evidence() {
    let Outage {
        ws,
        proxy,
        target,
        granted,
        ..
    } = Outage::start().await;
    // The grant runs but its verification cannot connect, so it stays open.
    ws.enact(&["apply"]).await.expect_code(4);

    // A second target on a port where nothing listens.
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = format!(
        "  pg-down:\n    kind: postgres\n    endpoint: 127.0.0.1:{closed_port}\n    database: {db}\n    admin: {{ user: {admin}, password_env: ENACT_PG_ADMIN_PASSWORD }}\n",
        db = ws.pg.database,
        admin = ws.pg.admin_user,
    );
    ws.write_policy_text(&format!("version: 1\n{target}{down}identities:\n{granted}"));
    proxy.allow_all();

    let stopped = ws.enact(&["apply"]).await;
    stopped.expect_code(1);
    assert!(stopped.stdout.contains("Resumed 1 action(s)"), "{stopped}");
    assert!(
        stopped
            .stderr
            .contains("apply stopped after resuming 1 action(s) (1 verified"),
        "{stopped}"
    );
    assert!(stopped.stderr.contains("pg-down"), "{stopped}");

    // Every record, the resumed verdict included, is under a signed tree head.
    let verify = ws.enact(&["evidence", "verify"]).await;
    verify.expect_code(0);
    assert!(!verify.stdout.contains("not covered"), "{verify}");
    let verdicts: Vec<String> = action_records(&ws.evidence().await)
        .into_iter()
        .filter(|r| r["action"]["kind"]["kind"] == "grant")
        .map(record_verdict)
        .collect();
    assert_eq!(verdicts, vec!["indeterminate", "verified"]);
}
