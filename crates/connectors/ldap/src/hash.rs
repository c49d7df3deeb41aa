//! Checking a password against a stored `userPassword` value, so that setting the credential
//! an account already has changes nothing.
//!
//! LDAP Compare cannot do this: slapd 2.5 compares `userPassword` octet by octet, so the
//! cleartext never equals its `{SSHA}` hash. The connector reads the hash as the admin and
//! checks it here instead.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// A hash function of a password and a salt.
type SaltedHash = fn(&[u8], &[u8]) -> Vec<u8>;

/// Checks whether `password` is the password stored as `stored`. Returns `None` when the
/// storage scheme is one this module cannot check, such as `{CRYPT}` or `{ARGON2}`.
///
/// Supported: the salted and unsalted SHA-1, SHA-256 and SHA-512 schemes that slapd and its
/// `pw-sha2` module write (`{SSHA}`, `{SHA}`, `{SSHA256}`, `{SHA256}`, `{SSHA512}`,
/// `{SHA512}`), and a value without a scheme, which is the cleartext itself.
pub(crate) fn matches(stored: &str, password: &str) -> Option<bool> {
    let Some(rest) = stored.strip_prefix('{') else {
        return Some(bool::from(stored.as_bytes().ct_eq(password.as_bytes())));
    };
    let (scheme, encoded) = rest.split_once('}')?;
    let scheme = scheme.to_ascii_uppercase();
    let (salted, hash): (bool, SaltedHash) = match scheme.as_str() {
        "SSHA" => (true, digest::<Sha1>),
        "SHA" => (false, digest::<Sha1>),
        "SSHA256" => (true, digest::<Sha256>),
        "SHA256" => (false, digest::<Sha256>),
        "SSHA512" => (true, digest::<Sha512>),
        "SHA512" => (false, digest::<Sha512>),
        _ => return None,
    };
    // A value that does not decode cannot be any password's hash.
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return Some(false);
    };
    let length = hash(b"", b"").len();
    if decoded.len() < length || (!salted && decoded.len() != length) {
        return Some(false);
    }
    let (expected, salt) = decoded.split_at(length);
    let computed = hash(password.as_bytes(), salt);
    Some(bool::from(computed.ct_eq(expected)))
}

/// Computes the digest of `password` followed by `salt`.
fn digest<D: Digest>(password: &[u8], salt: &[u8]) -> Vec<u8> {
    let mut hasher = D::new();
    hasher.update(password);
    hasher.update(salt);
    hasher.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a `{SSHA}` value the way slapd does: SHA-1 of the password and salt, followed by
    /// the salt, in base64.
    fn ssha(password: &str, salt: &[u8]) -> String {
        let mut bytes = digest::<Sha1>(password.as_bytes(), salt);
        bytes.extend_from_slice(salt);
        format!("{{SSHA}}{}", STANDARD.encode(bytes))
    }

    #[test]
    fn ssha_matches_only_its_password() {
        let stored = ssha("correct horse", b"salt");
        assert_eq!(matches(&stored, "correct horse"), Some(true));
        assert_eq!(matches(&stored, "correct horse "), Some(false));
        assert_eq!(matches(&stored, ""), Some(false));
    }

    #[test]
    fn slappasswd_output_matches() {
        // `slappasswd -h '{SSHA}' -s secret` from OpenLDAP 2.5.13.
        let stored = "{SSHA}t0yZFRiZCoBTHws9BX4TfzAC5RBLc2Ic";
        assert_eq!(matches(stored, "secret"), Some(true));
        assert_eq!(matches(stored, "Secret"), Some(false));
    }

    #[test]
    fn unsalted_and_sha2_schemes_match() {
        let sha = format!("{{SHA}}{}", STANDARD.encode(digest::<Sha1>(b"pw", b"")));
        assert_eq!(matches(&sha, "pw"), Some(true));
        assert_eq!(matches(&sha, "px"), Some(false));

        let mut bytes = digest::<Sha512>(b"pw", b"0123456789abcdef");
        bytes.extend_from_slice(b"0123456789abcdef");
        let ssha512 = format!("{{ssha512}}{}", STANDARD.encode(bytes));
        assert_eq!(matches(&ssha512, "pw"), Some(true));
        assert_eq!(matches(&ssha512, "pw2"), Some(false));
    }

    #[test]
    fn cleartext_compares_exactly() {
        assert_eq!(matches("plain", "plain"), Some(true));
        assert_eq!(matches("plain", "plain2"), Some(false));
    }

    #[test]
    fn unknown_schemes_cannot_be_checked() {
        assert_eq!(matches("{CRYPT}$6$abc$def", "pw"), None);
        assert_eq!(matches("{ARGON2}$argon2id$v=19$...", "pw"), None);
        assert_eq!(matches("{SSHA", "pw"), None);
    }

    #[test]
    fn malformed_hashes_never_match() {
        assert_eq!(matches("{SSHA}not base64!", "pw"), Some(false));
        assert_eq!(matches("{SSHA}c2hvcnQ=", "pw"), Some(false));
        assert_eq!(matches("{SHA}c2hvcnQ=", "pw"), Some(false));
    }
}
