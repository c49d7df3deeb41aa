//! Account and group names, whose rules depend on the target kind.

use super::{ldap, redis, Problem};
use crate::kinds::{LDAP, OPENBAO, POSTGRES, REDIS};

/// The use of an account name, which decides whether reserved names are allowed. PostgreSQL
/// rejects them for new roles but has predefined roles with such names that can be granted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameUse {
    /// The account's own name, which enact creates.
    Account,
    /// A role the account is granted or hands objects to, which already exists.
    Existing,
}

/// Checks an account or group name for a target of `kind`. PostgreSQL, OpenBao, Redis and LDAP
/// have rules; other kinds accept any non-empty name.
pub(crate) fn account_name(kind: &str, text: &str, usage: NameUse) -> Result<(), Problem> {
    if text.is_empty() {
        return Err(Problem {
            message: "role name is empty".to_owned(),
            help: None,
        });
    }
    match kind {
        OPENBAO => return approle_name(text),
        REDIS => return redis::user_name(text),
        LDAP => return ldap::uid(text),
        POSTGRES => {}
        _ => return Ok(()),
    }
    let mut chars = text.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    // PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
    if !first_ok || !rest_ok || text.len() > 63 {
        return Err(Problem::new(
            format!("invalid role name `{text}` for a `postgres` target"),
            "postgres role names match `^[a-z_][a-z0-9_]{0,62}$`",
        ));
    }
    if usage == NameUse::Account && (text.starts_with("pg_") || text == "public") {
        return Err(Problem::new(
            format!("role name `{text}` is reserved by postgres"),
            "postgres reserves `public` and names starting with `pg_`; choose another name",
        ));
    }
    Ok(())
}

/// Checks the group of a `member_of` entitlement on a `kind` target: a DN for LDAP, and an
/// existing role's name for the other kinds.
pub(crate) fn group_name(kind: &str, text: &str) -> Result<(), Problem> {
    if kind == LDAP {
        return ldap::dn(text, "group dn", "cn=billing,ou=groups,dc=example,dc=org");
    }
    account_name(kind, text, NameUse::Existing)
}

/// Checks an AppRole role name: lower-case letters, digits, `_`, `.` and `-`, starting with a
/// letter or digit, ending with a letter, digit or `_`, at most 128 characters. The AppRole API
/// that OpenBao forked from Vault routes `role/NAME` only for names matching `\w([\w.-]*\w)?`,
/// and stores new role names in lower case, so a declared upper-case name would never equal the
/// name read back.
fn approle_name(text: &str) -> Result<(), Problem> {
    let valid = |name: &str| {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let last_ok = name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        first_ok && last_ok && rest_ok && name.len() <= 128
    };
    if valid(text) {
        return Ok(());
    }
    let lower = text.to_ascii_lowercase();
    if valid(&lower) {
        return Err(Problem::new(
            format!("role name `{text}` for an `openbao` target is not lower case"),
            format!("openbao stores approle role names in lower case, so write `{lower}`"),
        ));
    }
    Err(Problem::new(
        format!("invalid role name `{text}` for an `openbao` target"),
        "approle role names match `^[a-z0-9][a-z0-9_.-]{0,127}$` and end with a letter, digit \
         or `_`",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_role_names_are_checked() {
        assert!(account_name("postgres", "billing_worker", NameUse::Account).is_ok());
        assert!(account_name("postgres", "_x", NameUse::Account).is_ok());
        assert!(account_name("postgres", "Billing", NameUse::Account).is_err());
        assert!(account_name("postgres", "1x", NameUse::Account).is_err());
        assert!(account_name("postgres", &"a".repeat(64), NameUse::Account).is_err());
        assert!(account_name("postgres", &"a".repeat(63), NameUse::Account).is_ok());
        assert!(account_name("postgres", "pg_monitor", NameUse::Account).is_err());
        assert!(account_name("postgres", "pg_monitor", NameUse::Existing).is_ok());
        assert!(account_name("other", "Any-Name", NameUse::Account).is_ok());
    }

    #[test]
    fn approle_role_names_are_checked() {
        assert!(account_name(OPENBAO, "billing-worker", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, "billing.worker_2", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, "b", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, "billing_", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, &"a".repeat(128), NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, &"a".repeat(129), NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "-billing", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "_billing", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing-", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing.", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing worker", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing/worker", NameUse::Account).is_err());
    }

    #[test]
    fn approle_upper_case_suggests_lower() {
        let problem = account_name(OPENBAO, "Billing.Worker", NameUse::Account).err();
        assert_eq!(
            problem.as_ref().map(|problem| problem.message.as_str()),
            Some("role name `Billing.Worker` for an `openbao` target is not lower case")
        );
        assert_eq!(
            problem.and_then(|problem| problem.help).as_deref(),
            Some("openbao stores approle role names in lower case, so write `billing.worker`")
        );
    }
}
