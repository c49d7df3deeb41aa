//! The shared connector conformance suite, run against the Redis server that
//! `scripts/redis.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use common::{closed_port, key, random_password, secret, unique, RawSession, RedisEnv};
use enact_conformance::{docs, Fixture, FixtureCapabilities, FixtureError, SessionGuard, Support};
use enact_connector::Connector;
use enact_model::{Entitlement, Secret};
use enact_redis::RedisConnector;
use std::collections::BTreeMap;
use tokio::sync::Mutex;

const NAME: &str = "redis";

/// Returns the proofs the Redis connector gives.
fn capabilities() -> FixtureCapabilities {
    FixtureCapabilities {
        settings: Support::not_supported("Redis users have no settings that enact manages"),
        connection_count: Support::not_supported(
            "Redis 7.0 records no connection with the user that opened it: the server log \
             names no user and MONITOR redacts both arguments of AUTH",
        ),
        ..FixtureCapabilities::all_supported()
    }
}

/// The running test server. Its entitlements are a key pattern and a channel pattern, which
/// need no object on the server.
struct RedisFixture {
    env: RedisEnv,
}

impl RedisFixture {
    async fn setup() -> RedisFixture {
        RedisFixture {
            env: RedisEnv::load(),
        }
    }
}

/// A connection held open as a test user.
struct RedisSession {
    session: Mutex<RawSession>,
}

#[async_trait]
impl SessionGuard for RedisSession {
    /// The client id is not known without the right to run `CLIENT ID`, which test users lack.
    fn id(&self) -> Option<String> {
        None
    }

    async fn is_open(&self) -> Result<bool, FixtureError> {
        Ok(self.session.lock().await.is_open().await)
    }
}

#[async_trait]
impl Fixture for RedisFixture {
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
        let target = self.env.target_at(&format!("127.0.0.1:{}", closed_port()));
        let connector = RedisConnector::new(&target, secret(&self.env.admin_password), key())?;
        Ok(Box::new(connector))
    }

    fn account_name(&self, label: &str) -> String {
        unique(&format!("conf-{label}"))
    }

    fn entitlements(&self) -> [Entitlement; 2] {
        ["~conformance:*", "&conformance"].map(|rule| Entitlement::Rule {
            rule: rule.to_string(),
        })
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
        let session = self.env.session(account, credential.expose()).await;
        Ok(Box::new(RedisSession {
            session: Mutex::new(session),
        }))
    }
}

enact_conformance::conformance_tests!(RedisFixture::setup());

#[tokio::test]
async fn all_checks_in_one_report() {
    let fixture = RedisFixture::setup().await;
    enact_conformance::run_all(&fixture)
        .await
        .assert_no_failures();
}

#[test]
fn readme_lists_redis_proofs() {
    docs::assert_readme_section(
        &docs::connector_section_id(NAME),
        &docs::connector_markdown(NAME, &capabilities()),
    );
}
