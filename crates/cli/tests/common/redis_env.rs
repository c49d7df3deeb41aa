//! Helpers for the end-to-end tests on the Redis server that `scripts/redis.sh start` runs:
//! its settings, a client that reads and changes ACL users behind enact's back as `default`,
//! raw connections that authenticate as a test user, and the clean-up of a test's users.

use super::{repo_root, unquote};
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The hash key in which the Redis connector records when it set each password.
pub const CREDENTIAL_SET_AT_KEY: &str = "enact:credential-set-at";

/// The settings of the running Redis test server, as its env file lists them.
#[derive(Clone, Debug)]
pub struct RedisEnv {
    pub host: String,
    pub port: u16,
    /// enact's admin ACL user, `enact-admin`.
    pub admin_user: String,
    pub admin_password: String,
    /// The password of `default`, which may do anything. Tests use it for setup and checks.
    pub default_password: String,
    /// The server log.
    pub log: PathBuf,
}

/// One ACL user as `ACL GETUSER` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclUser {
    pub flags: Vec<String>,
    /// SHA-256 hashes of the user's passwords, as hex.
    pub passwords: Vec<String>,
    /// The command rules, such as `-@all +@read +config|get`.
    pub commands: String,
    /// The key patterns, such as `~billing:*`.
    pub keys: String,
    /// The channel patterns, such as `&events`.
    pub channels: String,
}

impl AclUser {
    /// Returns whether the user has the `on` flag.
    pub fn enabled(&self) -> bool {
        self.flags.iter().any(|flag| flag == "on")
    }

    /// Returns every rule token, keys, channels and commands, sorted.
    pub fn rule_tokens(&self) -> Vec<String> {
        let mut tokens: Vec<String> = [&self.keys, &self.channels, &self.commands]
            .iter()
            .flat_map(|text| text.split_ascii_whitespace())
            .map(str::to_string)
            .collect();
        tokens.sort();
        tokens
    }
}

