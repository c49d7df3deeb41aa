//! The canonical form of a record body.
//!
//! A body is canonical when it is exactly what `serde_json` writes for the value it parses to,
//! with object keys in the order they appear. So no insignificant whitespace, no escape that
//! `serde_json` would not write, no alternative spelling of a number and no repeated key.
//!
//! Two checks decide it. [`scan`] reads the bytes once and accepts only bodies in that form,
//! without building a value; it is the fast path for append and verify. A body it does not
//! accept goes to [`check_reference`], which parses into [`Node`] (keeping key order whatever
//! features `serde_json` was built with), writes it back and compares the bytes. That check
//! decides the outcome and names the problem. So the accepted set is exactly the reference
//! check's, provided the scan accepts nothing the reference rejects, which the tests below
//! compare on many bodies.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

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

/// Checks record bodies, reusing its buffers from one body to the next.
#[derive(Debug, Default)]
pub(crate) struct BodyChecker {
    /// The byte ranges of the keys of the objects being scanned, innermost object last.
    keys: Vec<Range<usize>>,
    /// The re-serialized body or number of the reference check.
    scratch: Vec<u8>,
}

impl BodyChecker {
    /// Checks that `body` is a canonical JSON object without reserved fields.
    pub(crate) fn check(&mut self, body: &[u8]) -> Result<(), BodyError> {
        if scan(body, &mut self.keys, &mut self.scratch) {
            return Ok(());
        }
        check_reference(body, &mut self.scratch)
    }
}

