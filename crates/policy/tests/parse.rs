//! Parses policies through the public API: malformed inputs must give exact located errors,
//! and a valid policy must resolve to the expected model.

#![allow(clippy::panic, reason = "a test fails by panicking")]

use enact_model::policy::{CredentialKind, CredentialSource, Limits};
use enact_model::{
    Duration, Entitlement, LifecycleState, NhiId, ObjectRef, OwnedObjects, SinkRef, TargetId,
    UnmanagedAction,
};
use enact_policy::{json_schema, parse_policy, ErrorKind, ParseOptions, PolicyErrors};
use miette::Diagnostic;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const VALID: &str = include_str!("valid.yaml");
/// A valid policy with PostgreSQL and OpenBao targets and credentials delivered to OpenBao.
const MIXED: &str = include_str!("mixed.yaml");
/// A valid policy with a target of each kind, and an identity with an account on each.
const ALL_KINDS: &str = include_str!("all_kinds.yaml");

fn options() -> ParseOptions {
    ParseOptions {
        origin: PathBuf::from("policy.yaml"),
        base_dir: PathBuf::from("/etc/enact"),
        known_kinds: ["postgres", "openbao", "redis", "ldap"]
            .map(str::to_owned)
            .to_vec(),
    }
}

fn errors(source: &str) -> PolicyErrors {
    match parse_policy(source, &options()) {
        Ok(policy) => panic!("expected errors, the policy parsed: {policy:#?}"),
        Err(errors) => errors,
    }
}

/// Asserts the whole plain rendering: every `file:line:col: error: ...` line and help line.
fn assert_errors(source: &str, expected: &str) {
    assert_eq!(errors(source).to_string(), expected);
}

#[test]
fn yaml_syntax_error_is_located() {
    let source = r#"version: 1
targets: [a
"#;
    assert_errors(
        source,
        r#"policy.yaml:3:1: error: invalid yaml: while parsing a flow sequence, expected ',' or ']'"#,
    );
}

#[test]
fn quoted_version_is_wrong_type() {
    let source = r#"version: "1"
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:1:10: error: invalid type for `version`: expected an integer, found a string"#,
    );
}

#[test]
fn unsupported_version_is_rejected() {
    let source = r#"version: 2
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:1:10: error: unsupported policy version `2`
  help: this version of enact reads `version: 1`"#,
    );
}

#[test]
fn missing_version_points_at_top() {
    let source = r#"targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:1:1: error: missing required key `version` in the policy"#,
    );
}

#[test]
fn missing_key_points_at_parent() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:3:3: error: missing required key `endpoint` in `targets.pg-main`"#,
    );
}

#[test]
fn unknown_kind_suggests_known_kind() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgress
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:4:11: error: unknown target kind `postgress`
  help: did you mean `postgres`?"#,
    );
}

#[test]
fn invalid_state_lists_valid_states() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: actve
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:13:12: error: invalid state `actve`
  help: did you mean `active`? expected one of `active`, `disabled` and `decommissioned`"#,
    );
}

#[test]
fn unknown_key_suggests_close_key() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        credential:
          kind: password
          strategy: single
          max_agee: 90d
          deliver_to:
            file: secrets/b.pw
"#;
    assert_errors(
        source,
        r#"policy.yaml:20:11: error: unknown key `max_agee` in `identities.billing-worker.accounts[0].credential`
  help: did you mean `max_age`?"#,
    );
}

#[test]
fn inline_password_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password: hunter2-canary
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:6:5: error: missing `password_env` or `password_file` in `targets.pg-main.admin`
  help: the admin password is read from an environment variable (`password_env`) or a file (`password_file`)
policy.yaml:8:7: error: unknown key `password` in `targets.pg-main.admin`
  help: credentials are read from the environment or a file, never inline, so use `password_env` or `password_file`"#,
    );
}

#[test]
fn both_password_sources_conflict() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
      password_file: secrets/admin.pw
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:9:7: error: `targets.pg-main.admin` sets both `password_env` and `password_file`
  help: keep exactly one of them"#,
    );
}

#[test]
fn undeclared_target_suggests_declared() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-mian
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:15:17: error: unknown target `pg-mian`
  help: did you mean `pg-main`?"#,
    );
}

#[test]
fn invalid_target_id_is_rejected() {
    let source = r#"version: 1
targets:
  PG_Main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:3:3: error: invalid target id `PG_Main`
  help: target ids start with a lowercase letter or digit, followed by lowercase letters, digits, `_` or `-`, e.g. `pg-main`
policy.yaml:15:17: error: unknown target `pg-main`
  help: did you mean `PG_Main`?"#,
    );
}

#[test]
fn invalid_postgres_role_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: Billing-Worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:16:15: error: invalid role name `Billing-Worker` for a `postgres` target
  help: postgres role names match `^[a-z_][a-z0-9_]{0,62}$`"#,
    );
}

#[test]
fn invalid_and_zero_durations_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        credential:
          kind: password
          strategy: single
          max_age: 90x
          deliver_to:
            file: secrets/b.pw
        sessions:
          idle_limit: 0s
"#;
    assert_errors(
        source,
        r#"policy.yaml:20:20: error: invalid duration `90x`
  help: write one or more `<integer><unit>` parts, largest unit first, with units `d`, `h`, `m` and `s`, e.g. `90d` or `1h30m`
policy.yaml:24:23: error: duration `0s` must be positive
  help: write one or more `<integer><unit>` parts, largest unit first, with units `d`, `h`, `m` and `s`, e.g. `90d` or `1h30m`"#,
    );
}

#[test]
fn invalid_glob_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    unmanaged:
      ignore: ["legacy_[ab]"]
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:7:16: error: invalid glob `legacy_[ab]`: `[` is not supported
  help: patterns match account names with `*` (any run of characters) and `?` (one character) only"#,
    );
}

#[test]
fn all_privilege_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        entitlements:
          - privilege: ALL
            on: table public.invoices
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:24: error: privilege `ALL` is not allowed
  help: list only the privileges the account needs (least privilege): `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES` and `TRIGGER` on a table"#,
    );
}

#[test]
fn unqualified_table_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        entitlements:
          - privilege: SELECT
            on: table invoices
"#;
    assert_errors(
        source,
        r#"policy.yaml:19:17: error: table name `invoices` is not schema-qualified
  help: qualify it, e.g. `public.invoices`"#,
    );
}

#[test]
fn duplicate_entitlement_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        entitlements:
          - member_of: app_readers
          - member_of: app_readers
"#;
    assert_errors(
        source,
        r#"policy.yaml:19:13: error: duplicate entitlement `member of app_readers`
  help: it is first listed on line 18"#,
    );
}

#[test]
fn role_claimed_twice_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
  reporting:
    owner: data-team
    purpose: reports
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:23:15: error: role `billing_worker` on target `pg-main` is already declared by identity `billing-worker`
  help: an account belongs to one identity, and `billing-worker` declares it on line 16"#,
    );
}

#[test]
fn second_account_on_target_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
      - target: pg-main
        role: billing_worker_2
"#;
    assert_errors(
        source,
        r#"policy.yaml:17:17: error: identity `billing-worker` has a second account on target `pg-main`
  help: an identity has one account per target, and the first is on line 15"#,
    );
}

#[test]
fn duplicate_identity_id_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
  billing-worker:
    owner: x
    purpose: y
    state: active
    accounts:
      - target: pg-main
        role: other
"#;
    assert_errors(
        source,
        r#"policy.yaml:17:3: error: duplicate identity `billing-worker`
  help: `billing-worker` is first declared on line 10"#,
    );
}

#[test]
fn duplicate_yaml_key_is_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:5:5: error: duplicate key `kind` in `targets.pg-main`
  help: `kind` is first set on line 4"#,
    );
}

