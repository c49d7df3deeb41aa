#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn policy() -> Policy {
    serde_json::from_value(serde_json::json!({
        "digest": "d",
        "targets": {},
        "identities": {
            "orders-api": {
                "id": "orders-api",
                "owner": "orders-team",
                "purpose": "orders",
                "state": "active",
                "accounts": [{
                    "target": "pg-main",
                    "name": "svc_orders_api",
                    "entitlements": [{ "membership": { "group": "app_readers" } }],
                    "credential": null,
                    "sessions": null,
                    "owned_objects": "refuse",
                }],
            },
        },
        "limits": { "max_destructive": 10 },
    }))
    .expect("a policy")
}

const CSV: &str = "identity,target,entitlement,decision,reviewer,decided_at\n\
orders-api,pg-main,member_of: app_readers,revoke,alice@example.com,2026-03-01T12:00:00Z\n\
orders-api,pg-main,SELECT on table orders.orders,keep,alice@example.com,2026-03-01T12:00:05.5Z\n";

#[test]
fn csv_decisions_become_revokes() {
    let decisions = import_decisions(CSV.as_bytes(), "c.csv", &policy()).unwrap();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0].location, "c.csv:2");
    assert_eq!(decisions[0].account, "svc_orders_api");
    assert_eq!(decisions[0].verdict, Verdict::Revoke);
    assert!(decisions[0].still_declared(&policy()));
    let action = decisions[0].action().expect("a revoke");
    assert_eq!(
        action.kind,
        ActionKind::Revoke {
            entitlement: Entitlement::Membership {
                group: "app_readers".into()
            }
        }
    );
    assert!(decisions[1].action().is_none());
    assert_eq!(decisions[1].decided_at.0 % 1_000_000, 500_000);
}

#[test]
fn json_decisions_match_csv() {
    let json = r#"{"decisions":[{"identity":"orders-api","target":"pg-main","entitlement":"member of app_readers","decision":"REVOKE","reviewer":"alice@example.com","decided_at":"2026-03-01T12:00:00Z"}]}"#;
    let from_json = import_decisions(json.as_bytes(), "c.json", &policy()).unwrap();
    let from_csv = import_decisions(CSV.as_bytes(), "c.csv", &policy()).unwrap();
    assert_eq!(from_json[0].id, from_csv[0].id);
    assert_eq!(from_json[0].location, "c.json#/decisions/0");
}

#[test]
fn unknown_identity_is_located() {
    let csv = "identity,target,entitlement,decision,reviewer,decided_at\n\
               orders-api,pg-main,policy: x,keep,bob,2026-03-01T12:00:00Z\n\
               ghost,pg-main,policy: x,revoke,bob,2026-03-01T12:00:00Z\n";
    let error = import_decisions(csv.as_bytes(), "c.csv", &policy()).unwrap_err();
    assert_eq!(error.location(), "c.csv:3");
    assert!(error.to_string().contains("`ghost`"), "{error}");
}

#[test]
fn bad_fields_are_located() {
    let header = "identity,target,entitlement,decision,reviewer,decided_at\n";
    let cases = [
        (
            "identity,target,entitlement,decision,reviewer\n".to_string(),
            "c.csv:1",
        ),
        (
            format!("{header}orders-api,pg-main,member_of: g,drop,bob,2026-03-01T12:00:00Z\n"),
            "c.csv:2",
        ),
        (
            format!("{header}orders-api,pg-main,member_of: g,keep,bob,yesterday\n"),
            "c.csv:2",
        ),
        (
            format!("{header}orders-api,pg-main,member_of: g,keep\n"),
            "c.csv:2",
        ),
        ("[{\"identity\": 3}]".to_string(), "c.csv#/0/identity"),
        ("[1]".to_string(), "c.csv#/0"),
    ];
    for (text, location) in cases {
        let error = import_decisions(text.as_bytes(), "c.csv", &policy()).unwrap_err();
        assert_eq!(error.location(), location, "{text}");
    }
}

#[test]
fn entitlement_forms_parse() {
    assert_eq!(
        parse_entitlement("select on TABLE billing.invoices"),
        Some(Entitlement::Privilege {
            privilege: "SELECT".into(),
            object: Box::new(ObjectRef {
                kind: "table".into(),
                name: "billing.invoices".into()
            })
        })
    );
    assert_eq!(
        parse_entitlement("rule: +@read"),
        Some(Entitlement::Rule {
            rule: "+@read".into()
        })
    );
    assert_eq!(parse_entitlement("member_of:"), None);
    assert_eq!(parse_entitlement("anything"), None);
}

#[test]
fn rfc3339_matches_timestamp_display() {
    for micros in [
        0_i64,
        951_782_400_000_000,
        1_796_342_400_000_000,
        1_772_366_400_000_000,
    ] {
        let text = Timestamp(micros).to_rfc3339();
        assert_eq!(parse_rfc3339(&text), Some(Timestamp(micros)), "{text}");
    }
    assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
    assert_eq!(parse_rfc3339("2026-03-01T00:00:00"), None);
}
