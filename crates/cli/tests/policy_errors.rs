//! Malformed policy files through the CLI: each one makes `enact plan` and `enact apply` exit 1,
//! names the problem at `FILE:LINE:COLUMN` on standard error, and changes nothing: no role is
//! created and no sink file is written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{credential, identity, Workspace};

/// Marks where an error is expected in a case's text; it is removed before the file is written.
const MARK: char = '§';

/// A valid policy with one identity; each case breaks one part of it.
const BASE: &str = "version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: {ENDPOINT}
    database: appdb
    admin:
      user: enact_admin
      password_env: ENACT_PG_ADMIN_PASSWORD
    verify_window: 2s
    unmanaged: { action: report }
identities:
  svc:
    owner: e2e-team
    purpose: end-to-end test
    state: active
    accounts:
      - target: pg-main
        role: {ROLE}
        entitlements:
          - privilege: SELECT
            on: table public.orders
        credential: { kind: password, strategy: single, max_age: 90d, deliver_to: { file: {SINK} } }
        sessions: { max_lifetime: 8h, idle_limit: 30m, end_on_rotation: true }
";

/// One malformed policy: its text with [`MARK`] before each expected error location, and a
/// fragment each error message must contain.
struct Case {
    name: &'static str,
    text: String,
    messages: Vec<&'static str>,
}

/// The base policy with `from` replaced by `to`, which must occur exactly once.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "`{from}` is not unique in the base policy"
    );
    BASE.replacen(from, to, 1)
}

fn cases() -> Vec<Case> {
    let second_identity = "  other:
    owner: e2e-team
    purpose: end-to-end test
    state: active
    accounts:
      - target: pg-main
        role: §{ROLE}
";
    vec![
        Case {
            name: "yaml syntax error",
            text: "version: 1\ntargets: [a\n§".to_string(),
            messages: vec!["invalid yaml"],
        },
        Case {
            name: "unknown key",
            text: edit("max_age: 90d", "§max_agee: 90d"),
            messages: vec!["did you mean `max_age`?"],
        },
        Case {
            name: "missing owner",
            text: edit("  svc:\n    owner: e2e-team\n", "  §svc:\n"),
            messages: vec!["missing required key `owner`"],
        },
        Case {
            name: "invalid state",
            text: edit("state: active", "state: §actve"),
            messages: vec!["invalid state `actve`"],
        },
        Case {
            name: "undeclared target",
            text: edit("- target: pg-main", "- target: §pg-mian"),
            messages: vec!["unknown target `pg-mian`"],
        },
        Case {
            name: "inline password",
            text: edit(
                "    admin:\n      user: enact_admin\n      password_env: ENACT_PG_ADMIN_PASSWORD\n",
                "    §admin:\n      user: enact_admin\n      §password: inline-canary-7d1e\n",
            ),
            messages: vec!["missing `password_env` or `password_file`", "unknown key `password`"],
        },
        Case {
            name: "bad duration",
            text: edit("max_age: 90d", "max_age: §90x"),
            messages: vec!["invalid duration `90x`"],
        },
        Case {
            name: "ALL privilege",
            text: edit("privilege: SELECT", "privilege: §ALL"),
            messages: vec!["privilege `ALL` is not allowed"],
        },
        Case {
            name: "unqualified table",
            text: edit("on: table public.orders", "on: §table orders"),
            messages: vec!["is not schema-qualified"],
        },
        Case {
            name: "duplicate role on a target",
            text: format!("{BASE}{second_identity}"),
            messages: vec!["is already declared by identity `svc`"],
        },
        Case {
            name: "endpoint without port",
            text: edit("endpoint: {ENDPOINT}", "endpoint: §127.0.0.1"),
            messages: vec!["invalid endpoint `127.0.0.1`"],
        },
        Case {
            name: "unknown kind",
            text: edit("kind: postgres", "kind: §postgress"),
            messages: vec!["did you mean `postgres`?"],
        },
        Case {
            name: "unsupported version",
            text: edit("version: 1", "version: §2"),
            messages: vec!["unsupported policy version `2`"],
        },
        Case {
            name: "invalid role name",
            text: edit("role: {ROLE}", "role: §Bad-Role"),
            messages: vec!["invalid role name `Bad-Role`"],
        },
        Case {
            name: "duplicate yaml key",
            text: edit("    kind: postgres\n", "    kind: postgres\n    §kind: postgres\n"),
            messages: vec!["duplicate key `kind`"],
        },
        Case {
            name: "invalid owned_objects",
            text: edit(
                "        sessions:",
                "        owned_objects: §keep\n        sessions:",
            ),
            messages: vec!["invalid `owned_objects` value `keep`"],
        },
        Case {
            name: "missing endpoint",
            text: edit("  pg-main:\n    kind: postgres\n    endpoint: {ENDPOINT}\n", "  §pg-main:\n    kind: postgres\n"),
            messages: vec!["missing required key `endpoint`"],
        },
        Case {
            name: "both password sources",
            text: edit(
                "      password_env: ENACT_PG_ADMIN_PASSWORD\n",
                "      password_env: ENACT_PG_ADMIN_PASSWORD\n      §password_file: /nonexistent/admin.pw\n",
            ),
            messages: vec!["sets both `password_env` and `password_file`"],
        },
        Case {
            name: "several problems at once",
            text: edit("state: active", "state: §actve")
                .replacen("max_age: 90d", "max_age: §0s", 1),
            messages: vec!["invalid state `actve`", "max_age"],
        },
    ]
}

