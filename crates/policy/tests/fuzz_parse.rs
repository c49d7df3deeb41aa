//! The stable-toolchain counterpart of the cargo-fuzz targets in `crates/policy/fuzz`: arbitrary
//! text and damaged valid policies go through the policy and rule parsers, which must return a
//! value or located diagnostics that render, and never panic.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use enact_policy::{parse_policy, parse_rules, ParseOptions, PolicyErrors};
use proptest::prelude::*;
use std::path::PathBuf;

const VALID: &str = include_str!("valid.yaml");
const MIXED: &str = include_str!("mixed.yaml");
const ALL_KINDS: &str = include_str!("all_kinds.yaml");

/// A rules file with a CEL condition, so damage reaches the condition parser too.
const RULES: &str = "rules:\n  - name: stale-password\n    when: account.credential_age_days > 90 && account.login\n    action: report\n";

fn options() -> ParseOptions {
    ParseOptions {
        origin: PathBuf::from("fuzz.yaml"),
        base_dir: PathBuf::from("/nonexistent"),
        known_kinds: ["postgres", "openbao", "redis", "ldap"]
            .map(str::to_owned)
            .to_vec(),
    }
}

/// Checks that a rejected input got diagnostics that point inside the source at character
/// boundaries and that the graphical renderer draws them.
fn check_errors(source: &str, errors: &PolicyErrors) {
    assert!(!errors.is_empty());
    for error in errors.errors() {
        assert!(error.span.start <= error.span.end, "{error:?}");
        assert!(error.span.end <= source.len(), "{error:?}");
        assert!(source.is_char_boundary(error.span.start), "{error:?}");
        assert!(source.is_char_boundary(error.span.end), "{error:?}");
        assert!(error.line >= 1, "{error:?}");
        assert!(error.column >= 1, "{error:?}");
        assert!(!error.message.is_empty(), "{error:?}");
    }
    let mut rendered = String::new();
    miette::GraphicalReportHandler::new()
        .render_report(&mut rendered, &errors.diagnostic())
        .expect("render into a string");
}

fn parse_both(source: &str) {
    if let Err(errors) = parse_policy(source, &options()) {
        check_errors(source, &errors);
    }
    if let Err(errors) = parse_rules(source, &options()) {
        check_errors(source, &errors);
    }
}

/// One edit of a text: replace, delete or insert a character at a fraction of its length, or
/// cut it there.
#[derive(Clone, Debug)]
enum Edit {
    Replace(f64, char),
    Delete(f64),
    Insert(f64, String),
    Cut(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    // YAML's structural characters and multi-byte characters are the interesting ones.
    let fragment = prop_oneof![
        Just(":".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("- ".to_string()),
        Just("{".to_string()),
        Just("[".to_string()),
        Just("\"".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("é".to_string()),
        Just("\u{1F510}".to_string()),
        any::<String>(),
    ];
    prop_oneof![
        (0.0..1.0f64, any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
        (0.0..1.0f64).prop_map(Edit::Delete),
        (0.0..1.0f64, fragment).prop_map(|(at, text)| Edit::Insert(at, text)),
        (0.0..1.0f64).prop_map(Edit::Cut),
    ]
}

/// Applies `edits` to `text`, each at the character nearest its fraction of the length.
fn damage(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let at = |fraction: f64, len: usize| ((fraction * len as f64) as usize).min(len);
        match edit {
            Edit::Replace(f, c) if !chars.is_empty() => {
                let i = at(*f, chars.len() - 1);
                chars[i] = *c;
            }
            Edit::Delete(f) if !chars.is_empty() => {
                let i = at(*f, chars.len() - 1);
                chars.remove(i);
            }
            Edit::Insert(f, text) => {
                let i = at(*f, chars.len());
                chars.splice(i..i, text.chars());
            }
            Edit::Cut(f) => {
                let i = at(*f, chars.len());
                chars.truncate(i);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        parse_both(&source);
    }

    #[test]
    fn damaged_policy_never_panics(
        base in prop::sample::select(vec![VALID, MIXED, ALL_KINDS, RULES]),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        parse_both(&damage(base, &edits));
    }
}

#[test]
fn undamaged_samples_parse() {
    for sample in [VALID, MIXED, ALL_KINDS] {
        if let Err(errors) = parse_policy(sample, &options()) {
            panic!("a sample policy is rejected: {errors}");
        }
    }
    if let Err(errors) = parse_rules(RULES, &options()) {
        panic!("the sample rules are rejected: {errors}");
    }
}
