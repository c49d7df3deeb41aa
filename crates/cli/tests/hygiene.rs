//! Hygiene rules through `enact plan` and `enact apply` on the real PostgreSQL server: a rule
//! rotates an old credential, a rule disables and then, after its grace period, deletes an
//! unmanaged role, and a rule over an attribute no target records plans nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, identity, Workspace};
use serde_json::Value;

/// The findings of one rule for one account in a JSON plan.
fn finding<'p>(plan: &'p Value, rule: &str, account: &str) -> Option<&'p Value> {
    plan["hygiene"]
        .as_array()
        .expect("the plan lists hygiene findings")
        .iter()
        .find(|f| f["rule"] == rule && f["account"] == account)
}

#[tokio::test]
async fn hygiene_rules_rotate_disable_and_delete() {
    let ws = Workspace::new();
    let declared = ws.role("app");
    let orphan = ws.role("orphan");
    ws.create_role(&orphan, "LOGIN").await;
    assert_eq!(ws.role_login(&orphan).await, Some(true));
    let targets = ws.target_yaml(&ws.pg.endpoint(), "2s", "{ action: report }");
    let account = identity(
        "app",
        "active",
        &declared,
        &credential(&ws.sink("app"), "90d"),
    );
    ws.write_policy_text(&format!("version: 1\n{targets}identities:\n{account}"));
    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["apply"]).await.expect_code(0);
    ws.age_credential(&declared, 40).await;
    let before = ws.sink_value("app");
    ws.write_policy_text(&format!(
        "version: 1\n{targets}identities:\n{account}rules:\n  - name: stale\n    when: age_days > 30 && !unmanaged\n    action: rotate\n  - name: orphans\n    when: unmanaged && account == \"{orphan}\"\n    action: delete\n    grace_period: 1s\n  - name: unused\n    when: last_used_days > 60 && account == \"{declared}\"\n    action: disable\n"
    ));

    let (code, plan) = ws.plan_json().await;
    assert_eq!(code, 2, "{plan}");
    let stale = finding(&plan, "stale", &declared).expect("the stale rule holds");
    assert_eq!(stale["judgement"], "satisfied");
    assert!(stale["action"].is_string(), "{stale}");
    let orphans = finding(&plan, "orphans", &orphan)
        .unwrap_or_else(|| panic!("the orphan rule holds: {}", plan["hygiene"]));
    assert_eq!(orphans["judgement"], "satisfied");
    // Unknown never satisfies a rule that changes an account.
    let unused = finding(&plan, "unused", &declared).expect("the unused rule is judged");
    assert_eq!(unused["judgement"], "unknown");
    assert!(unused["action"].is_null(), "{unused}");
    let kinds: Vec<(String, String)> = common::plan_actions(&plan);
    assert!(
        kinds.contains(&("rotate_credential".to_string(), declared.clone())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("disable_login".to_string(), orphan.clone())),
        "{kinds:?}"
    );

    // The first apply rotates and disables; the orphan is deleted only after its grace period.
    let outcome = ws.enact(&["apply", "--allow-destructive"]).await;
    assert_eq!(outcome.code, Some(0), "{outcome}");
    assert!(outcome.stdout.contains("Hygiene rules:"), "{outcome}");
    assert_ne!(ws.sink_value("app"), before);
    assert_eq!(ws.role_login(&orphan).await, Some(false));

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let outcome = ws.enact(&["apply", "--allow-destructive"]).await;
    assert_eq!(outcome.code, Some(0), "{outcome}");
    assert_eq!(
        ws.role_login(&orphan).await,
        None,
        "the orphan role still exists"
    );
    assert_eq!(ws.role_login(&declared).await, Some(true));
}

#[tokio::test]
async fn invalid_rule_is_located() {
    let ws = Workspace::new();
    let policy = format!(
        "version: 1\n{targets}identities:\n{identity}rules:\n  - name: typo\n    when: age_dayz > 30\n    action: report\n",
        targets = ws.target_yaml(&ws.pg.endpoint(), "2s", "{ action: report }"),
        identity = identity("app", "active", &ws.role("app"), ""),
    );
    ws.write_policy_text(&policy);
    let outcome = ws.enact(&["plan"]).await;
    assert_eq!(outcome.code, Some(1), "{outcome}");
    assert!(outcome.stderr.contains("age_dayz"), "{outcome}");
    assert!(outcome.stderr.contains("age_days"), "{outcome}");
    assert_eq!(
        ws.role_login(&ws.role("app")).await,
        None,
        "nothing changed"
    );
}
