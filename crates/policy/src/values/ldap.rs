//! OpenLDAP service accounts: their uids and the distinguished names (DNs) of bases, binds and
//! groups.

use super::Problem;

/// Checks the uid of an LDAP service account against `^[a-z0-9][a-z0-9._-]{0,63}$`.
pub(crate) fn uid(text: &str) -> Result<(), Problem> {
    let mut chars = text.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && text.len() <= 64 {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid uid `{text}` for an `ldap` target"),
        "ldap account uids match `^[a-z0-9][a-z0-9._-]{0,63}$`",
    ))
}

/// Checks the syntax of a DN in the string form of RFC 4514: relative DNs separated by `,`, each
/// one or more `attribute=value` pairs joined by `+`. An attribute is a name (a letter, then
/// letters, digits and `-`) or a numeric OID. A value is not empty, has no space at either end,
/// and escapes `,`, `+`, `"`, `\`, `;`, `<` and `>` with `\` (or writes any byte as `\` and two
/// hex digits). `noun` names the DN in messages, and `example` is a valid one.
///
/// NOTE: a value in the hex form (`#` followed by BER) is accepted unchecked, and attribute names
/// are not checked against the directory's schema.
pub(crate) fn dn(text: &str, noun: &str, example: &str) -> Result<(), Problem> {
    dn_error(text).map_or(Ok(()), |reason| {
        Err(Problem::new(
            format!("invalid {noun} `{text}`: {reason}"),
            format!(
                "write comma-separated `attribute=value` pairs without spaces around `,` and `=`, \
                 e.g. `{example}`"
            ),
        ))
    })
}

/// Returns why `text` is not a DN, or `None` when it is one.
fn dn_error(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("it is empty".to_owned());
    }
    let rdns = match split_unescaped(text, ',') {
        Ok(rdns) => rdns,
        Err(reason) => return Some(reason),
    };
    for rdn in rdns {
        if rdn.is_empty() {
            return Some("it has an empty part between commas".to_owned());
        }
        let pairs = match split_unescaped(rdn, '+') {
            Ok(pairs) => pairs,
            Err(reason) => return Some(reason),
        };
        for pair in pairs {
            if pair.is_empty() {
                return Some("it has an empty part around `+`".to_owned());
            }
            if let Some(reason) = pair_error(pair) {
                return Some(reason);
            }
        }
    }
    None
}

/// Returns why `pair` is not `attribute=value`, or `None` when it is.
fn pair_error(pair: &str) -> Option<String> {
    let Some((attribute, value)) = pair.split_once('=') else {
        return Some(format!("`{pair}` is not `attribute=value`"));
    };
    if attribute.starts_with(' ') || attribute.ends_with(' ') {
        return Some(format!(
            "the attribute name of `{pair}` starts or ends with a space"
        ));
    }
    if !attribute_ok(attribute) {
        return Some(format!("invalid attribute name `{attribute}`"));
    }
    if value.is_empty() {
        return Some(format!("`{pair}` has an empty value"));
    }
    // An escaped trailing space (`\ `) is part of the value, so only a bare one is an error.
    let trailing_space = value.ends_with(' ') && !value.ends_with("\\ ");
    if value.starts_with(' ') || trailing_space {
        return Some(format!("the value of `{pair}` starts or ends with a space"));
    }
    // Escapes were checked while splitting, so the character after a `\` is never special.
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if matches!(c, '"' | ';' | '<' | '>') {
            return Some(format!("`{c}` in `{pair}` must be escaped as `\\{c}`"));
        }
    }
    None
}

/// Tests an attribute type: a name (`cn`, `ou`, `dc`) or a numeric OID (`2.5.4.3`).
fn attribute_ok(attribute: &str) -> bool {
    let mut chars = attribute.chars();
    let name = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !attribute.is_empty()
        && attribute
            .split('.')
            .all(|arc| !arc.is_empty() && arc.chars().all(|c| c.is_ascii_digit()));
    name || oid
}

