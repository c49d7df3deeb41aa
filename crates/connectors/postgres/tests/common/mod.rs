//! Helpers for the integration tests, which run against the server `scripts/pg.sh start`
//! started and read its settings from the env file that script writes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use enact_connector::{Connector, ConnectorError};
use enact_model::policy::CredentialSource;
use enact_model::{
    Clock, Duration, FingerprintKey, OwnedObjects, Secret, SystemClock, Target, TargetId,
    Timestamp, UnmanagedPolicy,
};
use enact_postgres::PostgresConnector;
use std::collections::HashMap;
use std::future::Future;
use std::net::TcpStream;
use std::path::PathBuf;
use tokio_postgres::{Client, NoTls};

/// The settings of the running test server.
pub struct PgEnv {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub admin_user: String,
    pub admin_password: String,
    pub superuser_password: String,
    pub log: PathBuf,
}

impl PgEnv {
    /// Reads the env file at `$ENACT_PG_ENV`, or `<repo>/.run/pg/env`.
    pub fn load() -> PgEnv {
        let path = std::env::var_os("ENACT_PG_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.run/pg/env")
            });
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!(
                "PostgreSQL is not running: start it with scripts/pg.sh start (no env file at {})",
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
        let env = PgEnv {
            host: get("ENACT_PG_HOST"),
            port: get("ENACT_PG_PORT")
                .parse()
                .expect("ENACT_PG_PORT is a port"),
            database: get("ENACT_PG_DATABASE"),
            admin_user: get("ENACT_PG_ADMIN_USER"),
            admin_password: get("ENACT_PG_ADMIN_PASSWORD"),
            superuser_password: get("ENACT_PG_SUPERUSER_PASSWORD"),
            log: PathBuf::from(get("ENACT_PG_LOG")),
        };
        // An env file outlives the server it describes, so check that something listens.
        let address = format!("{}:{}", env.host, env.port);
        let listening = address.parse().is_ok_and(|address| {
            TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2)).is_ok()
        });
        if !listening {
            panic!("PostgreSQL is not running: start it with scripts/pg.sh start (nothing listens on {address})");
        }
        env
    }

    /// The connector's target for this server.
    pub fn target(&self) -> Target {
        self.target_at(&format!("{}:{}", self.host, self.port))
    }

    /// A target with this server's names at another `endpoint`.
    pub fn target_at(&self, endpoint: &str) -> Target {
        Target {
            id: TargetId::new("pg"),
            kind: "postgres".to_string(),
            endpoint: endpoint.to_string(),
            database: Some(self.database.clone()),
            admin_user: Some(self.admin_user.clone()),
            admin_credential: CredentialSource::Env("ENACT_PG_ADMIN_PASSWORD".to_string()),
            unmanaged: UnmanagedPolicy::default(),
            verify_window: Duration::from_secs(5),
        }
    }

    /// A connector acting as the admin role.
    pub fn connector(&self) -> PostgresConnector {
        PostgresConnector::new(&self.target(), secret(&self.admin_password), key())
            .expect("the target is valid")
    }

    /// A plain client connected as `user`, for setting up and checking state.
    pub async fn client_as(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(user)
            .password(password)
            .application_name("enact-test");
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// A plain client connected as the admin role.
    pub async fn admin(&self) -> Client {
        self.client_as(&self.admin_user, &self.admin_password)
            .await
            .expect("the admin role can connect")
    }

    /// A plain client connected as the bootstrap superuser, for setup the admin cannot do.
    pub async fn superuser(&self) -> Client {
        self.client_as("postgres", &self.superuser_password)
            .await
            .expect("the superuser can connect")
    }
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("'\\''", "'"),
        None => value.to_string(),
    }
}

/// The fingerprint key of the tests.
pub fn key() -> FingerprintKey {
    FingerprintKey::from_bytes([9; 32])
}

/// Wraps a test value as a secret.
pub fn secret(value: &str) -> Secret {
    Secret::new(value.to_string(), &key())
}

/// A name unique to this run, so tests can run in parallel and again.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// A random password that no other test uses.
pub fn random_password() -> String {
    format!("pw-{:032x}", rand::random::<u128>())
}

/// The current wall-clock time.
pub fn now() -> Timestamp {
    SystemClock.now()
}

/// Runs `operation` again after a transient error, up to five attempts, as the engine does.
/// Tests running in parallel change the same catalog rows (the database's privileges), and
/// PostgreSQL fails the later of two such changes that overlap.
pub async fn retrying<T, F, Fut>(mut operation: F) -> Result<T, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ConnectorError>>,
{
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(error) if error.is_transient() && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            result => return result,
        }
    }
}

/// Deletes test roles, handing anything they own to the admin role.
pub async fn drop_roles(env: &PgEnv, connector: &PostgresConnector, roles: &[&str]) {
    let owned = OwnedObjects::ReassignTo(env.admin_user.clone());
    for role in roles {
        retrying(|| connector.delete_account(role, &owned))
            .await
            .unwrap_or_else(|e| panic!("cleanup of `{role}` failed: {e}"));
    }
}
