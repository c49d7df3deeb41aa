//! detect-secrets baselines (`detect-secrets scan > .secrets.baseline`, version 1): one object
//! whose `results` map each file to its findings. A finding keeps only `hashed_secret`, the
//! SHA-1 of the value as 40 hex digits, with `type` and `line_number`.

use super::json::{kind, parse, place, token, Fields};
use super::ImportError;
use crate::finding::{Exposed, Finding};
use serde_json::Value;

/// Reads a detect-secrets baseline. `origin` names the report in error locations.
pub fn import_detect_secrets(text: &str, origin: &str) -> Result<Vec<Finding>, ImportError> {
    let mut document = parse(text, origin, 1)?;
    let root = Fields::of(
        &mut document,
        format!("{origin}#"),
        "a detect-secrets baseline",
    )?;
    let results_at = root.field_at("results");
    let Some(results) = root.object.get_mut("results") else {
        return Err(ImportError::at(
            root.at.clone(),
            "missing field `results`; is this a detect-secrets baseline?",
        ));
    };
    let Value::Object(files) = results else {
        return Err(ImportError::at(
            results_at,
            format!("expected an object, found {}", kind(results)),
        ));
    };
    let mut findings = Vec::new();
    for (file, entries) in files.iter_mut() {
        let file_at = format!("{results_at}/{}", token(file));
        let Value::Array(entries) = entries else {
            return Err(ImportError::at(
                file_at,
                format!("expected an array of findings, found {}", kind(entries)),
            ));
        };
        for (index, entry) in entries.iter_mut().enumerate() {
            let at = format!("{file_at}/{index}");
            let mut fields = Fields::of(entry, at.clone(), "a finding")?;
            let hashed = fields.take_required_string("hashed_secret")?;
            let hash = decode_sha1(&hashed).ok_or_else(|| {
                ImportError::at(
                    fields.field_at("hashed_secret"),
                    "expected a SHA-1 as 40 hex digits",
                )
            })?;
            let detector = fields.optional_string("type")?;
            let line = fields.optional_u64("line_number")?;
            let name = fields
                .optional_string("filename")?
                .unwrap_or_else(|| file.clone());
            findings.push(Finding {
                location: at,
                exposed: Exposed::Sha1(hash),
                detector,
                found_in: place(Some(name), line),
            });
        }
    }
    Ok(findings)
}

fn decode_sha1(text: &str) -> Option<[u8; 20]> {
    let mut hash = [0u8; 20];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}
