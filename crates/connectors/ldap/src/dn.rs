//! Distinguished names: building account DNs, reading account names back from them, and
//! comparing DNs the way the server does for the attribute types enact uses.

use enact_connector::{ConnectorError, ErrorKind};
use ldap3::dn_escape;

/// The attribute type that names an account in its DN and contains its name.
pub(crate) const NAME_ATTRIBUTE: &str = "uid";

/// Fails unless `account` can name an account: any non-empty string, escaped where it becomes
/// part of a DN or a filter.
pub(crate) fn check_account_name(account: &str) -> Result<(), ConnectorError> {
    if account.is_empty() {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            "an LDAP account name must not be empty",
        ));
    }
    Ok(())
}

/// Fails unless `dn` looks like a distinguished name: non-empty, with `type=value` in its first
/// RDN. The server checks the rest.
pub(crate) fn check_dn(what: &str, dn: &str) -> Result<(), ConnectorError> {
    let first = split_rdns(dn).into_iter().next().unwrap_or_default();
    if dn.trim().is_empty() || !first.contains('=') {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("invalid {what} `{dn}`: expected a DN such as `cn=readers,ou=groups,dc=example,dc=com`"),
        ));
    }
    Ok(())
}

/// Builds the DN of `account` below `base`: `uid=<account>,<base>`, with the name escaped as RFC 4514
/// requires.
pub(crate) fn account_dn(account: &str, base: &str) -> String {
    format!("{NAME_ATTRIBUTE}={},{base}", dn_escape(account))
}

/// Reads the account name from `dn` when its first RDN is a single `uid=<value>`. Returns
/// `None` for any other entry, such as an organizational unit below the base.
pub(crate) fn account_name(dn: &str) -> Option<String> {
    let first = split_rdns(dn).into_iter().next()?;
    if find_unescaped(&first, '+').is_some() {
        return None;
    }
    let (attribute, value) = first.split_once('=')?;
    if !attribute.trim().eq_ignore_ascii_case(NAME_ATTRIBUTE) {
        return None;
    }
    unescape_value(value.trim())
}

/// Returns a form of `dn` for comparing DNs: attribute types and values in lower case, without spaces
/// around the separators.
///
/// NOTE: this matches the server only for attribute types with case-insensitive values (`uid`,
/// `cn`, `ou`, `dc` and the like) and for DNs written with the same escapes. Two spellings of one
/// DN that differ otherwise compare unequal, so such a membership is not attributed to the
/// account.
pub(crate) fn normalize(dn: &str) -> String {
    split_rdns(dn)
        .iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((attribute, value)) => format!(
                "{}={}",
                attribute.trim().to_ascii_lowercase(),
                value.trim().to_lowercase()
            ),
            None => rdn.trim().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks whether `dn` names an entry at or below `suffix`, comparing normalized forms.
pub(crate) fn is_within(dn: &str, suffix: &str) -> bool {
    let dn = normalize(dn);
    let suffix = normalize(suffix);
    dn == suffix || dn.ends_with(&format!(",{suffix}"))
}

/// Splits a DN into its RDNs at the commas that are not escaped.
fn split_rdns(dn: &str) -> Vec<String> {
    let mut rdns = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            rdns.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    rdns.push(current);
    rdns
}

/// Finds the byte position of the first `needle` in `text` that is not escaped with a backslash.
fn find_unescaped(text: &str, needle: char) -> Option<usize> {
    let mut escaped = false;
    for (position, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == needle {
            return Some(position);
        }
    }
    None
}

/// Undoes the RFC 4514 escapes of an attribute value: `\` before a special character, and `\`
/// before two hex digits for one byte. `None` for a malformed escape, a value in the `#`
/// hex form, or bytes that are not UTF-8.
fn unescape_value(value: &str) -> Option<String> {
    if value.starts_with('#') {
        return None;
    }
    let bytes = value.as_bytes();
    let mut output = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte != b'\\' {
            output.push(byte);
            index += 1;
            continue;
        }
        let next = *bytes.get(index + 1)?;
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match hex {
            Some(decoded) => {
                output.push(decoded);
                index += 3;
            }
            None => {
                output.push(next);
                index += 2;
            }
        }
    }
    String::from_utf8(output).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_dn_escapes_special_characters() {
        assert_eq!(
            account_dn("svc-app", "ou=services,dc=enact,dc=test"),
            "uid=svc-app,ou=services,dc=enact,dc=test"
        );
        assert_eq!(account_dn("a,b+c", "ou=s"), "uid=a\\2cb\\2bc,ou=s");
        assert_eq!(account_dn(" lead", "ou=s"), "uid=\\20lead,ou=s");
    }

    #[test]
    fn account_name_round_trips() {
        for name in ["svc-app", "a,b+c", " lead", "trail ", "x=y\\z", "ünï"] {
            let dn = account_dn(name, "ou=services,dc=enact,dc=test");
            assert_eq!(account_name(&dn).as_deref(), Some(name), "{dn}");
        }
    }

    #[test]
    fn account_name_reads_server_forms() {
        assert_eq!(account_name("UID=App,ou=services").as_deref(), Some("App"));
        assert_eq!(account_name("uid=a\\,b,ou=s").as_deref(), Some("a,b"));
        assert_eq!(account_name("cn=app,ou=services"), None);
        assert_eq!(account_name("uid=a+cn=b,ou=services"), None);
        assert_eq!(account_name("uid=#0403,ou=services"), None);
        assert_eq!(account_name("uid=bad\\,ou=s").as_deref(), Some("bad,ou=s"));
    }

    #[test]
    fn normalize_ignores_case_and_spaces() {
        assert_eq!(
            normalize("UID=App, OU=Services ,dc=Enact,dc=test"),
            "uid=app,ou=services,dc=enact,dc=test"
        );
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn is_within_compares_whole_rdns() {
        assert!(is_within("uid=a,ou=services,dc=x", "dc=x"));
        assert!(is_within("dc=x", "DC=X"));
        assert!(!is_within("uid=a,ou=services,dc=xy", "dc=y"));
    }

    #[test]
    fn check_dn_rejects_non_dns() {
        assert!(check_dn("group", "cn=readers,ou=groups,dc=x").is_ok());
        for bad in ["", "  ", "readers", ",dc=x"] {
            assert_eq!(
                check_dn("group", bad).err().map(|e| e.kind),
                Some(ErrorKind::Invalid),
                "{bad:?}"
            );
        }
    }
}
