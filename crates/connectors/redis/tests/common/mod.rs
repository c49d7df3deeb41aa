//! Helpers for the integration tests, which run against the server `scripts/redis.sh start`
//! started and read its settings from the env file that script writes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use enact_model::policy::CredentialSource;
use enact_model::{
    Clock, Duration, FingerprintKey, Secret, SystemClock, Target, TargetId, Timestamp,
    UnmanagedPolicy,
};
use enact_redis::RedisConnector;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The settings of the running test server.
pub struct RedisEnv {
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: String,
    pub default_password: String,
}

impl RedisEnv {
    /// Reads the env file at `$ENACT_REDIS_ENV`, or `<repo>/.run/redis/env`.
    pub fn load() -> RedisEnv {
        let path = std::env::var_os("ENACT_REDIS_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.run/redis/env")
            });
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!(
                "Redis is not running: start it with scripts/redis.sh start (no env file at {})",
                path.display()
            );
        };
        let values: HashMap<String, String> = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        let get = |key: &str| {
            values
                .get(key)
                .cloned()
                .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
        };
        let env = RedisEnv {
            host: get("ENACT_REDIS_HOST"),
            port: get("ENACT_REDIS_PORT")
                .parse()
                .expect("ENACT_REDIS_PORT is a port"),
            admin_user: get("ENACT_REDIS_ADMIN_USER"),
            admin_password: get("ENACT_REDIS_ADMIN_PASSWORD"),
            default_password: get("ENACT_REDIS_DEFAULT_PASSWORD"),
        };
        // An env file outlives the server it describes, so check that something listens.
        let address = format!("{}:{}", env.host, env.port);
        let listening = address.parse().is_ok_and(|address| {
            TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2)).is_ok()
        });
        if !listening {
            panic!("Redis is not running: start it with scripts/redis.sh start (nothing listens on {address})");
        }
        env
    }

    /// The connector's target for this server.
    pub fn target(&self) -> Target {
        self.target_at(&format!("{}:{}", self.host, self.port))
    }

    /// A target with this server's admin user at another `endpoint`.
    pub fn target_at(&self, endpoint: &str) -> Target {
        Target {
            id: TargetId::new("redis"),
            kind: "redis".to_string(),
            endpoint: endpoint.to_string(),
            database: None,
            admin_user: Some(self.admin_user.clone()),
            admin_credential: CredentialSource::Env("ENACT_REDIS_ADMIN_PASSWORD".to_string()),
            unmanaged: UnmanagedPolicy::default(),
            verify_window: Duration::from_secs(5),
        }
    }

    /// A connector acting as the admin user.
    pub fn connector(&self) -> RedisConnector {
        RedisConnector::new(&self.target(), secret(&self.admin_password), key())
            .expect("the target is valid")
    }

    /// A connection as `default`, which may do anything, for setting up and checking state
    /// behind the connector's back.
    pub async fn superuser(&self) -> MultiplexedConnection {
        let url = format!(
            "redis://default:{}@{}:{}/",
            self.default_password, self.host, self.port
        );
        // Seeding thousands of users in one pipeline takes longer than the default timeout.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(std::time::Duration::from_secs(120)));
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("the default user can connect")
    }

    /// Runs one command as `default`.
    pub async fn run<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut connection = self.superuser().await;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
    }

    /// Opens a raw connection authenticated as `user`, kept open until it is dropped.
    pub async fn session(&self, user: &str, password: &str) -> RawSession {
        let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .unwrap();
        let request = format!(
            "*3\r\n$4\r\nAUTH\r\n${}\r\n{user}\r\n${}\r\n{password}\r\n",
            user.len(),
            password.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line.trim_end(), "+OK", "AUTH as `{user}`");
        RawSession { reader }
    }
}

/// A connection authenticated as a test user.
pub struct RawSession {
    reader: BufReader<tokio::net::TcpStream>,
}

impl RawSession {
    /// Whether the server still replies on this connection. Any reply counts, NOPERM included,
    /// because test users need no right to prove their connection is open.
    pub async fn is_open(&mut self) -> bool {
        if self
            .reader
            .get_mut()
            .write_all(b"*1\r\n$4\r\nPING\r\n")
            .await
            .is_err()
        {
            return false;
        }
        let mut line = String::new();
        matches!(self.reader.read_line(&mut line).await, Ok(n) if n > 0)
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

/// A user name unique to this run, so tests can run in parallel and again.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// A random password that no other test uses.
pub fn random_password() -> String {
    format!("pw-{:032x}", rand::random::<u128>())
}

/// The current wall-clock time.
pub fn now() -> Timestamp {
    SystemClock.now()
}

/// A port on 127.0.0.1 on which nothing listens.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}
