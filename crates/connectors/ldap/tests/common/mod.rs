//! Helpers for the integration tests, which run against the server `scripts/ldap.sh start`
//! started and read its settings from the env file that script writes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use enact_ldap::LdapConnector;
use enact_model::policy::CredentialSource;
use enact_model::{
    Clock, Duration, FingerprintKey, Secret, SystemClock, Target, TargetId, Timestamp,
    UnmanagedPolicy,
};
use ldap3::{Ldap, LdapConnAsync, LdapResult, Mod, Scope, SearchEntry};
use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::path::PathBuf;

/// The settings of the running test server.
pub struct LdapEnv {
    pub url: String,
    /// The DN the service accounts are below.
    pub base: String,
    /// The DN the test groups are created below.
    pub groups: String,
    pub admin_dn: String,
    pub admin_password: String,
    /// The rootdn, for setup that enact must not do itself, such as creating groups.
    pub root_dn: String,
    pub root_password: String,
    /// The server log, written with `-d stats`.
    pub log: PathBuf,
}

impl LdapEnv {
    /// Reads the env file at `$ENACT_LDAP_ENV`, or `<repo>/.run/ldap/env`.
    pub fn load() -> LdapEnv {
        let path = std::env::var_os("ENACT_LDAP_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.run/ldap/env")
            });
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!(
                "OpenLDAP is not running: start it with scripts/ldap.sh start (no env file at {})",
                path.display()
            );
        };
        let values: HashMap<String, String> = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_string(), unquote(value)))
            .collect();
        let get = |key: &str| {
            values
                .get(key)
                .cloned()
                .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
        };
        let env = LdapEnv {
            url: get("ENACT_LDAP_URL"),
            base: get("ENACT_LDAP_BASE"),
            groups: get("ENACT_LDAP_GROUPS"),
            admin_dn: get("ENACT_LDAP_ADMIN_DN"),
            admin_password: get("ENACT_LDAP_ADMIN_PASSWORD"),
            root_dn: get("ENACT_LDAP_ROOT_DN"),
            root_password: get("ENACT_LDAP_ROOT_PASSWORD"),
            log: PathBuf::from(get("ENACT_LDAP_LOG")),
        };
        // An env file outlives the server it describes, so check that something listens.
        let address = env
            .url
            .trim_start_matches("ldap://")
            .trim_end_matches('/')
            .to_string();
        let listening = address.parse().is_ok_and(|address| {
            TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2)).is_ok()
        });
        if !listening {
            panic!("OpenLDAP is not running: start it with scripts/ldap.sh start (nothing listens on {address})");
        }
        env
    }

    /// Returns the connector's target for this server.
    pub fn target(&self) -> Target {
        self.target_at(&self.url)
    }

    /// Returns a target with this server's base and admin at another `endpoint`.
    pub fn target_at(&self, endpoint: &str) -> Target {
        Target {
            id: TargetId::new("ldap"),
            kind: "ldap".to_string(),
            endpoint: endpoint.to_string(),
            database: Some(self.base.clone()),
            admin_user: Some(self.admin_dn.clone()),
            admin_credential: CredentialSource::Env("ENACT_LDAP_ADMIN_PASSWORD".to_string()),
            unmanaged: UnmanagedPolicy::default(),
            verify_window: Duration::from_secs(5),
        }
    }

    /// Builds a connector that binds as enact's admin entry.
    pub fn connector(&self) -> LdapConnector {
        LdapConnector::new(&self.target(), secret(&self.admin_password), key())
            .expect("the target is valid")
    }

    /// Returns the DN of `account` below the base.
    pub fn account_dn(&self, account: &str) -> String {
        format!("uid={account},{}", self.base)
    }

    /// Returns the DN of the group `name` below the groups base.
    pub fn group_dn(&self, name: &str) -> String {
        format!("cn={name},{}", self.groups)
    }

    /// Opens a connection bound as `dn` with `password`.
    pub async fn bind_as(&self, dn: &str, password: &str) -> Ldap {
        let (connection, mut ldap) = LdapConnAsync::new(&self.url).await.unwrap();
        ldap3::drive!(connection);
        ldap.simple_bind(dn, password)
            .await
            .and_then(LdapResult::success)
            .unwrap_or_else(|e| panic!("binding as `{dn}` failed: {e}"));
        ldap
    }

    /// Opens a connection bound as the rootdn.
    pub async fn root(&self) -> Ldap {
        self.bind_as(&self.root_dn, &self.root_password).await
    }

    /// Creates a groupOfNames below the groups base with `members` (DNs) and returns its DN.
    /// A groupOfNames needs a member, so an empty list gets the empty-DN placeholder.
    pub async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let dn = self.group_dn(name);
        let mut members: HashSet<&str> = members.iter().copied().collect();
        if members.is_empty() {
            members.insert("");
        }
        let mut root = self.root().await;
        root.add(
            &dn,
            vec![
                ("objectClass", HashSet::from(["groupOfNames"])),
                ("cn", HashSet::from([name])),
                ("member", members),
            ],
        )
        .await
        .and_then(LdapResult::success)
        .unwrap_or_else(|e| panic!("creating group `{dn}` failed: {e}"));
        dn
    }

    /// Deletes an entry as the rootdn; a missing entry is fine.
    pub async fn delete_entry(&self, dn: &str) {
        let mut root = self.root().await;
        let result = root.delete(dn).await.unwrap();
        assert!(
            result.rc == 0 || result.rc == 32,
            "deleting `{dn}` failed: {result}"
        );
    }

    /// Adds `value` to `attribute` of `dn` as the rootdn.
    pub async fn root_add_value(&self, dn: &str, attribute: &str, value: &str) {
        let mut root = self.root().await;
        root.modify(dn, vec![Mod::Add(attribute, HashSet::from([value]))])
            .await
            .and_then(LdapResult::success)
            .unwrap_or_else(|e| panic!("adding to `{attribute}` of `{dn}` failed: {e}"));
    }

    /// Reads `attributes` of the entry `dn` on `ldap`; `None` when it does not exist.
    pub async fn read_entry(
        ldap: &mut Ldap,
        dn: &str,
        attributes: &[&str],
    ) -> Option<HashMap<String, Vec<String>>> {
        let result = ldap
            .search(dn, Scope::Base, "(objectClass=*)", attributes.to_vec())
            .await
            .unwrap();
        if result.1.rc == 32 {
            return None;
        }
        let (entries, _) = result.success().unwrap();
        entries.into_iter().next().map(|entry| {
            let entry = SearchEntry::construct(entry);
            let mut attrs = entry.attrs;
            for (name, values) in entry.bin_attrs {
                attrs.insert(
                    name,
                    values
                        .into_iter()
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                        .collect(),
                );
            }
            attrs
        })
    }

    /// Reads the `member` values of group `dn` as the rootdn.
    pub async fn members(&self, dn: &str) -> Vec<String> {
        let mut root = self.root().await;
        let entry = Self::read_entry(&mut root, dn, &["member"])
            .await
            .unwrap_or_else(|| panic!("group `{dn}` does not exist"));
        entry.get("member").cloned().unwrap_or_default()
    }

    /// Returns the text the server log gained since `offset`.
    pub fn log_since(&self, offset: u64) -> String {
        let bytes = std::fs::read(&self.log).expect("the server log is readable");
        let start = usize::try_from(offset).unwrap().min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// Returns the server log's current length.
    pub fn log_length(&self) -> u64 {
        std::fs::metadata(&self.log)
            .expect("the server log exists")
            .len()
    }
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("'\\''", "'"),
        None => value.to_string(),
    }
}

/// Returns the fingerprint key of the tests.
pub fn key() -> FingerprintKey {
    FingerprintKey::from_bytes([11; 32])
}

/// Wraps a test value as a secret.
pub fn secret(value: &str) -> Secret {
    Secret::new(value.to_string(), &key())
}

/// Returns a name unique to this run, so tests can run in parallel and again.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// Returns a random password that no other test uses.
pub fn random_password() -> String {
    format!("canary-{:032x}", rand::random::<u128>())
}

/// Returns the current wall-clock time.
pub fn now() -> Timestamp {
    SystemClock.now()
}

/// Returns a port on 127.0.0.1 where nothing listens, found by binding it and releasing it.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
