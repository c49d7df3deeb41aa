//! The JSON Schema of the policy file, derived from types that mirror its syntax.
//!
//! The types here exist only to describe the file: the checker reads the YAML tree directly,
//! because it must keep positions and report every problem. A test checks that the keys of
//! these types equal the keys the checker accepts.

// The syntax types are never built; deriving `JsonSchema` is their only use.
#![allow(dead_code)]

use schemars::gen::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DURATION_PATTERN: &str = "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
/// A relative OpenBao path: segments of letters, digits, `_`, `.` and `-` joined by single `/`.
const BAO_PATH_PATTERN: &str = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$";
/// A `.` or `..` segment, which an OpenBao path must not contain.
const DOT_SEGMENT_PATTERN: &str = r"(^|/)\.\.?(/|$)";
/// The endpoint of every kind but `openbao` and `ldap`: `host:port`, with IPv6 hosts in
/// brackets.
const HOST_PORT_ENDPOINT_PATTERN: &str = r"^[^/]+:[0-9]+$";
/// An `openbao` endpoint: an `http://` or `https://` URL with a host and a port and no path.
const URL_ENDPOINT_PATTERN: &str = r"^https?://[^/]+:[0-9]+$";
/// An `ldap` endpoint: an `ldap://` or `ldaps://` URL with a host and a port and no path.
const LDAP_URL_ENDPOINT_PATTERN: &str = r"^ldaps?://[^/]+:[0-9]+$";
/// A DN: `attribute=value` pairs joined by `,` (or `+` within one relative DN). The parser also
/// checks escapes and spaces.
const DN_PATTERN: &str = r"^[A-Za-z0-9.-]+=.+(,[A-Za-z0-9.-]+=.+)*$";
/// One Redis ACL rule token of an accepted form. Rules that grant everything of a kind are
/// excluded separately by [`BROAD_ACL_RULE_PATTERN`].
const ACL_RULE_PATTERN: &str =
    r"^([+-]@?[A-Za-z0-9][A-Za-z0-9_.-]*(\|[A-Za-z0-9][A-Za-z0-9_.-]*)?|(~|%R~|%W~|%RW~|&)\S+)$";
/// The Redis ACL rules that grant every command, key or channel.
const BROAD_ACL_RULE_PATTERN: &str = r"^(\+@[Aa][Ll][Ll]|(~|%R~|%W~|%RW~|&)\*)$";
const DURATION_NOTE: &str = "One or more `<integer><unit>` parts, largest unit first, with units \
                             `d`, `h`, `m` and `s`, such as `90d` or `1h30m`; must be positive.";

/// An enact policy file: the targets enact connects to and the non-human identities whose
/// accounts it keeps in the declared state.
#[derive(JsonSchema)]
#[schemars(rename = "Policy", deny_unknown_fields)]
struct PolicyFile {
    /// The policy format version; must be `1`.
    #[schemars(range(min = 1, max = 1))]
    version: u32,
    /// Limits that guard each run against surprises.
    limits: Option<Limits>,
    /// The systems whose accounts enact manages, by target id (`[a-z0-9][a-z0-9_-]*`).
    targets: BTreeMap<String, Target>,
    /// The non-human identities, by identity id (`[a-z0-9][a-z0-9_.-]*`).
    identities: BTreeMap<String, Identity>,
    /// Hygiene rules: CEL expressions over observed attributes, each with an action.
    rules: Option<Vec<HygieneRuleFile>>,
}

/// One hygiene rule.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct HygieneRuleFile {
    /// The rule's name, for plans and evidence.
    name: String,
    /// A CEL expression over the attributes `age_days`, `last_used_days`, `owner_missing`,
    /// `unmanaged`, `login_enabled`, `sessions`, `target`, `account` and `identity`.
    when: String,
    /// What to do where the expression holds: `report`, `rotate`, `disable` or `delete`.
    action: String,
    /// For `delete`: how long the rule must hold before the account is deleted.
    grace_period: Option<String>,
}

/// Limits that guard each run against surprises.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Limits {
    /// The maximum number of destructive actions (revoke, disable, delete) in one run unless the
    /// command line raises it. Defaults to 10.
    max_destructive: Option<u32>,
}

