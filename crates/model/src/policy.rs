//! The resolved policy: what the declared state is. Built only by the policy parser, after every
//! check has passed, so code that receives a [`Policy`] may rely on its invariants: every
//! account's target exists, names are unique, and durations are positive.

use crate::ids::{NhiId, TargetId};
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// A checked policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Policy {
    /// SHA-256 of the policy file's bytes; a saved plan records it to detect a changed policy.
    pub digest: String,
    pub targets: BTreeMap<TargetId, Target>,
    pub identities: BTreeMap<NhiId, Identity>,
    pub limits: Limits,
}

impl Policy {
    /// Every declared account on `target`, with the identity it belongs to.
    pub fn accounts_on<'a>(
        &'a self,
        target: &'a TargetId,
    ) -> impl Iterator<Item = (&'a Identity, &'a Account)> + 'a {
        self.identities.values().flat_map(move |identity| {
            identity
                .accounts
                .iter()
                .filter(move |account| &account.target == target)
                .map(move |account| (identity, account))
        })
    }
}

/// Per-run limits that guard against surprises.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    /// The maximum number of destructive actions (revoke, disable, delete) in one run unless the
    /// command line raises it.
    pub max_destructive: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_destructive: 10,
        }
    }
}

/// A named connection to a system whose identities enact manages.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub id: TargetId,
    /// The connector kind, such as `postgres`.
    pub kind: String,
    /// Where the target listens, in the connector's own form (for PostgreSQL, `host:port`).
    pub endpoint: String,
    /// The database, mount or base the connector works in, where the kind has one.
    pub database: Option<String>,
    /// The account enact signs in as, for targets that sign in with a user name and a password;
    /// `None` for token-based targets such as OpenBao.
    pub admin_user: Option<String>,
    /// Where the admin credential is read from at run time. Never inline in the policy.
    pub admin_credential: CredentialSource,
    /// What to do with accounts found on this target that no identity declares.
    pub unmanaged: UnmanagedPolicy,
    /// How long verification keeps retrying a probe that is not yet confirmed, for targets that
    /// apply changes with a delay.
    pub verify_window: Duration,
}

/// Where a credential is read from at run time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSource {
    /// An environment variable.
    Env(String),
    /// A file whose whole content, less one trailing newline, is the credential.
    File(PathBuf),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Env(name) => write!(f, "environment variable `{name}`"),
            CredentialSource::File(path) => write!(f, "file `{}`", path.display()),
        }
    }
}

/// The handling of accounts that exist on a target but are not declared.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct UnmanagedPolicy {
    pub action: UnmanagedAction,
    /// Glob patterns (`*` and `?`) of account names to leave alone entirely.
    pub ignore: Vec<String>,
}

/// What the plan does with an undeclared account.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnmanagedAction {
    /// List it in the plan and in `status`; change nothing.
    #[default]
    Report,
    /// Disable its login and end its sessions.
    Disable,
}

/// A non-human identity and its accounts across targets.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    pub id: NhiId,
    pub owner: String,
    pub purpose: String,
    pub state: LifecycleState,
    pub accounts: Vec<Account>,
}

/// The lifecycle state an identity should be in.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleState {
    /// Exists, can log in, holds exactly its entitlements.
    Active,
    /// Exists but cannot log in and has no open session.
    Disabled,
    /// Removed from every target, with its secrets purged.
    Decommissioned,
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LifecycleState::Active => "active",
            LifecycleState::Disabled => "disabled",
            LifecycleState::Decommissioned => "decommissioned",
        })
    }
}

/// One identity's account on one target.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Account {
    pub target: TargetId,
    /// The account's name on the target (for PostgreSQL, the role name).
    pub name: String,
    /// The exact set of entitlements. Anything else present on the target is revoked.
    pub entitlements: BTreeSet<Entitlement>,
    pub credential: Option<CredentialPolicy>,
    pub sessions: Option<SessionPolicy>,
    /// What deleting the account does with objects it owns.
    pub owned_objects: OwnedObjects,
    /// Target-specific configuration the account must have, such as an OpenBao AppRole's
    /// `token_ttl`, derived by the parser from the credential and session policies. Compared
    /// as exact strings with what the connector reads back.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// A right held by an account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Entitlement {
    /// Membership in a group (for PostgreSQL, a role granted to the account).
    Membership { group: String },
    /// A privilege on an object, such as `SELECT` on table `public.orders`.
    Privilege {
        privilege: String,
        /// Boxed, so that an entitlement is 32 bytes and not 72: a policy of 100,000 accounts
        /// holds a set of them per account, twice (declared and observed).
        object: Box<ObjectRef>,
    },
    /// A named policy attached to the account, such as an OpenBao token policy.
    Policy { policy: String },
    /// A target-specific rule kept as text, for targets whose rights are not privileges.
    Rule { rule: String },
}