#[test]
fn privilege_wrong_for_kind_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        entitlements:
          - privilege: USAGE
            on: table public.invoices
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:24: error: privilege `USAGE` does not apply to a table
  help: privileges on a table: `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES` and `TRIGGER`"#,
    );
}

#[test]
fn missing_owner_is_reported() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:10:3: error: missing required key `owner` in `identities.billing-worker`"#,
    );
}

#[test]
fn identity_without_accounts_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts: []
"#;
    assert_errors(
        source,
        r#"policy.yaml:14:15: error: identity `billing-worker` has no accounts
  help: declare at least one account with `target` and `role`"#,
    );
}

#[test]
fn endpoint_without_port_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:5:15: error: invalid endpoint `127.0.0.1`
  help: write `host:port`, e.g. `127.0.0.1:5432` or `[::1]:5432`"#,
    );
}

#[test]
fn non_boolean_flag_is_wrong_type() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        sessions:
          end_on_rotation: yes
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:28: error: invalid type for `identities.billing-worker.accounts[0].sessions.end_on_rotation`: expected a boolean (`true` or `false`), found a string"#,
    );
}

#[test]
fn many_problems_reported_at_once() {
    let source = r#"version: 1
limits:
  max_destructive: -1
targets:
  pg-main:
    kind: postgress
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password: hunter2-canary
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: actve
    accounts:
      - target: pg-mian
        role: billing_worker
        entitlements:
          - privilege: SELEKT
            on: table public.invoices
        credential:
          kind: password
          strategy: single
          max_age: 90
          deliver_to:
            file: secrets/b.pw
"#;
    assert_errors(
        source,
        r#"policy.yaml:3:20: error: invalid value `-1` for `limits.max_destructive`
  help: use a whole number from 0 to 4294967295
policy.yaml:6:11: error: unknown target kind `postgress`
  help: did you mean `postgres`?
policy.yaml:8:5: error: missing `password_env` or `password_file` in `targets.pg-main.admin`
  help: the admin password is read from an environment variable (`password_env`) or a file (`password_file`)
policy.yaml:10:7: error: unknown key `password` in `targets.pg-main.admin`
  help: credentials are read from the environment or a file, never inline, so use `password_env` or `password_file`
policy.yaml:15:12: error: invalid state `actve`
  help: did you mean `active`? expected one of `active`, `disabled` and `decommissioned`
policy.yaml:17:17: error: unknown target `pg-mian`
  help: did you mean `pg-main`?
policy.yaml:20:24: error: unknown privilege `SELEKT`
  help: did you mean `SELECT`?
policy.yaml:25:20: error: duration `90` has no unit
  help: write one or more `<integer><unit>` parts, largest unit first, with units `d`, `h`, `m` and `s`, e.g. `90d` or `1h30m`"#,
    );
}

#[test]
fn empty_policy_is_rejected() {
    let source = r#"
"#;
    assert_errors(
        source,
        r#"policy.yaml:1:1: error: the policy is empty
  help: start with `version: 1`, then declare `targets` and `identities`"#,
    );
}

#[test]
fn invalid_owned_objects_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        owned_objects: keep
"#;
    assert_errors(
        source,
        r#"policy.yaml:17:24: error: invalid `owned_objects` value `keep`
  help: write `owned_objects: refuse`, or `reassign_to: ROLE` under it"#,
    );
}

#[test]
fn top_level_typo_suggests_key() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identites:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:1:1: error: missing required key `identities` in the policy
policy.yaml:9:1: error: unknown key `identites` in the policy
  help: did you mean `identities`?"#,
    );
}

#[test]
fn targets_of_wrong_type_rejected() {
    let source = r#"version: 1
identities: {}
targets: 7
"#;
    assert_errors(
        source,
        r#"policy.yaml:3:10: error: invalid type for `targets`: expected a mapping, found an integer"#,
    );
}

#[test]
fn valid_policy_resolves_to_model() {
    let policy = match parse_policy(VALID, &options()) {
        Ok(policy) => policy,
        Err(errors) => panic!("valid policy rejected:\n{errors}"),
    };
    assert_eq!(policy.limits, Limits { max_destructive: 3 });
    assert_eq!(policy.targets.len(), 2);
    assert_eq!(policy.identities.len(), 2);

    let main = &policy.targets[&TargetId::new("pg-main")];
    assert_eq!(main.kind, "postgres");
    assert_eq!(main.endpoint, "127.0.0.1:55432");
    assert_eq!(main.database.as_deref(), Some("appdb"));
    assert_eq!(main.admin_user.as_deref(), Some("enact_admin"));
    assert_eq!(
        main.admin_credential,
        CredentialSource::Env("ENACT_PG_ADMIN_PASSWORD".to_owned())
    );
    assert_eq!(main.verify_window, Duration::from_secs(10));
    assert_eq!(main.unmanaged.action, UnmanagedAction::Disable);
    assert_eq!(main.unmanaged.ignore, vec!["legacy_*", "tmp_??"]);

    let reports = &policy.targets[&TargetId::new("pg-reports")];
    assert_eq!(reports.endpoint, "[::1]:55433");
    assert_eq!(reports.database, None);
    assert_eq!(reports.verify_window, Duration::from_secs(5));
    assert_eq!(reports.unmanaged.action, UnmanagedAction::Report);
    assert!(reports.unmanaged.ignore.is_empty());

    let billing = &policy.identities[&NhiId::new("billing-worker")];
    assert_eq!(billing.owner, "payments-team");
    assert_eq!(billing.purpose, "writes invoices");
    assert_eq!(billing.state, LifecycleState::Active);
    assert_eq!(billing.accounts.len(), 2);

    let account = &billing.accounts[0];
    assert_eq!(account.target, TargetId::new("pg-main"));
    assert_eq!(account.name, "billing_worker");
    let expected: Vec<Entitlement> = vec![
        Entitlement::Membership {
            group: "app_readers".to_owned(),
        },
        Entitlement::Privilege {
            privilege: "CONNECT".to_owned(),
            object: Box::new(ObjectRef {
                kind: "database".to_owned(),
                name: "appdb".to_owned(),
            }),
        },
        Entitlement::Privilege {
            privilege: "SELECT".to_owned(),
            object: Box::new(ObjectRef {
                kind: "table".to_owned(),
                name: "public.invoices".to_owned(),
            }),
        },
    ];
    assert_eq!(
        account.entitlements.iter().cloned().collect::<Vec<_>>(),
        expected
    );
    let credential = account
        .credential
        .as_ref()
        .map(|credential| (credential.max_age, credential.sink.clone()));
    assert_eq!(
        credential,
        Some((
            Some(Duration::from_secs(90 * 86_400)),
            SinkRef::File {
                path: PathBuf::from("/etc/enact/secrets/billing_worker.pw")
            }
        ))
    );
    let sessions = account.sessions.clone().unwrap_or_default();
    assert_eq!(sessions.max_lifetime, Some(Duration::from_secs(8 * 3600)));
    assert_eq!(sessions.idle_limit, Some(Duration::from_secs(5400)));
    assert!(sessions.end_on_rotation);
    assert_eq!(
        account.owned_objects,
        OwnedObjects::ReassignTo("app_owner".to_owned())
    );

    let bare = &billing.accounts[1];
    assert_eq!(bare.target, TargetId::new("pg-reports"));
    assert!(bare.entitlements.is_empty());
    assert_eq!(bare.credential, None);
    assert_eq!(bare.sessions, None);
    assert_eq!(bare.owned_objects, OwnedObjects::Refuse);
}