/// A named connection to a system whose accounts enact manages.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Target {
    /// The connector kind, such as `postgres`, `openbao`, `redis` or `ldap`.
    kind: String,
    /// The address the target listens on. For `postgres` and `redis` it is `host:port`, with
    /// IPv6 hosts in brackets. For `openbao` it is an `http://` or `https://` URL, and for `ldap`
    /// an `ldap://` or `ldaps://` URL, each with a host and a port and no path.
    #[schemars(regex(pattern = r"^.+:[0-9]+$"))]
    endpoint: String,
    /// The database the connector works in, where the kind has one. Not valid for `openbao`,
    /// `redis` or `ldap`.
    database: Option<String>,
    /// The path of the AppRole auth method on an `openbao` target. Defaults to `approle`. Not
    /// valid for other kinds.
    #[schemars(regex(pattern = "BAO_PATH_PATTERN"))]
    auth_mount: Option<String>,
    /// The DN under which an `ldap` target's accounts live, such as
    /// `ou=services,dc=example,dc=org`. Required for `ldap`, not valid for other kinds.
    #[schemars(regex(pattern = "DN_PATTERN"))]
    base: Option<String>,
    /// How enact signs in.
    admin: Admin,
    /// How long verification keeps retrying a probe that is not yet confirmed. Defaults to `5s`.
    /// Same format as every duration.
    #[schemars(regex(pattern = "DURATION_PATTERN"))]
    verify_window: Option<String>,
    /// The handling of accounts on this target that no identity declares.
    unmanaged: Option<Unmanaged>,
}

/// The admin account that enact signs in as. A `postgres` or `redis` target sets `user` and exactly one of
/// `password_env` and `password_file`, and an `ldap` target sets `bind_dn` in place of `user`.
/// An `openbao` target sets exactly one of `token_env` and `token_file`. A password or token is
/// never written in the policy.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Admin {
    /// The admin account's name, for `postgres` (a role) and `redis` (an ACL user).
    user: Option<String>,
    /// The DN the admin binds as, for `ldap`, such as `cn=admin,dc=example,dc=org`.
    #[schemars(regex(pattern = "DN_PATTERN"))]
    bind_dn: Option<String>,
    /// The environment variable that contains the admin password, for `postgres`, `redis` and
    /// `ldap`.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    password_env: Option<String>,
    /// The file that contains the admin password, for `postgres`, `redis` and `ldap`. A relative
    /// path is resolved against the policy's directory.
    password_file: Option<String>,
    /// The environment variable that contains the admin token, for `openbao`.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    token_env: Option<String>,
    /// The file that contains the admin token, for `openbao`. A relative path is resolved
    /// against the policy's directory.
    token_file: Option<String>,
}

/// The handling of accounts that exist on a target but are not declared.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Unmanaged {
    /// The plan's handling of an undeclared account. Defaults to `report`.
    action: Option<UnmanagedAction>,
    /// Patterns of account names to leave alone entirely, with `*` (any run of characters) and
    /// `?` (one character).
    #[schemars(inner(regex(pattern = r"^[^\[\]{}\\]+$")))]
    ignore: Option<Vec<String>>,
}

/// The plan's handling of an undeclared account.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum UnmanagedAction {
    /// List it in the plan and in `status`; change nothing.
    Report,
    /// Disable its login and end its sessions.
    Disable,
}

/// A non-human identity and its accounts across targets.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Identity {
    /// The team or person accountable for the identity.
    #[schemars(length(min = 1))]
    owner: String,
    /// A short description of what the identity is for.
    #[schemars(length(min = 1))]
    purpose: String,
    /// The lifecycle state the identity should be in.
    state: State,
    /// The identity's accounts, at most one per target.
    #[schemars(length(min = 1))]
    accounts: Vec<Account>,
}

/// The lifecycle state an identity should be in.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum State {
    /// Exists, can log in, holds exactly its entitlements.
    Active,
    /// Exists but cannot log in and has no open session.
    Disabled,
    /// Removed from every target, with its secrets purged.
    Decommissioned,
}

