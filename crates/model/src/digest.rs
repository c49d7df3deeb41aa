//! Content digests used for stable ids and staleness checks.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The SHA-256 of the JSON encoding of `value`. Every map in the model is a `BTreeMap` and every
/// struct serializes its fields in declaration order, so equal values give equal digests. The
/// encoding is hashed as it is written, so a large observation is never held as one buffer.
pub fn json_sha256(value: &impl Serialize) -> String {
    let mut hasher = HashWriter(Sha256::new());
    match serde_json::to_writer(&mut hasher, value) {
        Ok(()) => hex::encode(hasher.0.finalize()),
        // Serializing model types cannot fail: they hold no maps with non-string keys and no
        // custom serializers that return errors. Hash the error text so the result stays total.
        Err(error) => sha256_hex(error.to_string().as_bytes()),
    }
}

/// Feeds written bytes to a hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_digest_equals_digest_of_the_encoding() {
        let value = serde_json::json!({"b": [1, 2, {"c": "x"}], "a": null});
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        assert_eq!(json_sha256(&value), sha256_hex(&bytes));
    }
}