impl fmt::Display for Entitlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entitlement::Membership { group } => write!(f, "member of {group}"),
            Entitlement::Privilege { privilege, object } => write!(f, "{privilege} on {object}"),
            Entitlement::Policy { policy } => write!(f, "policy {policy}"),
            Entitlement::Rule { rule } => write!(f, "rule {rule}"),
        }
    }
}

/// An object a privilege applies to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The object kind: `database`, `schema`, `table` or `sequence`.
    pub kind: String,
    /// The object's name; tables and sequences are schema-qualified.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// How an account's credential is managed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CredentialPolicy {
    pub kind: CredentialKind,
    /// Rotate once the credential is older than this.
    pub max_age: Option<Duration>,
    /// Where a new value is delivered.
    pub sink: SinkRef,
    /// How a rotation replaces the credential.
    #[serde(default)]
    pub strategy: RotationStrategy,
    /// The processes that use the credential, which a rotation waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependents: Vec<Dependent>,
}

/// A process that uses a credential, and how to tell that it moved to a new one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dependent {
    pub name: String,
    pub check: DependentCheck,
}

/// The way a dependent is observed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DependentCheck {
    /// Its sessions carry this application name (PostgreSQL `application_name`, Redis
    /// `CLIENT SETNAME`, OpenBao token display name).
    ApplicationName(String),
    /// Its sessions come from this client address; a port is ignored.
    ClientAddr(String),
    /// Its sessions carry this metadata pair (OpenBao token metadata).
    Metadata { key: String, value: String },
    /// A command whose exit status 0 says the dependent authenticates with the current
    /// credential.
    Command(Vec<String>),
    /// An HTTP endpoint whose 2xx answer says the dependent authenticates with the current
    /// credential.
    Http(String),
}

impl Dependent {
    /// Returns whether `session` belongs to this dependent. Always false for a dependent
    /// observed by a probe, which has no sessions to match.
    pub fn owns(&self, session: &crate::ObservedSession) -> bool {
        match &self.check {
            DependentCheck::ApplicationName(name) => session.application_name == *name,
            DependentCheck::ClientAddr(addr) => session
                .client_addr
                .as_deref()
                .is_some_and(|found| host_of(found) == host_of(addr)),
            DependentCheck::Metadata { key, value } => session.metadata.get(key) == Some(value),
            DependentCheck::Command(_) | DependentCheck::Http(_) => false,
        }
    }

    /// Returns whether the dependent is observed through its sessions, not a probe.
    pub fn by_sessions(&self) -> bool {
        !matches!(
            self.check,
            DependentCheck::Command(_) | DependentCheck::Http(_)
        )
    }
}

impl fmt::Display for Dependent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (", self.name)?;
        match &self.check {
            DependentCheck::ApplicationName(name) => write!(f, "application `{name}`")?,
            DependentCheck::ClientAddr(addr) => write!(f, "client {addr}")?,
            DependentCheck::Metadata { key, value } => write!(f, "metadata {key}={value}")?,
            DependentCheck::Command(argv) => write!(f, "command `{}`", argv.join(" "))?,
            DependentCheck::Http(url) => write!(f, "http {url}")?,
        }
        write!(f, ")")
    }
}

/// Returns the host part of an address written `host`, `host:port` or `[v6]:port`.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        // One colon: `host:port`. More: a bare IPv6 address.
        Some((host, _)) if !host.contains(':') => host,
        _ => addr,
    }
}

/// How a rotation replaces a credential.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum RotationStrategy {
    /// Replace the credential in one step. Dependents that still hold the old value fail until
    /// they read the new one from the sink.
    #[default]
    Single,
    /// Add the new credential beside the old one, promote it in the sink, wait `grace` for
    /// dependents to move, then retire the old one. For targets that accept two credentials
    /// at once, such as OpenBao AppRole secret IDs and Redis passwords.
    Dual { grace: crate::time::Duration },
    /// Keep two login users that are members of the account, which is a group holding the
    /// entitlements, and rotate the one not in use: set its password, promote it in the sink,
    /// wait `grace` for dependents to move, then clear the other user's password. For targets
    /// with one password per user, such as PostgreSQL. The sink's value names its user (see
    /// [`alternating_value`]).
    Alternating {
        users: [String; 2],
        grace: crate::time::Duration,
    },
}

impl RotationStrategy {
    /// Returns how long dependents have to move to a new credential before the old one is
    /// retired, or `None` for a single rotation.
    pub fn grace(&self) -> Option<crate::time::Duration> {
        match self {
            RotationStrategy::Single => None,
            RotationStrategy::Dual { grace } | RotationStrategy::Alternating { grace, .. } => {
                Some(*grace)
            }
        }
    }
}

/// The value an alternating-users rotation delivers: the login user and its password, as the
/// JSON object `{"username": ..., "password": ...}`, the shape AWS Secrets Manager uses for the
/// same pattern. Dependents read both fields, because the user changes on each rotation.
#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct AlternatingValue {
    username: String,
    password: String,
}