/// One identity's account on one target.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Account {
    /// The id of a declared target.
    target: String,
    /// The account's name on the target. For `postgres` it is a role name matching
    /// `^[a-z_][a-z0-9_]{0,62}$`. For `openbao` it is an AppRole role name matching
    /// `^[a-z0-9][a-z0-9_.-]{0,127}$` that ends with a letter, digit or `_`. For `redis` it is an
    /// ACL user name matching `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$` other than `default`. For
    /// `ldap` it is a uid matching `^[a-z0-9][a-z0-9._-]{0,63}$`.
    role: String,
    /// The exact set of entitlements; anything else found on the target is revoked.
    entitlements: Option<Vec<Entitlement>>,
    /// The management of the account's credential.
    credential: Option<Credential>,
    /// Limits on the account's sessions. Not valid for `ldap`, whose binds are not sessions
    /// that enact can list or end.
    sessions: Option<Sessions>,
    /// The handling of objects the account owns when it is deleted. Defaults to `refuse`. Valid
    /// only for `postgres`, because the accounts of the other kinds own no objects.
    owned_objects: Option<OwnedObjects>,
}

/// A right held by an account: a group membership or a privilege on an object for `postgres`, a
/// policy for `openbao`, an ACL rule for `redis`, and a group membership for `ldap`.
#[derive(JsonSchema)]
#[serde(untagged)]
enum Entitlement {
    Membership(Membership),
    Privilege(Privilege),
    Policy(AttachedPolicy),
    Rule(AclRule),
}

/// Membership in a group (for `postgres`, a role granted to the account, and for `ldap`, a
/// group entry that lists the account).
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Membership {
    /// The group's name, or for `ldap` the group's DN.
    member_of: String,
}

/// A privilege on an object.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Privilege {
    /// The privilege, case-insensitive. Valid per object kind: database `CONNECT`, `CREATE`,
    /// `TEMPORARY`; schema `USAGE`, `CREATE`; table `SELECT`, `INSERT`, `UPDATE`, `DELETE`,
    /// `TRUNCATE`, `REFERENCES`, `TRIGGER`; sequence `USAGE`, `SELECT`, `UPDATE`. `ALL` is
    /// rejected: list the privileges needed.
    privilege: String,
    /// The object, as `<kind> <name>` with kind `database`, `schema`, `table` or `sequence`;
    /// table and sequence names are schema-qualified, such as `table public.invoices`.
    #[schemars(regex(pattern = r"^(database|schema|table|sequence) +[^ ]+$"))]
    on: String,
}

/// An OpenBao policy attached to the account's tokens.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct AttachedPolicy {
    /// The policy's name. `root` is rejected, so attach policies that allow only what is needed.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9_.-]*$"))]
    policy: String,
}

/// One Redis ACL rule, compared with the user's rules as a set.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct AclRule {
    /// One rule token: `+command`, `-command`, `+command|subcommand`, `+@category`,
    /// `-@category`, `~pattern`, `%R~pattern`, `%W~pattern`, `%RW~pattern` or `&pattern`. Rules
    /// that grant every command, key or channel are rejected, and so are rules that set a
    /// password or the login state or reset the user, because enact manages those.
    #[schemars(regex(pattern = "ACL_RULE_PATTERN"))]
    rule: String,
}

/// The management of an account's credential.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Credential {
    /// The kind of credential: `secret_id` for `openbao`, and `password` for the other kinds.
    kind: CredentialKind,
    /// Rotate once the credential is older than this. For `openbao`, also the secret ID's TTL.
    #[schemars(regex(pattern = "DURATION_PATTERN"))]
    max_age: Option<String>,
    /// How many logins a secret ID allows, with 0 for no limit. Only for `openbao`.
    max_uses: Option<u32>,
    /// How a rotation replaces the credential. `dual` adds the new one beside the old, waits
    /// `grace_period`, then retires the old one (`openbao`, `redis`; their default).
    /// `alternating` keeps two login roles in a group role and rotates the one not in use
    /// (`postgres`). `single` replaces it at once, so dependents holding the old value fail
    /// until they read the new one; `postgres` and `ldap` policies must choose it explicitly.
    strategy: Option<Strategy>,
    /// With `dual` or `alternating`, how long dependents have to move to the new credential
    /// before the old one is retired. Default `30s`.
    #[schemars(regex(pattern = "DURATION_PATTERN"))]
    grace_period: Option<String>,
    /// With `alternating`, the two login roles. Default `<role>_blue` and `<role>_green`.
    users: Option<[String; 2]>,
    /// The processes that use the credential; a `dual` or `alternating` rotation waits, within
    /// `grace_period`, until each uses the new value before it retires the old one.
    dependents: Option<Vec<Dependent>>,
    /// The store that a new value is delivered to.
    deliver_to: DeliverTo,
}

