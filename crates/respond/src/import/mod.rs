//! Importers for secret-scanner reports.
//!
//! Each importer reads the whole report before it returns, so a malformed report yields an
//! [`ImportError`] and no finding at all. Errors name their place in the report: a JSON pointer
//! (`report.json#/3/Secret`) for a JSON document, a line (`report.jsonl:7`) for JSON lines, and
//! a line and column for a syntax error. No error message contains a value from the report.

mod detect_secrets;
mod gitleaks;
mod json;
mod trufflehog;

use crate::finding::{Exposed, Finding};
use enact_model::{FingerprintKey, Secret};
use zeroize::Zeroizing;

pub use detect_secrets::import_detect_secrets;
pub use gitleaks::import_gitleaks;
pub use trufflehog::import_trufflehog;

/// The largest report read, so a runaway file cannot exhaust memory.
pub const MAX_REPORT_BYTES: usize = 64 * 1024 * 1024;

/// A report that could not be read, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The report has a problem at `location`.
    #[error("{location}: {problem}")]
    Malformed {
        /// `FILE#/pointer`, `FILE:LINE` or `FILE:LINE:COLUMN`.
        location: String,
        /// What is wrong, in one line, without any value from the report.
        problem: String,
    },
}

impl ImportError {
    pub(crate) fn at(location: impl Into<String>, problem: impl Into<String>) -> Self {
        ImportError::Malformed {
            location: location.into(),
            problem: problem.into(),
        }
    }

    /// Where the problem is.
    pub fn location(&self) -> &str {
        match self {
            ImportError::Malformed { location, .. } => location,
        }
    }
}

/// The format of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// Recognize the format from the report's shape.
    Auto,
    /// gitleaks `--report-format json`: one JSON array of findings.
    Gitleaks,
    /// TruffleHog `--json`: one JSON object per line.
    Trufflehog,
    /// A detect-secrets baseline: one JSON object whose `results` map files to findings, each
    /// with the SHA-1 of the secret.
    DetectSecrets,
}

/// Reads the findings of a report. `origin` names the report in error locations.
pub fn import_report(
    bytes: &[u8],
    origin: &str,
    format: ReportFormat,
    key: &FingerprintKey,
) -> Result<Vec<Finding>, ImportError> {
    if bytes.len() > MAX_REPORT_BYTES {
        return Err(ImportError::at(
            origin,
            format!(
                "the report is {} bytes, more than the limit of {MAX_REPORT_BYTES}",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes
            .get(..error.valid_up_to())
            .map_or(0, |valid| valid.iter().filter(|b| **b == b'\n').count())
            + 1;
        ImportError::at(format!("{origin}:{line}"), "the report is not valid UTF-8")
    })?;
    let format = match format {
        ReportFormat::Auto => detect(text),
        other => other,
    };
    match format {
        ReportFormat::Gitleaks => import_gitleaks(text, origin, key),
        ReportFormat::DetectSecrets => import_detect_secrets(text, origin),
        ReportFormat::Trufflehog | ReportFormat::Auto => import_trufflehog(text, origin, key),
    }
}

/// Recognizes a report by its first characters: an array is gitleaks; a document whose first
/// line is only `{` is a pretty-printed detect-secrets baseline; anything else is read as
/// TruffleHog JSON lines.
fn detect(text: &str) -> ReportFormat {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return ReportFormat::Gitleaks;
    }
    let first_line = trimmed.lines().next().unwrap_or_default().trim();
    if first_line == "{" {
        return ReportFormat::DetectSecrets;
    }
    // A baseline written on one line is one object with `results`.
    if trimmed.lines().filter(|l| !l.trim().is_empty()).count() == 1 {
        if let Ok(serde_json::Value::Object(object)) =
            serde_json::from_str::<serde_json::Value>(trimmed)
        {
            if object.contains_key("results") {
                return ReportFormat::DetectSecrets;
            }
        }
    }
    ReportFormat::Trufflehog
}

/// Wraps one value passed on standard input as a finding. One trailing newline (`\n` or
/// `\r\n`) is not part of the value.
pub fn import_value(
    value: Zeroizing<String>,
    key: &FingerprintKey,
) -> Result<Finding, ImportError> {
    let trimmed = value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(&value);
    if trimmed.is_empty() {
        return Err(ImportError::at("stdin", "standard input holds no value"));
    }
    Ok(Finding {
        location: "stdin".to_string(),
        exposed: Exposed::Value(Secret::new(trimmed.to_string(), key)),
        detector: None,
        found_in: None,
    })
}

#[cfg(test)]
mod tests;
