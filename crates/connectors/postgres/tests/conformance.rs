//! The shared connector conformance suite, run against the PostgreSQL server that
//! `scripts/pg.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use common::{now, random_password, secret, unique, PgEnv};
use enact_conformance::{
    docs, ConnectionLog, CountedConnector, Fixture, FixtureCapabilities, FixtureError,
    SessionGuard, Support,
};
use enact_connector::Connector;
use enact_model::{Entitlement, ObjectRef, OwnedObjects, Secret};
use enact_postgres::PostgresConnector;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;

const NAME: &str = "postgres";

/// Returns the proofs the PostgreSQL connector gives.
fn capabilities() -> FixtureCapabilities {
    FixtureCapabilities {
        settings: Support::not_supported("PostgreSQL roles have no settings that enact manages"),
        ..FixtureCapabilities::all_supported()
    }
}

/// A group role and a table, both created for one fixture. Membership in the group and SELECT
/// on the table are the two entitlements. `reader` is the role of the connection check, once
/// it is created.
struct PgFixture {
    env: PgEnv,
    group: String,
    table: String,
    reader: Mutex<Option<String>>,
}

impl PgFixture {
    async fn setup() -> PgFixture {
        let env = PgEnv::load();
        let group = unique("conf_group");
        let table = unique("conf_table");
        env.admin()
            .await
            .batch_execute(&format!(
                "CREATE ROLE {group} NOLOGIN; CREATE TABLE public.{table} (id int);"
            ))
            .await
            .unwrap();
        PgFixture {
            env,
            group,
            table,
            reader: Mutex::new(None),
        }
    }
}

/// A connection held open as a test account.
struct PgSession {
    client: tokio_postgres::Client,
    pid: i32,
}

#[async_trait]
impl SessionGuard for PgSession {
    fn id(&self) -> Option<String> {
        Some(self.pid.to_string())
    }

    async fn is_open(&self) -> Result<bool, FixtureError> {
        // A terminated backend makes every later query fail.
        Ok(self.client.simple_query("SELECT 1").await.is_ok())
    }
}

/// The connections a role opened, from the `connection authorized` lines that
/// `log_connections = on` writes to the server log.
struct ServerLog {
    path: PathBuf,
    user: String,
    /// The log's length when counting began; earlier lines are not read.
    offset: u64,
}

#[async_trait]
impl ConnectionLog for ServerLog {
    /// Returns the backend pids of the connections the role opened. The role is used by
    /// nothing but the counted connector, so every connection is one of its reads; `account`
    /// is not needed.
    async fn connections(&self, _account: &str) -> Result<BTreeSet<String>, FixtureError> {
        let mut file = std::fs::File::open(&self.path)
            .map_err(|e| FixtureError::new(format!("opening the server log failed: {e}")))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| FixtureError::new(format!("seeking in the server log failed: {e}")))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| FixtureError::new(format!("reading the server log failed: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);
        let needle = format!("connection authorized: user={} ", self.user);
        // Lines look like `2026-12-04 20:21:24.066 UTC [8117] LOG:  connection authorized: ...`.
        Ok(text
            .lines()
            .filter(|line| line.contains(&needle))
            .filter_map(|line| {
                let start = line.find('[')? + 1;
                let end = start + line.get(start..)?.find(']')?;
                line.get(start..end).map(str::to_string)
            })
            .collect())
    }
}

#[async_trait]
impl Fixture for PgFixture {
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
        // Bind and release a port, so nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| FixtureError::new(format!("finding a free port failed: {e}")))?
            .port();
        let target = self.env.target_at(&format!("127.0.0.1:{port}"));
        let connector =
            PostgresConnector::new(&target, secret(&self.env.admin_password), common::key())?;
        Ok(Box::new(connector))
    }

    fn account_name(&self, label: &str) -> String {
        unique(&format!("conf_{label}"))
    }

    fn entitlements(&self) -> [Entitlement; 2] {
        [
            Entitlement::Membership {
                group: self.group.clone(),
            },
            Entitlement::Privilege {
                privilege: "SELECT".to_string(),
                object: Box::new(ObjectRef {
                    kind: "table".to_string(),
                    name: format!("public.{}", self.table),
                }),
            },
        ]
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
        credential: &Secret,
    ) -> Result<Box<dyn SessionGuard>, FixtureError> {
        // The session logs in with the account's password, as the application would.
        let password = credential.expose();
        let client = self
            .env
            .client_as(account, password)
            .await
            .map_err(|e| FixtureError::new(format!("logging in as `{account}` failed: {e}")))?;
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(|e| FixtureError::new(format!("reading the backend pid failed: {e}")))?
            .get(0);
        Ok(Box::new(PgSession { client, pid }))
    }

    /// Builds a connector that signs in as a new role used by nothing else, so every
    /// connection that role opens is one of the counted connector's.
    async fn counted_connector(&self) -> Result<CountedConnector, FixtureError> {
        let reader = unique("conf_reader");
        let password = random_password();
        self.env
            .connector()
            .create_account(
                &reader,
                true,
                &BTreeMap::new(),
                Some(&secret(&password)),
                now(),
            )
            .await?;
        *self.reader.lock().unwrap() = Some(reader.clone());
        // Reading the columns of other roles' sessions needs pg_read_all_stats.
        self.env
            .superuser()
            .await
            .batch_execute(&format!("GRANT pg_read_all_stats TO {reader}"))
            .await
            .map_err(|e| FixtureError::new(format!("granting pg_read_all_stats failed: {e}")))?;
        let offset = std::fs::metadata(&self.env.log)
            .map_err(|e| FixtureError::new(format!("reading the server log size failed: {e}")))?
            .len();

        let mut target = self.env.target();
        target.admin_user = Some(reader.clone());
        let connector = PostgresConnector::new(&target, secret(&password), common::key())?;
        Ok(CountedConnector {
            connector: Box::new(connector),
            log: Box::new(ServerLog {
                path: self.env.log.clone(),
                user: reader,
                offset,
            }),
        })
    }

    async fn teardown(&self) -> Result<(), FixtureError> {
        let connector = self.env.connector();
        let reader = self.reader.lock().unwrap().take();
        for role in reader.iter().chain([&self.group]) {
            connector
                .delete_account(role, &OwnedObjects::Refuse)
                .await?;
        }
        self.env
            .admin()
            .await
            .batch_execute(&format!("DROP TABLE public.{}", self.table))
            .await
            .map_err(|e| FixtureError::new(format!("dropping the table failed: {e}")))
    }
}

enact_conformance::conformance_tests!(PgFixture::setup());

#[tokio::test]
async fn all_checks_in_one_report() {
    let fixture = PgFixture::setup().await;
    enact_conformance::run_all(&fixture)
        .await
        .assert_no_failures();
}

#[test]
fn readme_lists_postgres_proofs() {
    docs::assert_readme_section(
        &docs::connector_section_id(NAME),
        &docs::connector_markdown(NAME, &capabilities()),
    );
}
