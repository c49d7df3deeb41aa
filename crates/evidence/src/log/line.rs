//! The record line: its hashes, how it is written and how it is read back.
//!
//! A line is `{"seq":N,"prev":"<hex>","body":{…},"hash":"<hex>"}` followed by a newline. The
//! hashes follow the leaf and node prefixes of RFC 9162 (Certificate Transparency 2.0), so that
//! a Merkle tree can later replace the chain without changing the leaf hash:
//!
//! - leaf = SHA-256(0x00 ‖ body bytes as written)
//! - hash = SHA-256(0x01 ‖ prev ‖ leaf ‖ seq as 8 bytes big-endian), where prev is the 32-byte
//!   hash of the record before, or 32 zero bytes for record 1.

use sha2::{Digest, Sha256};

/// A SHA-256 hash as raw bytes.
pub(crate) type Hash = [u8; 32];

/// The `prev` of record 1.
pub(crate) const ZERO_HASH: Hash = [0; 32];

/// The maximum length of a line that enact writes or reads, newline included. A record this large would be a
/// bug, and the limit keeps a damaged file without newlines from exhausting memory.
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

const SEQ_PREFIX: &[u8] = b"{\"seq\":";
const PREV_PREFIX: &[u8] = b",\"prev\":\"";
const BODY_PREFIX: &[u8] = b"\",\"body\":";
const HASH_PREFIX: &[u8] = b",\"hash\":\"";
const LINE_END: &[u8] = b"\"}";

/// Computes the leaf hash of a body.
pub(crate) fn leaf_hash(body: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(body)
        .finalize()
        .into()
}

/// Computes the chain hash of record `seq` from its predecessor's hash and its own leaf hash.
pub(crate) fn chain_hash(prev: &Hash, leaf: &Hash, seq: u64) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(prev)
        .chain_update(leaf)
        .chain_update(seq.to_be_bytes())
        .finalize()
        .into()
}

/// Appends the record line, newline included, to `out`.
pub(crate) fn write_line(out: &mut Vec<u8>, seq: u64, prev: &Hash, body: &[u8], hash: &Hash) {
    let mut hex = [0u8; 64];
    out.extend_from_slice(SEQ_PREFIX);
    push_decimal(out, seq);
    out.extend_from_slice(PREV_PREFIX);
    out.extend_from_slice(encode_hash(prev, &mut hex));
    out.extend_from_slice(BODY_PREFIX);
    out.extend_from_slice(body);
    out.extend_from_slice(HASH_PREFIX);
    out.extend_from_slice(encode_hash(hash, &mut hex));
    out.extend_from_slice(LINE_END);
    out.push(b'\n');
}

/// Appends `value` in decimal, as `u64::to_string` writes it, without allocating.
fn push_decimal(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Writes `hash` as lowercase hex into `buf` and returns it.
pub(crate) fn encode_hash<'b>(hash: &Hash, buf: &'b mut [u8; 64]) -> &'b [u8] {
    // A 64-byte buffer always fits 32 bytes of hex, so this cannot fail.
    match hex::encode_to_slice(hash, buf) {
        Ok(()) => buf,
        Err(_) => &[],
    }
}

/// A record line split into its fields. The body is the raw bytes between the envelope's
/// fields; whether it is canonical JSON is checked separately.
pub(crate) struct RawRecord<'a> {
    pub seq: u64,
    pub prev: Hash,
    pub body: &'a [u8],
    pub hash: Hash,
    /// The hash as written: 64 lowercase hex digits.
    pub hash_hex: &'a [u8],
}

