//! The target kinds that the parser has rules for, and what the targets and accounts of each
//! kind take: the admin's sign-in, the key that sets [`enact_model::Target::database`], the forms of
//! entitlement, the credential kind, and whether sessions and owned objects apply.
//!
//! A kind that the caller lists in `known_kinds` but that is not named here gets the rules of
//! PostgreSQL, without PostgreSQL's name rules.

/// The kind of PostgreSQL targets, whose accounts are roles that sign in with a password.
pub(crate) const POSTGRES: &str = "postgres";
/// The kind of OpenBao targets, whose accounts are AppRole roles and whose admin signs in with a
/// token.
pub(crate) const OPENBAO: &str = "openbao";
/// The kind of Redis targets, whose accounts are ACL users that sign in with a password.
pub(crate) const REDIS: &str = "redis";
/// The kind of OpenLDAP targets, whose accounts are service-account entries below a base DN and
/// whose admin binds with a DN and a password.
pub(crate) const LDAP: &str = "ldap";

/// Returns `a` or `an` for a kind name, as in "an `openbao` target". `ldap` is read letter by
/// letter ("el-dap"), so it takes `an`.
pub(crate) fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) || kind == LDAP {
        "an"
    } else {
        "a"
    }
}

/// The way a target's admin signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AdminForm {
    /// `user` and a password, read from `password_env` or `password_file`.
    UserPassword,
    /// `bind_dn` and a password, read from `password_env` or `password_file`.
    BindDnPassword,
    /// A token alone, read from `token_env` or `token_file`.
    Token,
}

/// Returns how the admin of a `kind` target signs in.
pub(crate) fn admin_form(kind: &str) -> AdminForm {
    match kind {
        OPENBAO => AdminForm::Token,
        LDAP => AdminForm::BindDnPassword,
        _ => AdminForm::UserPassword,
    }
}

/// The target keys that name where a target's accounts live. A kind takes at most one of them,
/// and its value becomes [`enact_model::Target::database`].
pub(crate) const PLACE_KEYS: &[&str] = &["database", "auth_mount", "base"];

/// Returns the key of [`PLACE_KEYS`] that a `kind` target takes, or `None` for Redis, whose ACL
/// users belong to the whole server.
pub(crate) fn place_key(kind: &str) -> Option<&'static str> {
    match kind {
        OPENBAO => Some("auth_mount"),
        LDAP => Some("base"),
        REDIS => None,
        _ => Some("database"),
    }
}

/// A form of entitlement, identified by its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntitlementForm {
    /// `member_of: GROUP`.
    Membership,
    /// `privilege: NAME` with `on: KIND NAME`.
    Privilege,
    /// `policy: NAME`.
    Policy,
    /// `rule: TOKEN`.
    Rule,
}

impl EntitlementForm {
    /// Every form, in the order messages list them.
    pub const ALL: [EntitlementForm; 4] = [
        EntitlementForm::Membership,
        EntitlementForm::Privilege,
        EntitlementForm::Policy,
        EntitlementForm::Rule,
    ];

    /// Returns the keys of the form, its main key first. Any one of them marks an entry as this
    /// form.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            EntitlementForm::Membership => &["member_of"],
            EntitlementForm::Privilege => &["privilege", "on"],
            EntitlementForm::Policy => &["policy"],
            EntitlementForm::Rule => &["rule"],
        }
    }

    /// Returns the form's main key, which messages name for it.
    pub fn key(self) -> &'static str {
        match self {
            EntitlementForm::Membership => "member_of",
            EntitlementForm::Privilege => "privilege",
            EntitlementForm::Policy => "policy",
            EntitlementForm::Rule => "rule",
        }
    }

    /// Returns the form as help writes it for a `kind` account, such as `` `policy: NAME` ``.
    pub fn syntax(self, kind: Option<&str>) -> &'static str {
        match self {
            EntitlementForm::Membership if kind == Some(LDAP) => "`member_of: GROUP_DN`",
            EntitlementForm::Membership => "`member_of: GROUP`",
            EntitlementForm::Privilege => "`privilege: NAME` with `on: KIND NAME`",
            EntitlementForm::Policy => "`policy: NAME`",
            EntitlementForm::Rule => "`rule: TOKEN`",
        }
    }
}

