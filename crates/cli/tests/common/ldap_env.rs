//! Helpers for the end-to-end tests on the OpenLDAP server that `scripts/ldap.sh start` runs:
//! its settings, a client that reads and changes entries behind enact's back as the rootdn,
//! simple binds as a test account, and the clean-up of a test's entries.

use super::{repo_root, unquote};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapConnAsync, LdapResult, Mod, Scope, SearchEntry};
use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The LDAP result code of a failed simple bind: invalidCredentials (RFC 4511).
pub const INVALID_CREDENTIALS: u32 = 49;

/// The settings of the running OpenLDAP test server, as its env file lists them.
#[derive(Clone, Debug)]
pub struct LdapEnv {
    /// The server's URL, such as `ldap://127.0.0.1:53389/`.
    pub url: String,
    /// The DN the service accounts are directly below.
    pub base: String,
    /// The DN the test groups are created below.
    pub groups: String,
    /// enact's admin entry.
    pub admin_dn: String,
    pub admin_password: String,
    /// The rootdn, for setup and checks that enact must not do itself.
    pub root_dn: String,
    pub root_password: String,
    /// The server log, written with `-d stats`.
    pub log: PathBuf,
}

impl LdapEnv {
    /// Reads the shared server's env file at `$ENACT_LDAP_ENV`, or `<repo>/.run/ldap/env`.
    pub fn shared() -> LdapEnv {
        let path = std::env::var_os("ENACT_LDAP_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".run/ldap/env"));
        LdapEnv::from_file(&path)
    }

    /// Reads the env file that `scripts/ldap.sh start` wrote at `path`.
    pub fn from_file(path: &Path) -> LdapEnv {
        let Ok(text) = std::fs::read_to_string(path) else {
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
        let address = env.address();
        if StdTcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err() {
            panic!("OpenLDAP is not running: start it with scripts/ldap.sh start (nothing listens on {address})");
        }
        env
    }

    /// Returns the server's TCP address, taken from its URL.
    pub fn address(&self) -> SocketAddr {
        self.endpoint()
            .trim_start_matches("ldap://")
            .parse()
            .unwrap_or_else(|e| panic!("`{}` is not ldap://IP:PORT/: {e}", self.url))
    }

    /// Returns the endpoint to write in a policy: the URL without its trailing slash.
    pub fn endpoint(&self) -> String {
        self.url.trim_end_matches('/').to_string()
    }

    /// Renders an LDAP target named `id` on this server, as lines under `targets:`. Its admin
    /// password comes from `ENACT_LDAP_ADMIN_PASSWORD`, which [`super::Workspace::use_ldap`]
    /// sets.
    pub fn target_yaml(&self, id: &str, unmanaged: &str) -> String {
        format!(
            "  {id}:\n    kind: ldap\n    endpoint: {endpoint}\n    base: \"{base}\"\n    admin: {{ bind_dn: \"{admin}\", password_env: ENACT_LDAP_ADMIN_PASSWORD }}\n    verify_window: 2s\n    unmanaged: {unmanaged}\n",
            endpoint = self.endpoint(),
            base = self.base,
            admin = self.admin_dn,
        )
    }

    /// Returns the DN of the account `uid` below the base.
    pub fn account_dn(&self, uid: &str) -> String {
        format!("uid={uid},{}", self.base)
    }

    /// Returns the DN of the group `cn` below the groups base.
    pub fn group_dn(&self, cn: &str) -> String {
        format!("cn={cn},{}", self.groups)
    }

    /// Opens a connection without binding.
    pub async fn connect(&self) -> Ldap {
        let (connection, ldap) = LdapConnAsync::new(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to `{}` failed: {e}", self.url));
        ldap3::drive!(connection);
        ldap
    }

    /// Sends a simple bind as `dn` on a new connection and returns its result code: 0 on
    /// success, 49 for invalid credentials (a wrong password, a missing entry, a locked one).
    pub async fn bind_code(&self, dn: &str, password: &str) -> u32 {
        let mut ldap = self.connect().await;
        let result = ldap
            .simple_bind(dn, password)
            .await
            .unwrap_or_else(|e| panic!("the bind as `{dn}` got no result: {e}"));
        let _ = ldap.unbind().await;
        result.rc
    }

    /// Opens a connection bound as the rootdn.
    pub async fn root(&self) -> Ldap {
        let mut ldap = self.connect().await;
        ldap.simple_bind(&self.root_dn, &self.root_password)
            .await
            .and_then(LdapResult::success)
            .expect("the rootdn can bind");
        ldap
    }

    /// Creates a groupOfNames below the groups base with `members` and returns its DN. A
    /// groupOfNames needs a member, so an empty list gets the empty-DN placeholder.
    pub async fn create_group(&self, cn: &str, members: &[&str]) -> String {
        let dn = self.group_dn(cn);
        let mut values: HashSet<&str> = members.iter().copied().collect();
        if values.is_empty() {
            values.insert("");
        }
        self.root()
            .await
            .add(
                &dn,
                vec![
                    ("objectClass", HashSet::from(["groupOfNames"])),
                    ("cn", HashSet::from([cn])),
                    ("member", values),
                ],
            )
            .await
            .and_then(LdapResult::success)
            .unwrap_or_else(|e| panic!("creating group `{dn}` failed: {e}"));
        dn
    }

    /// Creates the account entry `uid` as the rootdn, without a password, as another tool would.
    pub async fn create_account(&self, uid: &str) -> String {
        let dn = self.account_dn(uid);
        self.root()
            .await
            .add(
                &dn,
                vec![
                    ("objectClass", HashSet::from(["account", "shadowAccount"])),
                    ("uid", HashSet::from([uid])),
                ],
            )
            .await
            .and_then(LdapResult::success)
            .unwrap_or_else(|e| panic!("creating account `{dn}` failed: {e}"));
        dn
    }

    /// Sets the password of `dn` as the rootdn with the Password Modify operation, so the server
    /// hashes it and no cleartext is stored.
    pub async fn set_password(&self, dn: &str, password: &str) {
        let mut root = self.root().await;
        root.extended(PasswordModify {
            user_id: Some(dn),
            old_pass: None,
            new_pass: Some(password),
        })
        .await
        .and_then(|result| result.success())
        .unwrap_or_else(|e| panic!("setting the password of `{dn}` failed: {e}"));
    }

    /// Adds `password` as one more `userPassword` value of `dn` as the rootdn, behind enact's
    /// back. The server hashes it, because slapd runs with `ppolicy_hash_cleartext`.
    pub async fn add_password(&self, dn: &str, password: &str) {
        self.root()
            .await
            .modify(
                dn,
                vec![Mod::Add("userPassword", HashSet::from([password]))],
            )
            .await
            .and_then(LdapResult::success)
            .unwrap_or_else(|e| panic!("adding a password to `{dn}` failed: {e}"));
    }

    /// Adds `member` to the group `group` as the rootdn, behind enact's back.
    pub async fn add_member(&self, group: &str, member: &str) {
        self.root()
            .await
            .modify(group, vec![Mod::Add("member", HashSet::from([member]))])
            .await
            .and_then(LdapResult::success)
            .unwrap_or_else(|e| panic!("adding `{member}` to `{group}` failed: {e}"));
    }

    /// Reads `attributes` of the entry `dn` as the rootdn, or returns `None` when it does not
    /// exist.
    pub async fn entry(
        &self,
        dn: &str,
        attributes: &[&str],
    ) -> Option<HashMap<String, Vec<String>>> {
        let mut root = self.root().await;
        let result = root
            .search(dn, Scope::Base, "(objectClass=*)", attributes.to_vec())
            .await
            .unwrap_or_else(|e| panic!("searching `{dn}` failed: {e}"));
        // noSuchObject.
        if result.1.rc == 32 {
            return None;
        }
        let (entries, _) = result
            .success()
            .unwrap_or_else(|e| panic!("searching `{dn}` failed: {e}"));
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

    /// Reads the `member` values of the group `dn`, as the rootdn.
    pub async fn members(&self, dn: &str) -> Vec<String> {
        let entry = self
            .entry(dn, &["member"])
            .await
            .unwrap_or_else(|| panic!("group `{dn}` does not exist"));
        let mut members = entry.get("member").cloned().unwrap_or_default();
        members.sort();
        members
    }

    /// Reads the server log.
    pub fn log_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.log).expect("read the slapd log")
    }

    /// Returns a guard that, when dropped, deletes the accounts below the base and the groups
    /// below the groups base whose names start with `prefix`.
    pub fn cleanup_on_drop(&self, prefix: &str) -> LdapCleanup {
        LdapCleanup {
            env: self.clone(),
            prefix: prefix.to_string(),
        }
    }
}

/// Deletes the entries of one test when dropped.
pub struct LdapCleanup {
    env: LdapEnv,
    prefix: String,
}

impl Drop for LdapCleanup {
    fn drop(&mut self) {
        let env = self.env.clone();
        let prefix = self.prefix.clone();
        // Dropping runs inside the test's runtime, which cannot block on another future, so the
        // clean-up gets a thread and a runtime of its own.
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime");
            runtime.block_on(async {
                let mut root = env.root().await;
                for (base, attribute) in [(&env.base, "uid"), (&env.groups, "cn")] {
                    let filter = format!("({attribute}={prefix}*)");
                    let Ok(result) = root
                        .search(base, Scope::OneLevel, &filter, vec!["1.1"])
                        .await
                    else {
                        continue;
                    };
                    let Ok((entries, _)) = result.success() else {
                        continue;
                    };
                    for entry in entries {
                        let dn = SearchEntry::construct(entry).dn;
                        let _ = root.delete(&dn).await;
                    }
                }
            });
        })
        .join();
        if joined.is_err() {
            eprintln!(
                "clean-up of LDAP entries with prefix `{}` failed",
                self.prefix
            );
        }
    }
}
