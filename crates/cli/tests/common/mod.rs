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
        "credential: {{ kind: password, max_age: {max_age}, deliver_to: {{ file: {} }} }}\n",
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
