//! Validates documents against the generated JSON Schema with an independent validator.

#![allow(clippy::panic, reason = "a test fails by panicking")]

use enact_policy::json_schema;
use serde_json::{json, Value};

/// Builds the JSON form of `valid.yaml`, which the parser accepts.
fn valid_document() -> Value {
    json!({
        "version": 1,
        "limits": { "max_destructive": 3 },
        "targets": {
            "pg-main": {
                "kind": "postgres",
                "endpoint": "127.0.0.1:55432",
                "database": "appdb",
                "admin": { "user": "enact_admin", "password_env": "ENACT_PG_ADMIN_PASSWORD" },
                "verify_window": "10s",
                "unmanaged": { "action": "disable", "ignore": ["legacy_*", "tmp_??"] }
            },
            "pg-reports": {
                "kind": "postgres",
                "endpoint": "[::1]:55433",
                "admin": { "user": "enact_admin", "password_file": "secrets/admin.pw" }
            }
        },
        "identities": {
            "billing-worker": {
                "owner": "payments-team",
                "purpose": "writes invoices",
                "state": "active",
                "accounts": [
                    {
                        "target": "pg-main",
                        "role": "billing_worker",
                        "entitlements": [
                            { "member_of": "app_readers" },
                            { "privilege": "select", "on": "table public.invoices" },
                            { "privilege": "CONNECT", "on": "database appdb" }
                        ],
                        "credential": {
                            "kind": "password",
                            "max_age": "90d",
                            "deliver_to": { "file": "secrets/billing_worker.pw" }
                        },
                        "sessions": {
                            "max_lifetime": "8h",
                            "idle_limit": "1h30m",
                            "end_on_rotation": true
                        },
                        "owned_objects": { "reassign_to": "app_owner" }
                    },
                    { "target": "pg-reports", "role": "billing_reports" }
                ]
            },
            "old.exporter": {
                "owner": "data-team",
                "purpose": "nightly export, retired",
                "state": "decommissioned",
                "accounts": [
                    {
                        "target": "pg-main",
                        "role": "old_exporter",
                        "credential": {
                            "kind": "password",
                            "deliver_to": { "file": "/var/lib/enact/old_exporter.pw" }
                        },
                        "owned_objects": "refuse"
                    }
                ]
            }
        }
    })
}

fn validator() -> jsonschema::Validator {
    match jsonschema::validator_for(&json_schema()) {
        Ok(validator) => validator,
        Err(error) => panic!("schema does not compile: {error}"),
    }
}

/// Applies `edit` to the valid document at the JSON pointer `pointer`.
fn edited(pointer: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut document = valid_document();
    match document.pointer_mut(pointer) {
        Some(node) => edit(node),
        None => panic!("no `{pointer}` in the document"),
    }
    document
}

#[test]
fn schema_is_valid_draft07() {
    assert!(jsonschema::meta::is_valid(&json_schema()));
}

#[test]
fn valid_policy_matches_schema() {
    let validator = validator();
    let document = valid_document();
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn unknown_keys_fail_schema() {
    let validator = validator();
    let cases = [
        edited("", |root| root["extra"] = json!(1)),
        edited("/targets/pg-main/admin", |admin| {
            admin["password"] = json!("x")
        }),
        edited(
            "/identities/billing-worker/accounts/0/credential",
            |credential| credential["max_agee"] = json!("9d"),
        ),
        edited(
            "/identities/billing-worker/accounts/0/entitlements/0",
            |entitlement| entitlement["on"] = json!("table public.x"),
        ),
    ];
    for document in &cases {
        assert!(!validator.is_valid(document), "accepted: {document}");
    }
}

#[test]
fn invalid_values_fail_schema() {
    let validator = validator();
    let cases = [
        edited("/version", |version| *version = json!(2)),
        edited("/targets/pg-main/admin", |admin| {
            admin["password_file"] = json!("a.pw")
        }),
        edited("/targets/pg-reports/admin", |admin| {
            admin.as_object_mut().map(|map| map.remove("password_file"));
        }),
        edited("/targets/pg-main/verify_window", |window| {
            *window = json!("5x")
        }),
        edited("/targets/pg-main/verify_window", |window| {
            *window = json!("30m1h")
        }),
        edited("/identities/billing-worker/state", |state| {
            *state = json!("paused")
        }),
        edited("/identities/billing-worker/accounts", |accounts| {
            *accounts = json!([])
        }),
        edited(
            "/identities/old.exporter/accounts/0/owned_objects",
            |owned| *owned = json!("keep"),
        ),
        edited(
            "/identities/billing-worker/accounts/0/sessions",
            |sessions| sessions["idle_limit"] = Value::Null,
        ),
        edited("/targets", |targets| {
            targets["PG_Main"] = targets["pg-main"].clone()
        }),
        edited("/targets/pg-main/unmanaged/ignore/0", |glob| {
            *glob = json!("legacy_[ab]")
        }),
    ];
    for document in &cases {
        assert!(!validator.is_valid(document), "accepted: {document}");
    }
}
