//! TruffleHog JSON lines (`trufflehog ... --json`, version 3): one object per line, with the
//! value in `Raw`, the detector in `DetectorName`, and the place under
//! `SourceMetadata.Data.<source>.file` and `.line`.

use super::json::{kind, parse, place, Fields};
use super::ImportError;
use crate::finding::{Exposed, Finding};
use enact_model::{FingerprintKey, Secret};
use serde_json::Value;

/// Reads TruffleHog JSON lines. Blank lines are skipped. `origin` names the report in error
/// locations.
pub fn import_trufflehog(
    text: &str,
    origin: &str,
    key: &FingerprintKey,
) -> Result<Vec<Finding>, ImportError> {
    let mut findings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut document = parse(line, origin, number)?;
        let at = format!("{origin}:{number}#");
        let mut fields = Fields::of(&mut document, at.clone(), "a TruffleHog finding")?;
        let value = fields.take_required_string("Raw")?;
        let detector = fields.optional_string("DetectorName")?;
        let found_in = source_place(&fields)?;
        findings.push(Finding {
            location: format!("{origin}:{number}"),
            exposed: Exposed::Value(Secret::new(value, key)),
            detector,
            found_in,
        });
    }
    Ok(findings)
}

/// The file and line under `SourceMetadata.Data.<source>`, whatever the source kind
/// (`Filesystem`, `Git`, `Github` and others name the same fields).
fn source_place(fields: &Fields<'_>) -> Result<Option<String>, ImportError> {
    let Some(metadata) = fields.object.get("SourceMetadata") else {
        return Ok(None);
    };
    let data = match metadata {
        Value::Null => return Ok(None),
        Value::Object(metadata) => metadata.get("Data"),
        other => {
            return Err(ImportError::at(
                fields.field_at("SourceMetadata"),
                format!("expected an object, found {}", kind(other)),
            ))
        }
    };
    let Some(Value::Object(sources)) = data else {
        return Ok(None);
    };
    for (source, detail) in sources {
        let Value::Object(detail) = detail else {
            continue;
        };
        let file = detail
            .get("file")
            .and_then(Value::as_str)
            .map(str::to_string);
        let line = detail.get("line").and_then(Value::as_u64);
        if file.is_some() {
            tracing::debug!(source = %source, "finding place read from the source metadata");
            return Ok(place(file, line));
        }
    }
    Ok(None)
}
