//! JSON helpers shared by the importers: parsing with a located syntax error, JSON pointers,
//! and typed field reads that name the field on failure.

use super::ImportError;
use serde_json::{Map, Value};

/// Parses one JSON document. A syntax error is located as `ORIGIN:LINE:COLUMN`, where `line`
/// is the document's first line in its file.
pub(super) fn parse(text: &str, origin: &str, first_line: usize) -> Result<Value, ImportError> {
    serde_json::from_str(text).map_err(|error| {
        let line = first_line + error.line().saturating_sub(1);
        // serde_json's syntax messages name the expected token, never input text; the
        // position it appends is replaced by the location.
        let message = error.to_string();
        let problem = match message.rfind(" at line ") {
            Some(end) => message.get(..end).unwrap_or(&message).to_string(),
            None => message,
        };
        ImportError::at(
            format!("{origin}:{line}:{}", error.column()),
            format!("invalid JSON: {problem}"),
        )
    })
}

/// Escapes one JSON pointer token (RFC 6901).
pub(super) fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The JSON type of `value`, for messages.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A view of one JSON object with the location prefix of its fields.
pub(super) struct Fields<'a> {
    pub object: &'a mut Map<String, Value>,
    /// The location of the object itself, such as `report.json#/3`.
    pub at: String,
}

impl<'a> Fields<'a> {
    /// Views `value` as an object, or fails with its location.
    pub fn of(value: &'a mut Value, at: String, what: &str) -> Result<Self, ImportError> {
        match value {
            Value::Object(object) => Ok(Fields { object, at }),
            other => Err(ImportError::at(
                at,
                format!("expected {what} as an object, found {}", kind(other)),
            )),
        }
    }

    /// The location of field `name`.
    pub fn field_at(&self, name: &str) -> String {
        format!("{}/{}", self.at, token(name))
    }

    /// Takes the string field `name` out of the object, so the value is moved, not copied.
    /// Missing, null and empty strings are errors.
    pub fn take_required_string(&mut self, name: &str) -> Result<String, ImportError> {
        let at = self.field_at(name);
        match self.object.get_mut(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(std::mem::take(text)),
            Some(Value::String(_)) => Err(ImportError::at(at, "is empty")),
            Some(other) => Err(ImportError::at(
                at,
                format!("expected a string, found {}", kind(other)),
            )),
            None => Err(ImportError::at(
                self.at.clone(),
                format!("missing field `{name}`"),
            )),
        }
    }

    /// Reads the optional string field `name`; a present field of another type is an error.
    pub fn optional_string(&self, name: &str) -> Result<Option<String>, ImportError> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(ImportError::at(
                self.field_at(name),
                format!("expected a string, found {}", kind(other)),
            )),
        }
    }

    /// Reads the optional non-negative integer field `name`.
    pub fn optional_u64(&self, name: &str) -> Result<Option<u64>, ImportError> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => number.as_u64().map(Some).ok_or_else(|| {
                ImportError::at(self.field_at(name), "expected a non-negative integer")
            }),
            Some(other) => Err(ImportError::at(
                self.field_at(name),
                format!("expected a non-negative integer, found {}", kind(other)),
            )),
        }
    }
}

/// Joins a file and a line into `file:line`, or the file alone.
pub(super) fn place(file: Option<String>, line: Option<u64>) -> Option<String> {
    match (file, line) {
        (Some(file), Some(line)) => Some(format!("{file}:{line}")),
        (Some(file), None) => Some(file),
        (None, _) => None,
    }
}
