//! Checks on the names and values the connector puts into request paths and bodies.

use enact_connector::{ConnectorError, ErrorKind};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The role settings the connector manages, each an integer: seconds for the TTLs, a count for
/// `secret_id_num_uses`.
pub const MANAGED_SETTINGS: [&str; 4] = [
    "token_ttl",
    "token_max_ttl",
    "secret_id_ttl",
    "secret_id_num_uses",
];

/// Checks an AppRole role name.
///
/// OpenBao accepts word characters, `-` and `.`, starting and ending with a word character,
/// and stores the name in lower case: a role written as `MyApp` is listed as `myapp`. Upper
/// case is rejected, so a declared name always equals the name observed.
pub(crate) fn check_role_name(name: &str) -> Result<(), ConnectorError> {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let valid = !name.is_empty()
        && name.len() < 4096
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
        && name.chars().next().is_some_and(word)
        && name.chars().last().is_some_and(word);
    if valid {
        Ok(())
    } else {
        Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!(
                "invalid AppRole role name `{name}`: use lower-case letters, digits, `_`, `-` and `.`, starting and ending with a letter, digit or `_`"
            ),
        ))
    }
}

/// Checks a token policy name: not empty, no comma (OpenBao splits policy lists on commas), no
/// white space at either end (OpenBao trims it), no control character.
pub(crate) fn check_policy_name(name: &str) -> Result<(), ConnectorError> {
    let valid = !name.is_empty()
        && !name.contains(',')
        && name.trim() == name
        && !name.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("invalid policy name `{name}`: it must be non-empty, without commas or surrounding spaces"),
        ))
    }
}

/// Checks a mount path or a secret path: segments of letters, digits, `_`, `-`, `.` and `@`
/// separated by single `/`, without `.` or `..` segments. These characters need no escaping
/// in a URL path, so the path is sent as written.
pub(crate) fn check_path(what: &str, path: &str) -> Result<(), ConnectorError> {
    let segment_ok = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    };
    if path.split('/').all(segment_ok) {
        Ok(())
    } else {
        Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!(
                "invalid {what} `{path}`: use segments of letters, digits, `_`, `-`, `.` and `@` separated by single `/`"
            ),
        ))
    }
}

/// Converts `settings` into the JSON fields of a role write. Every key must be one of
/// [`MANAGED_SETTINGS`] and every value a non-negative integer written in decimal digits.
pub(crate) fn settings_body(
    account: &str,
    settings: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, ConnectorError> {
    let mut body = Map::new();
    for (key, value) in settings {
        if !MANAGED_SETTINGS.contains(&key.as_str()) {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!(
                    "role `{account}`: OpenBao AppRole accounts have no managed setting `{key}`; the managed settings are {}",
                    MANAGED_SETTINGS.join(", ")
                ),
            ));
        }
        // Only digits, so the string read back (an integer) equals the string declared.
        let number = value
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| value.parse::<i64>().ok())
            .flatten()
            .filter(|_| !value.is_empty() && (value == "0" || !value.starts_with('0')));
        let Some(number) = number else {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!(
                    "role `{account}`: setting `{key}` must be a non-negative integer without leading zeros, not `{value}`"
                ),
            ));
        };
        body.insert(key.clone(), Value::from(number));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn role_names_follow_openbao_rules() {
        for good in ["app", "a", "billing-api.v2", "x_1"] {
            assert!(check_role_name(good).is_ok(), "{good}");
        }
        for bad in ["", "App", "-app", "app-", "a b", "a/b", "a@b"] {
            assert!(check_role_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_reject_traversal_and_escapes() {
        for good in ["secret", "apps/billing/db", "kv-v2", "team@x/a.b"] {
            assert!(check_path("path", good).is_ok(), "{good}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "a/../b", "a/./b", "a b", "a?b", "a%2f",
        ] {
            assert!(check_path("path", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_names_reject_commas() {
        assert!(check_policy_name("read-db").is_ok());
        assert!(check_policy_name("a,b").is_err());
        assert!(check_policy_name(" a").is_err());
        assert!(check_policy_name("").is_err());
    }

    #[test]
    fn settings_become_integers() {
        let body = settings_body(
            "r",
            &settings(&[("token_ttl", "300"), ("secret_id_num_uses", "0")]),
        )
        .ok();
        let body = body.map(|b| (b["token_ttl"].clone(), b["secret_id_num_uses"].clone()));
        assert_eq!(body, Some((Value::from(300), Value::from(0))));
    }

    #[test]
    fn settings_reject_unknown_keys_and_bad_values() {
        for (key, value) in [
            ("token_period", "60"),
            ("token_ttl", "1h"),
            ("token_ttl", "-1"),
            ("token_ttl", "060"),
            ("token_ttl", ""),
            ("token_ttl", "99999999999999999999"),
        ] {
            let error = settings_body("r", &settings(&[(key, value)])).err();
            assert_eq!(
                error.map(|e| e.kind),
                Some(ErrorKind::Invalid),
                "{key}={value}"
            );
        }
    }
}