/// A process that uses a credential: its name and exactly one way to observe it.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Dependent {
    /// A name for the dependent, unique within the credential.
    name: String,
    /// Its sessions carry this application name (PostgreSQL `application_name`, Redis
    /// `CLIENT SETNAME`, OpenBao token display name).
    application_name: Option<String>,
    /// Its sessions come from this client address (PostgreSQL, Redis).
    client_addr: Option<String>,
    /// Its sessions carry this token metadata pair, written `KEY=VALUE` (OpenBao).
    metadata: Option<String>,
    /// A command, as a list of words, whose exit status 0 says the dependent logs in with the
    /// current credential.
    command: Option<Vec<String>>,
    /// An `http://` or `https://` URL whose 2xx answer says the same.
    http: Option<String>,
}

/// A rotation strategy.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Strategy {
    /// Replace the credential at once.
    Single,
    /// Hold the old and the new credential during a grace period.
    Dual,
    /// Rotate the unused one of two login roles that share a group role.
    Alternating,
}

/// The kind of credential.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum CredentialKind {
    /// A password, for `postgres`, `redis` and `ldap`.
    Password,
    /// An AppRole secret ID, for `openbao`.
    SecretId,
}

/// The designated store for a credential's current value: exactly one of `file` and `vault`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct DeliverTo {
    /// A local file, written atomically with mode 0600; a relative path is resolved against the
    /// policy's directory.
    file: Option<String>,
    /// A secret in the KV version 2 engine of an `openbao` target.
    vault: Option<VaultSink>,
}

/// A secret in the KV version 2 engine of an `openbao` target; the credential is the `value`
/// field of each version.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct VaultSink {
    /// The id of a declared `openbao` target.
    target: String,
    /// The path of the KV version 2 engine. Defaults to `secret`.
    #[schemars(regex(pattern = "BAO_PATH_PATTERN"))]
    mount: Option<String>,
    /// The secret's path below the mount, such as `apps/billing/secret-id`.
    #[schemars(regex(pattern = "BAO_PATH_PATTERN"))]
    path: String,
}

/// Limits on an account's sessions.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Sessions {
    /// Sessions older than this are ended.
    #[schemars(regex(pattern = "DURATION_PATTERN"))]
    max_lifetime: Option<String>,
    /// Sessions idle longer than this are ended.
    #[schemars(regex(pattern = "DURATION_PATTERN"))]
    idle_limit: Option<String>,
    /// Whether rotating the credential also ends the sessions opened before it. Defaults to
    /// `false`.
    end_on_rotation: Option<bool>,
}

/// The handling of objects an account owns when it is deleted. `refuse` fails the deletion if
/// the account owns anything, and `reassign_to` hands every owned object to the named account
/// first.
#[derive(JsonSchema)]
#[serde(untagged)]
enum OwnedObjects {
    Refuse(RefuseKeyword),
    Reassign(ReassignTo),
}

/// Fail the deletion if the account owns anything.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum RefuseKeyword {
    Refuse,
}

/// Hand every owned object to the named account before deleting.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ReassignTo {
    /// The account that takes over the objects.
    reassign_to: String,
}

/// Builds the JSON Schema (draft-07) of the policy file.
///
/// Every object schema sets `additionalProperties: false`; the two id maps (`targets`,
/// `identities`) constrain their keys with `propertyNames` instead. Rules that need more than
/// one value, such as a role declared by two identities, are checked only by the parser.
pub fn json_schema() -> Value {
    let mut settings = SchemaSettings::draft07();
    // An optional key may be absent but not `null`, which the parser rejects.
    settings.option_add_null_type = false;
    let schema = settings
        .into_generator()
        .into_root_schema_for::<PolicyFile>();
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    refine(&mut value);
    value
}

