//! The enact policy parser: policy YAML in, a checked [`Policy`] out.
//!
//! [`parse_policy`] reads the text into a YAML tree that keeps the position of every node, then
//! checks it against the policy syntax and resolves it into the model. Every problem is
//! collected, so one run reports all of them, each with its file, line, column and, where one
//! fits, a hint. A [`Policy`] is returned only when there is no problem at all, so code that
//! receives one may rely on the invariants documented on it.
//!
//! [`json_schema`] gives the JSON Schema of the same syntax, for editors and other tools.

mod check;
mod error;

mod keys;
mod kinds;
mod rules;
mod schema;
mod values;
mod yaml;

pub use enact_model::glob::glob_matches;
pub use error::{ErrorKind, PolicyDiagnostic, PolicyError, PolicyErrors};
pub use rules::{parse_rules, HygieneRule, RuleAction, ATTRIBUTES};
pub use schema::json_schema;

use enact_model::Policy;
use miette::NamedSource;
use std::path::PathBuf;
use std::sync::Arc;

/// The parser's settings besides the source text.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// The policy file's name as shown in errors.
    pub origin: PathBuf,
    /// The directory that relative paths in the policy (password and sink files) resolve against,
    /// normally the policy file's directory.
    pub base_dir: PathBuf,
    /// The connector kinds this build supports, such as `postgres`.
    pub known_kinds: Vec<String>,
}

/// Parses and checks a policy.
///
/// # Errors
///
/// Returns every problem found (YAML syntax, types, missing and unknown keys, invalid values,
/// undeclared references and conflicts) as [`PolicyErrors`]. A YAML syntax error stops the
/// parse, so it is reported alone.
pub fn parse_policy(source: &str, options: &ParseOptions) -> Result<Policy, PolicyErrors> {
    let digest = enact_model::digest::sha256_hex(source.as_bytes());
    // The checker reads each identity as the parser completes it, so a large policy whose
    // `targets` come first is never one whole tree. A syntax error discards what it found.
    let mut checker = check::Checker::new(options);
    let (policy, mut diags, secret_values) = match yaml::parse_with(source, &mut checker) {
        Err(error) => {
            let diag = check::Diag {
                loc: error.loc,
                kind: ErrorKind::Syntax,
                message: error.message,
                help: None,
            };
            (None, vec![diag], Vec::new())
        }
        Ok(None) => {
            let diag = check::Diag {
                loc: yaml::Loc {
                    start: 0,
                    end: 0,
                    line: 1,
                    column: 1,
                },
                kind: ErrorKind::MissingKey,
                message: "the policy is empty".to_owned(),
                help: Some(
                    "start with `version: 1`, then declare `targets` and `identities`".to_owned(),
                ),
            };
            (None, vec![diag], Vec::new())
        }
        Ok(Some(root)) => {
            let checked = checker.finish(&root, digest);
            (checked.policy, checked.diags, checked.secret_values)
        }
    };

    if let (Some(policy), true) = (policy, diags.is_empty()) {
        return Ok(policy);
    }

    diags.sort_by_key(|diag| (diag.loc.start, diag.loc.line, diag.loc.column));
    let masked_source = masked(source, &secret_values);
    let named = Arc::new(
        NamedSource::new(options.origin.display().to_string(), masked_source).with_language("yaml"),
    );
    let errors = diags
        .into_iter()
        .map(|diag| PolicyError {
            kind: diag.kind,
            file: options.origin.clone(),
            line: diag.loc.line,
            column: diag.loc.column,
            span: diag.loc.start..diag.loc.end.max(diag.loc.start),
            message: diag.message,
            help: diag.help,
            code: Arc::clone(&named),
        })
        .collect();
    Err(PolicyErrors::new(options.origin.clone(), errors))
}

/// Copies `source` with the text at `secrets` replaced by `*`, byte for byte. Spans into the copy
/// stay valid, and a rendered snippet does not show a secret written inline.
fn masked(source: &str, secrets: &[yaml::Loc]) -> String {
    let mut copy = String::with_capacity(source.len());
    for (at, c) in source.char_indices() {
        let inside = secrets.iter().any(|loc| at >= loc.start && at < loc.end);
        if inside && !c.is_whitespace() {
            copy.extend(std::iter::repeat_n('*', c.len_utf8()));
        } else {
            copy.push(c);
        }
    }
    copy
}

