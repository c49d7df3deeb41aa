//! The shared connector conformance suite, run against the OpenBao server that
//! `scripts/bao.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use common::{key, random_secret, secret, unique, BaoEnv};
use enact_conformance::{
    docs, ConnectionLog, CountedConnector, Fixture, FixtureCapabilities, FixtureError, SessionGuard,
};
use enact_connector::Connector;
use enact_model::{Entitlement, Secret};
use enact_openbao::OpenBaoConnector;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

const NAME: &str = "openbao";

/// Returns the proofs the OpenBao connector gives.
fn capabilities() -> FixtureCapabilities {
    FixtureCapabilities::all_supported()
}

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Two ACL policies created for one fixture, which are the two entitlements.
struct BaoFixture {
    env: BaoEnv,
    policies: [String; 2],
}

impl BaoFixture {
    async fn setup() -> BaoFixture {
        let env = BaoEnv::load();
        let policies = [unique("conf-read"), unique("conf-write")];
        for (policy, capability) in policies.iter().zip(["read", "update"]) {
            let rules = format!(
                "path \"secret/data/conformance/*\" {{ capabilities = [\"{capability}\"] }}"
            );
            let (status, body) = env
                .root(
                    Method::PUT,
                    &format!("sys/policies/acl/{policy}"),
                    Some(json!({ "policy": rules })),
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        }
        BaoFixture { env, policies }
    }
}

/// A token from an AppRole login, valid until it is revoked or expires.
struct BaoSession {
    env_addr: String,
    token: Secret,
    accessor: String,
}

#[async_trait]
impl SessionGuard for BaoSession {
    fn id(&self) -> Option<String> {
        Some(self.accessor.clone())
    }

    async fn is_open(&self) -> Result<bool, FixtureError> {
        // Looking the token up with itself succeeds exactly while it is valid.
        let token = self.token.expose();
        let response = reqwest::Client::new()
            .get(format!("{}/v1/auth/token/lookup-self", self.env_addr))
            .header("X-Vault-Token", token)
            .send()
            .await
            .map_err(|e| FixtureError::new(format!("looking up the session token failed: {e}")))?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::FORBIDDEN => Ok(false),
            status => Err(FixtureError::new(format!(
                "looking up the session token returned HTTP {status}"
            ))),
        }
    }
}

/// The connections that requests about a role came on, from the client address and port that
/// the audit log records for each request.
struct AuditLog {
    path: PathBuf,
    /// The log's length when counting began; earlier entries are not read.
    offset: u64,
}

#[async_trait]
impl ConnectionLog for AuditLog {
    /// Returns `address:port` of every request to the role's paths. A client port stays in
    /// use while its connection is open, so each distinct port is one connection.
    async fn connections(&self, account: &str) -> Result<BTreeSet<String>, FixtureError> {
        let mut file = std::fs::File::open(&self.path)
            .map_err(|e| FixtureError::new(format!("opening the audit log failed: {e}")))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| FixtureError::new(format!("seeking in the audit log failed: {e}")))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| FixtureError::new(format!("reading the audit log failed: {e}")))?;
        let role_path = format!("auth/approle/role/{account}");
        let nested = format!("{role_path}/");
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| entry["type"] == "request")
            .filter(|entry| {
                entry["request"]["path"]
                    .as_str()
                    .is_some_and(|path| path == role_path || path.starts_with(&nested))
            })
            .map(|entry| {
                format!(
                    "{}:{}",
                    entry["request"]["remote_address"], entry["request"]["remote_port"]
                )
            })
            .collect())
    }
}

#[async_trait]
impl Fixture for BaoFixture {
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
        let target = self.env.target_at(&format!("http://127.0.0.1:{port}"));
        Ok(Box::new(OpenBaoConnector::new(
            &target,
            secret(&self.env.token),
            key(),
        )?))
    }

    fn account_name(&self, label: &str) -> String {
        unique(&format!("conf-{label}"))
    }

    fn entitlements(&self) -> [Entitlement; 2] {
        self.policies
            .clone()
            .map(|policy| Entitlement::Policy { policy })
    }

    /// Short token TTLs, so tokens a failed check leaves behind expire soon. A secret ID use
    /// limit of 0 keeps login probes from using up the credential.
    fn settings(&self) -> BTreeMap<String, String> {
        settings(&[
            ("token_ttl", "600"),
            ("token_max_ttl", "1200"),
            ("secret_id_ttl", "0"),
            ("secret_id_num_uses", "0"),
        ])
    }

    fn other_settings(&self) -> BTreeMap<String, String> {
        settings(&[
            ("token_ttl", "300"),
            ("token_max_ttl", "900"),
            ("secret_id_ttl", "86400"),
            ("secret_id_num_uses", "0"),
        ])
    }

    fn credential(&self) -> Secret {
        secret(&random_secret())
    }

    async fn open_session(
        &self,
        account: &str,
        credential: &Secret,
    ) -> Result<Box<dyn SessionGuard>, FixtureError> {
        let (status, body) = self
            .env
            .root(
                Method::GET,
                &format!("auth/approle/role/{account}/role-id"),
                None,
            )
            .await;
        let role_id = match (status, body["data"]["role_id"].as_str()) {
            (StatusCode::OK, Some(role_id)) => role_id.to_string(),
            _ => {
                return Err(FixtureError::new(format!(
                    "reading the role id of `{account}` returned HTTP {status}"
                )))
            }
        };
        // The session logs in with the secret ID, as the application would.
        let login = json!({ "role_id": role_id, "secret_id": credential.expose() });
        let (status, body) = self
            .env
            .request_as(None, Method::POST, "auth/approle/login", Some(login))
            .await;
        let auth = &body["auth"];
        match (
            status,
            auth["client_token"].as_str(),
            auth["accessor"].as_str(),
        ) {
            (StatusCode::OK, Some(token), Some(accessor)) => Ok(Box::new(BaoSession {
                env_addr: self.env.addr.clone(),
                token: secret(token),
                accessor: accessor.to_string(),
            })),
            _ => Err(FixtureError::new(format!(
                "logging in as `{account}` returned HTTP {status}"
            ))),
        }
    }

    /// Builds a connector like the one under test. The audit log names the role in every
    /// request path, so only the reads of the check's own role are counted.
    async fn counted_connector(&self) -> Result<CountedConnector, FixtureError> {
        let offset = std::fs::metadata(&self.env.audit_log)
            .map_err(|e| FixtureError::new(format!("reading the audit log size failed: {e}")))?
            .len();
        Ok(CountedConnector {
            connector: Box::new(self.env.connector()),
            log: Box::new(AuditLog {
                path: self.env.audit_log.clone(),
                offset,
            }),
        })
    }

    async fn teardown(&self) -> Result<(), FixtureError> {
        for policy in &self.policies {
            let (status, body) = self
                .env
                .root(Method::DELETE, &format!("sys/policies/acl/{policy}"), None)
                .await;
            if status != StatusCode::NO_CONTENT {
                return Err(FixtureError::new(format!(
                    "deleting policy `{policy}` returned HTTP {status}: {body}"
                )));
            }
        }
        Ok(())
    }
}

enact_conformance::conformance_tests!(BaoFixture::setup());

#[tokio::test]
async fn all_checks_in_one_report() {
    let fixture = BaoFixture::setup().await;
    enact_conformance::run_all(&fixture)
        .await
        .assert_no_failures();
}

#[test]
fn readme_lists_openbao_proofs() {
    docs::assert_readme_section(
        &docs::connector_section_id(NAME),
        &docs::connector_markdown(NAME, &capabilities()),
    );
}