#[test]
fn decommissioned_with_credential_is_valid() {
    let policy = parse_policy(VALID, &options()).map_err(|errors| errors.to_string());
    let exporter = policy
        .as_ref()
        .ok()
        .and_then(|policy| policy.identities.get(&NhiId::new("old.exporter")));
    let Some(exporter) = exporter else {
        panic!("`old.exporter` missing: {policy:?}");
    };
    assert_eq!(exporter.state, LifecycleState::Decommissioned);
    assert_eq!(exporter.accounts[0].owned_objects, OwnedObjects::Refuse);
    assert!(exporter.accounts[0].credential.is_some());
}

#[test]
fn relative_paths_resolve_against_base_dir() {
    let mut options = options();
    options.base_dir = PathBuf::from("/srv/policies/prod");
    let policy = match parse_policy(VALID, &options) {
        Ok(policy) => policy,
        Err(errors) => panic!("valid policy rejected:\n{errors}"),
    };
    let reports = &policy.targets[&TargetId::new("pg-reports")];
    assert_eq!(
        reports.admin_credential,
        CredentialSource::File(PathBuf::from("/srv/policies/prod/secrets/admin.pw"))
    );
    let sink = |identity: &str| {
        policy.identities[&NhiId::new(identity)].accounts[0]
            .credential
            .as_ref()
            .map(|credential| credential.sink.clone())
    };
    assert_eq!(
        sink("billing-worker"),
        Some(SinkRef::File {
            path: PathBuf::from("/srv/policies/prod/secrets/billing_worker.pw")
        })
    );
    // An absolute path is kept as written.
    assert_eq!(
        sink("old.exporter"),
        Some(SinkRef::File {
            path: PathBuf::from("/var/lib/enact/old_exporter.pw")
        })
    );
}

#[test]
fn digest_is_sha256_of_source() {
    let policy = parse_policy(VALID, &options()).map_err(|errors| errors.to_string());
    let digest = policy.map(|policy| policy.digest);
    assert_eq!(
        digest,
        Ok(enact_model::digest::sha256_hex(VALID.as_bytes()))
    );
    let edited = VALID.replace("max_destructive: 3", "max_destructive: 4");
    let other = parse_policy(&edited, &options()).map(|policy| policy.digest);
    assert_ne!(
        other.ok(),
        Some(enact_model::digest::sha256_hex(VALID.as_bytes()))
    );
}

#[test]
fn unknown_kind_lists_known_kinds() {
    let source = VALID.replace("kind: postgres", "kind: mysql");
    let all = errors(&source);
    let first = &all.errors()[0];
    assert_eq!(first.message, "unknown target kind `mysql`");
    assert_eq!(
        first.help.as_deref(),
        Some("known kinds: `postgres`, `openbao`, `redis` and `ldap`")
    );
}

#[test]
fn errors_carry_consistent_positions() {
    let source = include_str!("valid.yaml")
        .replace("max_age: 90d", "max_age: 0d")
        .replace("state: active", "state: paused")
        .replace("role: old_exporter", "role: Old");
    let all = errors(&source);
    assert_eq!(all.len(), 3);
    for error in all.errors() {
        let before = &source[..error.span.start];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |text| text.chars().count())
            + 1;
        assert_eq!(
            (error.line, error.column),
            (line, column),
            "{}",
            error.to_plain()
        );
        assert!(error.span.end <= source.len());
        assert_eq!(error.kind, ErrorKind::InvalidValue);
    }
    let spanned: Vec<&str> = all
        .errors()
        .iter()
        .map(|error| &source[error.span.clone()])
        .collect();
    assert_eq!(spanned, vec!["paused", "0d", "Old"]);
}

