//! The shared connector conformance suite, run against the OpenLDAP server that
//! `scripts/ldap.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use common::{key, random_password, secret, unique, LdapEnv};
use enact_conformance::{
    docs, ConnectionLog, CountedConnector, Fixture, FixtureCapabilities, FixtureError,
    SessionGuard, Support,
};
use enact_connector::Connector;
use enact_ldap::LdapConnector;
use enact_model::{Entitlement, Secret};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

const NAME: &str = "ldap";

/// Returns the proofs the LDAP connector gives.
fn capabilities() -> FixtureCapabilities {
    FixtureCapabilities {
        sessions: Support::not_supported(
            "a simple bind opens no session that slapd lists per account or lets an administrator end",
        ),
        settings: Support::not_supported("LDAP accounts have no settings that enact manages"),
        ..FixtureCapabilities::all_supported()
    }
}

/// Two groups created for one fixture, whose memberships are the two entitlements.
struct LdapFixture {
    env: LdapEnv,
    groups: [String; 2],
}

impl LdapFixture {
    async fn setup() -> LdapFixture {
        let env = LdapEnv::load();
        let mut groups = Vec::new();
        for label in ["conf-readers", "conf-writers"] {
            groups.push(env.create_group(&unique(label), &[]).await);
        }
        let groups: [String; 2] = groups.try_into().unwrap();
        LdapFixture { env, groups }
    }
}

/// The connections of the rootdn that read the root DSE, from the `-d stats` server log.
struct ServerLog {
    path: PathBuf,
    root_dn: String,
    /// The log's length when counting began; earlier lines are not read.
    offset: u64,
}

#[async_trait]
impl ConnectionLog for ServerLog {
    /// Returns the `conn=` numbers of connections that bound as the rootdn and searched the
    /// root DSE. Only the counted connector does both: every read of the connector starts by
    /// finding the naming context there, and the tests use the rootdn only to create and
    /// delete groups. `account` is not needed.
    async fn connections(&self, _account: &str) -> Result<BTreeSet<String>, FixtureError> {
        let mut file = std::fs::File::open(&self.path)
            .map_err(|e| FixtureError::new(format!("opening the server log failed: {e}")))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| FixtureError::new(format!("seeking in the server log failed: {e}")))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| FixtureError::new(format!("reading the server log failed: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);

        // Lines look like `6b132e1d.31cca97d 0x7f67c0bfe6c0 conn=1001 op=0 BIND dn="..." ...`.
        let connection = |line: &str| {
            let start = line.find("conn=")? + "conn=".len();
            let rest = line.get(start..)?;
            let end = rest.find(' ')?;
            rest.get(..end).map(str::to_string)
        };
        let bind = format!("BIND dn=\"{}\"", self.root_dn);
        let bound: BTreeSet<String> = text
            .lines()
            .filter(|line| line.contains(&bind))
            .filter_map(connection)
            .collect();
        Ok(text
            .lines()
            .filter(|line| line.contains("SRCH base=\"\" scope=0"))
            .filter_map(connection)
            .filter(|id| bound.contains(id))
            .collect())
    }
}

#[async_trait]
impl Fixture for LdapFixture {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> FixtureCapabilities {
        capabilities()
    }

    async fn connector(&self) -> Result<Box<dyn Connector>, FixtureError> {
        Ok(Box::new(self.env.connector()))
    }

    async fn unreachable_connector(&self) -> Result<Box<dyn Connector>, FixtureError> {
        let target = self
            .env
            .target_at(&format!("ldap://127.0.0.1:{}/", common::closed_port()));
        Ok(Box::new(LdapConnector::new(
            &target,
            secret(&self.env.admin_password),
            key(),
        )?))
    }

    fn account_name(&self, label: &str) -> String {
        unique(&format!("conf-{label}"))
    }

    fn entitlements(&self) -> [Entitlement; 2] {
        self.groups
            .clone()
            .map(|group| Entitlement::Membership { group })
    }

    fn settings(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn other_settings(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn credential(&self) -> Secret {
        secret(&random_password())
    }

    async fn open_session(
        &self,
        account: &str,
        _credential: &Secret,
    ) -> Result<Box<dyn SessionGuard>, FixtureError> {
        Err(FixtureError::new(format!(
            "cannot hold a session open as `{account}`: the LDAP connector does not support sessions"
        )))
    }

    /// Builds a connector that binds as the rootdn, so the server log distinguishes its
    /// connections from those of the other checks, which bind as enact's admin entry.
    async fn counted_connector(&self) -> Result<CountedConnector, FixtureError> {
        let offset = std::fs::metadata(&self.env.log)
            .map_err(|e| FixtureError::new(format!("reading the server log size failed: {e}")))?
            .len();
        let mut target = self.env.target();
        target.admin_user = Some(self.env.root_dn.clone());
        let connector = LdapConnector::new(&target, secret(&self.env.root_password), key())?;
        Ok(CountedConnector {
            connector: Box::new(connector),
            log: Box::new(ServerLog {
                path: self.env.log.clone(),
                root_dn: self.env.root_dn.clone(),
                offset,
            }),
        })
    }

    async fn teardown(&self) -> Result<(), FixtureError> {
        for group in &self.groups {
            self.env.delete_entry(group).await;
        }
        Ok(())
    }
}

enact_conformance::conformance_tests!(LdapFixture::setup());

#[tokio::test]
async fn all_checks_in_one_report() {
    let fixture = LdapFixture::setup().await;
    enact_conformance::run_all(&fixture)
        .await
        .assert_no_failures();
}

#[test]
fn readme_lists_ldap_proofs() {
    docs::assert_readme_section(
        &docs::connector_section_id(NAME),
        &docs::connector_markdown(NAME, &capabilities()),
    );
}