/// Builds the value delivered for `username` with `password`.
pub fn alternating_value(
    username: &str,
    password: &crate::Secret,
    key: &crate::FingerprintKey,
) -> crate::Secret {
    let value = AlternatingValue {
        username: username.to_owned(),
        // The password goes into the value that the sink, its designated store, receives.
        password: password.expose().to_owned(),
    };
    let text = serde_json::to_string(&value).unwrap_or_default();
    crate::Secret::new(text, key)
}

/// Splits a delivered alternating-users value into its user and password; `None` when the
/// value is not that JSON object.
pub fn split_alternating_value(
    value: &crate::Secret,
    key: &crate::FingerprintKey,
) -> Option<(String, crate::Secret)> {
    // The value is parsed to reach the password inside it, which stays wrapped.
    let parsed: AlternatingValue = serde_json::from_str(value.expose()).ok()?;
    let password = crate::Secret::new(parsed.password.clone(), key);
    Some((parsed.username.clone(), password))
}

impl fmt::Display for RotationStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotationStrategy::Single => f.write_str("single"),
            RotationStrategy::Dual { grace } => write!(f, "dual, grace {grace}"),
            RotationStrategy::Alternating { users, grace } => {
                write!(
                    f,
                    "alternating {} and {}, grace {grace}",
                    users[0], users[1]
                )
            }
        }
    }
}

/// The kind of credential.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    Password,
    /// An OpenBao AppRole secret ID.
    SecretId,
}

/// The designated store for a credential's current value.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SinkRef {
    /// A local file, written atomically with mode 0600.
    File { path: PathBuf },
    /// A KV version 2 secret on an OpenBao (or Vault) target; the value is the `value` field
    /// of each version.
    Vault {
        target: TargetId,
        mount: String,
        path: String,
    },
}

impl fmt::Display for SinkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkRef::File { path } => write!(f, "file {}", path.display()),
            SinkRef::Vault {
                target,
                mount,
                path,
            } => write!(f, "vault {target}:{mount}/{path}"),
        }
    }
}

/// Limits on an account's sessions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct SessionPolicy {
    /// Sessions older than this are ended.
    pub max_lifetime: Option<Duration>,
    /// Sessions idle longer than this are ended.
    pub idle_limit: Option<Duration>,
    /// Whether rotating the credential also ends the sessions opened before it.
    pub end_on_rotation: bool,
}

/// What deleting an account does with the objects it owns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum OwnedObjects {
    /// Fail the deletion if the account owns anything.
    #[default]
    Refuse,
    /// Hand every owned object to the named account first.
    ReassignTo(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FingerprintKey, ObservedSession, Secret, Timestamp};

    fn session(app: &str, addr: Option<&str>, meta: &[(&str, &str)]) -> ObservedSession {
        ObservedSession {
            id: "1".into(),
            started_at: Timestamp(0),
            idle_since: None,
            application_name: app.into(),
            client_addr: addr.map(str::to_owned),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn dependent(check: DependentCheck) -> Dependent {
        Dependent {
            name: "worker".into(),
            check,
        }
    }

    #[test]
    fn dependent_owns_by_application_name() {
        let worker = dependent(DependentCheck::ApplicationName("api".into()));
        assert!(worker.owns(&session("api", None, &[])));
        assert!(!worker.owns(&session("apix", None, &[])));
    }

    #[test]
    fn dependent_owns_by_client_host() {
        let worker = dependent(DependentCheck::ClientAddr("10.0.0.5".into()));
        assert!(worker.owns(&session("", Some("10.0.0.5"), &[])));
        assert!(worker.owns(&session("", Some("10.0.0.5:51234"), &[])));
        assert!(!worker.owns(&session("", Some("10.0.0.50:1"), &[])));
        assert!(!worker.owns(&session("", None, &[])));
        let v6 = dependent(DependentCheck::ClientAddr("::1".into()));
        assert!(v6.owns(&session("", Some("[::1]:6379"), &[])));
        assert!(v6.owns(&session("", Some("::1"), &[])));
    }

    #[test]
    fn dependent_owns_by_metadata() {
        let worker = dependent(DependentCheck::Metadata {
            key: "service".into(),
            value: "api".into(),
        });
        assert!(worker.owns(&session("", None, &[("service", "api")])));
        assert!(!worker.owns(&session("", None, &[("service", "web")])));
        let probe = dependent(DependentCheck::Command(vec!["true".into()]));
        assert!(!probe.owns(&session("api", None, &[])));
        assert!(!probe.by_sessions());
    }

    #[test]
    fn alternating_value_round_trips_without_showing_the_password() {
        let key = FingerprintKey::from_bytes([7; 32]);
        let password = Secret::new("s3cret-canary".into(), &key);
        let value = alternating_value("app_blue", &password, &key);
        let (user, split) = split_alternating_value(&value, &key).expect("split");
        assert_eq!(user, "app_blue");
        assert_eq!(split.fingerprint(), password.fingerprint());
        assert!(!format!("{value:?}").contains("s3cret-canary"));
        let plain = Secret::new("not-json".into(), &key);
        assert!(split_alternating_value(&plain, &key).is_none());
    }
}