/// Adds what the derive cannot express: id patterns, the admin credential's one-of, the rules
/// that depend on a target's kind, the sink's one-of, and the duration and path patterns, which
/// attribute strings cannot take from a constant.
fn refine(schema: &mut Value) {
    if let Some(properties) = schema.get_mut("properties") {
        if let Some(targets) = properties.get_mut("targets") {
            targets["propertyNames"] = json!({ "pattern": "^[a-z0-9][a-z0-9_-]*$" });
        }
        if let Some(identities) = properties.get_mut("identities") {
            identities["propertyNames"] = json!({ "pattern": "^[a-z0-9][a-z0-9_.-]*$" });
        }
    }
    if let Some(admin) = schema.pointer_mut("/definitions/Admin") {
        admin["oneOf"] = json!([
            { "required": ["password_env"] },
            { "required": ["password_file"] },
            { "required": ["token_env"] },
            { "required": ["token_file"] }
        ]);
    }
    if let Some(target) = schema.pointer_mut("/definitions/Target") {
        target["allOf"] = json!([
            kind_rules(
                json!({ "const": "openbao" }),
                json!({
                    "properties": {
                        "endpoint": { "pattern": URL_ENDPOINT_PATTERN },
                        "admin": { "not": any_key(&["user", "bind_dn", "password_env", "password_file"]) }
                    },
                    "not": any_key(&["database", "base"])
                }),
            ),
            kind_rules(
                json!({ "const": "ldap" }),
                json!({
                    "required": ["base"],
                    "properties": {
                        "endpoint": { "pattern": LDAP_URL_ENDPOINT_PATTERN },
                        "admin": {
                            "required": ["bind_dn"],
                            "not": any_key(&["user", "token_env", "token_file"])
                        }
                    },
                    "not": any_key(&["database", "auth_mount"])
                }),
            ),
            kind_rules(
                json!({ "const": "redis" }),
                json!({ "not": any_key(&["database"]) }),
            ),
            // Every other kind, `postgres` included, and a target without a kind.
            kind_rules(
                json!({ "not": { "enum": ["openbao", "ldap"] } }),
                json!({
                    "properties": {
                        "endpoint": { "pattern": HOST_PORT_ENDPOINT_PATTERN },
                        "admin": {
                            "required": ["user"],
                            "not": any_key(&["bind_dn", "token_env", "token_file"])
                        }
                    },
                    "not": any_key(&["auth_mount", "base"])
                }),
            ),
        ]);
    }
    if let Some(deliver_to) = schema.pointer_mut("/definitions/DeliverTo") {
        deliver_to["oneOf"] = json!([
            { "required": ["file"] },
            { "required": ["vault"] }
        ]);
    }
    replace_patterns(schema);
}

/// Builds a schema that applies `then` to a target whose `kind` matches `kind`. A target
/// without `kind` matches only a `kind` schema that a missing value passes, such as `not`.
fn kind_rules(kind: Value, then: Value) -> Value {
    let mut condition = json!({ "properties": { "kind": kind } });
    let matches_missing = condition["properties"]["kind"].get("not").is_some();
    if !matches_missing {
        condition["required"] = json!(["kind"]);
    }
    json!({ "if": condition, "then": then })
}

/// Builds a schema that an object with any of `keys` matches.
fn any_key(keys: &[&str]) -> Value {
    let each: Vec<Value> = keys
        .iter()
        .map(|key| json!({ "required": [key] }))
        .collect();
    json!({ "anyOf": each })
}

