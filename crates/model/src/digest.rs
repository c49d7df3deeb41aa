//! Content digests used for stable ids and staleness checks.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The SHA-256 of the JSON encoding of `value`. Every map in the model is a `BTreeMap` and every
/// struct serializes its fields in declaration order, so equal values give equal digests.
pub fn json_sha256(value: &impl Serialize) -> String {
    match serde_json::to_vec(value) {
        Ok(bytes) => sha256_hex(&bytes),
        // Serializing model types cannot fail: they hold no maps with non-string keys and no
        // custom serializers that return errors. Hash the error text so the result stays total.
        Err(error) => sha256_hex(error.to_string().as_bytes()),
    }
}
