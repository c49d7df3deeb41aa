//! Helpers for the integration tests, which run against the server `scripts/bao.sh start`
//! started and read its settings from the env file that script writes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use enact_model::policy::CredentialSource;
use enact_model::{
    Clock, Duration, FingerprintKey, Secret, SystemClock, Target, TargetId, Timestamp,
    UnmanagedPolicy,
};
use enact_openbao::{KvSink, OpenBaoConnector};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;

/// The settings of the running test server.
pub struct BaoEnv {
    pub addr: String,
    /// enact's admin token, with the `enact-admin` policy.
    pub token: String,
    pub root_token: String,
    pub audit_log: PathBuf,
}

impl BaoEnv {
    /// Reads the env file at `$ENACT_BAO_ENV`, or `<repo>/.run/bao/env`.
    pub fn load() -> BaoEnv {
        let path = std::env::var_os("ENACT_BAO_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.run/bao/env")
            });
        let Ok(text) = std::fs::read_to_string(&path) else {
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
        };
        // An env file outlives the server it describes, so check that something listens.
        let address = env.addr.trim_start_matches("http://").to_string();
        let listening = address.parse().is_ok_and(|address| {
            TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2)).is_ok()
        });
        if !listening {
            panic!("OpenBao is not running: start it with scripts/bao.sh start (nothing listens on {address})");
        }
        env
    }

    /// The connector's target for this server.
    pub fn target(&self) -> Target {
        self.target_at(&self.addr)
    }

    /// A target with this server's mount at another `endpoint`.
    pub fn target_at(&self, endpoint: &str) -> Target {
        Target {
            id: TargetId::new("bao"),
            kind: "openbao".to_string(),
            endpoint: endpoint.to_string(),
            database: None,
            admin_user: None,
            admin_credential: CredentialSource::Env("ENACT_BAO_TOKEN".to_string()),
            unmanaged: UnmanagedPolicy::default(),
            verify_window: Duration::from_secs(5),
        }
    }

    /// A connector acting with enact's admin token.
    pub fn connector(&self) -> OpenBaoConnector {
        OpenBaoConnector::new(&self.target(), secret(&self.token), key())
            .expect("the target is valid")
    }

    /// A sink for `path` on the `secret/` KV mount, with enact's admin token.
    pub fn sink(&self, path: &str) -> KvSink {
        KvSink::new(&self.addr, secret(&self.token), "secret", path).expect("the sink is valid")
    }

    /// Sends a request as `token` (or without one) and returns the status and JSON body.
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let client = reqwest::Client::new();
        let mut request = client.request(method, format!("{}/v1/{path}", self.addr));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server responds");
        let status = response.status();
        let text = response.text().await.expect("the body is readable");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body)
    }

    /// Sends a request as the root token, for setup that enact must not do itself.
    pub async fn root(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request_as(Some(&self.root_token), method, path, body)
            .await
    }

    /// Logs in to role `role` with `secret_id` and returns the token and its accessor.
    pub async fn login(&self, role: &str, secret_id: &str) -> (String, String) {
        let (status, body) = self
            .root(
                Method::GET,
                &format!("auth/approle/role/{role}/role-id"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let role_id = body["data"]["role_id"].as_str().unwrap().to_string();
        let (status, body) = self
            .request_as(
                None,
                Method::POST,
                "auth/approle/login",
                Some(serde_json::json!({ "role_id": role_id, "secret_id": secret_id })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["auth"]["client_token"].as_str().unwrap().to_string(),
            body["auth"]["accessor"].as_str().unwrap().to_string(),
        )
    }

    /// The audit log's text.
    pub fn audit_text(&self) -> String {
        std::fs::read_to_string(&self.audit_log).expect("the audit log is readable")
    }

    /// The HMAC the audit device `enact` writes for `value`.
    pub async fn audit_hash(&self, value: &str) -> String {
        let (status, body) = self
            .root(
                Method::POST,
                "sys/audit-hash/enact",
                Some(serde_json::json!({ "input": value })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["hash"].as_str().unwrap().to_string()
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
    format!("{prefix}-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// A random secret value that no other test uses.
pub fn random_secret() -> String {
    format!("canary-{:032x}", rand::random::<u128>())
}

/// The current wall-clock time.
pub fn now() -> Timestamp {
    SystemClock.now()
}