#[cfg(test)]
#[allow(clippy::panic, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn options() -> ParseOptions {
        ParseOptions {
            origin: PathBuf::from("policy.yaml"),
            base_dir: PathBuf::from("/etc/enact"),
            known_kinds: ["postgres", "openbao", "redis", "ldap"]
                .map(str::to_owned)
                .to_vec(),
        }
    }

    /// Moves the `identities` section, which must be the last, before `targets`. The checker
    /// then reads the whole tree instead of checking each identity as it is parsed.
    fn identities_first(source: &str) -> String {
        let (Some(identities), Some(targets)) =
            (source.find("\nidentities:"), source.find("\ntargets:"))
        else {
            panic!("the source has no `targets` or `identities` section");
        };
        let (head, identities) = source.split_at(identities + 1);
        let (before, targets) = head.split_at(targets + 1);
        format!("{before}{identities}{targets}")
    }

    /// Returns the class and message of each error, sorted, since the positions differ when
    /// the sections move.
    fn messages(source: &str) -> Vec<(&'static str, String)> {
        let errors = match parse_policy(source, &options()) {
            Ok(policy) => panic!("expected errors, the policy parsed: {policy:#?}"),
            Err(errors) => errors,
        };
        let mut messages: Vec<_> = errors
            .errors()
            .iter()
            .map(|error| (error.kind.code(), error.message.clone()))
            .collect();
        messages.sort();
        messages
    }

    #[test]
    fn section_order_keeps_the_model() {
        for source in [
            include_str!("../tests/valid.yaml"),
            include_str!("../tests/mixed.yaml"),
            include_str!("../tests/all_kinds.yaml"),
        ] {
            let moved = identities_first(source);
            let (first, second) = match (
                parse_policy(source, &options()),
                parse_policy(&moved, &options()),
            ) {
                (Ok(first), Ok(second)) => (first, second),
                other => panic!("both orders must parse: {other:?}"),
            };
            assert!(!first.identities.is_empty());
            assert_eq!(first.identities, second.identities);
            assert_eq!(first.targets, second.targets);
        }
    }

    #[test]
    fn section_order_keeps_the_errors() {
        let source = "version: 1
targets:
  pg-main:
    kind: postgres
    endpoint: 127.0.0.1:55432
    admin: {user: enact_admin, password_env: ENACT_PG_ADMIN_PASSWORD}
  ldap-main:
    kind: ldpa
identities:
  billing:
    owner: payments
    purpose: writes invoices
    state: active
    accounts:
      - {target: pg-main, role: billing}
      - {target: pg-mian, role: other}
  billing:
    owner: payments
  reports:
    purpose: reads invoices
    state: sleeping
    password: s3cr3t
    accounts:
      - {target: pg-main, role: billing}
";
        let expected = messages(source);
        assert_eq!(messages(&identities_first(source)), expected);
        for message in [
            "duplicate identity `billing`",
            "unknown target `pg-mian`",
            "missing required key `owner` in `identities.reports`",
            "role `billing` on target `pg-main` is already declared by identity `billing`",
        ] {
            assert!(
                expected.iter().any(|(_, found)| found == message),
                "`{message}` not reported: {expected:?}"
            );
        }
    }

    #[test]
    fn syntax_error_hides_identity_errors() {
        let source = "version: 1
targets:
  pg-main: {kind: postgres, endpoint: 127.0.0.1:55432, admin: {user: a, password_env: B}}
identities:
  billing:
    owner: payments
    accounts: [{target: pg-mian, role: billing}]
  reports: [a
";
        let errors = match parse_policy(source, &options()) {
            Ok(policy) => panic!("expected a syntax error, the policy parsed: {policy:#?}"),
            Err(errors) => errors,
        };
        let kinds: Vec<ErrorKind> = errors.errors().iter().map(|error| error.kind).collect();
        assert_eq!(kinds, [ErrorKind::Syntax]);
    }

    #[test]
    fn masking_keeps_offsets_and_lines() {
        let source = "a: 1\npassword: hünter 2\nb: 2\n";
        let start = source.find("hünter").unwrap_or_default();
        let secret = yaml::Loc {
            start,
            end: start + "hünter 2".len(),
            line: 2,
            column: 11,
        };
        let copy = masked(source, &[secret]);
        assert_eq!(copy.len(), source.len());
        assert_eq!(copy, "a: 1\npassword: ******* *\nb: 2\n");
    }

    #[test]
    fn secret_values_are_masked_in_errors() {
        let source = "version: 1\ntargets: {}\nidentities: {}\nsecret: s3cr3t\n";
        let errors = parse_policy(source, &ParseOptions::default()).err();
        let shown = errors
            .as_ref()
            .and_then(|errors| errors.errors().first())
            .map(|error| error.code.inner().clone());
        assert_eq!(
            shown.as_deref(),
            Some("version: 1\ntargets: {}\nidentities: {}\nsecret: ******\n")
        );
    }
}
