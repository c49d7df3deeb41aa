//! OpenBao goes down between executing an action and verifying it: the action is
//! indeterminate, never verified, and the next apply resumes and verifies it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{
    account, action_records, identity_with, record_verdict, secret_id_credential, BaoWorkspace,
    Proxy,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openbao_outage_during_verification_resumes() {
    let bw = BaoWorkspace::new();
    let role = bw.bao_name("api");
    let read = bw.bao_name("read");
    let credential = secret_id_credential(&bw.secret_id_sink("api"), "30d");
    let plain = [identity_with(
        "api",
        "active",
        &[account("bao-main", &role, &credential)],
    )];
    bw.write_bao_policy(&plain);
    bw.enact(&["apply"]).await.expect_code(0);

    // The connector writes the role on the connection it keeps alive; once that write has
    // passed, every new connection, such as the verifier's, is closed.
    let proxy = Proxy::start_cut_after(
        bw.bao.socket_address(),
        &format!("POST /v1/auth/approle/role/{role} HTTP/1.1"),
    )
    .await;
    let granted = [identity_with(
        "api",
        "active",
        &[account(
            "bao-main",
            &role,
            &format!("entitlements:\n  - policy: {read}\n{credential}"),
        )],
    )];
    bw.write_bao_policy_with(
        &format!("http://{}", proxy.address),
        "1s",
        "{ action: report, ignore: [\"*\"] }",
        &granted,
    );

    let first = bw.enact(&["apply", "-o", "json"]).await;
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
    let action_id = report["results"][0]["action"]["id"]
        .as_str()
        .expect("an action id")
        .to_string();
    // The grant itself went through before the outage.
    assert_eq!(bw.bao.role_policies(&role).await, vec![read.clone()]);

    proxy.allow_all();
    let second = bw.enact(&["apply"]).await;
    second.expect_code(0);
    assert!(second.stdout.contains("Resumed 1 action(s)"), "{second}");

    let records = bw.evidence().await;
    let verdicts: Vec<String> = action_records(&records)
        .into_iter()
        .filter(|r| r["action"]["id"] == action_id.as_str())
        .map(record_verdict)
        .collect();
    assert_eq!(verdicts, vec!["indeterminate", "verified"]);
    bw.enact(&["evidence", "verify"]).await.expect_code(0);

    // Straight to the server, the policy holds.
    bw.write_bao_policy(&granted);
    bw.enact(&["plan"]).await.expect_code(0);
}