#[test]
fn diagnostic_relates_every_error() {
    let all = errors(
        &VALID
            .replace("state: active", "state: on")
            .replace("owner: data-team", "owner: \"\""),
    );
    let related: Vec<String> = all
        .related()
        .map(|errors| errors.map(|error| error.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(
        related,
        vec![
            "invalid state `on`".to_owned(),
            "`identities.old.exporter.owner` is empty".to_owned()
        ]
    );
    for error in all.errors() {
        let labels: Vec<_> = error.labels().map(Iterator::collect).unwrap_or_default();
        assert_eq!(labels.len(), 1);
        assert!(error.source_code().is_some());
    }
    assert_eq!(
        all.diagnostic().to_string(),
        "invalid policy `policy.yaml`: 2 errors"
    );
}

#[test]
fn rendered_report_never_shows_inline_secret() {
    let source = VALID.replace(
        "password_env: ENACT_PG_ADMIN_PASSWORD",
        "password_env: ENACT_PG_ADMIN_PASSWORD\n      token: canary-7f3a9c",
    );
    let all = errors(&source);
    assert_eq!(
        all.errors()[0].message,
        "unknown key `token` in `targets.pg-main.admin`"
    );
    let mut rendered = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    if let Err(error) = handler.render_report(&mut rendered, &all.diagnostic()) {
        panic!("rendering failed: {error}");
    }
    assert!(rendered.contains("token"), "{rendered}");
    assert!(rendered.contains("policy.yaml:12:7"), "{rendered}");
    assert!(!rendered.contains("canary-7f3a9c"), "{rendered}");
    assert!(!all.to_string().contains("canary-7f3a9c"));
    assert!(!format!("{all:?}").contains("canary-7f3a9c"));
}

#[test]
fn schema_has_policy_shape() {
    let schema = json_schema();
    assert!(schema.is_object());
    assert_eq!(
        schema["$schema"],
        serde_json::json!("http://json-schema.org/draft-07/schema#")
    );
    assert_eq!(schema["type"], serde_json::json!("object"));
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let mut properties: Vec<&str> = schema["properties"]
        .as_object()
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default();
    properties.sort_unstable();
    assert_eq!(
        properties,
        vec!["identities", "limits", "rules", "targets", "version"]
    );
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .map(|items| items.iter().filter_map(|item| item.as_str()).collect())
        .unwrap_or_default();
    required.sort_unstable();
    assert_eq!(required, vec!["identities", "targets", "version"]);
    assert!(schema["definitions"]["Target"]["description"].is_string());
}

#[test]
fn report_renders_each_error_once() {
    let source = VALID.replace("state: active", "state: actve");
    let report = miette::Report::new(errors(&source).diagnostic());
    let mut rendered = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    if let Err(error) = handler.render_report(&mut rendered, report.as_ref()) {
        panic!("rendering failed: {error}");
    }
    assert_eq!(
        rendered.matches("invalid state `actve`").count(),
        1,
        "{rendered}"
    );
    assert!(
        rendered.contains("invalid policy `policy.yaml`: 1 error"),
        "{rendered}"
    );
    assert!(rendered.contains("[policy.yaml:26:12]"), "{rendered}");
    assert!(rendered.contains("did you mean `active`?"), "{rendered}");
}

#[test]
fn every_prefix_gives_located_errors() {
    assert_prefixes_located(VALID);
    assert_prefixes_located(MIXED);
    assert_prefixes_located(ALL_KINDS);
}

/// Parses every prefix of `policy` and checks that each error lies inside the prefix.
fn assert_prefixes_located(policy: &str) {
    let source = format!("{policy}# é ü\n");
    for (end, _) in source.char_indices() {
        let prefix = &source[..end];
        let Err(all) = parse_policy(prefix, &options()) else {
            continue;
        };
        for error in all.errors() {
            assert!(error.line >= 1 && error.column >= 1, "{}", error.to_plain());
            assert!(error.span.start <= error.span.end, "{}", error.to_plain());
            assert!(error.span.end <= prefix.len(), "{}", error.to_plain());
            assert!(prefix.is_char_boundary(error.span.start));
            assert!(prefix.is_char_boundary(error.span.end));
        }
    }
}

#[test]
fn aliases_and_merge_keys_are_handled() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin: &admin
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
  pg-two:
    kind: postgres
    endpoint: 127.0.0.1:55433
    admin: *admin
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - &account
        target: pg-main
        role: billing_worker
      - <<: *account
        target: pg-two
"#;
    assert_errors(
        source,
        r#"policy.yaml:22:9: error: unknown key `<<` in `identities.billing-worker.accounts[1]`
  help: write the keys out, since merge keys are not supported
policy.yaml:22:9: error: missing required key `role` in `identities.billing-worker.accounts[1]`"#,
    );
}

/// Builds the expected settings map from `(key, value)` pairs.
fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn mixed_policy_resolves_to_model() {
    let policy = match parse_policy(MIXED, &options()) {
        Ok(policy) => policy,
        Err(errors) => panic!("valid policy rejected:\n{errors}"),
    };
    assert_eq!(policy.targets.len(), 3);
    assert_eq!(policy.identities.len(), 2);

    let pg = &policy.targets[&TargetId::new("pg-main")];
    assert_eq!(pg.kind, "postgres");
    assert_eq!(pg.database.as_deref(), Some("appdb"));
    assert_eq!(pg.admin_user.as_deref(), Some("enact_admin"));

    let bao = &policy.targets[&TargetId::new("bao-main")];
    assert_eq!(bao.kind, "openbao");
    assert_eq!(bao.endpoint, "http://127.0.0.1:58200");
    assert_eq!(bao.database.as_deref(), Some("approle"));
    assert_eq!(bao.admin_user, None);
    assert_eq!(
        bao.admin_credential,
        CredentialSource::Env("ENACT_BAO_TOKEN".to_owned())
    );
    assert_eq!(bao.verify_window, Duration::from_secs(5));
    assert_eq!(bao.unmanaged.action, UnmanagedAction::Disable);
    assert_eq!(bao.unmanaged.ignore, vec!["legacy-*", "tmp-??"]);

    let edge = &policy.targets[&TargetId::new("bao-edge")];
    assert_eq!(edge.endpoint, "https://[::1]:58201");
    assert_eq!(edge.database.as_deref(), Some("machines/approle"));
    assert_eq!(edge.admin_user, None);
    assert_eq!(
        edge.admin_credential,
        CredentialSource::File(PathBuf::from("/etc/enact/secrets/bao.token"))
    );
    assert_eq!(edge.verify_window, Duration::from_secs(30));

    let billing = &policy.identities[&NhiId::new("billing-worker")];
    assert_eq!(billing.accounts.len(), 2);

    // A PostgreSQL password delivered to OpenBao KV; its settings stay empty.
    let pg_account = &billing.accounts[0];
    assert_eq!(pg_account.target, TargetId::new("pg-main"));
    let pg_credential = pg_account.credential.clone();
    assert_eq!(
        pg_credential.as_ref().map(|credential| credential.kind),
        Some(CredentialKind::Password)
    );
    assert_eq!(
        pg_credential.map(|credential| credential.sink),
        Some(SinkRef::Vault {
            target: TargetId::new("bao-main"),
            mount: "secret".to_owned(),
            path: "apps/billing/pg-password".to_owned(),
        })
    );
    assert!(pg_account.settings.is_empty());

    let role = &billing.accounts[1];
    assert_eq!(role.target, TargetId::new("bao-main"));
    assert_eq!(role.name, "billing-worker");
    let policies: Vec<Entitlement> = vec![
        Entitlement::Policy {
            policy: "billing-read".to_owned(),
        },
        Entitlement::Policy {
            policy: "kv.apps-billing".to_owned(),
        },
    ];
    assert_eq!(
        role.entitlements.iter().cloned().collect::<Vec<_>>(),
        policies
    );
    let credential = role.credential.clone();
    assert_eq!(
        credential.as_ref().map(|credential| credential.kind),
        Some(CredentialKind::SecretId)
    );
    assert_eq!(
        credential
            .as_ref()
            .and_then(|credential| credential.max_age),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        credential.map(|credential| credential.sink),
        Some(SinkRef::Vault {
            target: TargetId::new("bao-main"),
            mount: "kv/apps".to_owned(),
            path: "billing/secret-id".to_owned(),
        })
    );
    let sessions = role.sessions.clone().unwrap_or_default();
    assert_eq!(sessions.max_lifetime, Some(Duration::from_secs(8 * 3600)));
    assert_eq!(sessions.idle_limit, Some(Duration::from_secs(30 * 60)));
    assert!(sessions.end_on_rotation);
    assert_eq!(role.owned_objects, OwnedObjects::Refuse);
    assert_eq!(
        role.settings,
        settings(&[
            ("secret_id_num_uses", "0"),
            ("secret_id_ttl", "2592000"),
            ("token_max_ttl", "28800"),
            ("token_ttl", "1800"),
        ])
    );
}

#[test]
fn openbao_settings_hold_only_set_keys() {
    let policy = match parse_policy(MIXED, &options()) {
        Ok(policy) => policy,
        Err(errors) => panic!("valid policy rejected:\n{errors}"),
    };
    let runner = &policy.identities[&NhiId::new("report-runner")];
    assert_eq!(runner.state, LifecycleState::Disabled);

    let edge = &runner.accounts[0];
    assert_eq!(edge.name, "report.runner_2");
    assert!(edge.entitlements.is_empty());
    assert_eq!(
        edge.credential
            .as_ref()
            .map(|credential| credential.sink.clone()),
        Some(SinkRef::File {
            path: PathBuf::from("/etc/enact/secrets/report-runner.secret-id")
        })
    );
    assert_eq!(
        edge.credential
            .as_ref()
            .and_then(|credential| credential.max_age),
        None
    );
    assert_eq!(edge.settings, settings(&[("token_ttl", "3600")]));

    let bare = &runner.accounts[1];
    assert_eq!(bare.credential, None);
    assert_eq!(bare.sessions, None);
    assert!(bare.settings.is_empty());
}

#[test]
fn token_env_on_postgres_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      token_env: ENACT_PG_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:8:7: error: `token_env` does not apply to a `postgres` target
  help: a `postgres` admin signs in with `user` and a password, so write `password_env` instead"#,
    );
}

#[test]
fn user_on_openbao_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      user: enact_admin
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:7:7: error: `user` does not apply to an `openbao` target
  help: an `openbao` admin signs in with a token alone, so remove `user` and set `token_env` or `token_file`"#,
    );
}

#[test]
fn password_file_on_openbao_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      password_file: secrets/bao.token
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:7:7: error: `password_file` does not apply to an `openbao` target
  help: an `openbao` admin signs in with a token alone, so write `token_file` instead"#,
    );
}

#[test]
fn openbao_admin_needs_token_source() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token: s.canary-5d1e
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
"#;
    let all = errors(source);
    assert!(!all.to_string().contains("canary-5d1e"));
    assert_errors(
        source,
        r#"policy.yaml:6:5: error: missing `token_env` or `token_file` in `targets.bao-main.admin`
  help: the admin token is read from an environment variable (`token_env`) or a file (`token_file`)
policy.yaml:7:7: error: unknown key `token` in `targets.bao-main.admin`
  help: credentials are read from the environment or a file, never inline, so use `token_env` or `token_file`"#,
    );
}

#[test]
fn both_token_sources_conflict() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
      token_file: secrets/bao.token
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:8:7: error: `targets.bao-main.admin` sets both `token_env` and `token_file`
  help: keep exactly one of them"#,
    );
}

#[test]
fn openbao_endpoint_needs_scheme() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: 127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:5:15: error: invalid endpoint `127.0.0.1:58200` for an `openbao` target
  help: write an `http://` or `https://` URL with a host and a port and no path, e.g. `http://127.0.0.1:8200`"#,
    );
}

