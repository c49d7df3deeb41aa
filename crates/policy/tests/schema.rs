//! Validates documents against the generated JSON Schema with an independent validator.

#![allow(clippy::panic, reason = "a test fails by panicking")]

use enact_policy::{json_schema, parse_policy, ParseOptions};
use serde_json::{json, Value};

/// Builds the JSON form of `valid.yaml` with OpenBao, Redis and LDAP targets, accounts on them
/// and vault sinks added, which the parser accepts.
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
            },
            "bao-main": {
                "kind": "openbao",
                "endpoint": "http://127.0.0.1:58200",
                "auth_mount": "machines/approle",
                "admin": { "token_env": "ENACT_BAO_TOKEN" },
                "unmanaged": { "ignore": ["legacy-*"] }
            },
            "cache": {
                "kind": "redis",
                "endpoint": "127.0.0.1:56379",
                "admin": { "user": "enact-admin", "password_env": "ENACT_REDIS_ADMIN_PASSWORD" }
            },
            "directory": {
                "kind": "ldap",
                "endpoint": "ldaps://[::1]:53636",
                "base": "ou=services,dc=enact,dc=test",
                "admin": {
                    "bind_dn": "cn=enact-admin,dc=enact,dc=test",
                    "password_file": "secrets/ldap-admin.pw"
                }
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
                            "strategy": "single",
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
                    { "target": "pg-reports", "role": "billing_reports" },
                    {
                        "target": "bao-main",
                        "role": "billing-worker",
                        "entitlements": [
                            { "policy": "billing-read" },
                            { "policy": "kv.apps-billing" }
                        ],
                        "credential": {
                            "kind": "secret_id",
                            "max_age": "30d",
                            "max_uses": 0,
                            "deliver_to": {
                                "vault": {
                                    "target": "bao-main",
                                    "mount": "kv/apps",
                                    "path": "billing/secret-id"
                                }
                            }
                        },
                        "sessions": { "max_lifetime": "8h", "idle_limit": "30m" }
                    },
                    {
                        "target": "cache",
                        "role": "billing-worker",
                        "entitlements": [
                            { "rule": "+@read" },
                            { "rule": "-flushdb" },
                            { "rule": "+config|get" },
                            { "rule": "~billing:*" },
                            { "rule": "%R~reports:*" },
                            { "rule": "&billing-events" }
                        ],
                        "credential": {
                            "kind": "password",
                            "max_age": "30d",
                            "deliver_to": { "file": "secrets/billing.redis.pw" }
                        },
                        "sessions": { "max_lifetime": "8h", "end_on_rotation": true }
                    },
                    {
                        "target": "directory",
                        "role": "billing-worker",
                        "entitlements": [
                            { "member_of": "cn=billing,ou=groups,dc=enact,dc=test" }
                        ],
                        "credential": {
                            "kind": "password",
                            "strategy": "single",
                            "deliver_to": {
                                "vault": { "target": "bao-main", "path": "apps/billing/ldap" }
                            }
                        }
                    }
                ]
            },
            "report-runner": {
                "owner": "data-team",
                "purpose": "renders reports",
                "state": "active",
                "accounts": [
                    {
                        "target": "pg-main",
                        "role": "report_runner",
                        "credential": {
                            "kind": "password",
                            "strategy": "single",
                            "deliver_to": {
                                "vault": { "target": "bao-main", "path": "apps/reports/pg" }
                            }
                        }
                    }
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
                            "strategy": "single",
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

/// Parses `document`, written as JSON (which is YAML), with the policy parser.
fn parser_accepts(document: &Value) -> Result<(), String> {
    let options = ParseOptions {
        known_kinds: ["postgres", "openbao", "redis", "ldap"]
            .map(str::to_owned)
            .to_vec(),
        ..ParseOptions::default()
    };
    let text = serde_json::to_string_pretty(document).map_err(|error| error.to_string())?;
    parse_policy(&text, &options)
        .map(|_| ())
        .map_err(|errors| errors.to_string())
}

/// Asserts that the schema and the parser both reject every document in `cases`.
fn assert_rejected(cases: &[Value]) {
    let validator = validator();
    for document in cases {
        assert!(!validator.is_valid(document), "schema accepted: {document}");
        assert!(
            parser_accepts(document).is_err(),
            "parser accepted: {document}"
        );
    }
}

#[test]
fn valid_document_parses() {
    assert_eq!(parser_accepts(&valid_document()), Ok(()));
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
    assert_rejected(&cases);
}

#[test]
fn invalid_values_fail_schema() {
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
    assert_rejected(&cases);
}

/// The account on `bao-main` in the valid document.
const BAO_ACCOUNT: &str = "/identities/billing-worker/accounts/2";
/// The vault sink of the account on `bao-main`.
const BAO_SINK: &str = "/identities/billing-worker/accounts/2/credential/deliver_to";

#[test]
fn kind_rules_fail_schema() {
    let cases = [
        edited("/targets/bao-main/admin", |admin| {
            admin["user"] = json!("enact_admin")
        }),
        edited("/targets/bao-main/admin", |admin| {
            *admin = json!({ "password_env": "ENACT_BAO_PASSWORD" })
        }),
        edited("/targets/bao-main/admin", |admin| {
            admin["token_file"] = json!("secrets/bao.token")
        }),
        edited("/targets/bao-main/admin", |admin| *admin = json!({})),
        edited("/targets/pg-main/admin", |admin| {
            *admin = json!({ "user": "enact_admin", "token_env": "ENACT_PG_TOKEN" })
        }),
        edited("/targets/pg-reports/admin", |admin| {
            *admin = json!({ "password_file": "secrets/admin.pw" })
        }),
        edited("/targets/bao-main/endpoint", |endpoint| {
            *endpoint = json!("127.0.0.1:58200")
        }),
        edited("/targets/bao-main/endpoint", |endpoint| {
            *endpoint = json!("http://127.0.0.1:58200/v1")
        }),
        edited("/targets/pg-main/endpoint", |endpoint| {
            *endpoint = json!("http://127.0.0.1:55432")
        }),
        edited("/targets/bao-main", |target| {
            target["database"] = json!("appdb")
        }),
        edited("/targets/pg-main", |target| {
            target["auth_mount"] = json!("approle")
        }),
        edited("/targets/bao-main/auth_mount", |mount| {
            *mount = json!("/approle")
        }),
    ];
    assert_rejected(&cases);
}

#[test]
fn openbao_accounts_fail_schema() {
    let cases = [
        edited(&format!("{BAO_ACCOUNT}/entitlements/0"), |entitlement| {
            *entitlement = json!({ "policy": "Billing-Read" })
        }),
        edited(&format!("{BAO_ACCOUNT}/entitlements/0"), |entitlement| {
            entitlement["member_of"] = json!("app_readers")
        }),
        edited(&format!("{BAO_ACCOUNT}/credential/kind"), |kind| {
            *kind = json!("token")
        }),
        edited(&format!("{BAO_ACCOUNT}/credential/max_uses"), |uses| {
            *uses = json!(-1)
        }),
        edited(&format!("{BAO_ACCOUNT}/credential/max_uses"), |uses| {
            *uses = json!("3")
        }),
        edited(BAO_SINK, |sink| sink["file"] = json!("secrets/b.secret-id")),
        edited(BAO_SINK, |sink| *sink = json!({})),
        edited(&format!("{BAO_SINK}/vault/path"), |path| {
            *path = json!("/billing/secret-id")
        }),
        edited(&format!("{BAO_SINK}/vault/path"), |path| {
            *path = json!("billing/../sys")
        }),
        edited(&format!("{BAO_SINK}/vault/path"), |path| {
            *path = json!("billing/secret-id/")
        }),
        edited(&format!("{BAO_SINK}/vault/mount"), |mount| {
            *mount = json!("./kv")
        }),
        edited(&format!("{BAO_SINK}/vault"), |vault| {
            vault.as_object_mut().map(|map| map.remove("path"));
        }),
        edited(&format!("{BAO_SINK}/vault"), |vault| {
            vault["value"] = json!("x")
        }),
    ];
    assert_rejected(&cases);
}

/// The entitlements of the account on `cache` in the valid document.
const REDIS_RULES: &str = "/identities/billing-worker/accounts/3/entitlements";

#[test]
fn redis_and_ldap_targets_fail_schema() {
    let cases = [
        edited("/targets/cache", |target| {
            target["base"] = json!("ou=services,dc=enact,dc=test")
        }),
        edited("/targets/cache", |target| target["database"] = json!("0")),
        edited("/targets/cache/admin", |admin| {
            *admin = json!({
                "bind_dn": "cn=enact-admin,dc=enact,dc=test",
                "password_env": "ENACT_REDIS_ADMIN_PASSWORD"
            })
        }),
        edited("/targets/cache/endpoint", |endpoint| {
            *endpoint = json!("redis://127.0.0.1:56379")
        }),
        edited("/targets/directory", |target| {
            target.as_object_mut().map(|map| map.remove("base"));
        }),
        edited("/targets/directory/base", |base| *base = json!("services")),
        edited("/targets/directory", |target| {
            target["database"] = json!("services")
        }),
        edited("/targets/directory", |target| {
            target["auth_mount"] = json!("approle")
        }),
        edited("/targets/directory/admin", |admin| {
            admin["user"] = json!("enact-admin")
        }),
        edited(
            "/targets/directory/admin",
            |admin| {
                *admin =
                    json!({ "user": "enact-admin", "password_env": "ENACT_LDAP_ADMIN_PASSWORD" })
            },
        ),
        edited("/targets/directory/admin", |admin| {
            *admin = json!({
                "bind_dn": "cn=enact-admin,dc=enact,dc=test",
                "token_env": "ENACT_LDAP_TOKEN"
            })
        }),
        edited("/targets/directory/admin/bind_dn", |dn| {
            *dn = json!("enact-admin")
        }),
        edited("/targets/directory/endpoint", |endpoint| {
            *endpoint = json!("127.0.0.1:53389")
        }),
        edited("/targets/directory/endpoint", |endpoint| {
            *endpoint = json!("ldap://127.0.0.1:53389/dc=enact,dc=test")
        }),
        edited("/targets/pg-main", |target| {
            target["base"] = json!("ou=services,dc=enact,dc=test")
        }),
        edited("/targets/bao-main", |target| {
            target["base"] = json!("ou=services,dc=enact,dc=test")
        }),
    ];
    assert_rejected(&cases);
}

#[test]
fn broad_and_state_rules_fail_schema() {
    let cases: Vec<Value> = [
        "+@all",
        "+@ALL",
        "allcommands",
        "allkeys",
        "~*",
        "%RW~*",
        "allchannels",
        "&*",
        "nopass",
        ">s3cr3t",
        "<s3cr3t",
        "#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        "on",
        "off",
        "reset",
        "resetkeys",
        "+get ~billing:*",
        "get",
        "%X~billing:*",
    ]
    .into_iter()
    .map(|rule| {
        edited(&format!("{REDIS_RULES}/0"), |entitlement| {
            *entitlement = json!({ "rule": rule })
        })
    })
    .collect();
    assert_rejected(&cases);

    let mixed = edited(&format!("{REDIS_RULES}/0"), |entitlement| {
        entitlement["policy"] = json!("billing-read")
    });
    assert_rejected(&[mixed]);
}
