//! The canonical form of a record body.
//!
//! A body is canonical when it is exactly what `serde_json` writes for the value it parses to,
//! with object keys in the order they appear. So no insignificant whitespace, no escape that
//! `serde_json` would not write, no alternative spelling of a number and no repeated key. The
//! check parses into [`Node`], which keeps key order whatever features `serde_json` was built
//! with, and writes it back.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// The field names that the record envelope and the export format put beside body fields.
pub(crate) const RESERVED_FIELDS: [&str; 2] = ["seq", "hash"];

/// The reason a body is rejected.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The bytes are not JSON, or hold a repeated key.
    Invalid(serde_json::Error),
    /// The bytes parse but are not written the way `serde_json` writes the value.
    NotCanonical,
    /// The body is not an object, or uses a reserved field.
    Shape(String),
}

/// Checks that `body` is a canonical JSON object without reserved fields. `scratch` is reused
/// between calls to hold the re-serialized body.
pub(crate) fn check_body(body: &[u8], scratch: &mut Vec<u8>) -> Result<(), BodyError> {
    let node: Node<'_> = serde_json::from_slice(body).map_err(BodyError::Invalid)?;
    scratch.clear();
    serde_json::to_writer(&mut *scratch, &node).map_err(BodyError::Invalid)?;
    if scratch.as_slice() != body {
        return Err(BodyError::NotCanonical);
    }
    let Node::Object(fields) = &node else {
        return Err(BodyError::Shape("is not a JSON object".to_string()));
    };
    if let Some((key, _)) = fields
        .iter()
        .find(|(key, _)| RESERVED_FIELDS.contains(&key.as_ref()))
    {
        return Err(BodyError::Shape(format!("uses the reserved field `{key}`")));
    }
    Ok(())
}

/// A JSON value that keeps object keys in document order and borrows unescaped strings.
enum Node<'a> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(value) => serializer.serialize_bool(*value),
            Node::Unsigned(value) => serializer.serialize_u64(*value),
            Node::Signed(value) => serializer.serialize_i64(*value),
            Node::Float(value) => serializer.serialize_f64(*value),
            Node::String(value) => serializer.serialize_str(value),
            Node::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key.as_ref(), value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node<'de>, E> {
        Ok(Node::Unsigned(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node<'de>, E> {
        Ok(Node::Signed(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node<'de>, E> {
        Ok(Node::Float(value))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(access.size_hint().unwrap_or(0));
        while let Some(item) = access.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node<'de>, A::Error> {
        let mut fields: Vec<(Cow<'de, str>, Node<'de>)> = Vec::new();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            let value = access.next_value()?;
            fields.push((key, value));
        }
        if let Some(key) = repeated_key(&fields) {
            return Err(de::Error::custom(format_args!("repeated key `{key}`")));
        }
        Ok(Node::Object(fields))
    }
}

/// Finds the first key that occurs twice in `fields`, if any. Small objects are scanned pairwise;
/// large ones are sorted, so a hostile body with many keys costs O(n log n), not O(n²).
fn repeated_key<'f>(fields: &'f [(Cow<'_, str>, Node<'_>)]) -> Option<&'f str> {
    const PAIRWISE_MAX: usize = 16;
    if fields.len() <= PAIRWISE_MAX {
        return fields.iter().enumerate().find_map(|(i, (key, _))| {
            fields
                .iter()
                .skip(i + 1)
                .any(|(other, _)| other == key)
                .then_some(key.as_ref())
        });
    }
    let mut keys: Vec<&str> = fields.iter().map(|(key, _)| key.as_ref()).collect();
    keys.sort_unstable();
    keys.windows(2)
        .find(|pair| pair.first() == pair.last())
        .and_then(|pair| pair.first().copied())
}

/// Reads an object key, borrowing it from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), BodyError> {
        check_body(text.as_bytes(), &mut Vec::new())
    }

    #[test]
    fn canonical_object_passes() {
        let body = r#"{"type":"action","z":1,"a":[1.5,-2,null,true],"s":"é\n\"x\"","o":{}}"#;
        assert!(check(body).is_ok(), "{:?}", check(body));
    }

    #[test]
    fn key_order_is_kept() {
        assert!(check(r#"{"b":1,"a":2}"#).is_ok());
    }

    #[test]
    fn noncanonical_spellings_fail() {
        for body in [
            r#"{"a": 1}"#,
            r#" {"a":1}"#,
            r#"{"a":1.0e0}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":1.50}"#,
        ] {
            assert!(
                matches!(check(body), Err(BodyError::NotCanonical)),
                "{body} was accepted"
            );
        }
    }

    #[test]
    fn repeated_keys_fail() {
        assert!(matches!(
            check(r#"{"a":1,"a":1}"#),
            Err(BodyError::Invalid(_))
        ));
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":1", i % 39)).collect();
        let body = format!("{{{}}}", many.join(","));
        assert!(matches!(check(&body), Err(BodyError::Invalid(_))));
    }

    #[test]
    fn non_objects_and_reserved_fields_fail() {
        assert!(matches!(check("[1]"), Err(BodyError::Shape(_))));
        assert!(matches!(check(r#"{"seq":1}"#), Err(BodyError::Shape(_))));
        assert!(matches!(check(r#"{"hash":"x"}"#), Err(BodyError::Shape(_))));
    }
}