#[test]
fn mount_keys_follow_target_kind() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    auth_mount: approle
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    database: appdb
    admin:
      token_env: ENACT_BAO_TOKEN
  bao-two:
    kind: openbao
    endpoint: http://127.0.0.1:58201
    auth_mount: /approle
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:6:5: error: `auth_mount` does not apply to a `postgres` target
  help: `auth_mount` names the approle mount of an openbao target, so remove it
policy.yaml:13:5: error: `database` does not apply to an `openbao` target
  help: an openbao target names its approle auth mount with `auth_mount`
policy.yaml:19:17: error: auth mount `/approle` starts with `/`
  help: write it relative, without the leading `/`, e.g. `approle`"#,
    );
}

#[test]
fn password_kind_on_openbao_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        credential:
          kind: password
          strategy: single
          deliver_to:
            file: secrets/billing.secret-id
"#;
    assert_errors(
        source,
        r#"policy.yaml:17:17: error: credential kind `password` does not apply to an `openbao` target
  help: an `openbao` account's credential is an approle secret id, so write `kind: secret_id`"#,
    );
}

#[test]
fn secret_id_kind_on_postgres_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        credential:
          kind: secret_id
          strategy: single
          deliver_to:
            file: secrets/billing.pw
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:17: error: credential kind `secret_id` does not apply to a `postgres` target
  help: a `postgres` account's credential is a password, so write `kind: password`"#,
    );
}

#[test]
fn member_of_on_openbao_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        entitlements:
          - policy: billing-read
          - member_of: app_readers
          - privilege: SELECT
            on: table public.invoices
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:13: error: `member_of` does not apply to an `openbao` target
  help: an `openbao` account's entitlements are policies, so write `policy: NAME`
policy.yaml:19:13: error: `privilege` does not apply to an `openbao` target
  help: an `openbao` account's entitlements are policies, so write `policy: NAME`"#,
    );
}

#[test]
fn policy_on_postgres_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        entitlements:
          - policy: billing-read
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:13: error: `policy` does not apply to a `postgres` target
  help: a `postgres` account's entitlements are `member_of: GROUP` and `privilege: NAME` with `on: KIND NAME`"#,
    );
}

#[test]
fn invalid_and_root_policies_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        entitlements:
          - policy: Billing-Read
          - policy: root
          - policy: billing-read
            member_of: app_readers
"#;
    assert_errors(
        source,
        r#"policy.yaml:17:21: error: invalid policy name `Billing-Read`
  help: policy names start with a lowercase letter or digit, followed by lowercase letters, digits, `_`, `.` or `-`, e.g. `billing-read`
policy.yaml:18:21: error: policy `root` is not allowed
  help: `root` grants every capability on the server, so attach policies that allow only what the account needs (least privilege)
policy.yaml:19:13: error: `identities.billing-worker.accounts[0].entitlements[2]` mixes `policy` with `member_of`, `privilege` or `on`
  help: write each entitlement as a separate entry"#,
    );
}

#[test]
fn invalid_approle_name_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: -billing/worker
  report-runner:
    owner: data-team
    purpose: renders reports
    state: active
    accounts:
      - target: bao-main
        role: Report-Runner
"#;
    assert_errors(
        source,
        r#"policy.yaml:15:15: error: invalid role name `-billing/worker` for an `openbao` target
  help: approle role names match `^[a-z0-9][a-z0-9_.-]{0,127}$` and end with a letter, digit or `_`
policy.yaml:22:15: error: role name `Report-Runner` for an `openbao` target is not lower case
  help: openbao stores approle role names in lower case, so write `report-runner`"#,
    );
}

#[test]
fn vault_sink_unknown_target_suggests() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        credential:
          kind: password
          strategy: single
          deliver_to:
            vault: { target: bao-mian, path: apps/billing/pg-password }
"#;
    assert_errors(
        source,
        r#"policy.yaml:26:30: error: unknown target `bao-mian`
  help: did you mean `bao-main`?"#,
    );
}

#[test]
fn vault_sink_on_postgres_target_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        credential:
          kind: password
          strategy: single
          deliver_to:
            vault: { target: pg-main, path: apps/billing/pg-password }
"#;
    assert_errors(
        source,
        r#"policy.yaml:21:30: error: vault sink target `pg-main` is not an `openbao` target
  help: `pg-main` is a `postgres` target, and a vault sink writes to the kv version 2 engine of a target with `kind: openbao`"#,
    );
}

#[test]
fn vault_paths_must_be_relative() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        credential:
          kind: secret_id
          strategy: single
          deliver_to:
            vault: { target: bao-main, mount: secret/, path: /apps/billing }
  report-runner:
    owner: data-team
    purpose: renders reports
    state: active
    accounts:
      - target: bao-main
        role: report-runner
        credential:
          kind: secret_id
          strategy: single
          deliver_to:
            vault:
              target: bao-main
              path: apps/../sys/policy
"#;
    assert_errors(
        source,
        r#"policy.yaml:20:47: error: invalid vault mount `secret/`
  help: join segments of letters, digits, `_`, `.` and `-` with single `/`, e.g. `secret`
policy.yaml:20:62: error: vault path `/apps/billing` starts with `/`
  help: write it relative, without the leading `/`, e.g. `apps/billing/secret-id`
policy.yaml:34:21: error: vault path `apps/../sys/policy` contains a `.` or `..` segment
  help: name every segment of the path, e.g. `apps/billing/secret-id`"#,
    );
}

#[test]
fn file_and_vault_sinks_conflict() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        credential:
          kind: secret_id
          strategy: single
          deliver_to:
            file: secrets/billing.secret-id
            vault: { target: bao-main, path: apps/billing/secret-id }
  report-runner:
    owner: data-team
    purpose: renders reports
    state: active
    accounts:
      - target: bao-main
        role: report-runner
        credential:
          kind: secret_id
          strategy: single
          deliver_to: {}
"#;
    assert_errors(
        source,
        r#"policy.yaml:21:13: error: `identities.billing-worker.accounts[0].credential.deliver_to` sets both `file` and `vault`
  help: a credential is delivered to one store, so keep one of them
policy.yaml:32:11: error: missing `file` or `vault` in `identities.report-runner.accounts[0].credential.deliver_to`
  help: write `file: PATH`, or `vault:` with `target`, `path` and optionally `mount`"#,
    );
}

#[test]
fn max_uses_on_postgres_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        credential:
          kind: password
          strategy: single
          max_uses: 3
          deliver_to:
            file: secrets/billing.pw
"#;
    assert_errors(
        source,
        r#"policy.yaml:20:11: error: `max_uses` does not apply to a `postgres` target
  help: only openbao secret ids have a use count, so remove `max_uses`"#,
    );
}

#[test]
fn negative_max_uses_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        credential:
          kind: secret_id
          strategy: single
          max_uses: -1
          deliver_to:
            file: secrets/billing.secret-id
"#;
    assert_errors(
        source,
        r#"policy.yaml:19:21: error: invalid value `-1` for `identities.billing-worker.accounts[0].credential.max_uses`
  help: use a whole number from 0 to 4294967295, where 0 allows any number of logins"#,
    );
}

#[test]
fn owned_objects_on_openbao_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        owned_objects: refuse
"#;
    assert_errors(
        source,
        r#"policy.yaml:16:9: error: `owned_objects` does not apply to an `openbao` target
  help: approle roles own no objects, so remove `owned_objects`"#,
    );
}

#[test]
fn token_ttl_above_max_rejected() {
    let source = r#"version: 1
targets:
  bao-main:
    kind: openbao
    endpoint: http://127.0.0.1:58200
    admin:
      token_env: ENACT_BAO_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: bao-main
        role: billing-worker
        sessions:
          max_lifetime: 1h
          idle_limit: 90m
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:23: error: `idle_limit` `90m` is longer than `max_lifetime` `1h`
  help: openbao rejects a role whose `token_ttl` is above its `token_max_ttl`, so make `idle_limit` at most `max_lifetime`"#,
    );
}

