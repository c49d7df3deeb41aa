//! Helpers for the end-to-end tests: they run the real `enact` binary against the PostgreSQL
//! server that `scripts/pg.sh start` runs, or against a private server a test starts itself.
//!
//! Every test works in its own temporary directory (policy file, state directory, sink files)
//! and names its roles with a random prefix, so tests run in parallel and can run again on the
//! same server. A [`Workspace`] drops its roles and its schema when it goes out of scope.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

pub mod fault_proxy;
mod ldap_env;
mod redis_env;

#[allow(unused_imports, reason = "each test file uses some of the helpers")]
pub use ldap_env::{LdapCleanup, LdapEnv, INVALID_CREDENTIALS};
#[allow(unused_imports, reason = "each test file uses some of the helpers")]
pub use redis_env::{
    sha256_hex, AclUser, RedisCleanup, RedisEnv, RedisSession, CREDENTIAL_SET_AT_KEY,
};

use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_postgres::{Client, NoTls};

/// Returns the repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The settings of a running test server, as its env file lists them.
#[derive(Clone, Debug)]
pub struct PgEnv {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub admin_user: String,
    pub admin_password: String,
    pub superuser_password: String,
    /// The server log; the server logs every DDL statement (`log_statement = 'ddl'`).
    pub log: PathBuf,
}