/// Splits a record line (without its newline) into its fields. The envelope has one canonical
/// spelling, so it is matched byte for byte; any other spelling is rejected.
pub(crate) fn parse_line(line: &[u8]) -> Result<RawRecord<'_>, &'static str> {
    let rest = line
        .strip_prefix(SEQ_PREFIX)
        .ok_or("does not start with `{\"seq\":`")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (seq_text, rest) = rest.split_at(digits);
    let seq =
        parse_seq(seq_text).ok_or("seq is not a decimal number from 1 without leading zeros")?;

    let rest = rest
        .strip_prefix(PREV_PREFIX)
        .ok_or("`prev` does not follow seq")?;
    let (prev_text, rest) = rest.split_at_checked(64).ok_or("prev is cut short")?;
    let prev = parse_hash(prev_text).ok_or("prev is not 64 lowercase hex digits")?;
    let rest = rest
        .strip_prefix(BODY_PREFIX)
        .ok_or("`body` does not follow prev")?;

    let rest = rest
        .strip_suffix(LINE_END)
        .ok_or("does not end with `\"}`")?;
    let split = rest.len().checked_sub(64).ok_or("hash is cut short")?;
    let (rest, hash_text) = rest.split_at(split);
    let hash = parse_hash(hash_text).ok_or("hash is not 64 lowercase hex digits")?;
    let body = rest
        .strip_suffix(HASH_PREFIX)
        .ok_or("`hash` does not follow body")?;

    Ok(RawRecord {
        seq,
        prev,
        body,
        hash,
        hash_hex: hash_text,
    })
}

/// Parses a sequence number written as `u64::to_string` writes it, greater than zero.
fn parse_seq(text: &[u8]) -> Option<u64> {
    if text.first() == Some(&b'0') {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    text.parse::<u64>().ok().filter(|seq| *seq > 0)
}

/// Parses 64 lowercase hex digits, the only spelling enact writes.
pub(crate) fn parse_hash(text: &[u8]) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let mut hash = ZERO_HASH;
    // Bit 4 of a nibble marks a digit that is not lowercase hex; one test at the end suffices.
    let mut invalid = 0u8;
    for (byte, pair) in hash.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = match pair {
            [high, low] => (nibble(*high), nibble(*low)),
            _ => return None,
        };
        invalid |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    (invalid & 0x10 == 0).then_some(hash)
}

/// Returns the value of a lowercase hex digit, or 0x10 for any other byte.
fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => 0x10,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn written_line_parses_back() {
        let body = br#"{"type":"run"}"#;
        let prev = [7; 32];
        let hash = chain_hash(&prev, &leaf_hash(body), 12);
        let mut line = Vec::new();
        write_line(&mut line, 12, &prev, body, &hash);
        assert_eq!(line.last(), Some(&b'\n'));

        let parsed = parse_line(line.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(parsed.seq, 12);
        assert_eq!(parsed.prev, prev);
        assert_eq!(parsed.body, body);
        assert_eq!(parsed.hash, hash);
    }

    #[test]
    fn decimal_matches_to_string() {
        for value in [0, 1, 9, 10, 99, 1_000_000, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
        }
    }

    #[test]
    fn seq_spellings_are_strict() {
        assert_eq!(parse_seq(b"1"), Some(1));
        assert_eq!(parse_seq(b"0"), None);
        assert_eq!(parse_seq(b"01"), None);
        assert_eq!(parse_seq(b""), None);
        assert_eq!(parse_seq(b"18446744073709551616"), None);
    }

    #[test]
    fn hash_must_be_lowercase_hex() {
        assert!(parse_hash(&[b'a'; 64]).is_some());
        assert!(parse_hash(&[b'A'; 64]).is_none());
        assert!(parse_hash(&[b'a'; 63]).is_none());
        for byte in 0..=255u8 {
            let mut text = [b'0'; 64];
            text[37] = byte;
            let expected = matches!(byte, b'0'..=b'9' | b'a'..=b'f');
            assert_eq!(parse_hash(&text).is_some(), expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn hash_round_trips_through_hex() {
        let hash: Hash = std::array::from_fn(|i| (i * 37 + 5) as u8);
        let mut hex = [0u8; 64];
        assert_eq!(parse_hash(encode_hash(&hash, &mut hex)), Some(hash));
    }

    #[test]
    fn leaf_and_node_hashes_differ() {
        // The 0x00 and 0x01 prefixes keep a leaf from being mistaken for a node.
        let leaf = leaf_hash(b"x");
        assert_ne!(leaf, chain_hash(&ZERO_HASH, &leaf, 1));
        assert_ne!(
            chain_hash(&ZERO_HASH, &leaf, 1),
            chain_hash(&ZERO_HASH, &leaf, 2)
        );
    }
}
