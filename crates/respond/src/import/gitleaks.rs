//! gitleaks JSON reports (`gitleaks detect --report-format json`, version 8): one array whose
//! entries carry the value in `Secret`, the rule in `RuleID`, and the place in `File` and
//! `StartLine`.

use super::json::{parse, place, Fields};
use super::ImportError;
use crate::finding::{Exposed, Finding};
use enact_model::{FingerprintKey, Secret};
use serde_json::Value;

/// What gitleaks writes in place of the value when run with `--redact`.
const REDACTED: &str = "REDACTED";

/// Reads a gitleaks JSON report. `origin` names the report in error locations.
pub fn import_gitleaks(
    text: &str,
    origin: &str,
    key: &FingerprintKey,
) -> Result<Vec<Finding>, ImportError> {
    let mut document = parse(text, origin, 1)?;
    let Value::Array(entries) = &mut document else {
        return Err(ImportError::at(
            format!("{origin}#"),
            format!(
                "expected a gitleaks report, an array of findings, found {}",
                super::json::kind(&document)
            ),
        ));
    };
    let mut findings = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter_mut().enumerate() {
        let at = format!("{origin}#/{index}");
        let mut fields = Fields::of(entry, at.clone(), "a finding")?;
        let value = fields.take_required_string("Secret")?;
        // The value has been moved out of the document; a mask is not a value to search for.
        if value == REDACTED || value.chars().all(|c| c == '*') {
            return Err(ImportError::at(
                fields.field_at("Secret"),
                "the report is redacted; run gitleaks without `--redact`, or pass the value on standard input with `--stdin`",
            ));
        }
        let detector = fields.optional_string("RuleID")?;
        let file = fields.optional_string("File")?;
        let line = fields.optional_u64("StartLine")?;
        findings.push(Finding {
            location: at,
            exposed: Exposed::Value(Secret::new(value, key)),
            detector,
            found_in: place(file, line),
        });
    }
    Ok(findings)
}