/// Undoes the line wrapping of the diagnostics, because miette wraps long messages at 80 columns
/// and starts each continuation line with `│`.
fn unwrapped(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| line.trim_start().trim_start_matches('│').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Finds the 1-based line and column of every mark in `text`, and returns them with the text
/// without the marks.
fn locate_marks(text: &str) -> (Vec<(usize, usize)>, String) {
    let mut marks = Vec::new();
    let mut clean = String::new();
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            clean.push('\n');
        }
        let mut column = 1;
        for character in line.chars() {
            if character == MARK {
                marks.push((index + 1, column));
            } else {
                clean.push(character);
                column += 1;
            }
        }
    }
    (marks, clean)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_policies_change_nothing() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    let sink = ws.sink("svc");
    let policy = ws.policy_path();
    let cases = cases();
    assert!(cases.len() >= 15);

    for case in &cases {
        let text = case
            .text
            .replace("{ENDPOINT}", &ws.pg.endpoint())
            .replace("{ROLE}", &role)
            .replace("{SINK}", &sink.display().to_string());
        let (marks, clean) = locate_marks(&text);
        assert!(!marks.is_empty(), "case `{}` marks no location", case.name);
        ws.write_policy_text(&clean);

        for command in [&["plan"][..], &["apply", "--allow-destructive"][..]] {
            let outcome = ws.enact(command).await;
            assert_eq!(
                outcome.code,
                Some(1),
                "case `{}`: wrong exit code\n{outcome}",
                case.name
            );
            for (line, column) in &marks {
                let location = format!("{}:{line}:{column}", policy.display());
                assert!(
                    outcome.stderr.contains(&location),
                    "case `{}`: stderr does not name `{location}`\n{outcome}",
                    case.name
                );
            }
            let diagnostics = unwrapped(&outcome.stderr);
            for message in &case.messages {
                assert!(
                    diagnostics.contains(message),
                    "case `{}`: stderr does not say `{message}`\n{outcome}",
                    case.name
                );
            }
            assert!(
                !outcome.all_output().contains("inline-canary-7d1e"),
                "case `{}`: the inline password was printed\n{outcome}",
                case.name
            );
        }
        assert!(
            ws.prefixed_roles().await.is_empty(),
            "case `{}` created a role",
            case.name
        );
        assert!(!sink.exists(), "case `{}` wrote the sink file", case.name);
        assert!(
            !ws.path("secrets").exists(),
            "case `{}` created the sink directory",
            case.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_admin_variable_is_named() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    let sink = ws.sink("svc");
    let variable = format!("ENACT_E2E_UNSET_{}", ws.prefix.to_uppercase());
    let text = BASE
        .replace("ENACT_PG_ADMIN_PASSWORD", &variable)
        .replace("{ENDPOINT}", &ws.pg.endpoint())
        .replace("{ROLE}", &role)
        .replace("{SINK}", &sink.display().to_string());
    ws.write_policy_text(&text);

    for command in [
        &["plan"][..],
        &["apply", "--allow-destructive"][..],
        &["status"][..],
    ] {
        let outcome = ws.enact(command).await;
        outcome.expect_code(1);
        assert!(
            outcome.stderr.contains(&format!("`{variable}`")),
            "stderr does not name `{variable}`\n{outcome}"
        );
    }
    assert!(ws.prefixed_roles().await.is_empty(), "a role was created");
    assert!(!sink.exists(), "the sink file was written");
}

/// Every missing admin credential is named in one error, and an empty one is called empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_admin_credentials_named_together() {
    let ws = Workspace::new();
    let unset = format!("ENACT_E2E_UNSET_{}", ws.prefix.to_uppercase());
    let empty = format!("ENACT_E2E_EMPTY_{}", ws.prefix.to_uppercase());
    let target = |name: &str, variable: &str| {
        format!(
            "  {name}:\n    kind: postgres\n    endpoint: {}\n    database: {}\n    admin: {{ user: {}, password_env: {variable} }}\n",
            ws.pg.endpoint(),
            ws.pg.database,
            ws.pg.admin_user,
        )
    };
    ws.write_policy_text(&format!(
        "version: 1\ntargets:\n{}{}identities: {{}}\n",
        target("pg-one", &unset),
        target("pg-two", &empty)
    ));

    let mut command = ws.command_in(&ws.state_dir(), &["plan"]);
    command.env_remove(&unset).env(&empty, "");
    let output = command.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 admin credentials are missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("`{unset}` is not set")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("`{empty}` is empty")), "{stderr}");
}

/// A command that would start a new state beside a policy that has one fails, so the evidence
/// log is not split. `enact init` starts a second state on purpose.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_state_needs_init() {
    let ws = Workspace::new();
    let role = ws.role("svc");
    ws.write_policy(&[identity(
        "svc",
        "active",
        &role,
        &credential(&ws.sink("svc"), "90d"),
    )]);
    ws.enact_in(&ws.path(".enact"), &["init"])
        .await
        .expect_code(0);

    let refused = ws.enact(&["plan"]).await;
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("beside the policy has one"),
        "{refused}"
    );
    assert!(
        !ws.state_dir().join("keys").exists(),
        "the refused command created keys"
    );

    ws.enact(&["init"]).await.expect_code(0);
    ws.enact(&["plan"]).await.expect_code(2);
}