/// Checks that `body` is a canonical JSON object without reserved fields by parsing it and
/// writing it back. `scratch` is reused between calls to hold the re-serialized body.
pub(crate) fn check_reference(body: &[u8], scratch: &mut Vec<u8>) -> Result<(), BodyError> {
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

/// Objects and arrays nested deeper than this are left to the reference check, which applies
/// `serde_json`'s own recursion limit (128).
const MAX_DEPTH: usize = 100;

/// Objects with up to this many keys are checked for repeated keys pairwise; larger ones are
/// sorted, so a hostile body with many keys costs O(n log n), not O(n²).
const PAIRWISE_MAX: usize = 16;

/// Returns whether `body` is a JSON object, without reserved top-level fields, in exactly the
/// form `serde_json` writes. `false` means "not proven", not "invalid": the caller asks the
/// reference check. `keys` and `scratch` are buffers reused between calls.
pub(crate) fn scan(body: &[u8], keys: &mut Vec<Range<usize>>, scratch: &mut Vec<u8>) -> bool {
    // Outside strings a canonical body is ASCII, so this checks the strings' UTF-8.
    if std::str::from_utf8(body).is_err() || body.first() != Some(&b'{') {
        return false;
    }
    keys.clear();
    let mut scanner = Scanner {
        bytes: body,
        pos: 0,
        keys,
        scratch,
    };
    scanner.value(0) && scanner.pos == body.len()
}

/// A cursor over a body for [`scan`]. Every method returns `false` as soon as the bytes leave
/// the canonical form.
struct Scanner<'b> {
    bytes: &'b [u8],
    pos: usize,
    keys: &'b mut Vec<Range<usize>>,
    scratch: &'b mut Vec<u8>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `word` if it is next.
    fn eat_word(&mut self, word: &[u8]) -> bool {
        let matched = self
            .bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word));
        if matched {
            self.pos += word.len();
        }
        matched
    }

    /// Scans one value at nesting depth `depth` (0 for the body itself).
    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.eat_word(b"true"),
            Some(b'f') => self.eat_word(b"false"),
            Some(b'n') => self.eat_word(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH || !self.eat(b'{') {
            return false;
        }
        if self.eat(b'}') {
            return true;
        }
        let first_key = self.keys.len();
        loop {
            let start = self.pos;
            if !self.string() {
                return false;
            }
            let key = start..self.pos;
            // Keys are compared with their quotes; canonical strings have one spelling, so
            // equal keys have equal bytes.
            let name = self.bytes.get(key.clone()).unwrap_or_default();
            if depth == 1 && (name == b"\"seq\"" || name == b"\"hash\"") {
                return false;
            }
            self.keys.push(key);
            if !self.eat(b':') || !self.value(depth) {
                return false;
            }
            if self.eat(b'}') {
                break;
            }
            if !self.eat(b',') {
                return false;
            }
        }
        let unique = self.keys_unique(first_key);
        self.keys.truncate(first_key);
        unique
    }

    /// Returns whether the keys from `first` on, those of the object just scanned, differ.
    fn keys_unique(&mut self, first: usize) -> bool {
        let bytes = self.bytes;
        let name = |range: &Range<usize>| bytes.get(range.clone()).unwrap_or_default();
        let Some(keys) = self.keys.get_mut(first..) else {
            return false;
        };
        if keys.len() <= PAIRWISE_MAX {
            return keys.iter().enumerate().all(|(i, key)| {
                keys.iter()
                    .skip(i + 1)
                    .all(|other| name(other) != name(key))
            });
        }
        keys.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        keys.windows(2).all(|pair| match pair {
            [a, b] => name(a) != name(b),
            _ => true,
        })
    }

    fn array(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH || !self.eat(b'[') {
            return false;
        }
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    /// Scans a string as `serde_json` writes it: `"` and `\` escaped, control characters as
    /// `\b`, `\f`, `\n`, `\r`, `\t` or else `\u00xx` in lowercase hex, and nothing else
    /// escaped.
    fn string(&mut self) -> bool {
        if !self.eat(b'"') {
            return false;
        }
        loop {
            self.skip_plain_words();
            let Some(byte) = self.peek() else {
                return false;
            };
            self.pos += 1;
            match byte {
                b'"' => return true,
                b'\\' if !self.escape() => return false,
                0x00..=0x1f => return false,
                _ => {}
            }
        }
    }

    /// Skips eight bytes at a time while none of them is `"`, `\` or a control character.
    fn skip_plain_words(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        while let Some(word) = self.bytes.get(self.pos..self.pos + 8) {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(word);
            let x = u64::from_le_bytes(eight);
            // Each term is nonzero when some byte is below 0x20, or equal to `"` or `\`:
            // `(v - ONES) & !v & HIGHS` detects a zero byte in `v`.
            let quote = x ^ (ONES * u64::from(b'"'));
            let backslash = x ^ (ONES * u64::from(b'\\'));
            let special = (x.wrapping_sub(ONES * 0x20) & !x)
                | (quote.wrapping_sub(ONES) & !quote)
                | (backslash.wrapping_sub(ONES) & !backslash);
            if special & HIGHS != 0 {
                return;
            }
            self.pos += 8;
        }
    }

    /// Scans the rest of an escape after its backslash.
    fn escape(&mut self) -> bool {
        let Some(kind) = self.peek() else {
            return false;
        };
        self.pos += 1;
        match kind {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => true,
            b'u' => {
                let Some(&[b'0', b'0', high, low]) = self.bytes.get(self.pos..self.pos + 4) else {
                    return false;
                };
                self.pos += 4;
                let control = match (high, low) {
                    (b'0' | b'1', b'0'..=b'9') => (high - b'0') * 16 + (low - b'0'),
                    (b'0' | b'1', b'a'..=b'f') => (high - b'0') * 16 + (low - b'a' + 10),
                    _ => return false,
                };
                // These five have short escapes, which `serde_json` writes instead.
                !matches!(control, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
            }
            _ => false,
        }
    }

    /// Scans a number. An integer is canonical when it has no leading zero and parses back
    /// to the same integer: a `u64`, or an `i64` below zero. Other numbers are parsed as an
    /// `f64` by `serde_json` and written back, as the reference check does.
    fn number(&mut self) -> bool {
        let start = self.pos;
        let negative = self.eat(b'-');
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let count = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
        let digits = rest.get(..count).unwrap_or_default();
        self.pos += count;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            while matches!(
                self.peek(),
                Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            ) {
                self.pos += 1;
            }
            return self.float_round_trips(start);
        }
        if digits.is_empty() || (digits.len() > 1 && digits.first() == Some(&b'0')) {
            return false;
        }
        // Up to 19 digits always fit in a `u64`; only longer ones need checked arithmetic.
        let magnitude = if digits.len() <= 19 {
            digits
                .iter()
                .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'))
        } else {
            let checked = digits.iter().try_fold(0u64, |value, digit| {
                value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
            });
            let Some(magnitude) = checked else {
                return false;
            };
            magnitude
        };
        // `serde_json` reads `-0` as the float -0.0 and a negative number below `i64::MIN`
        // as a float, and writes both back in another form.
        !negative || (magnitude != 0 && magnitude <= i64::MIN.unsigned_abs())
    }

    /// Returns whether the number from `start` to the cursor reads back to the same bytes.
    fn float_round_trips(&mut self, start: usize) -> bool {
        let text = self.bytes.get(start..self.pos).unwrap_or_default();
        let Ok(value) = serde_json::from_slice::<f64>(text) else {
            return false;
        };
        self.scratch.clear();
        serde_json::to_writer(&mut *self.scratch, &value).is_ok() && self.scratch.as_slice() == text
    }
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

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::{json, Value};

    fn check(text: &str) -> Result<(), BodyError> {
        BodyChecker::default().check(text.as_bytes())
    }

    /// Asserts that the scan accepts `body` exactly when the reference check does.
    fn assert_agree(body: &[u8]) {
        let scanned = scan(body, &mut Vec::new(), &mut Vec::new());
        let reference = check_reference(body, &mut Vec::new());
        assert_eq!(
            scanned,
            reference.is_ok(),
            "scan and reference disagree on {:?} (reference: {reference:?})",
            String::from_utf8_lossy(body)
        );
    }

    /// Builds a random JSON value with awkward strings and numbers.
    fn random_value(rng: &mut StdRng, depth: u32) -> Value {
        let pick = if depth >= 4 {
            rng.gen_range(0..7)
        } else {
            rng.gen_range(0..9)
        };
        match pick {
            0 => Value::Null,
            1 => Value::Bool(rng.gen()),
            2 => json!(rng.gen::<u64>() >> rng.gen_range(0..64)),
            3 => json!(-((rng.gen::<u64>() >> rng.gen_range(1..64)) as i64)),
            4 => json!(f64::from_bits(rng.gen::<u64>())),
            5 => json!(rng.gen_range(-1e6..1e6_f64)),
            6 => Value::String(random_string(rng)),
            7 => Value::Array(
                (0..rng.gen_range(0..4))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            _ => random_object(rng, depth + 1),
        }
    }

    fn random_string(rng: &mut StdRng) -> String {
        const PIECES: [&str; 14] = [
            "a", "Z", "0", "\"", "\\", "/", "\n", "\u{1}", "\u{1f}", "\u{7f}", "é", "\u{2028}",
            "💡", " ",
        ];
        (0..rng.gen_range(0..6))
            .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
            .collect()
    }

    fn random_object(rng: &mut StdRng, depth: u32) -> Value {
        let mut map = serde_json::Map::new();
        for _ in 0..rng.gen_range(0..5) {
            map.insert(random_string(rng), random_value(rng, depth));
        }
        Value::Object(map)
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

    #[test]
    fn scan_accepts_serde_json_output() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let body = serde_json::to_vec(&random_object(&mut rng, 0)).unwrap();
            assert_agree(&body);
        }
    }

    #[test]
    fn scan_agrees_on_mutated_bodies() {
        // Single-byte edits of canonical bodies: most leave the canonical form, some stay in
        // it, and the scan must accept exactly the ones the reference check accepts.
        const BYTES: &[u8] = b" \t\n\"\\/{}[]:,.-+0123456789eEabfnrtuxsqh\x00\x1f\x7f\xc3\xa9";
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..3_000 {
            let body = serde_json::to_vec(&random_object(&mut rng, 0)).unwrap();
            for _ in 0..10 {
                let mut mutated = body.clone();
                let at = rng.gen_range(0..mutated.len());
                let byte = BYTES[rng.gen_range(0..BYTES.len())];
                match rng.gen_range(0..3) {
                    0 => mutated[at] = byte,
                    1 => mutated.insert(at, byte),
                    _ => {
                        mutated.remove(at);
                    }
                }
                assert_agree(&mutated);
            }
        }
    }

    #[test]
    fn scan_agrees_on_edge_cases() {
        let mut cases: Vec<String> = [
            r#"{}"#,
            r#"{"a":0}"#,
            r#"{"a":-0}"#,
            r#"{"a":-0.0}"#,
            r#"{"a":0.0}"#,
            r#"{"a":01}"#,
            r#"{"a":1e2}"#,
            r#"{"a":1E2}"#,
            r#"{"a":100.0}"#,
            r#"{"a":1e20}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":18446744073709551615}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775808}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":"\u001f"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":"\u0008"}"#,
            r#"{"a":"\b\f\n\r\t"}"#,
            r#"{"a":"\u0020"}"#,
            r#"{"a":"\ud83d\udca1"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":true }"#,
            r#"{"a":1}x"#,
            r#"{"a":1"#,
            r#"{"a""#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":{"seq":1}}"#,
            r#"{"seq":1}"#,
            r#"{"hash":1}"#,
            r#"{"se\u0071":1}"#,
            r#"[]"#,
            r#""a""#,
            r#"1"#,
            "",
        ]
        .iter()
        .map(|case| case.to_string())
        .collect();
        cases.push(format!("{{\"a\":{}1{}}}", "[".repeat(99), "]".repeat(99)));
        cases.push(format!("{{\"a\":{}1{}}}", "[".repeat(130), "]".repeat(130)));
        let wide: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        cases.push(format!("{{{}}}", wide.join(",")));
        let repeated: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 39)).collect();
        cases.push(format!("{{{}}}", repeated.join(",")));
        for case in &cases {
            assert_agree(case.as_bytes());
        }
        assert_agree(b"{\"a\":\"\xff\"}");
        assert_agree(b"{\"a\":\"\xed\xa0\x80\"}");
    }
}
