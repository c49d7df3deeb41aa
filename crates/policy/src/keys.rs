//! The keys the parser accepts in each mapping of a policy file. The checker rejects any other
//! key, and a test checks that these lists equal the JSON Schema's properties.

/// The top level of the file.
pub(crate) const POLICY: &[&str] = &["version", "limits", "targets", "identities", "rules"];
/// `limits`.
pub(crate) const LIMITS: &[&str] = &["max_destructive"];
/// `targets.<id>`.
pub(crate) const TARGET: &[&str] = &[
    "kind",
    "endpoint",
    "database",
    "auth_mount",
    "base",
    "admin",
    "verify_window",
    "unmanaged",
];
/// `targets.<id>.admin`. A `postgres` or `redis` target reads `user` and one `password_*` key,
/// an `ldap` target `bind_dn` and one `password_*` key, and an `openbao` target one `token_*`
/// key. The checker rejects the keys of the other kinds.
pub(crate) const ADMIN: &[&str] = &[
    "user",
    "bind_dn",
    "password_env",
    "password_file",
    "token_env",
    "token_file",
];
/// `targets.<id>.unmanaged`.
pub(crate) const UNMANAGED: &[&str] = &["action", "ignore"];
/// `identities.<id>`.
pub(crate) const IDENTITY: &[&str] = &["owner", "purpose", "state", "accounts"];
/// `identities.<id>.accounts[]`.
pub(crate) const ACCOUNT: &[&str] = &[
    "target",
    "role",
    "entitlements",
    "credential",
    "sessions",
    "owned_objects",
];
/// A membership entitlement. The checker reads [`ENTITLEMENT`]; the schema test checks that it
/// is the union of the four forms.
#[cfg(test)]
pub(crate) const MEMBERSHIP: &[&str] = &["member_of"];
/// A privilege entitlement.
#[cfg(test)]
pub(crate) const PRIVILEGE: &[&str] = &["privilege", "on"];
/// An OpenBao policy entitlement.
#[cfg(test)]
pub(crate) const ATTACHED_POLICY: &[&str] = &["policy"];
/// A Redis ACL rule entitlement.
#[cfg(test)]
pub(crate) const ACL_RULE: &[&str] = &["rule"];
/// Any entitlement. The checker reads the union of the four forms, then decides which form it
/// is.
pub(crate) const ENTITLEMENT: &[&str] = &["member_of", "privilege", "on", "policy", "rule"];
/// `credential`.
pub(crate) const CREDENTIAL: &[&str] = &[
    "kind",
    "max_age",
    "max_uses",
    "strategy",
    "grace_period",
    "users",
    "dependents",
    "deliver_to",
];
/// One entry of `credential.dependents`: its name and one way to observe it.
pub(crate) const DEPENDENT: &[&str] = &[
    "name",
    "application_name",
    "client_addr",
    "metadata",
    "command",
    "http",
];
/// `credential.deliver_to`, which sets exactly one of the two.
pub(crate) const DELIVER_TO: &[&str] = &["file", "vault"];
/// `credential.deliver_to.vault`.
pub(crate) const VAULT_SINK: &[&str] = &["target", "mount", "path"];
/// `sessions`.
pub(crate) const SESSIONS: &[&str] = &["max_lifetime", "idle_limit", "end_on_rotation"];
/// `owned_objects` in its mapping form.
pub(crate) const OWNED_OBJECTS: &[&str] = &["reassign_to"];
