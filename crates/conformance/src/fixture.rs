//! What a connector's tests supply so the suite can run against its real target.

use crate::report::Check;
use async_trait::async_trait;
use enact_connector::{Connector, ConnectorError};
use enact_model::{Entitlement, Secret};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A failure of the fixture itself, such as a session it could not open. A check that meets
/// one fails, because it could not prove what it set out to prove.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FixtureError {
    /// One line, lowercase, no secret.
    pub message: String,
}

impl FixtureError {
    /// A fixture failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        FixtureError {
            message: message.into(),
        }
    }
}

impl From<ConnectorError> for FixtureError {
    fn from(error: ConnectorError) -> Self {
        FixtureError::new(error.message)
    }
}

/// One kind of proof a connector may or may not be able to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proof {
    /// The target records when a credential was set, and the connector reads it back.
    CredentialAge,
    /// A login attempt tells an accepted credential from a wrong one and from a disabled login.
    LoginProbe,
    /// Open sessions can be listed and ended.
    Sessions,
    /// Login can be disabled and enabled again without deleting the account.
    Disable,
    /// The account has target-specific settings that the connector writes and reads back.
    Settings,
    /// The fixture can count the connections a connector opens, to prove that every read
    /// opens a new one.
    ConnectionCount,
}

impl Proof {
    /// Every proof, in the order the report and the README list them.
    pub const ALL: [Proof; 6] = [
        Proof::CredentialAge,
        Proof::LoginProbe,
        Proof::Sessions,
        Proof::Disable,
        Proof::Settings,
        Proof::ConnectionCount,
    ];

    /// The proof's name in reports, such as `login_probe`.
    pub fn name(self) -> &'static str {
        match self {
            Proof::CredentialAge => "credential_age",
            Proof::LoginProbe => "login_probe",
            Proof::Sessions => "sessions",
            Proof::Disable => "disable",
            Proof::Settings => "settings",
            Proof::ConnectionCount => "connection_count",
        }
    }
}

impl fmt::Display for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a connector gives one proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// The connector gives the proof, and the checks that need it run.
    Supported,
    /// The connector cannot give the proof, for this reason. The checks that need it report
    /// "not supported" with the reason.
    NotSupported(String),
}

impl Support {
    /// A proof the connector cannot give, for `reason`.
    pub fn not_supported(reason: impl Into<String>) -> Self {
        Support::NotSupported(reason.into())
    }

    /// Whether the proof is given.
    pub fn is_supported(&self) -> bool {
        matches!(self, Support::Supported)
    }
}

/// A check that fails for one connector because of a known defect in that connector. The
/// check is reported as skipped with the reason, never as passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownDefect {
    pub check: Check,
    /// What is wrong, for a person: the behaviour seen and the behaviour expected.
    pub reason: String,
}

/// The proofs a connector gives, as its fixture declares them, and the checks skipped for
/// known defects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureCapabilities {
    pub credential_age: Support,
    pub login_probe: Support,
    pub sessions: Support,
    pub disable: Support,
    pub settings: Support,
    pub connection_count: Support,
    pub known_defects: Vec<KnownDefect>,
}

impl FixtureCapabilities {
    /// Capabilities with every proof supported and no known defect.
    pub fn all_supported() -> Self {
        FixtureCapabilities {
            credential_age: Support::Supported,
            login_probe: Support::Supported,
            sessions: Support::Supported,
            disable: Support::Supported,
            settings: Support::Supported,
            connection_count: Support::Supported,
            known_defects: Vec::new(),
        }
    }

    /// Whether the connector gives `proof`.
    pub fn support(&self, proof: Proof) -> &Support {
        match proof {
            Proof::CredentialAge => &self.credential_age,
            Proof::LoginProbe => &self.login_probe,
            Proof::Sessions => &self.sessions,
            Proof::Disable => &self.disable,
            Proof::Settings => &self.settings,
            Proof::ConnectionCount => &self.connection_count,
        }
    }

    /// The reason `check` is skipped for a known defect, if it is.
    pub fn known_defect(&self, check: Check) -> Option<&str> {
        self.known_defects
            .iter()
            .find(|defect| defect.check == check)
            .map(|defect| defect.reason.as_str())
    }
}

/// A session the fixture opened as an account and keeps open until the guard is dropped.
#[async_trait]
pub trait SessionGuard: Send + Sync {
    /// The target's id for this session, as [`Connector::list_sessions`] reports it, when the
    /// fixture can tell (a PostgreSQL backend pid, an OpenBao token accessor).
    fn id(&self) -> Option<String>;

    /// Whether the session still works, found by using it.
    async fn is_open(&self) -> Result<bool, FixtureError>;
}

/// The connections a connector opened, as the target recorded them.
#[async_trait]
pub trait ConnectionLog: Send + Sync {
    /// Ids of every connection the counted connector opened that the target recorded, for the
    /// reads of `account`. Ids are compared only with each other, so any stable form works
    /// (a backend pid, a client port).
    async fn connections(&self, account: &str) -> Result<BTreeSet<String>, FixtureError>;
}

/// A connector whose connections the fixture can count, with the log that counts them.
pub struct CountedConnector {
    pub connector: Box<dyn Connector>,
    pub log: Box<dyn ConnectionLog>,
}

/// What a connector's tests implement to run the suite against the connector's real target.
///
/// Every account name the fixture returns must be new, so checks can run in parallel and
/// again; every check deletes the accounts it created, through the connector, before it
/// returns.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The connector's name in reports, such as `postgres`.
    fn name(&self) -> &str;

    /// The proofs the connector gives and the checks skipped for known defects.
    fn capabilities(&self) -> FixtureCapabilities;

    /// Builds the connector under test, bound to the running test server.
    async fn connector(&self) -> Result<Box<dyn Connector>, FixtureError>;

    /// Builds a connector of the same kind pointed at a port on 127.0.0.1 where nothing
    /// listens.
    async fn unreachable_connector(&self) -> Result<Box<dyn Connector>, FixtureError>;

    /// Returns a new account name, valid for the target and unique to this run. `label` is
    /// a short lower-case word naming the check, to be kept in the name where it fits.
    fn account_name(&self, label: &str) -> String;

    /// Two distinct entitlements the target can grant to any account the checks create.
    fn entitlements(&self) -> [Entitlement; 2];

    /// Settings valid for [`Connector::create_account`] and [`Connector::configure`]; empty
    /// for a target without settings.
    fn settings(&self) -> BTreeMap<String, String>;

    /// Other valid settings, differing from [`Fixture::settings`] in at least one value; empty
    /// for a target without settings.
    fn other_settings(&self) -> BTreeMap<String, String>;

    /// Generates a new random credential that the target accepts.
    fn credential(&self) -> Secret;

    /// Logs in as `account` with `credential` and keeps the session open until the returned
    /// guard is dropped.
    async fn open_session(
        &self,
        account: &str,
        credential: &Secret,
    ) -> Result<Box<dyn SessionGuard>, FixtureError>;

    /// Builds a connector whose connections the fixture can count. Called only when the
    /// fixture declares [`Proof::ConnectionCount`] supported.
    async fn counted_connector(&self) -> Result<CountedConnector, FixtureError> {
        Err(FixtureError::new(format!(
            "the `{}` fixture cannot count connections",
            self.name()
        )))
    }

    /// Removes what the fixture created on the target, such as the objects its entitlements
    /// name. Runs once, after the last check that used this fixture.
    async fn teardown(&self) -> Result<(), FixtureError> {
        Ok(())
    }
}