#[test]
fn all_kinds_policy_resolves_to_model() {
    let policy = match parse_policy(ALL_KINDS, &options()) {
        Ok(policy) => policy,
        Err(errors) => panic!("valid policy rejected:\n{errors}"),
    };
    let kinds: Vec<(&str, &str)> = policy
        .targets
        .values()
        .map(|target| (target.id.as_str(), target.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("bao-main", "openbao"),
            ("cache", "redis"),
            ("directory", "ldap"),
            ("pg-main", "postgres"),
        ]
    );

    let cache = &policy.targets[&TargetId::new("cache")];
    assert_eq!(cache.endpoint, "127.0.0.1:56379");
    assert_eq!(cache.database, None);
    assert_eq!(cache.admin_user.as_deref(), Some("enact-admin"));
    assert_eq!(
        cache.admin_credential,
        CredentialSource::Env("ENACT_REDIS_ADMIN_PASSWORD".to_owned())
    );
    assert_eq!(cache.unmanaged.action, UnmanagedAction::Disable);
    assert_eq!(cache.unmanaged.ignore, vec!["legacy-*"]);
    assert_eq!(cache.verify_window, Duration::from_secs(5));

    let directory = &policy.targets[&TargetId::new("directory")];
    assert_eq!(directory.endpoint, "ldap://127.0.0.1:53389");
    assert_eq!(
        directory.database.as_deref(),
        Some("ou=services,dc=enact,dc=test")
    );
    assert_eq!(
        directory.admin_user.as_deref(),
        Some("cn=enact-admin,dc=enact,dc=test")
    );
    assert_eq!(
        directory.admin_credential,
        CredentialSource::File(PathBuf::from("/etc/enact/secrets/ldap-admin.pw"))
    );
    assert_eq!(directory.verify_window, Duration::from_secs(10));

    let billing = &policy.identities[&NhiId::new("billing-worker")];
    let targets: Vec<&str> = billing
        .accounts
        .iter()
        .map(|account| account.target.as_str())
        .collect();
    assert_eq!(targets, vec!["pg-main", "bao-main", "cache", "directory"]);
    assert_eq!(
        billing.accounts[0]
            .entitlements
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
        vec![Entitlement::Membership {
            group: "app_readers".to_owned()
        }]
    );
    assert_eq!(
        billing.accounts[1]
            .entitlements
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
        vec![Entitlement::Policy {
            policy: "billing-read".to_owned()
        }]
    );

    // Command and category rules are stored in lower case, and patterns as written.
    let redis = &billing.accounts[2];
    assert_eq!(redis.name, "billing-worker");
    let rules: BTreeSet<Entitlement> = [
        "+@read",
        "-flushdb",
        "+config|get",
        "~billing:*",
        "~Billing:Tmp:*",
        "&billing-events",
    ]
    .into_iter()
    .map(|rule| Entitlement::Rule {
        rule: rule.to_owned(),
    })
    .collect();
    assert_eq!(redis.entitlements, rules);
    let credential = redis.credential.clone();
    assert_eq!(
        credential.as_ref().map(|credential| credential.kind),
        Some(CredentialKind::Password)
    );
    assert_eq!(
        credential
            .as_ref()
            .and_then(|credential| credential.max_age),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        credential.map(|credential| credential.sink),
        Some(SinkRef::File {
            path: PathBuf::from("/etc/enact/secrets/billing.redis.pw")
        })
    );
    let sessions = redis.sessions.clone().unwrap_or_default();
    assert_eq!(sessions.max_lifetime, Some(Duration::from_secs(8 * 3600)));
    assert_eq!(sessions.idle_limit, Some(Duration::from_secs(30 * 60)));
    assert!(sessions.end_on_rotation);
    assert_eq!(redis.owned_objects, OwnedObjects::Refuse);
    assert!(redis.settings.is_empty());

    let ldap = &billing.accounts[3];
    assert_eq!(ldap.name, "billing-worker");
    let groups: BTreeSet<Entitlement> = [
        "cn=billing,ou=groups,dc=enact,dc=test",
        r"cn=billing readers\, eu,ou=groups,dc=enact,dc=test",
    ]
    .into_iter()
    .map(|group| Entitlement::Membership {
        group: group.to_owned(),
    })
    .collect();
    assert_eq!(ldap.entitlements, groups);
    assert_eq!(
        ldap.credential.clone().map(|credential| credential.sink),
        Some(SinkRef::Vault {
            target: TargetId::new("bao-main"),
            mount: "secret".to_owned(),
            path: "apps/billing/ldap".to_owned(),
        })
    );
    assert_eq!(ldap.sessions, None);
    assert_eq!(ldap.owned_objects, OwnedObjects::Refuse);
    assert!(ldap.settings.is_empty());

    let reader = &policy.identities[&NhiId::new("cache-reader")];
    assert_eq!(reader.state, LifecycleState::Disabled);
    let names: Vec<&str> = reader
        .accounts
        .iter()
        .map(|account| account.name.as_str())
        .collect();
    assert_eq!(names, vec!["reports:reader", "reports.reader_2"]);
    assert!(reader
        .accounts
        .iter()
        .all(|account| { account.entitlements.is_empty() && account.credential.is_none() }));
}

#[test]
fn rule_on_postgres_rejected() {
    let source = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: pg-main
        role: billing_worker
        entitlements:
          - rule: "+@read"
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:13: error: `rule` does not apply to a `postgres` target
  help: `rule` is for redis acl rules, and a `postgres` account's entitlements are `member_of: GROUP` and `privilege: NAME` with `on: KIND NAME`"#,
    );
}

#[test]
fn ldap_member_of_needs_dn() {
    let source = r#"version: 1
targets:
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: directory
        role: billing-worker
        entitlements:
          - member_of: billing
          - member_of: cn=billing, ou=groups,dc=enact,dc=test
          - member_of: cn=billing,,dc=enact,dc=test
"#;
    assert_errors(
        source,
        r#"policy.yaml:19:24: error: invalid group dn `billing`: `billing` is not `attribute=value`
  help: write comma-separated `attribute=value` pairs without spaces around `,` and `=`, e.g. `cn=billing,ou=groups,dc=example,dc=org`
policy.yaml:20:24: error: invalid group dn `cn=billing, ou=groups,dc=enact,dc=test`: the attribute name of ` ou=groups` starts or ends with a space
  help: write comma-separated `attribute=value` pairs without spaces around `,` and `=`, e.g. `cn=billing,ou=groups,dc=example,dc=org`
policy.yaml:21:24: error: invalid group dn `cn=billing,,dc=enact,dc=test`: it has an empty part between commas
  help: write comma-separated `attribute=value` pairs without spaces around `,` and `=`, e.g. `cn=billing,ou=groups,dc=example,dc=org`"#,
    );
}

#[test]
fn redis_all_commands_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
        entitlements:
          - rule: "+@all"
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:19: error: acl rule `+@all` is not allowed
  help: `+@all` grants every command, so list only the commands the account needs (least privilege), e.g. `+@read` or `+get`"#,
    );
}

#[test]
fn redis_password_rule_is_masked() {
    let source = r##"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
        entitlements:
          - rule: ">canary-4b8e2d"
          - rule: "#canary-4b8e2d"
          - rule: nopass
"##;
    assert_errors(
        source,
        r#"policy.yaml:18:19: error: acl rule `>***` sets a password
  help: enact manages the user's password through `credential` and never takes one from a rule, so remove this rule
policy.yaml:19:19: error: acl rule `#***` sets a password hash
  help: enact manages the user's password through `credential` and never takes one from a rule, so remove this rule
policy.yaml:20:19: error: acl rule `nopass` lets the user sign in with any password
  help: enact manages the user's password through `credential` and never takes one from a rule, so remove this rule"#,
    );
    let all = errors(source);
    let mut rendered = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    if let Err(error) = handler.render_report(&mut rendered, &all.diagnostic()) {
        panic!("rendering failed: {error}");
    }
    assert!(rendered.contains("policy.yaml:18:19"), "{rendered}");
    assert!(!rendered.contains("canary-4b8e2d"), "{rendered}");
    assert!(!format!("{all:?}").contains("canary-4b8e2d"));
}