/// Returns the entitlement forms that the accounts of a `kind` target hold.
pub(crate) fn entitlement_forms(kind: &str) -> &'static [EntitlementForm] {
    match kind {
        OPENBAO => &[EntitlementForm::Policy],
        REDIS => &[EntitlementForm::Rule],
        LDAP => &[EntitlementForm::Membership],
        _ => &[EntitlementForm::Membership, EntitlementForm::Privilege],
    }
}

/// Returns help that names the entitlements of a `kind` account, for an entry of another form.
pub(crate) fn entitlement_help(kind: &str) -> String {
    let article = article(kind);
    match kind {
        OPENBAO => {
            "an `openbao` account's entitlements are policies, so write `policy: NAME`".to_owned()
        }
        REDIS => "a `redis` account's entitlements are acl rules, so write `rule: TOKEN` with one \
                  token each, e.g. `+@read` or `~billing:*`"
            .to_owned(),
        LDAP => "an `ldap` account's entitlements are group memberships, so write \
                 `member_of: GROUP_DN`"
            .to_owned(),
        _ => format!(
            "{article} `{kind}` account's entitlements are `member_of: GROUP` and \
             `privilege: NAME` with `on: KIND NAME`"
        ),
    }
}

/// Returns the credential kind of a `kind` account as the policy writes it, with a phrase that
/// describes it.
pub(crate) fn credential_kind(kind: &str) -> (&'static str, &'static str) {
    match kind {
        OPENBAO => ("secret_id", "an approle secret id"),
        _ => ("password", "a password"),
    }
}

/// Returns why a `kind` account takes no `owned_objects`, or `None` when its account can own
/// objects that a deletion must handle.
pub(crate) fn without_owned_objects(kind: &str) -> Option<&'static str> {
    match kind {
        OPENBAO => Some("approle roles own no objects, so remove `owned_objects`"),
        REDIS => Some("redis acl users own no keys or other objects, so remove `owned_objects`"),
        LDAP => Some("ldap service-account entries own no objects, so remove `owned_objects`"),
        _ => None,
    }
}

/// Returns why a `kind` account takes no `sessions`, or `None` when enact can list and end the
/// account's sessions.
pub(crate) fn without_sessions(kind: &str) -> Option<&'static str> {
    match kind {
        LDAP => {
            Some("ldap binds are not sessions that enact can list or end, so remove `sessions`")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_follow_pronunciation() {
        assert_eq!(article(OPENBAO), "an");
        assert_eq!(article(LDAP), "an");
        assert_eq!(article(POSTGRES), "a");
        assert_eq!(article(REDIS), "a");
    }

    #[test]
    fn each_kind_holds_its_forms() {
        assert_eq!(entitlement_forms(REDIS), &[EntitlementForm::Rule]);
        assert_eq!(entitlement_forms(LDAP), &[EntitlementForm::Membership]);
        assert_eq!(entitlement_forms(OPENBAO), &[EntitlementForm::Policy]);
        assert_eq!(
            entitlement_forms("mysql"),
            &[EntitlementForm::Membership, EntitlementForm::Privilege]
        );
    }

    #[test]
    fn main_key_comes_first() {
        for form in EntitlementForm::ALL {
            assert_eq!(form.keys().first(), Some(&form.key()), "{form:?}");
        }
    }

    #[test]
    fn place_keys_cover_every_kind() {
        for kind in [POSTGRES, OPENBAO, REDIS, LDAP, "mysql"] {
            if let Some(key) = place_key(kind) {
                assert!(
                    PLACE_KEYS.contains(&key),
                    "`{key}` of `{kind}` is not listed"
                );
            }
        }
        assert_eq!(place_key(REDIS), None);
    }
}