impl RedisEnv {
    /// Reads the shared server's env file at `$ENACT_REDIS_ENV`, or `<repo>/.run/redis/env`.
    pub fn shared() -> RedisEnv {
        let path = std::env::var_os("ENACT_REDIS_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".run/redis/env"));
        RedisEnv::from_file(&path)
    }

    /// Reads the env file that `scripts/redis.sh start` wrote at `path`.
    pub fn from_file(path: &Path) -> RedisEnv {
        let Ok(text) = std::fs::read_to_string(path) else {
            panic!(
                "Redis is not running: start it with scripts/redis.sh start (no env file at {})",
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
        let env = RedisEnv {
            host: get("ENACT_REDIS_HOST"),
            port: get("ENACT_REDIS_PORT")
                .parse()
                .expect("ENACT_REDIS_PORT is a port"),
            admin_user: get("ENACT_REDIS_ADMIN_USER"),
            admin_password: get("ENACT_REDIS_ADMIN_PASSWORD"),
            default_password: get("ENACT_REDIS_DEFAULT_PASSWORD"),
            log: PathBuf::from(get("ENACT_REDIS_LOG")),
        };
        // An env file outlives the server it describes, so check that something listens.
        let address = env.address();
        if StdTcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err() {
            panic!("Redis is not running: start it with scripts/redis.sh start (nothing listens on {address})");
        }
        env
    }

    /// Returns the server's address.
    pub fn address(&self) -> SocketAddr {
        format!("{}:{}", self.host, self.port)
            .parse()
            .expect("the env file names an IP address and a port")
    }

    /// Returns the endpoint to write in a policy.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Renders a Redis target named `id` on this server, as lines under `targets:`. Its admin
    /// password comes from `ENACT_REDIS_ADMIN_PASSWORD`, which [`super::Workspace::use_redis`]
    /// sets.
    pub fn target_yaml(&self, id: &str, unmanaged: &str) -> String {
        format!(
            "  {id}:\n    kind: redis\n    endpoint: {endpoint}\n    admin: {{ user: {admin}, password_env: ENACT_REDIS_ADMIN_PASSWORD }}\n    verify_window: 2s\n    unmanaged: {unmanaged}\n",
            endpoint = self.endpoint(),
            admin = self.admin_user,
        )
    }

    /// Connects as `default`.
    pub async fn superuser(&self) -> MultiplexedConnection {
        let url = format!(
            "redis://default:{}@{}:{}/",
            self.default_password, self.host, self.port
        );
        redis::Client::open(url)
            .expect("a valid Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("the default user can connect")
    }

    /// Runs one command as `default` and fails the test unless it succeeds.
    pub async fn run<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut connection = self.superuser().await;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        // The message names the command only, because later arguments can be passwords.
        let name = args[0..2.min(args.len())].join(" ");
        command
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("`{name}` failed: {e}"))
    }

    /// Reads a user with `ACL GETUSER`, or returns `None` when it does not exist.
    pub async fn user(&self, name: &str) -> Option<AclUser> {
        let reply: redis::Value = self.run(&["ACL", "GETUSER", name]).await;
        if matches!(reply, redis::Value::Nil) {
            return None;
        }
        let redis::Value::Array(items) = reply else {
            panic!("unexpected ACL GETUSER reply for `{name}`: {reply:?}");
        };
        let mut user = AclUser::default();
        for pair in items.chunks(2) {
            let [field, value] = pair else {
                panic!("ACL GETUSER reply for `{name}` has an odd length");
            };
            match text(field).as_str() {
                "flags" => user.flags = texts(value),
                "passwords" => user.passwords = texts(value),
                "commands" => user.commands = text(value),
                "keys" => user.keys = text(value),
                "channels" => user.channels = text(value),
                _ => {}
            }
        }
        Some(user)
    }

    /// Runs `ACL SETUSER name ARGS` as `default`, behind enact's back.
    pub async fn set_user(&self, name: &str, args: &[&str]) {
        let mut all = vec!["ACL", "SETUSER", name];
        all.extend_from_slice(args);
        let _: () = self.run(&all).await;
    }

    /// Creates a user that can log in with `password`, with the rules `rules`, behind enact's
    /// back. Only the password's SHA-256 is sent, so the cleartext never reaches the server.
    pub async fn create_user(&self, name: &str, password: &str, rules: &[&str]) {
        let hash = format!("#{}", sha256_hex(password));
        let mut args = vec!["reset", "on", hash.as_str()];
        args.extend_from_slice(rules);
        self.set_user(name, &args).await;
    }

    /// Opens a new connection and sends `AUTH user password`. Returns `Ok` when the server
    /// replied `+OK`, and the error line otherwise, such as `WRONGPASS invalid ...`.
    pub async fn auth(&self, user: &str, password: &str) -> Result<(), String> {
        let mut session = RedisSession::connect(self).await;
        let reply = session.command(&["AUTH", user, password]).await?;
        let _ = session.command(&["QUIT"]).await;
        if reply == "+OK" {
            Ok(())
        } else {
            Err(reply.trim_start_matches('-').to_string())
        }
    }

    /// Opens a connection authenticated as `user` and keeps it open until it is dropped.
    pub async fn session(&self, user: &str, password: &str) -> RedisSession {
        let mut session = RedisSession::connect(self).await;
        let reply = session
            .command(&["AUTH", user, password])
            .await
            .unwrap_or_else(|e| panic!("AUTH as `{user}` got no reply: {e}"));
        assert_eq!(reply, "+OK", "AUTH as `{user}` failed");
        session
    }

    /// Lists the client ids of `user`'s open connections, from `CLIENT LIST`.
    pub async fn client_ids(&self, user: &str) -> Vec<u64> {
        let list: String = self.run(&["CLIENT", "LIST"]).await;
        let mut ids: Vec<u64> = list
            .lines()
            .filter(|line| {
                line.split_ascii_whitespace()
                    .any(|field| field == format!("user={user}"))
            })
            .filter_map(|line| {
                line.split_ascii_whitespace()
                    .find_map(|field| field.strip_prefix("id="))
                    .and_then(|id| id.parse().ok())
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Reads the server log.
    pub fn log_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.log).expect("read the Redis server log")
    }

    /// Returns a guard that deletes every user whose name starts with `prefix` when dropped.
    pub fn cleanup_on_drop(&self, prefix: &str) -> RedisCleanup {
        RedisCleanup {
            env: self.clone(),
            prefix: prefix.to_string(),
        }
    }
}

/// Returns the SHA-256 of `password` as hex, the form in which Redis stores passwords.
pub fn sha256_hex(password: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(password.as_bytes()))
}

fn text(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::SimpleString(text) => text.clone(),
        other => panic!("expected a string reply, got {other:?}"),
    }
}

fn texts(value: &redis::Value) -> Vec<String> {
    match value {
        redis::Value::Array(items) | redis::Value::Set(items) => items.iter().map(text).collect(),
        other => panic!("expected an array reply, got {other:?}"),
    }
}

/// Encodes one command as a RESP array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw connection to the Redis server, such as the one a client of a test user holds.
pub struct RedisSession {
    reader: BufReader<tokio::net::TcpStream>,
}

impl RedisSession {
    /// Opens a connection without authenticating.
    pub async fn connect(env: &RedisEnv) -> RedisSession {
        let stream = tokio::net::TcpStream::connect(env.address())
            .await
            .expect("connect to Redis");
        RedisSession {
            reader: BufReader::new(stream),
        }
    }

    /// Sends one command and returns the first line of its reply, such as `+PONG` or
    /// `-NOPERM ...`. Fails when the connection is closed.
    pub async fn command(&mut self, args: &[&str]) -> Result<String, String> {
        self.reader
            .get_mut()
            .write_all(&encode(args))
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
            .await
            .map_err(|_| "no reply within 10 s".to_string())?
            .map_err(|e| format!("read failed: {e}"))?;
        if read == 0 {
            return Err("the server closed the connection".to_string());
        }
        Ok(line.trim_end().to_string())
    }

    /// Sends `PING` and returns whether the server replied at all. A `NOPERM` reply counts,
    /// because a test user needs no right to prove that its connection is open.
    pub async fn is_open(&mut self) -> bool {
        self.command(&["PING"]).await.is_ok()
    }
}

/// Deletes the users of one test, and their credential records, when dropped.
pub struct RedisCleanup {
    env: RedisEnv,
    prefix: String,
}

impl Drop for RedisCleanup {
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
                let users: Vec<String> = env.run(&["ACL", "USERS"]).await;
                for user in users.iter().filter(|u| u.starts_with(&prefix)) {
                    let _: i64 = env.run(&["ACL", "DELUSER", user]).await;
                    let _: i64 = env.run(&["HDEL", CREDENTIAL_SET_AT_KEY, user]).await;
                }
            });
        })
        .join();
        if joined.is_err() {
            eprintln!(
                "clean-up of Redis users with prefix `{}` failed",
                self.prefix
            );
        }
    }
}