#[test]
fn redis_allkeys_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
        entitlements:
          - rule: allkeys
          - rule: "%R~*"
          - rule: "&*"
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:19: error: acl rule `allkeys` is not allowed
  help: `allkeys` grants every key, so list only the keys the account needs (least privilege), e.g. `~billing:*`
policy.yaml:19:19: error: acl rule `%R~*` is not allowed
  help: `%R~*` grants every key, so list only the keys the account needs (least privilege), e.g. `~billing:*`
policy.yaml:20:19: error: acl rule `&*` is not allowed
  help: `&*` grants every channel, so list only the channels the account needs (least privilege), e.g. `&billing-events`"#,
    );
}

#[test]
fn redis_state_rules_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
        entitlements:
          - rule: "on"
          - rule: resetkeys
          - rule: "+get ~billing:*"
          - rule: get
          - rule: "+GET"
          - rule: "+get"
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:19: error: acl rule `on` sets the user's login state
  help: enact manages the login state from the identity's `state` and never takes it from a rule, so remove this rule
policy.yaml:19:19: error: acl rule `resetkeys` resets the user
  help: the rules listed are the user's exact set and nothing needs resetting, so remove this rule
policy.yaml:20:19: error: acl rule `+get ~billing:*` contains whitespace
  help: write one rule token per entry, e.g. `+get` and `~billing:*` as two entries
policy.yaml:21:19: error: invalid acl rule `get`
  help: write one acl rule token: `+command`, `-command`, `+command|subcommand`, `+@category`, `-@category`, `~pattern`, `%R~pattern`, `%W~pattern`, `%RW~pattern` or `&pattern`
policy.yaml:23:13: error: duplicate entitlement `rule +get`
  help: it is first listed on line 22"#,
    );
}

#[test]
fn sessions_on_ldap_rejected() {
    let source = r#"version: 1
targets:
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: directory
        role: billing-worker
        sessions:
          max_lifetime: 8h
"#;
    assert_errors(
        source,
        r#"policy.yaml:18:9: error: `sessions` does not apply to an `ldap` target
  help: ldap binds are not sessions that enact can list or end, so remove `sessions`"#,
    );
}

#[test]
fn bind_dn_on_redis_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:7:7: error: `bind_dn` does not apply to a `redis` target
  help: a `redis` admin signs in with `user` and a password, so write `user` instead"#,
    );
}

#[test]
fn user_on_ldap_rejected() {
    let source = r#"version: 1
targets:
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      user: enact-admin
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: directory
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:8:7: error: `user` does not apply to an `ldap` target
  help: an `ldap` admin signs in with `bind_dn` and a password, so write `bind_dn` instead"#,
    );
}

#[test]
fn ldap_target_needs_base() {
    let source = r#"version: 1
targets:
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    database: services
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: directory
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:3:3: error: missing required key `base` in `targets.directory`
  help: an `ldap` target names the dn under which its accounts live, e.g. `base: ou=services,dc=example,dc=org`
policy.yaml:6:5: error: `database` does not apply to an `ldap` target
  help: an ldap target names the dn its accounts live under with `base`"#,
    );
}

#[test]
fn base_on_redis_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    base: ou=services,dc=enact,dc=test
    database: "0"
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:6:5: error: `base` does not apply to a `redis` target
  help: `base` names the dn that an ldap target's accounts live under, so remove it
policy.yaml:7:5: error: `database` does not apply to a `redis` target
  help: redis acl users belong to the whole server, not to one database, so remove it"#,
    );
}

#[test]
fn ldap_dns_are_checked() {
    let source = r#"version: 1
targets:
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: services
    admin:
      bind_dn: cn=enact-admin;dc=enact
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: directory
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:6:11: error: invalid base dn `services`: `services` is not `attribute=value`
  help: write comma-separated `attribute=value` pairs without spaces around `,` and `=`, e.g. `ou=services,dc=example,dc=org`
policy.yaml:8:16: error: invalid bind dn `cn=enact-admin;dc=enact`: `;` in `cn=enact-admin;dc=enact` must be escaped as `\;`
  help: write comma-separated `attribute=value` pairs without spaces around `,` and `=`, e.g. `cn=admin,dc=example,dc=org`"#,
    );
}

#[test]
fn ldap_endpoint_needs_scheme() {
    let source = r#"version: 1
targets:
  directory:
    kind: ldap
    endpoint: 127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
  dir-two:
    kind: ldap
    endpoint: ldap://127.0.0.1:53390/dc=enact,dc=test
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: directory
        role: billing-worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:5:15: error: invalid endpoint `127.0.0.1:53389` for an `ldap` target
  help: write an `ldap://` or `ldaps://` URL with a host and a port and no path, e.g. `ldap://127.0.0.1:389`
policy.yaml:12:15: error: invalid endpoint `ldap://127.0.0.1:53390/dc=enact,dc=test` for an `ldap` target
  help: write an `ldap://` or `ldaps://` URL with a host and a port and no path, e.g. `ldap://127.0.0.1:389`"#,
    );
}

#[test]
fn redis_default_user_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: default
  report-runner:
    owner: data-team
    purpose: renders reports
    state: active
    accounts:
      - target: cache
        role: report runner
"#;
    assert_errors(
        source,
        r#"policy.yaml:16:15: error: acl user `default` is reserved by redis
  help: every connection that does not authenticate signs in as `default`, so choose another name for an account that enact manages
policy.yaml:23:15: error: invalid acl user name `report runner` for a `redis` target
  help: redis acl user names match `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`"#,
    );
}

#[test]
fn invalid_ldap_uid_rejected() {
    let source = r#"version: 1
targets:
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: directory
        role: Billing-Worker
"#;
    assert_errors(
        source,
        r#"policy.yaml:17:15: error: invalid uid `Billing-Worker` for an `ldap` target
  help: ldap account uids match `^[a-z0-9][a-z0-9._-]{0,63}$`"#,
    );
}

#[test]
fn owned_objects_on_redis_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
        owned_objects: refuse
      - target: directory
        role: billing-worker
        owned_objects:
          reassign_to: other
"#;
    assert_errors(
        source,
        r#"policy.yaml:24:9: error: `owned_objects` does not apply to a `redis` target
  help: redis acl users own no keys or other objects, so remove `owned_objects`
policy.yaml:27:9: error: `owned_objects` does not apply to an `ldap` target
  help: ldap service-account entries own no objects, so remove `owned_objects`"#,
    );
}

#[test]
fn policy_on_redis_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      password_env: ENACT_LDAP_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
        entitlements:
          - policy: billing-read
          - member_of: billing
          - {}
      - target: directory
        role: billing-worker
        entitlements:
          - rule: "+@read"
          - privilege: SELECT
            on: table public.invoices
          - {}