impl PgEnv {
    /// Reads the shared server's env file at `$ENACT_PG_ENV`, or `<repo>/.run/pg/env`.
    pub fn shared() -> PgEnv {
        let path = std::env::var_os("ENACT_PG_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".run/pg/env"));
        PgEnv::from_file(&path)
    }

    /// Reads the env file that `scripts/pg.sh start` wrote at `path`.
    pub fn from_file(path: &Path) -> PgEnv {
        let Ok(text) = std::fs::read_to_string(path) else {
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
        let address = env.address();
        if StdTcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err() {
            panic!("PostgreSQL is not running: start it with scripts/pg.sh start (nothing listens on {address})");
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

    /// Connects a plain client as `user` over TCP.
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
            .application_name("enact-e2e")
            .connect_timeout(Duration::from_secs(10));
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Connects a client as the admin role `enact_admin`.
    pub async fn admin(&self) -> Client {
        self.client_as(&self.admin_user, &self.admin_password)
            .await
            .expect("the admin role can connect")
    }

    /// Connects a client as the bootstrap superuser.
    pub async fn superuser(&self) -> Client {
        self.client_as("postgres", &self.superuser_password)
            .await
            .expect("the superuser can connect")
    }

    /// Reads the server log, or returns an empty string when it cannot be read.
    pub fn server_log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("'\\''", "'"),
        None => value.to_string(),
    }
}

/// Draws a random role-name prefix, unique to one test run, such as `e2e_3fa9c01b22d4`.
pub fn unique_prefix() -> String {
    format!("e2e_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// Finds a free TCP port on 127.0.0.1 by binding port 0.
pub fn free_port() -> u16 {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Computes the SCRAM-SHA-256 verifier of `password` as an SQL literal. Setup code sets passwords with it,
/// as the connector does, so a cleartext password never reaches the server log.
pub fn scram_literal(password: &str) -> String {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    format!("'{}'", verifier.replace('\'', "''"))
}

/// Quotes an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Polls `check` every 100 ms until it returns `Some`, and fails the test after `limit`.
pub async fn poll_until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("gave up waiting after {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one `enact` run printed and how it exited.
pub struct Outcome {
    pub args: Vec<String>,
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Fails the test unless the exit code is `code`, showing the whole output.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        self
    }

    /// Parses standard output as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }

    /// Standard output and standard error together.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ enact {}", self.args.join(" "))?;
        writeln!(f, "exit: {:?}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// One test's directory, server and role prefix.
pub struct Workspace {
    pub dir: TempDir,
    pub pg: PgEnv,
    pub prefix: String,
    /// Environment variables set for every `enact` run, on top of the admin password.
    pub extra_env: Vec<(String, String)>,
    /// Whether dropping the workspace drops the prefix's roles and schema.
    cleanup: bool,
}

impl Workspace {
    /// Creates a workspace on the shared server.
    pub fn new() -> Workspace {
        Workspace::on(PgEnv::shared(), true)
    }

    /// Creates a workspace on the private server `server`. Stopping that server cleans up.
    pub fn on_private(server: &PrivateServer) -> Workspace {
        Workspace::on(server.env.clone(), false)
    }

    fn on(pg: PgEnv, cleanup: bool) -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("enact-e2e-")
            .tempdir()
            .expect("create a temporary directory");
        Workspace {
            dir,
            pg,
            prefix: unique_prefix(),
            extra_env: Vec::new(),
            cleanup,
        }
    }

    /// Returns a path inside the workspace.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Returns the policy file every run uses.
    pub fn policy_path(&self) -> PathBuf {
        self.path("enact.yaml")
    }

    /// Returns the state directory every run uses.
    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    /// Returns the path of the evidence log.
    pub fn evidence_log(&self) -> PathBuf {
        self.state_dir().join("evidence/log.jsonl")
    }

    /// Returns `name` with this workspace's prefix, as a role name.
    pub fn role(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// Returns the sink file of the account `name`.
    pub fn sink(&self, name: &str) -> PathBuf {
        self.path(&format!("secrets/{name}.pw"))
    }

    /// Reads the value in a sink file, without its trailing newline.
    pub fn sink_value(&self, name: &str) -> String {
        let path = self.sink(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read sink `{}`: {e}", path.display()));
        text.strip_suffix('\n').unwrap_or(&text).to_string()
    }

    /// Renders the policy's `targets` section: one PostgreSQL target `pg-main` at `endpoint`.
    pub fn target_yaml(&self, endpoint: &str, verify_window: &str, unmanaged: &str) -> String {
        format!(
            "targets:\n  pg-main:\n    kind: postgres\n    endpoint: {endpoint}\n    database: {db}\n    admin: {{ user: {admin}, password_env: ENACT_PG_ADMIN_PASSWORD }}\n    verify_window: {verify_window}\n    unmanaged: {unmanaged}\n",
            db = self.pg.database,
            admin = self.pg.admin_user,
        )
    }

    /// Writes a policy with the standard target (this server, a 2 s verification window,
    /// unmanaged accounts reported) and `identities`, a list of [`identity`] blocks.
    pub fn write_policy(&self, identities: &[String]) {
        let text = format!(
            "version: 1\n{}identities:\n{}",
            self.target_yaml(&self.pg.endpoint(), "2s", "{ action: report }"),
            identities.concat()
        );
        self.write_policy_text(&text);
    }

    /// Writes a policy with the standard PostgreSQL target `pg-main`, the targets `targets`
    /// (each rendered as lines under `targets:`, such as [`RedisEnv::target_yaml`]) and
    /// `identities`.
    pub fn write_policy_with_targets(&self, targets: &[String], identities: &[String]) {
        let text = format!(
            "version: 1\n{}{}identities:\n{}",
            self.target_yaml(&self.pg.endpoint(), "2s", "{ action: report }"),
            targets.concat(),
            identities.concat()
        );
        self.write_policy_text(&text);
    }

    /// Makes every later `enact` run get the Redis admin password in
    /// `ENACT_REDIS_ADMIN_PASSWORD`.
    pub fn use_redis(&mut self, redis: &RedisEnv) {
        self.extra_env.push((
            "ENACT_REDIS_ADMIN_PASSWORD".to_string(),
            redis.admin_password.clone(),
        ));
    }

    /// Makes every later `enact` run get the LDAP admin password in
    /// `ENACT_LDAP_ADMIN_PASSWORD`.
    pub fn use_ldap(&mut self, ldap: &LdapEnv) {
        self.extra_env.push((
            "ENACT_LDAP_ADMIN_PASSWORD".to_string(),
            ldap.admin_password.clone(),
        ));
    }

    /// Writes `text` as the policy file.
    pub fn write_policy_text(&self, text: &str) {
        std::fs::write(self.policy_path(), text).expect("write the policy file");
    }

    /// Runs `enact ARGS --policy POLICY --state-dir STATE` in the workspace and waits for it.
    pub async fn enact(&self, args: &[&str]) -> Outcome {
        self.enact_in(&self.state_dir(), args).await
    }

    /// Runs `enact ARGS` with the state directory `state` and waits for it.
    pub async fn enact_in(&self, state: &Path, args: &[&str]) -> Outcome {
        let child = self.command_in(state, args).spawn().expect("start enact");
        let output = child.wait_with_output().await.expect("wait for enact");
        Outcome {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Builds the command for `enact ARGS` with this workspace's policy, state directory and
    /// environment. Its output is piped.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        self.command_in(&self.state_dir(), args)
    }

    /// Builds the command for `enact ARGS` with the state directory `state`.
    pub fn command_in(&self, state: &Path, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_enact"));
        command
            .args(args)
            .arg("--policy")
            .arg(self.policy_path())
            .arg("--state-dir")
            .arg(state)
            .current_dir(self.dir.path())
            .env_remove("ENACT_POLICY")
            .env_remove("ENACT_STATE_DIR")
            .env_remove("ENACT_LOG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("ENACT_PG_ADMIN_PASSWORD", &self.pg.admin_password)
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// `enact plan -o json`, checked to exit 0 or 2, parsed.
    pub async fn plan_json(&self) -> (i32, Value) {
        let outcome = self.enact(&["plan", "-o", "json"]).await;
        let code = outcome.code.unwrap_or(-1);
        assert!(code == 0 || code == 2, "plan failed\n{outcome}");
        (code, outcome.json())
    }

    /// Runs `enact evidence export` and parses every record.
    pub async fn evidence(&self) -> Vec<Value> {
        let outcome = self.enact(&["evidence", "export"]).await;
        outcome.expect_code(0);
        outcome
            .stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("bad record ({e}): {line}"))
            })
            .collect()
    }

    /// Connects a client as the admin role.
    pub async fn admin(&self) -> Client {
        self.pg.admin().await
    }

    /// Connects a client as the superuser.
    pub async fn superuser(&self) -> Client {
        self.pg.superuser().await
    }

    /// Creates the schema named after the prefix, owned by the admin role, and returns its name.
    pub async fn create_schema(&self) -> String {
        let schema = self.prefix.clone();
        self.admin()
            .await
            .batch_execute(&format!("CREATE SCHEMA {}", ident(&schema)))
            .await
            .expect("create the test schema");
        schema
    }

    /// Creates the table `SCHEMA.name` in the prefix's schema as the admin role and returns its
    /// qualified name.
    pub async fn create_table(&self, name: &str) -> String {
        let qualified = format!("{}.{name}", self.prefix);
        self.admin()
            .await
            .batch_execute(&format!("CREATE TABLE {qualified} (id int)"))
            .await
            .expect("create a test table");
        qualified
    }

    /// Creates a role as the admin role with extra `options`, such as `LOGIN` or `NOLOGIN`.
    pub async fn create_role(&self, name: &str, options: &str) {
        self.admin()
            .await
            .batch_execute(&format!("CREATE ROLE {} {options}", ident(name)))
            .await
            .unwrap_or_else(|e| panic!("create role `{name}`: {e}"));
    }

    /// Reads whether the role exists (`Some`) and whether it can log in.
    pub async fn role_login(&self, name: &str) -> Option<bool> {
        self.superuser()
            .await
            .query_opt(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
                &[&name],
            )
            .await
            .expect("read pg_roles")
            .map(|row| row.get(0))
    }

    /// Lists every role whose name starts with the prefix.
    pub async fn prefixed_roles(&self) -> Vec<String> {
        self.superuser()
            .await
            .query(
                "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
                &[&self.prefix],
            )
            .await
            .expect("read pg_roles")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Lists the groups a role is a direct member of, sorted.
    pub async fn memberships(&self, role: &str) -> Vec<String> {
        self.superuser()
            .await
            .query(
                "SELECT g.rolname::text FROM pg_auth_members m \
                 JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member \
                 WHERE r.rolname = $1 ORDER BY 1",
                &[&role],
            )
            .await
            .expect("read pg_auth_members")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Lists the privileges granted directly to `role` on the table `table`, sorted.
    pub async fn table_privileges(&self, role: &str, table: &str) -> Vec<String> {
        self.superuser()
            .await
            .query(
                "SELECT e.privilege_type::text FROM pg_class c, aclexplode(c.relacl) e \
                 WHERE c.oid = to_regclass($2) \
                   AND e.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1",
                &[&role, &table],
            )
            .await
            .expect("read the table's ACL")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Lists the backend process ids of `role`'s open client sessions.
    pub async fn session_pids(&self, role: &str) -> Vec<i32> {
        self.superuser()
            .await
            .query(
                "SELECT pid FROM pg_stat_activity \
                 WHERE usename = $1 AND backend_type = 'client backend' ORDER BY pid",
                &[&role],
            )
            .await
            .expect("read pg_stat_activity")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Opens a session as `role` and returns it with its backend process id.
    pub async fn open_session(&self, role: &str, password: &str) -> (Client, i32) {
        let client = self
            .pg
            .client_as(role, password)
            .await
            .unwrap_or_else(|e| panic!("`{role}` cannot log in: {e}"));
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("read the backend pid")
            .get(0);
        (client, pid)
    }

    /// Marks the role's password as set `age_days` days ago in the record the connector keeps.
    pub async fn age_credential(&self, role: &str, age_days: i64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970");
        let micros = i64::try_from(now.as_micros()).expect("time fits") - age_days * 86_400_000_000;
        self.admin()
            .await
            .batch_execute(&format!(
                "ALTER ROLE {} SET enact.credential_set_at = '{micros}'",
                ident(role)
            ))
            .await
            .expect("record an old credential set time");
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !self.cleanup {
            return;
        }
        let pg = self.pg.clone();
        let prefix = self.prefix.clone();
        // Dropping runs inside the test's runtime, which cannot block on another future, so the
        // clean-up gets a thread and a runtime of its own.
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime");
            runtime.block_on(drop_prefixed(&pg, &prefix));
        })
        .join();
        if joined.is_err() {
            eprintln!("clean-up of roles with prefix `{}` failed", self.prefix);
        }
    }
}

/// Drops every role whose name starts with `prefix`, and the schema named `prefix`.
async fn drop_prefixed(pg: &PgEnv, prefix: &str) {
    let Ok(client) = pg.client_as("postgres", &pg.superuser_password).await else {
        return;
    };
    let _ = client
        .execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE starts_with(usename, $1)",
            &[&prefix],
        )
        .await;
    let _ = client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", ident(prefix)))
        .await;
    let roles: Vec<String> = client
        .query(
            "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)",
            &[&prefix],
        )
        .await
        .map(|rows| rows.iter().map(|row| row.get(0)).collect())
        .unwrap_or_default();
    for role in &roles {
        let _ = client
            .batch_execute(&format!("DROP OWNED BY {}", ident(role)))
            .await;
    }
    for role in &roles {
        let _ = client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(role)))
            .await;
    }
}

/// One identity block of a policy: `id` with lifecycle `state` and one account, role `role` on
/// `pg-main`. `account` contains the account's other keys, one per line, without indentation.
pub fn identity(id: &str, state: &str, role: &str, account: &str) -> String {
    let mut out = format!(
        "  {id}:\n    owner: e2e-team\n    purpose: end-to-end test\n    state: {state}\n    accounts:\n      - target: pg-main\n        role: {role}\n"
    );
    for line in account.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str("        ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Renders the credential line of an account that delivers its password to `sink`.
pub fn credential(sink: &Path, max_age: &str) -> String {
    format!(
        "credential: {{ kind: password, strategy: single, max_age: {max_age}, deliver_to: {{ file: {} }} }}\n",
        sink.display()
    )
}

/// Lists the actions of a JSON plan as `(kind, account)` pairs.
pub fn plan_actions(plan: &Value) -> Vec<(String, String)> {
    plan["plan"]["actions"]
        .as_array()
        .expect("the plan has actions")
        .iter()
        .map(|a| {
            (
                a["kind"]["kind"].as_str().unwrap_or("").to_string(),
                a["account"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Returns the verdict of an action record: `verified`, `refuted`, `indeterminate` or `failed`.
pub fn record_verdict(record: &Value) -> String {
    match record["outcome"]["status"].as_str() {
        Some("judged") => record["outcome"]["verdict"]["verdict"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Selects the action records of an export.
pub fn action_records(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["type"] == "action").collect()
}

/// A private PostgreSQL server in a temporary directory, for tests that must not touch other
/// tests' roles. It is stopped when dropped.
pub struct PrivateServer {
    pub dir: TempDir,
    pub port: u16,
    pub env: PgEnv,
}

impl PrivateServer {
    /// Starts a new cluster with `scripts/pg.sh start` on a free port.
    pub fn start() -> PrivateServer {
        let dir = tempfile::Builder::new()
            .prefix("enact-pg-")
            .tempdir()
            .expect("create a temporary directory");
        // As root the script runs the server as `postgres`, which must reach the directory.
        make_traversable(dir.path());
        let port = free_port();
        let output = std::process::Command::new(repo_root().join("scripts/pg.sh"))
            .arg("start")
            .env("ENACT_RUN_DIR", dir.path())
            .env("ENACT_PG_PORT", port.to_string())
            .output()
            .expect("run scripts/pg.sh start");
        assert!(
            output.status.success(),
            "scripts/pg.sh start failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let env = PgEnv::from_file(&dir.path().join("pg/env"));
        PrivateServer { dir, port, env }
    }
}

fn make_traversable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("make the server directory traversable");
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let result = std::process::Command::new(repo_root().join("scripts/pg.sh"))
            .arg("stop")
            .env("ENACT_RUN_DIR", self.dir.path())
            .env("ENACT_PG_PORT", self.port.to_string())
            .output();
        if !result.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "scripts/pg.sh stop failed for the server in {}",
                self.dir.path().display()
            );
        }
    }
}

/// A TCP proxy on 127.0.0.1 that forwards the first `allowed` connections to an upstream
/// server and closes every later one as soon as it is accepted.
pub struct Proxy {
    pub address: SocketAddr,
    allowed: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr, allowed: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let allowed = Arc::new(AtomicUsize::new(allowed));
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = {
            let allowed = allowed.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let number = accepted.fetch_add(1, Ordering::SeqCst);
                    if number >= allowed.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            })
        };
        Proxy {
            address,
            allowed,
            accepted,
            task,
        }
    }

    /// Forwards every connection from now on.
    pub fn allow_all(&self) {
        self.allowed.store(usize::MAX, Ordering::SeqCst);
    }

    /// Returns how many connections the proxy has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts forwarding every connection to `upstream` until a client sends bytes that
    /// contain `trigger`, such as an HTTP request line. From then on the proxy closes every new
    /// connection as soon as it is accepted, while the connections already open stay forwarded.
    ///
    /// An HTTP client that keeps its connection alive can so finish a change, while every
    /// client that opens a new connection afterwards, such as a verifier's, finds the target
    /// down.
    pub async fn start_cut_after(upstream: SocketAddr, trigger: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let allowed = Arc::new(AtomicUsize::new(usize::MAX));
        let accepted = Arc::new(AtomicUsize::new(0));
        let trigger: Arc<[u8]> = Arc::from(trigger.as_bytes());
        let task = {
            let allowed = allowed.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let number = accepted.fetch_add(1, Ordering::SeqCst);
                    if number >= allowed.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    tokio::spawn(forward_watching(
                        inbound,
                        upstream,
                        trigger.clone(),
                        allowed.clone(),
                        accepted.clone(),
                    ));
                }
            })
        };
        Proxy {
            address,
            allowed,
            accepted,
            task,
        }
    }
}

/// Forwards one connection to `upstream` and, once the client has sent `trigger`, lowers
/// `allowed` to the number of connections accepted so far.
async fn forward_watching(
    inbound: tokio::net::TcpStream,
    upstream: SocketAddr,
    trigger: Arc<[u8]>,
    allowed: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut server_read, mut server_write) = outbound.into_split();
    let replies = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    // The tail of what the client sent, so a trigger split across two reads is still found.
    let mut seen: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match client_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        seen.extend_from_slice(&buffer[..read]);
        if seen
            .windows(trigger.len())
            .any(|window| *window == *trigger)
        {
            // The request is forwarded after the cut, so no reply can reach the client first.
            allowed.fetch_min(accepted.load(Ordering::SeqCst), Ordering::SeqCst);
        }
        let keep = trigger.len().saturating_sub(1).min(seen.len());
        seen.drain(..seen.len() - keep);
        if server_write.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    let _ = replies.await;
}

/// The settings of the running OpenBao test server, as the env file of `scripts/bao.sh start`
/// lists them.
#[derive(Clone)]
pub struct BaoEnv {
    /// The server's base URL, such as `http://127.0.0.1:58200`.
    pub addr: String,
    /// enact's admin token, with the `enact-admin` policy.
    pub token: String,
    /// The root token, for setup that enact must not do itself.
    pub root_token: String,
    /// The audit log, where the server records every request and response with secret values
    /// HMAC'd.
    pub audit_log: PathBuf,
    /// The server's own log.
    pub log: PathBuf,
}

/// The token and accessor a login returned.
pub struct Login {
    pub token: String,
    pub accessor: String,
}

impl BaoEnv {
    /// Reads the shared server's env file at `$ENACT_BAO_ENV`, or `<repo>/.run/bao/env`.
    pub fn shared() -> BaoEnv {
        let path = std::env::var_os("ENACT_BAO_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".run/bao/env"));
        BaoEnv::from_file(&path)
    }

    /// Reads the env file that `scripts/bao.sh start` wrote at `path`.
    pub fn from_file(path: &Path) -> BaoEnv {
        let Ok(text) = std::fs::read_to_string(path) else {
            panic!(
                "OpenBao is not running: start it with scripts/bao.sh start (no env file at {})",
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
        let env = BaoEnv {
            addr: get("ENACT_BAO_ADDR"),
            token: get("ENACT_BAO_TOKEN"),
            root_token: get("ENACT_BAO_ROOT_TOKEN"),
            audit_log: PathBuf::from(get("ENACT_BAO_AUDIT_LOG")),
            log: PathBuf::from(get("ENACT_BAO_LOG")),
        };
        // An env file outlives the server it describes, so check that something listens.
        let address = env.socket_address();
        if StdTcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err() {
            panic!("OpenBao is not running: start it with scripts/bao.sh start (nothing listens on {address})");
        }
        env
    }

    /// Returns the server's TCP address, taken from its base URL.
    pub fn socket_address(&self) -> SocketAddr {
        self.addr
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("`{}` is not http://IP:PORT: {e}", self.addr))
    }

    /// Sends a request as `token` (or without one) and returns the status and the JSON body,
    /// `Value::Null` when the body is empty.
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let client = reqwest::Client::new();
        let mut request = client.request(method, format!("{}/v1/{path}", self.addr));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("OpenBao did not respond to `{path}`: {e}"));
        let status = response.status();
        let text = response.text().await.expect("read the response body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends a request as the root token.
    pub async fn root(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        self.request_as(Some(&self.root_token), method, path, body)
            .await
    }

    /// Sends a request as the root token and fails the test unless it succeeds.
    pub async fn root_ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, reply) = self.root(method.clone(), path, body).await;
        assert!(
            status.is_success(),
            "`{method} {path}` as root failed: {status} {reply}"
        );
        reply
    }

    /// Reads an AppRole role's settings; `None` when the role does not exist.
    pub async fn role(&self, role: &str) -> Option<Value> {
        let (status, body) = self
            .root(
                reqwest::Method::GET,
                &format!("auth/approle/role/{role}"),
                None,
            )
            .await;
        match status.as_u16() {
            200 => Some(body["data"].clone()),
            404 => None,
            _ => panic!("reading role `{role}` failed: {status} {body}"),
        }
    }

    /// Reads an AppRole role's `token_policies`, sorted.
    pub async fn role_policies(&self, role: &str) -> Vec<String> {
        let data = self
            .role(role)
            .await
            .unwrap_or_else(|| panic!("role `{role}` does not exist"));
        let mut policies: Vec<String> = data["token_policies"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        policies.sort();
        policies
    }

    /// Reads an AppRole role's role ID.
    pub async fn role_id(&self, role: &str) -> String {
        let reply = self
            .root_ok(
                reqwest::Method::GET,
                &format!("auth/approle/role/{role}/role-id"),
                None,
            )
            .await;
        reply["data"]["role_id"]
            .as_str()
            .expect("the role has a role ID")
            .to_string()
    }

    /// Logs in through AppRole with `role_id` and `secret_id`, and returns the status and body.
    pub async fn try_login_with(
        &self,
        role_id: &str,
        secret_id: &str,
    ) -> (reqwest::StatusCode, Value) {
        self.request_as(
            None,
            reqwest::Method::POST,
            "auth/approle/login",
            Some(serde_json::json!({ "role_id": role_id, "secret_id": secret_id })),
        )
        .await
    }

    /// Lists the accessors of a role's secret IDs, sorted.
    pub async fn secret_id_accessors(&self, role: &str) -> Vec<String> {
        let (status, body) = self
            .root(
                reqwest::Method::GET,
                &format!("auth/approle/role/{role}/secret-id?list=true"),
                None,
            )
            .await;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Vec::new();
        }
        assert!(
            status.is_success(),
            "listing secret IDs of `{role}` failed: {status} {body}"
        );
        let mut accessors: Vec<String> = body["data"]["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        accessors.sort();
        accessors
    }

    /// Issues a secret ID for `role` behind enact's back: a random one, or `custom` when given.
    pub async fn issue_secret_id(&self, role: &str, custom: Option<&str>) -> String {
        let (path, body) = match custom {
            Some(value) => (
                format!("auth/approle/role/{role}/custom-secret-id"),
                serde_json::json!({ "secret_id": value }),
            ),
            None => (
                format!("auth/approle/role/{role}/secret-id"),
                serde_json::json!({}),
            ),
        };
        let reply = self.root_ok(reqwest::Method::POST, &path, Some(body)).await;
        reply["data"]["secret_id"]
            .as_str()
            .expect("the reply holds the secret ID")
            .to_string()
    }

    /// Reads whether the token with `accessor` is still valid, with `auth/token/lookup-accessor`.
    pub async fn token_valid(&self, accessor: &str) -> bool {
        let (status, body) = self
            .root(
                reqwest::Method::POST,
                "auth/token/lookup-accessor",
                Some(serde_json::json!({ "accessor": accessor })),
            )
            .await;
        match status.as_u16() {
            200 => true,
            // OpenBao 2.7 answers 400 "invalid accessor" for a revoked or expired token.
            400 => false,
            _ => panic!("looking up accessor `{accessor}` failed: {status} {body}"),
        }
    }

    /// Writes the ACL policy `name` with the rules `hcl`.
    pub async fn put_policy(&self, name: &str, hcl: &str) {
        self.root_ok(
            reqwest::Method::PUT,
            &format!("sys/policies/acl/{name}"),
            Some(serde_json::json!({ "policy": hcl })),
        )
        .await;
    }

    /// Reads a KV version 2 secret: the latest version, or `version`. Returns the status and
    /// the body; a deleted or destroyed version returns 404 with its metadata.
    pub async fn kv_read_as(
        &self,
        token: &str,
        mount: &str,
        path: &str,
        version: Option<u64>,
    ) -> (reqwest::StatusCode, Value) {
        let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
        self.request_as(
            Some(token),
            reqwest::Method::GET,
            &format!("{mount}/data/{path}{query}"),
            None,
        )
        .await
    }

    /// Reads the `value` field of a KV secret as root: the latest version or `version`;
    /// `None` when there is no readable data.
    pub async fn kv_value(&self, mount: &str, path: &str, version: Option<u64>) -> Option<String> {
        let (status, body) = self
            .kv_read_as(&self.root_token, mount, path, version)
            .await;
        if status == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(
            status.is_success(),
            "reading `{mount}/{path}` failed: {status} {body}"
        );
        body["data"]["data"]["value"].as_str().map(str::to_string)
    }

    /// Reads a KV secret's metadata as root; `None` when the secret does not exist.
    pub async fn kv_metadata(&self, mount: &str, path: &str) -> Option<Value> {
        let (status, body) = self
            .root(
                reqwest::Method::GET,
                &format!("{mount}/metadata/{path}"),
                None,
            )
            .await;
        match status.as_u16() {
            200 => Some(body["data"].clone()),
            404 => None,
            _ => panic!("reading the metadata of `{mount}/{path}` failed: {status} {body}"),
        }
    }

    /// Writes `value` as a new version of a KV secret as root and returns the version number.
    pub async fn kv_write(&self, mount: &str, path: &str, value: &str) -> u64 {
        let reply = self
            .root_ok(
                reqwest::Method::POST,
                &format!("{mount}/data/{path}"),
                Some(serde_json::json!({ "data": { "value": value } })),
            )
            .await;
        reply["data"]["version"].as_u64().expect("a version number")
    }

    /// Returns the HMAC that the audit device `enact` writes in place of `value`.
    pub async fn audit_hash(&self, value: &str) -> String {
        let reply = self
            .root_ok(
                reqwest::Method::POST,
                "sys/audit-hash/enact",
                Some(serde_json::json!({ "input": value })),
            )
            .await;
        reply["data"]["hash"]
            .as_str()
            .expect("the reply holds the hash")
            .to_string()
    }

    /// Reads the audit log.
    pub fn audit_log_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.audit_log).expect("read the OpenBao audit log")
    }

    /// Reads the server log.
    pub fn server_log_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.log).expect("read the OpenBao server log")
    }
}

/// A [`Workspace`] that also works on the shared OpenBao server. Its AppRole roles, ACL
/// policies and KV secrets carry the workspace's prefix, and dropping it deletes them, revokes
/// the tokens the test obtained and removes the KV mounts it created.
pub struct BaoWorkspace {
    pub ws: Workspace,
    pub bao: BaoEnv,
    /// Accessors of tokens the test obtained, revoked on drop.
    tokens: std::sync::Mutex<Vec<String>>,
    /// KV mounts the test created, disabled on drop.
    mounts: std::sync::Mutex<Vec<String>>,
}

impl std::ops::Deref for BaoWorkspace {
    type Target = Workspace;

    fn deref(&self) -> &Workspace {
        &self.ws
    }
}

impl BaoWorkspace {
    /// Creates a workspace on the shared PostgreSQL and OpenBao servers; every `enact` run
    /// gets enact's admin token in `ENACT_BAO_TOKEN`.
    pub fn new() -> BaoWorkspace {
        BaoWorkspace::on(BaoEnv::shared())
    }

    /// Creates a workspace on the shared PostgreSQL server and the OpenBao server `bao`.
    pub fn on(bao: BaoEnv) -> BaoWorkspace {
        let mut ws = Workspace::new();
        ws.extra_env
            .push(("ENACT_BAO_TOKEN".to_string(), bao.token.clone()));
        BaoWorkspace {
            ws,
            bao,
            tokens: std::sync::Mutex::new(Vec::new()),
            mounts: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Makes every later `enact` run use `token` as the OpenBao admin token.
    pub fn use_bao_token(&mut self, token: &str) {
        self.ws
            .extra_env
            .retain(|(key, _)| key != "ENACT_BAO_TOKEN");
        self.ws
            .extra_env
            .push(("ENACT_BAO_TOKEN".to_string(), token.to_string()));
    }

    /// Returns `name` with this workspace's prefix, as an AppRole role or ACL policy name.
    pub fn bao_name(&self, name: &str) -> String {
        format!("{}-{name}", self.ws.prefix)
    }

    /// Returns a KV secret path below this workspace's folder `e2e/<prefix>`.
    pub fn kv_path(&self, name: &str) -> String {
        format!("e2e/{}/{name}", self.ws.prefix)
    }

    /// Returns the sink file for an AppRole's secret ID.
    pub fn secret_id_sink(&self, name: &str) -> PathBuf {
        self.ws.path(&format!("secrets/{name}.secret-id"))
    }

    /// Reads a secret ID sink file, without its trailing newline.
    pub fn secret_id_value(&self, name: &str) -> String {
        let path = self.secret_id_sink(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read sink `{}`: {e}", path.display()));
        text.strip_suffix('\n').unwrap_or(&text).to_string()
    }

    /// Renders the OpenBao target `bao-main` at `endpoint`, as lines under `targets:`.
    pub fn bao_target_yaml(endpoint: &str, verify_window: &str, unmanaged: &str) -> String {
        format!(
            "  bao-main:\n    kind: openbao\n    endpoint: {endpoint}\n    admin: {{ token_env: ENACT_BAO_TOKEN }}\n    verify_window: {verify_window}\n    unmanaged: {unmanaged}\n"
        )
    }

    /// Writes a policy with the standard PostgreSQL target `pg-main`, the OpenBao target
    /// `bao-main` on the shared server (a 2 s verification window, every undeclared AppRole
    /// ignored) and `identities`, a list of [`identity_with`] or [`identity`] blocks.
    pub fn write_bao_policy(&self, identities: &[String]) {
        self.write_bao_policy_with(
            &self.bao.addr,
            "2s",
            "{ action: report, ignore: [\"*\"] }",
            identities,
        );
    }

    /// Writes a policy like [`BaoWorkspace::write_bao_policy`], with the OpenBao target at
    /// `endpoint`, its verification window and its `unmanaged` section as given.
    pub fn write_bao_policy_with(
        &self,
        endpoint: &str,
        verify_window: &str,
        unmanaged: &str,
        identities: &[String],
    ) {
        let text = format!(
            "version: 1\n{}{}identities:\n{}",
            self.ws
                .target_yaml(&self.ws.pg.endpoint(), "2s", "{ action: report }"),
            BaoWorkspace::bao_target_yaml(endpoint, verify_window, unmanaged),
            identities.concat()
        );
        self.ws.write_policy_text(&text);
    }

    /// Writes the ACL policy `name` (already prefixed) with the rules `hcl`.
    pub async fn put_policy(&self, name: &str, hcl: &str) {
        self.bao.put_policy(name, hcl).await;
    }

    /// Logs in to `role` with `secret_id` and returns the token, which is revoked on drop.
    pub async fn login(&self, role: &str, secret_id: &str) -> Login {
        let role_id = self.bao.role_id(role).await;
        let (status, body) = self.bao.try_login_with(&role_id, secret_id).await;
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "login to `{role}` failed: {body}"
        );
        let login = Login {
            token: body["auth"]["client_token"]
                .as_str()
                .expect("a client token")
                .to_string(),
            accessor: body["auth"]["accessor"]
                .as_str()
                .expect("an accessor")
                .to_string(),
        };
        self.track_token(&login.accessor);
        login
    }

    /// Logs in to `role` with `secret_id` and returns the status and body, for a login that is
    /// expected to fail. A token it obtains anyway is revoked on drop.
    pub async fn try_login(&self, role: &str, secret_id: &str) -> (reqwest::StatusCode, Value) {
        let role_id = self.bao.role_id(role).await;
        let (status, body) = self.bao.try_login_with(&role_id, secret_id).await;
        if let Some(accessor) = body["auth"]["accessor"].as_str() {
            self.track_token(accessor);
        }
        (status, body)
    }

    /// Revokes the token with `accessor` when the workspace is dropped.
    pub fn track_token(&self, accessor: &str) {
        self.tokens
            .lock()
            .expect("the token list lock")
            .push(accessor.to_string());
    }

    /// Creates an orphan token with `policies` as root, revoked on drop.
    pub async fn create_token(&self, policies: &[&str]) -> Login {
        let reply = self
            .bao
            .root_ok(
                reqwest::Method::POST,
                "auth/token/create-orphan",
                Some(serde_json::json!({
                    "policies": policies,
                    "no_default_policy": true,
                    "ttl": "1h",
                    "display_name": format!("{}-admin", self.ws.prefix),
                })),
            )
            .await;
        let login = Login {
            token: reply["auth"]["client_token"]
                .as_str()
                .expect("a client token")
                .to_string(),
            accessor: reply["auth"]["accessor"]
                .as_str()
                .expect("an accessor")
                .to_string(),
        };
        self.track_token(&login.accessor);
        login
    }

    /// Mounts a new KV version 2 engine named after the prefix, disabled on drop, and returns
    /// its path.
    pub async fn mount_kv(&self, name: &str) -> String {
        let mount = self.bao_name(name);
        self.bao
            .root_ok(
                reqwest::Method::POST,
                &format!("sys/mounts/{mount}"),
                Some(serde_json::json!({ "type": "kv", "options": { "version": "2" } })),
            )
            .await;
        self.mounts
            .lock()
            .expect("the mount list lock")
            .push(mount.clone());
        // A new KV version 2 mount upgrades itself before it accepts writes.
        let probe = format!("{mount}/config");
        poll_until(
            "the new KV mount to accept requests",
            Duration::from_secs(10),
            || {
                let bao = self.bao.clone();
                let probe = probe.clone();
                async move {
                    let (status, _) = bao.root(reqwest::Method::GET, &probe, None).await;
                    status.is_success().then_some(())
                }
            },
        )
        .await;
        mount
    }
}

impl Drop for BaoWorkspace {
    fn drop(&mut self) {
        let bao = self.bao.clone();
        let prefix = self.ws.prefix.clone();
        let tokens = std::mem::take(&mut *self.tokens.lock().unwrap_or_else(|e| e.into_inner()));
        let mounts = std::mem::take(&mut *self.mounts.lock().unwrap_or_else(|e| e.into_inner()));
        // Dropping runs inside the test's runtime, which cannot block on another future, so the
        // clean-up gets a thread and a runtime of its own.
        let scope = prefix.clone();
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime");
            runtime.block_on(clean_bao(&bao, &scope, &tokens, &mounts));
        })
        .join();
        if joined.is_err() {
            eprintln!("clean-up of OpenBao objects with prefix `{prefix}` failed");
        }
    }
}

/// Revokes `tokens`, deletes the roles, policies and KV secrets named with `prefix`, and
/// disables `mounts`. Failures are ignored: the server may be down by now.
async fn clean_bao(bao: &BaoEnv, prefix: &str, tokens: &[String], mounts: &[String]) {
    use reqwest::Method;
    for accessor in tokens {
        let body = serde_json::json!({ "accessor": accessor });
        let _ = bao
            .root(Method::POST, "auth/token/revoke-accessor", Some(body))
            .await;
    }
    let list = |reply: &Value| -> Vec<String> {
        reply["data"]["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, roles) = bao
        .root(Method::GET, "auth/approle/role?list=true", None)
        .await;
    for role in list(&roles).iter().filter(|r| r.starts_with(prefix)) {
        let _ = bao
            .root(Method::DELETE, &format!("auth/approle/role/{role}"), None)
            .await;
    }
    let (_, policies) = bao
        .root(Method::GET, "sys/policies/acl?list=true", None)
        .await;
    for policy in list(&policies).iter().filter(|p| p.starts_with(prefix)) {
        let _ = bao
            .root(Method::DELETE, &format!("sys/policies/acl/{policy}"), None)
            .await;
    }
    // The secrets below `e2e/<prefix>/`, one folder level deep at most.
    let folder = format!("e2e/{prefix}");
    let (_, keys) = bao
        .root(
            Method::GET,
            &format!("secret/metadata/{folder}?list=true"),
            None,
        )
        .await;
    for key in list(&keys) {
        let path = format!("{folder}/{key}");
        if let Some(sub) = key.strip_suffix('/') {
            let (_, inner) = bao
                .root(
                    Method::GET,
                    &format!("secret/metadata/{folder}/{sub}?list=true"),
                    None,
                )
                .await;
            for leaf in list(&inner) {
                let _ = bao
                    .root(
                        Method::DELETE,
                        &format!("secret/metadata/{folder}/{sub}/{leaf}"),
                        None,
                    )
                    .await;
            }
        } else {
            let _ = bao
                .root(Method::DELETE, &format!("secret/metadata/{path}"), None)
                .await;
        }
    }
    for mount in mounts {
        let _ = bao
            .root(Method::DELETE, &format!("sys/mounts/{mount}"), None)
            .await;
    }
}

/// One account block of an identity: role `role` on target `target`. `body` contains the
/// account's other keys, one per line, without indentation.
pub fn account(target: &str, role: &str, body: &str) -> String {
    let mut out = format!("      - target: {target}\n        role: {role}\n");
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str("        ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// One identity block of a policy with lifecycle `state` and `accounts`, a list of
/// [`account`] blocks.
pub fn identity_with(id: &str, state: &str, accounts: &[String]) -> String {
    format!(
        "  {id}:\n    owner: e2e-team\n    purpose: end-to-end test\n    state: {state}\n    accounts:\n{}",
        accounts.concat()
    )
}

/// Renders the credential line of an AppRole account that delivers its secret ID to `sink`.
pub fn secret_id_credential(sink: &Path, max_age: &str) -> String {
    format!(
        "credential: {{ kind: secret_id, strategy: single, max_age: {max_age}, deliver_to: {{ file: {} }} }}\n",
        sink.display()
    )
}

/// Renders the credential line of an account whose `kind` of credential goes to the KV secret
/// `path` on the mount `mount` of `bao-main`.
pub fn vault_credential(kind: &str, mount: &str, path: &str, max_age: &str) -> String {
    format!(
        "credential: {{ kind: {kind}, strategy: single, max_age: {max_age}, deliver_to: {{ vault: {{ target: bao-main, mount: {mount}, path: {path} }} }} }}\n"
    )
}

/// Returns whether `haystack` contains `needle`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// A hook that [`Proxy::start_with_hook`] runs once, before it relays a response.
pub type ProxyHook =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

impl Proxy {
    /// Starts forwarding every connection to `upstream`. The first time a client sends bytes
    /// that contain `trigger`, such as an HTTP request line, the proxy forwards them but holds
    /// the server's response until `hook` has run, so a test can change the server between a
    /// request and the client's next one.
    pub async fn start_with_hook(upstream: SocketAddr, trigger: &str, hook: ProxyHook) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let allowed = Arc::new(AtomicUsize::new(usize::MAX));
        let accepted = Arc::new(AtomicUsize::new(0));
        let trigger: Arc<[u8]> = Arc::from(trigger.as_bytes());
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = {
            let accepted = accepted.clone();
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(forward_with_hook(
                        inbound,
                        upstream,
                        trigger.clone(),
                        fired.clone(),
                        hook.clone(),
                    ));
                }
            })
        };
        Proxy {
            address,
            allowed,
            accepted,
            task,
        }
    }
}

/// Forwards one connection to `upstream`. Unless `fired` is set already, the first request
/// that contains `trigger` sets it, and its response waits until `hook` has run.
async fn forward_with_hook(
    inbound: tokio::net::TcpStream,
    upstream: SocketAddr,
    trigger: Arc<[u8]>,
    fired: Arc<std::sync::atomic::AtomicBool>,
    hook: ProxyHook,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut server_read, mut server_write) = outbound.into_split();
    let pending = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let replies = {
        let pending = pending.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                let read = match server_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                if pending.swap(false, Ordering::SeqCst) {
                    hook().await;
                }
                if client_write.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
            let _ = client_write.shutdown().await;
        })
    };
    // The tail of what the client sent, so a trigger split across two reads is still found.
    let mut seen: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match client_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        seen.extend_from_slice(&buffer[..read]);
        let found = seen
            .windows(trigger.len())
            .any(|window| *window == *trigger);
        // The flag is set before the request is forwarded, so its response finds it set.
        if found && !fired.swap(true, Ordering::SeqCst) {
            pending.store(true, Ordering::SeqCst);
        }
        let keep = trigger.len().saturating_sub(1).min(seen.len());
        seen.drain(..seen.len() - keep);
        if server_write.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    let _ = replies.await;
}

/// A private OpenBao dev server in a temporary directory, for tests whose policy acts on every
/// AppRole of the server. It is stopped when dropped.
pub struct PrivateBao {
    pub dir: TempDir,
    pub port: u16,
    pub env: BaoEnv,
}

impl PrivateBao {
    /// Starts a server with `scripts/bao.sh start` on a free port whose next port, which the
    /// server takes for cluster traffic, is free too. The script's Python environment under
    /// `<repo>/.run/venv` is shared, so nothing is installed.
    pub fn start() -> PrivateBao {
        let run_dir = std::env::var_os("ENACT_RUN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".run"));
        let venv = run_dir.join("venv");
        assert!(
            venv.join("bin/python").exists(),
            "OpenBao is not installed: run scripts/bao.sh start once"
        );
        let dir = tempfile::Builder::new()
            .prefix("enact-bao-")
            .tempdir()
            .expect("create a temporary directory");
        std::os::unix::fs::symlink(&venv, dir.path().join("venv")).expect("link the venv");
        let port = loop {
            let port = free_port();
            if port < u16::MAX && StdTcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
                break port;
            }
        };
        let script = |command: &str| {
            std::process::Command::new(repo_root().join("scripts/bao.sh"))
                .arg(command)
                .env("ENACT_RUN_DIR", dir.path())
                .env("ENACT_BAO_PORT", port.to_string())
                .output()
        };
        let output = script("start").expect("run scripts/bao.sh start");
        if !output.status.success() {
            // A server that started but failed to provision still runs.
            let _ = script("stop");
            panic!(
                "scripts/bao.sh start failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let env = BaoEnv::from_file(&dir.path().join("bao/env"));
        PrivateBao { dir, port, env }
    }
}

impl Drop for PrivateBao {
    fn drop(&mut self) {
        let result = std::process::Command::new(repo_root().join("scripts/bao.sh"))
            .arg("stop")
            .env("ENACT_RUN_DIR", self.dir.path())
            .env("ENACT_BAO_PORT", self.port.to_string())
            .output();
        if !result.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "scripts/bao.sh stop failed for the server in {}",
                self.dir.path().display()
            );
        }
    }
}