/// Splits `text` at each `separator` that is not escaped with `\`, and checks every escape on
/// the way: `\` is followed by a character that needs escaping or by two hex digits.
fn split_unescaped(text: &str, separator: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == separator {
            parts.push(&text[start..at]);
            start = at + c.len_utf8();
            continue;
        }
        if c != '\\' {
            continue;
        }
        match chars.next() {
            Some((_, next)) if " \"#+,;<=>\\".contains(next) => {}
            Some((_, high)) if high.is_ascii_hexdigit() => match chars.next() {
                Some((_, low)) if low.is_ascii_hexdigit() => {}
                _ => return Err(format!("`\\{high}` is not a valid escape")),
            },
            Some((_, other)) => return Err(format!("`\\{other}` is not a valid escape")),
            None => return Err("it ends with a lone `\\`".to_owned()),
        }
    }
    parts.push(&text[start..]);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<String> {
        dn_error(text)
    }

    #[test]
    fn valid_dns_are_accepted() {
        for text in [
            "dc=enact,dc=test",
            "cn=billing,ou=groups,dc=enact,dc=test",
            "cn=Billing Team,ou=groups,dc=enact,dc=test",
            "cn=a\\,b,dc=test",
            "cn=a\\2Cb,dc=test",
            "cn=x+uid=y,dc=test",
            "2.5.4.3=billing,dc=test",
            "cn=a=b,dc=test",
            "cn=trailing\\ ,dc=test",
            "cn=a\\;b\\<c,dc=test",
        ] {
            assert_eq!(reason(text), None, "`{text}`");
        }
    }

    #[test]
    fn malformed_dns_are_rejected() {
        for (text, expected) in [
            ("billing", "`billing` is not `attribute=value`"),
            ("cn=billing,,dc=test", "it has an empty part between commas"),
            ("cn=billing,", "it has an empty part between commas"),
            (
                "cn=billing, dc=test",
                "the attribute name of ` dc=test` starts or ends with a space",
            ),
            (
                "cn =billing",
                "the attribute name of `cn =billing` starts or ends with a space",
            ),
            ("c_n=billing", "invalid attribute name `c_n`"),
            (
                "cn= billing",
                "the value of `cn= billing` starts or ends with a space",
            ),
            ("cn=,dc=test", "`cn=` has an empty value"),
            ("1cn=x", "invalid attribute name `1cn`"),
            ("cn=a;b", "`;` in `cn=a;b` must be escaped as `\\;`"),
            ("cn=a\\q", "`\\q` is not a valid escape"),
            ("cn=a\\4", "`\\4` is not a valid escape"),
            ("cn=a\\", "it ends with a lone `\\`"),
            ("cn=x+", "it has an empty part around `+`"),
            ("cn=a<b", "`<` in `cn=a<b` must be escaped as `\\<`"),
        ] {
            assert_eq!(reason(text).as_deref(), Some(expected), "`{text}`");
        }
    }

    #[test]
    fn dn_problem_names_noun_and_example() {
        let problem = dn("billing", "group dn", "cn=billing,dc=example,dc=org").err();
        assert_eq!(
            problem.as_ref().map(|problem| problem.message.as_str()),
            Some("invalid group dn `billing`: `billing` is not `attribute=value`")
        );
        assert_eq!(
            problem.and_then(|problem| problem.help).as_deref(),
            Some(
                "write comma-separated `attribute=value` pairs without spaces around `,` and \
                 `=`, e.g. `cn=billing,dc=example,dc=org`"
            )
        );
    }

    #[test]
    fn uids_are_checked() {
        assert!(uid("billing-worker").is_ok());
        assert!(uid("0.svc_x").is_ok());
        assert!(uid(&"a".repeat(64)).is_ok());
        assert!(uid(&"a".repeat(65)).is_err());
        assert!(uid("Billing").is_err());
        assert!(uid("-billing").is_err());
        assert!(uid("billing worker").is_err());
        assert!(uid("billing,x").is_err());
    }
}