"#;
    assert_errors(
        source,
        r#"policy.yaml:25:13: error: `policy` does not apply to a `redis` target
  help: a `redis` account's entitlements are acl rules, so write `rule: TOKEN` with one token each, e.g. `+@read` or `~billing:*`
policy.yaml:26:13: error: `member_of` does not apply to a `redis` target
  help: a `redis` account's entitlements are acl rules, so write `rule: TOKEN` with one token each, e.g. `+@read` or `~billing:*`
policy.yaml:27:13: error: missing `rule` in `identities.billing-worker.accounts[0].entitlements[2]`
  help: write `rule: TOKEN`
policy.yaml:31:13: error: `rule` does not apply to an `ldap` target
  help: `rule` is for redis acl rules, and an `ldap` account's entitlements are group memberships, so write `member_of: GROUP_DN`
policy.yaml:32:13: error: `privilege` does not apply to an `ldap` target
  help: an `ldap` account's entitlements are group memberships, so write `member_of: GROUP_DN`
policy.yaml:34:13: error: missing `member_of` in `identities.billing-worker.accounts[1].entitlements[2]`
  help: write `member_of: GROUP_DN`"#,
    );
}

#[test]
fn wrong_credential_kinds_rejected() {
    let source = r#"version: 1
targets:
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
  directory:
    kind: ldap
    endpoint: ldap://127.0.0.1:53389
    base: ou=services,dc=enact,dc=test
    admin:
      bind_dn: cn=enact-admin,dc=enact,dc=test
      token_env: ENACT_LDAP_TOKEN
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: cache
        role: billing-worker
        credential:
          kind: secret_id
          max_uses: 3
          deliver_to:
            file: secrets/billing.redis.pw
      - target: directory
        role: billing-worker
        credential:
          kind: secret_id
          strategy: single
          deliver_to:
            file: secrets/billing.ldap.pw
"#;
    assert_errors(
        source,
        r#"policy.yaml:15:7: error: `token_env` does not apply to an `ldap` target
  help: an `ldap` admin signs in with `bind_dn` and a password, so write `password_env` instead
policy.yaml:25:17: error: credential kind `secret_id` does not apply to a `redis` target
  help: a `redis` account's credential is a password, so write `kind: password`
policy.yaml:26:11: error: `max_uses` does not apply to a `redis` target
  help: only openbao secret ids have a use count, so remove `max_uses`
policy.yaml:32:17: error: credential kind `secret_id` does not apply to an `ldap` target
  help: an `ldap` account's credential is a password, so write `kind: password`"#,
    );
}

const STRATEGY_POLICY: &str = r#"version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
  cache:
    kind: redis
    endpoint: 127.0.0.1:56379
    admin:
      user: enact-admin
      password_env: ENACT_REDIS_ADMIN_PASSWORD
identities:
  billing-worker:
    owner: payments-team
    purpose: writes invoices
    state: active
    accounts:
      - target: TARGET
        role: billing_worker
        credential:
          kind: password
STRATEGY          deliver_to:
            file: secrets/billing.pw
"#;

fn strategy_policy(target: &str, strategy: &str) -> String {
    STRATEGY_POLICY
        .replace("TARGET", target)
        .replace("STRATEGY", strategy)
}

#[test]
fn dual_strategy_resolves_with_grace() {
    let source = strategy_policy(
        "cache",
        "          strategy: dual\n          grace_period: 2s\n",
    );
    let policy = parse_policy(&source, &options()).expect("valid policy");
    let account = &policy.identities[&enact_model::NhiId::new("billing-worker")].accounts[0];
    let credential = account.credential.as_ref().expect("credential");
    assert_eq!(
        credential.strategy,
        enact_model::RotationStrategy::Dual {
            grace: enact_model::Duration::from_secs(2)
        }
    );

    let default_grace = strategy_policy("cache", "          strategy: dual\n");
    let policy = parse_policy(&default_grace, &options()).expect("valid policy");
    let account = &policy.identities[&enact_model::NhiId::new("billing-worker")].accounts[0];
    assert_eq!(
        account.credential.as_ref().expect("credential").strategy,
        enact_model::RotationStrategy::Dual {
            grace: enact_model::Duration::from_secs(30)
        }
    );

    let redis_default = strategy_policy("cache", "");
    let policy = parse_policy(&redis_default, &options()).expect("valid policy");
    let account = &policy.identities[&enact_model::NhiId::new("billing-worker")].accounts[0];
    assert_eq!(
        account.credential.as_ref().expect("credential").strategy,
        enact_model::RotationStrategy::Dual {
            grace: enact_model::Duration::from_secs(30)
        }
    );

    let single = strategy_policy("pg-main", "          strategy: single\n");
    let policy = parse_policy(&single, &options()).expect("valid policy");
    let account = &policy.identities[&enact_model::NhiId::new("billing-worker")].accounts[0];
    assert_eq!(
        account.credential.as_ref().expect("credential").strategy,
        enact_model::RotationStrategy::Single
    );
    assert!(account.settings.is_empty());
}

#[test]
fn alternating_strategy_names_two_users() {
    let source = strategy_policy(
        "pg-main",
        "          strategy: alternating\n          grace_period: 5s\n",
    );
    let policy = parse_policy(&source, &options()).expect("valid policy");
    let account = &policy.identities[&enact_model::NhiId::new("billing-worker")].accounts[0];
    assert_eq!(
        account.credential.as_ref().expect("credential").strategy,
        enact_model::RotationStrategy::Alternating {
            users: [
                "billing_worker_blue".to_owned(),
                "billing_worker_green".to_owned()
            ],
            grace: enact_model::Duration::from_secs(5)
        }
    );
    assert_eq!(
        account
            .settings
            .get("alternating_users")
            .map(String::as_str),
        Some("billing_worker_blue,billing_worker_green")
    );

    let named = strategy_policy(
        "pg-main",
        "          strategy: alternating\n          users: [billing_a, billing_b]\n",
    );
    let policy = parse_policy(&named, &options()).expect("valid policy");
    let account = &policy.identities[&enact_model::NhiId::new("billing-worker")].accounts[0];
    assert_eq!(
        account
            .settings
            .get("alternating_users")
            .map(String::as_str),
        Some("billing_a,billing_b")
    );
}

#[test]
fn alternating_users_must_differ() {
    assert_errors(
        &strategy_policy(
            "pg-main",
            "          strategy: alternating\n          users: [billing_a, billing_a]\n",
        ),
        r#"policy.yaml:26:18: error: `identities.billing-worker.accounts[0].credential.users` must list two different role names
  help: write `users: [app_blue, app_green]`, or leave `users` out for `<role>_blue` and `<role>_green`"#,
    );
}

#[test]
fn postgres_strategy_must_be_explicit() {
    assert_errors(
        &strategy_policy("pg-main", ""),
        r#"policy.yaml:23:9: error: missing `strategy` in `identities.billing-worker.accounts[0].credential`
  help: a `postgres` account holds one credential at a time; write `strategy: alternating` or `strategy: single`. `single` leaves a window in which dependents holding the old value fail, so it must be chosen explicitly"#,
    );
}

#[test]
fn dual_strategy_on_postgres_rejected() {
    assert_errors(
        &strategy_policy("pg-main", "          strategy: dual\n"),
        r#"policy.yaml:25:11: error: a `postgres` account cannot rotate with `strategy: dual`
  help: a `postgres` account supports `alternating` and `single`"#,
    );
}

#[test]
fn grace_with_single_rejected() {
    assert_errors(
        &strategy_policy(
            "pg-main",
            "          strategy: single\n          grace_period: 10s\n",
        ),
        r#"policy.yaml:26:11: error: `grace_period` does not apply to `strategy: single`
  help: remove `grace_period`, or set `strategy: dual` or `alternating`"#,
    );
}

#[test]
fn zero_grace_period_is_accepted() {
    let source = strategy_policy(
        "pg-main",
        "          strategy: alternating\n          grace_period: 0s\n",
    );
    let policy = parse_policy(&source, &options()).expect("valid policy");
    let account = &policy.identities[&enact_model::NhiId::new("billing-worker")].accounts[0];
    assert_eq!(
        account
            .credential
            .as_ref()
            .expect("credential")
            .strategy
            .grace(),
        Some(enact_model::Duration::from_secs(0))
    );
}
