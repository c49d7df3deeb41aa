#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use enact_model::Duration;
use enact_policy::HygieneRule;

const DAY: i64 = 86_400_000_000;
const NOW: i64 = 1_000 * DAY;

fn policy() -> Policy {
    serde_json::from_value(serde_json::json!({
        "digest": "d",
        "targets": {},
        "identities": {
            "orders": {
                "id": "orders", "owner": "orders-team", "purpose": "p", "state": "active",
                "accounts": [{
                    "target": "pg-main", "name": "svc_orders", "entitlements": [],
                    "credential": { "kind": "password", "max_age": null,
                                    "sink": { "file": { "path": "/tmp/o.pw" } } },
                    "sessions": null, "owned_objects": "refuse",
                }],
            },
        },
        "limits": { "max_destructive": 10 },
    }))
    .unwrap()
}

fn observation(set_at: Option<i64>) -> Observation {
    let account = |name: &str, login: bool, set_at: Option<i64>| {
        serde_json::json!({
            "name": name, "login_enabled": login, "entitlements": [],
            "credential_set_at": set_at, "sessions": [], "owned_objects": 0,
        })
    };
    serde_json::from_value(serde_json::json!({
        "observed_at": NOW,
        "targets": { "pg-main": {
            "target": "pg-main", "observed_at": NOW,
            "accounts": {
                "svc_orders": account("svc_orders", true, set_at),
                "legacy": account("legacy", true, Some(NOW - 400 * DAY)),
            },
        }},
    }))
    .unwrap()
}

fn rule(expression: &str, action: RuleAction, attributes: &[&str]) -> HygieneRule {
    HygieneRule {
        name: "r".into(),
        expression: expression.into(),
        action,
        grace_period: (action == RuleAction::Delete).then(|| Duration::from_secs(14 * 86_400)),
        attributes: attributes.iter().map(|a| a.to_string()).collect(),
    }
}

fn never(_: &TargetId, _: &str, _: &str) -> Option<Timestamp> {
    None
}

#[test]
fn old_credential_is_rotated() {
    let rules = [rule(
        "age_days > 90 && !unmanaged",
        RuleAction::Rotate,
        &["age_days", "unmanaged"],
    )];
    let report = evaluate(
        &rules,
        &policy(),
        &observation(Some(NOW - 120 * DAY)),
        &never,
    );
    let actions = report.actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].account, "svc_orders");
    assert_eq!(actions[0].kind.verb(), "rotate");
}

#[test]
fn unknown_age_never_rotates() {
    let rules = [rule("age_days > 90", RuleAction::Rotate, &["age_days"])];
    let report = evaluate(&rules, &policy(), &observation(None), &never);
    let finding = report
        .findings
        .iter()
        .find(|f| f.account == "svc_orders")
        .expect("a finding for the unknown age");
    assert_eq!(
        finding.judgement,
        Judgement::Unknown {
            attributes: vec!["age_days".into()]
        }
    );
    assert!(finding.action.is_none());
    assert!(report.actions().iter().all(|a| a.account != "svc_orders"));
}

#[test]
fn unknown_last_use_is_reported() {
    let rules = [rule(
        "last_used_days > 30",
        RuleAction::Report,
        &["last_used_days"],
    )];
    let report = evaluate(&rules, &policy(), &observation(Some(NOW)), &never);
    assert_eq!(report.findings.len(), 2);
    assert!(report
        .findings
        .iter()
        .all(|f| f.note.as_deref() == Some("unknown")));
    assert!(report.actions().is_empty());
}

#[test]
fn unknown_inside_or_still_unknown() {
    let rules = [rule(
        "unmanaged || last_used_days > 30",
        RuleAction::Disable,
        &["unmanaged", "last_used_days"],
    )];
    let report = evaluate(&rules, &policy(), &observation(Some(NOW)), &never);
    assert!(report.actions().is_empty());
}

#[test]
fn delete_waits_for_grace_period() {
    let rules = [rule("unmanaged", RuleAction::Delete, &["unmanaged"])];
    let report = evaluate(&rules, &policy(), &observation(Some(NOW)), &never);
    let actions = report.actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].account, "legacy");
    assert_eq!(actions[0].kind, ActionKind::DisableLogin);

    let long_ago = |_: &TargetId, _: &str, _: &str| Some(Timestamp(NOW - 20 * DAY));
    let report = evaluate(&rules, &policy(), &observation(Some(NOW)), &long_ago);
    assert_eq!(report.actions()[0].kind.verb(), "delete");
}

#[test]
fn non_boolean_result_is_reported() {
    let rules = [rule("sessions + 1", RuleAction::Disable, &["sessions"])];
    let report = evaluate(&rules, &policy(), &observation(Some(NOW)), &never);
    assert!(matches!(
        report.findings[0].judgement,
        Judgement::Failed { .. }
    ));
    assert!(report.actions().is_empty());
}

#[test]
fn ignored_account_is_not_judged() {
    let mut policy = policy();
    let target = TargetId::new("pg-main");
    policy.targets.insert(
        target.clone(),
        enact_model::Target {
            id: target,
            kind: "postgres".into(),
            endpoint: "127.0.0.1:55432".into(),
            database: Some("appdb".into()),
            admin_user: Some("enact_admin".into()),
            admin_credential: enact_model::policy::CredentialSource::Env("PW".into()),
            unmanaged: enact_model::policy::UnmanagedPolicy {
                action: enact_model::UnmanagedAction::Report,
                // The declared account matches too, and stays in scope.
                ignore: vec!["legacy".into(), "svc_*".into()],
            },
            verify_window: Duration::from_secs(5),
        },
    );
    let rules = [rule("sessions == 0", RuleAction::Disable, &["sessions"])];
    let report = evaluate(&rules, &policy, &observation(Some(NOW)), &never);

    let judged: Vec<&str> = report
        .findings
        .iter()
        .map(|finding| finding.account.as_str())
        .collect();
    assert_eq!(judged, vec!["svc_orders"]);
    assert!(report.actions().is_empty(), "{:?}", report.actions());
}
