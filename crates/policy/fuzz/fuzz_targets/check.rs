//! The checks both policy targets make on the parser's diagnostics.

use enact_policy::{ParseOptions, PolicyErrors};

/// Returns the options of a parse: the kinds the `enact` binary supports, and a base directory
/// that does not exist, so that no relative path reads a file.
pub fn options() -> ParseOptions {
    ParseOptions {
        origin: "fuzz.yaml".into(),
        base_dir: "/nonexistent".into(),
        known_kinds: ["postgres", "openbao", "redis", "ldap"]
            .iter()
            .map(|kind| kind.to_string())
            .collect(),
    }
}

/// Checks that a rejected input got at least one diagnostic and that each points inside the
/// source at a character boundary, with a line and column from 1. Then renders them all with
/// the graphical renderer, which slices the source with each span.
pub fn check_errors(source: &str, errors: &PolicyErrors) {
    assert!(!errors.is_empty(), "an error without a diagnostic");
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
        .expect("rendering into a string cannot fail");
}
