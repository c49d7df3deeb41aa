//! The generated parts of the crate's README: the list of checks, and per connector the proofs
//! its fixture declares. Tests compare them with the README, so it stays true.

use crate::fixture::{FixtureCapabilities, Proof, Support};
use crate::report::Check;
use std::fmt::Write;

/// The README as it was when the crate was compiled.
const README: &str = include_str!("../README.md");

/// Where the README lives, for rewriting it when `ENACT_UPDATE_README` is set.
const README_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

/// The environment variable that makes a mismatched README section be rewritten instead of
/// failing the test.
pub const UPDATE_VARIABLE: &str = "ENACT_UPDATE_README";

/// The id of the README section that lists the checks.
pub const CHECKS_SECTION: &str = "checks";

/// The id of the README section for the connector named `name`.
pub fn connector_section_id(name: &str) -> String {
    format!("connector {name}")
}

/// Renders the table of every check, what it proves and the proofs it needs.
pub fn checks_markdown() -> String {
    let mut text = String::from("| Check | What it proves | Needs |\n| --- | --- | --- |\n");
    for check in Check::ALL {
        let needs: Vec<String> = check
            .requires()
            .iter()
            .map(|proof| format!("`{proof}`"))
            .collect();
        let needs = if needs.is_empty() {
            "-".to_string()
        } else {
            needs.join(", ")
        };
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "| `{}` | {} | {needs} |",
            check.name(),
            check.description()
        );
    }
    text
}

/// Renders the proofs the connector `name` gives and the checks skipped for known defects.
pub fn connector_markdown(name: &str, capabilities: &FixtureCapabilities) -> String {
    let mut text = format!("### `{name}`\n\n| Proof | Given |\n| --- | --- |\n");
    for proof in Proof::ALL {
        let given = match capabilities.support(proof) {
            Support::Supported => "yes".to_string(),
            Support::NotSupported(reason) => format!("no: {reason}"),
        };
        let _ = writeln!(text, "| `{proof}` | {given} |");
    }
    if capabilities.known_defects.is_empty() {
        text.push_str("\nNo check is skipped for a known defect.\n");
    } else {
        text.push_str("\nSkipped for known defects:\n\n");
        for defect in &capabilities.known_defects {
            let _ = writeln!(text, "- `{}`: {}", defect.check, defect.reason);
        }
    }
    text
}

fn begin_marker(id: &str) -> String {
    format!("<!-- begin: {id} -->\n")
}

fn end_marker(id: &str) -> String {
    format!("<!-- end: {id} -->")
}

/// The text between the markers of section `id` in `readme`, if the section exists.
pub fn readme_section<'r>(readme: &'r str, id: &str) -> Option<&'r str> {
    let begin = begin_marker(id);
    let start = readme.find(&begin)? + begin.len();
    let length = readme.get(start..)?.find(&end_marker(id))?;
    readme.get(start..start + length)
}

/// Returns `readme` with section `id` holding `content`, appending the section when it is
/// missing.
pub fn with_section(readme: &str, id: &str, content: &str) -> String {
    let begin = begin_marker(id);
    let end = end_marker(id);
    let span = readme.find(&begin).and_then(|start| {
        let inner = start + begin.len();
        let length = readme.get(inner..)?.find(&end)?;
        Some((inner, inner + length))
    });
    match span {
        Some((inner, finish)) => {
            let before = readme.get(..inner).unwrap_or_default();
            let after = readme.get(finish..).unwrap_or_default();
            format!("{before}{content}{after}")
        }
        None => format!("{}\n{begin}{content}{end}\n", readme.trim_end()),
    }
}

/// Fails the calling test unless the README's section `id` holds exactly `expected`. With
/// [`UPDATE_VARIABLE`] set, rewrites the section in the README file instead.
///
/// NOTE: two test binaries rewriting the README at the same moment can lose one rewrite; run
/// the update again if a section is still stale.
#[expect(
    clippy::panic,
    reason = "this helper is an assertion for tests, so failing the test is its purpose"
)]
pub fn assert_readme_section(id: &str, expected: &str) {
    if readme_section(README, id) == Some(expected) {
        return;
    }
    if std::env::var_os(UPDATE_VARIABLE).is_some() {
        let current = std::fs::read_to_string(README_PATH)
            .unwrap_or_else(|error| panic!("reading `{README_PATH}` failed: {error}"));
        std::fs::write(README_PATH, with_section(&current, id, expected))
            .unwrap_or_else(|error| panic!("writing `{README_PATH}` failed: {error}"));
        return;
    }
    panic!(
        "section `{id}` of `{README_PATH}` is stale; rerun with {UPDATE_VARIABLE}=1 to rewrite it. expected:\n{expected}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_lists_every_check() {
        assert_readme_section(CHECKS_SECTION, &checks_markdown());
        for check in Check::ALL {
            assert!(README.contains(&format!("`{}`", check.name())), "{check}");
        }
    }

    #[test]
    fn section_is_replaced_or_appended() {
        let readme = "# title\n<!-- begin: a -->\nold\n<!-- end: a -->\ntail\n";
        let replaced = with_section(readme, "a", "new\n");
        assert_eq!(
            replaced,
            "# title\n<!-- begin: a -->\nnew\n<!-- end: a -->\ntail\n"
        );
        assert_eq!(readme_section(&replaced, "a"), Some("new\n"));

        let appended = with_section(readme, "b", "more\n");
        assert_eq!(readme_section(&appended, "b"), Some("more\n"));
        assert_eq!(readme_section(&appended, "a"), Some("old\n"));
    }
}
