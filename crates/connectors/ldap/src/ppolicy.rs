//! The password policy control (draft-behera-ldap-password-policy, as OpenLDAP's ppolicy
//! overlay implements it), which distinguishes a locked account from a wrong password on a
//! bind.

use ldap3::controls::{Control, RawControl};

/// The OID of the password policy request and response controls.
pub(crate) const CONTROL_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The `error` value of the response that means the account is locked.
pub(crate) const ACCOUNT_LOCKED: i64 = 1;

/// Builds the request control, which has no value. It is not critical, so a server without
/// ppolicy still processes the bind.
pub(crate) fn request() -> RawControl {
    RawControl {
        ctype: CONTROL_OID.to_string(),
        crit: false,
        val: None,
    }
}

/// The content of the server's password policy response control, if the server sent one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyResponse {
    /// The server sent no password policy control.
    Absent,
    /// The control was present but its value could not be decoded.
    Malformed,
    /// The control was present, with its `error` field if it had one.
    Present { error: Option<i64> },
}

/// Finds the password policy response among a result's controls and decodes its `error`.
pub(crate) fn response(controls: &[Control]) -> PolicyResponse {
    let Some(control) = controls
        .iter()
        .find(|Control(_, raw)| raw.ctype == CONTROL_OID)
    else {
        return PolicyResponse::Absent;
    };
    match control.1.val.as_deref().map(decode_error) {
        Some(Some(error)) => PolicyResponse::Present { error },
        // A response without a value carries neither a warning nor an error.
        None => PolicyResponse::Present { error: None },
        Some(None) => PolicyResponse::Malformed,
    }
}

/// Decodes the `error` field of a response value:
///
/// ```text
/// PasswordPolicyResponseValue ::= SEQUENCE {
///     warning [0] CHOICE { ... } OPTIONAL,
///     error   [1] ENUMERATED { ..., accountLocked (1), ... } OPTIONAL }
/// ```
///
/// The module uses implicit tags, so `error` is the primitive context tag 0x81. Returns
/// `Some(None)` for a well-formed value without `error`, and `None` for malformed BER.
fn decode_error(value: &[u8]) -> Option<Option<i64>> {
    let (tag, mut contents, rest) = read_tlv(value)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let mut error = None;
    while !contents.is_empty() {
        let (tag, field, rest) = read_tlv(contents)?;
        if tag == 0x81 {
            error = Some(decode_integer(field)?);
        }
        contents = rest;
    }
    Some(error)
}

/// Splits one BER tag-length-value off the front of `input`: returns the tag, the contents and
/// what follows. Only single-byte tags and definite lengths occur in this control.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() {
            return None;
        }
        let (digits, after) = (rest.get(..count)?, rest.get(count..)?);
        rest = after;
        digits
            .iter()
            .fold(0_usize, |length, &digit| (length << 8) | usize::from(digit))
    };
    Some((tag, rest.get(..length)?, rest.get(length..)?))
}

/// Decodes a BER two's-complement integer of at most eight bytes.
fn decode_integer(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let start = if negative { -1_i64 } else { 0 };
    Some(
        bytes
            .iter()
            .fold(start, |value, &byte| (value << 8) | i64::from(byte)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(value: Option<Vec<u8>>) -> Control {
        Control(
            None,
            RawControl {
                ctype: CONTROL_OID.to_string(),
                crit: false,
                val: value,
            },
        )
    }

    #[test]
    fn decodes_account_locked() {
        // SEQUENCE { error [1] accountLocked }, as slapd 2.5 sends it.
        let locked = control(Some(vec![0x30, 0x03, 0x81, 0x01, 0x01]));
        assert_eq!(
            response(&[locked]),
            PolicyResponse::Present {
                error: Some(ACCOUNT_LOCKED)
            }
        );
    }

    #[test]
    fn skips_the_warning() {
        // SEQUENCE { warning [0] { timeBeforeExpiration [0] 300 }, error [1] passwordExpired }.
        let value = vec![
            0x30, 0x09, 0xa0, 0x04, 0x80, 0x02, 0x01, 0x2c, 0x81, 0x01, 0x00,
        ];
        assert_eq!(
            response(&[control(Some(value))]),
            PolicyResponse::Present { error: Some(0) }
        );
    }

    #[test]
    fn empty_sequence_has_no_error() {
        assert_eq!(
            response(&[control(Some(vec![0x30, 0x00]))]),
            PolicyResponse::Present { error: None }
        );
        assert_eq!(
            response(&[control(None)]),
            PolicyResponse::Present { error: None }
        );
    }

    #[test]
    fn other_controls_are_ignored() {
        let other = Control(
            None,
            RawControl {
                ctype: "1.2.3".to_string(),
                crit: false,
                val: Some(vec![0x30, 0x03, 0x81, 0x01, 0x01]),
            },
        );
        assert_eq!(response(&[other]), PolicyResponse::Absent);
        assert_eq!(response(&[]), PolicyResponse::Absent);
    }

    #[test]
    fn malformed_values_are_reported() {
        for value in [
            vec![],
            vec![0x30],
            vec![0x30, 0x05, 0x81, 0x01, 0x01],
            vec![0x04, 0x03, 0x81, 0x01, 0x01],
            vec![0x30, 0x02, 0x81, 0x00],
            vec![0x30, 0x03, 0x81, 0x01, 0x01, 0x00],
        ] {
            assert_eq!(
                response(&[control(Some(value.clone()))]),
                PolicyResponse::Malformed,
                "{value:02x?}"
            );
        }
    }

    #[test]
    fn long_form_lengths_decode() {
        let value = vec![0x30, 0x81, 0x03, 0x81, 0x01, 0x01];
        assert_eq!(
            response(&[control(Some(value))]),
            PolicyResponse::Present {
                error: Some(ACCOUNT_LOCKED)
            }
        );
    }
}