/// Replaces the pattern placeholders (`DURATION_PATTERN`, `BAO_PATH_PATTERN`, `DN_PATTERN` and
/// `ACL_RULE_PATTERN`) with their patterns.
fn replace_patterns(value: &mut Value) {
    match value {
        Value::Object(map) => {
            match map.get("pattern").and_then(Value::as_str) {
                Some("DURATION_PATTERN") => {
                    map.insert("pattern".to_owned(), json!(DURATION_PATTERN));
                    map.insert("minLength".to_owned(), json!(2));
                    let description = match map.get("description").and_then(Value::as_str) {
                        Some(text) => format!("{text} {DURATION_NOTE}"),
                        None => DURATION_NOTE.to_owned(),
                    };
                    map.insert("description".to_owned(), json!(description));
                }
                Some("BAO_PATH_PATTERN") => {
                    map.insert("pattern".to_owned(), json!(BAO_PATH_PATTERN));
                    map.insert("not".to_owned(), json!({ "pattern": DOT_SEGMENT_PATTERN }));
                }
                Some("DN_PATTERN") => {
                    map.insert("pattern".to_owned(), json!(DN_PATTERN));
                }
                Some("ACL_RULE_PATTERN") => {
                    map.insert("pattern".to_owned(), json!(ACL_RULE_PATTERN));
                    map.insert(
                        "not".to_owned(),
                        json!({ "pattern": BROAD_ACL_RULE_PATTERN }),
                    );
                }
                _ => {}
            }
            map.values_mut().for_each(replace_patterns);
        }
        Value::Array(items) => items.iter_mut().for_each(replace_patterns),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::panic, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use crate::keys;
    use std::collections::BTreeSet;

    fn properties(schema: &Value, pointer: &str) -> BTreeSet<String> {
        let node = schema
            .pointer(pointer)
            .unwrap_or_else(|| panic!("schema has no `{pointer}`"));
        node["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("`{pointer}` has no properties"))
            .keys()
            .cloned()
            .collect()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|key| (*key).to_owned()).collect()
    }

    #[test]
    fn schema_keys_match_parser_keys() {
        let schema = json_schema();
        let pairs: &[(&str, &[&str])] = &[
            ("", keys::POLICY),
            ("/definitions/Limits", keys::LIMITS),
            ("/definitions/Target", keys::TARGET),
            ("/definitions/Admin", keys::ADMIN),
            ("/definitions/Unmanaged", keys::UNMANAGED),
            ("/definitions/Identity", keys::IDENTITY),
            ("/definitions/Account", keys::ACCOUNT),
            ("/definitions/Membership", keys::MEMBERSHIP),
            ("/definitions/Privilege", keys::PRIVILEGE),
            ("/definitions/AttachedPolicy", keys::ATTACHED_POLICY),
            ("/definitions/AclRule", keys::ACL_RULE),
            ("/definitions/Credential", keys::CREDENTIAL),
            ("/definitions/DeliverTo", keys::DELIVER_TO),
            ("/definitions/VaultSink", keys::VAULT_SINK),
            ("/definitions/Sessions", keys::SESSIONS),
            ("/definitions/ReassignTo", keys::OWNED_OBJECTS),
        ];
        for (pointer, accepted) in pairs {
            assert_eq!(
                properties(&schema, pointer),
                set(accepted),
                "keys differ at `{pointer}`"
            );
        }
        let entitlement: BTreeSet<String> = set(keys::MEMBERSHIP)
            .union(&set(keys::PRIVILEGE))
            .cloned()
            .chain(set(keys::ATTACHED_POLICY))
            .chain(set(keys::ACL_RULE))
            .collect();
        assert_eq!(set(keys::ENTITLEMENT), entitlement);
    }

    #[test]
    fn every_object_rejects_other_keys() {
        let schema = json_schema();
        assert_eq!(schema["additionalProperties"], json!(false));
        let definitions = schema["definitions"]
            .as_object()
            .unwrap_or_else(|| panic!("schema has no definitions"));
        for (name, definition) in definitions {
            if definition.get("properties").is_some() {
                assert_eq!(
                    definition["additionalProperties"],
                    json!(false),
                    "`{name}` allows other keys"
                );
            }
        }
    }

    #[test]
    fn durations_carry_the_pattern() {
        let schema = json_schema();
        let max_age = &schema["definitions"]["Credential"]["properties"]["max_age"];
        assert_eq!(max_age["pattern"], json!(DURATION_PATTERN));
        let text = serde_json::to_string(&schema).unwrap_or_default();
        assert!(!text.contains("\"DURATION_PATTERN\""));
        assert!(!text.contains("\"BAO_PATH_PATTERN\""));
        assert!(!text.contains("\"DN_PATTERN\""));
        assert!(!text.contains("\"ACL_RULE_PATTERN\""));
        let path = &schema["definitions"]["VaultSink"]["properties"]["path"];
        assert_eq!(path["pattern"], json!(BAO_PATH_PATTERN));
        assert_eq!(path["not"]["pattern"], json!(DOT_SEGMENT_PATTERN));
    }

    #[test]
    fn id_maps_constrain_their_keys() {
        let schema = json_schema();
        assert_eq!(
            schema["properties"]["targets"]["propertyNames"]["pattern"],
            json!("^[a-z0-9][a-z0-9_-]*$")
        );
        assert_eq!(
            schema["definitions"]["Admin"]["oneOf"][0]["required"][0],
            json!("password_env")
        );
    }
}
