//! The only seam between the enact engine and the systems it changes.
//!
//! A [`Connector`] exposes one target's accounts as primitive operations and primitive facts.
//! The engine decides what to do and the verifier decides what the facts prove; a connector
//! never reports an action as verified. A [`Sink`] is the designated store for a credential's
//! current value.
//!
//! Rules every connector follows:
//! - `observe`, `read_account`, `list_sessions` and `probe_login` open a new connection for each
//!   call and cache nothing, so a verification never trusts the connection that made a change.
//! - Every change operation is idempotent: running it again after it succeeded changes nothing
//!   and returns success.
//! - Errors mark whether they are transient ([`ConnectorError::is_transient`]), so the executor
//!   retries only those.

use async_trait::async_trait;
use enact_model::{
    Entitlement, Fingerprint, FingerprintKey, ObservedAccount, ObservedSession, OwnedObjects,
    Secret, SessionSelector, SinkRef, TargetId, TargetObservation, Timestamp,
};
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

/// The class of a connector failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The target could not be reached or timed out. Transient.
    Unavailable,
    /// The target refused the operation for lack of permission.
    Denied,
    /// The operation conflicts with the target's state, such as deleting an account that owns
    /// objects under the `refuse` rule.
    Conflict,
    /// The request was invalid for this target, such as an unknown object.
    Invalid,
    /// Any other failure.
    Other,
}

/// A failure of one connector or sink operation.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    pub kind: ErrorKind,
    /// One line, lowercase, no secret.
    pub message: String,
    #[source]
    pub source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ConnectorError {
    /// A failure of `kind` with `message` and no underlying error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ConnectorError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A failure of `kind` with `message`, keeping `source` as the underlying error.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        ConnectorError {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }
}

/// The outcome of a login attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginProbe {
    /// The credential was accepted and a session opened (and was closed again).
    Accepted,
    /// The target rejected the login for this reason.
    Rejected(Rejection),
    /// A result that proves neither: unreachable, timed out, or an unexpected error.
    Unavailable { reason: String },
}

/// The reason a target rejected a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The credential is wrong (PostgreSQL SQLSTATE 28P01).
    InvalidCredential,
    /// The account exists but may not log in (PostgreSQL SQLSTATE 28000 with NOLOGIN).
    LoginDisabled,
    /// The account does not exist. Many targets report this as an invalid credential instead.
    UnknownAccount,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::InvalidCredential => "invalid credential",
            Rejection::LoginDisabled => "login disabled",
            Rejection::UnknownAccount => "unknown account",
        })
    }
}

/// The proofs a connector can give, so a missing proof is stated rather than hidden.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    /// The target records when a credential was set.
    pub credential_age: bool,
    /// A login attempt distinguishes a wrong credential from other failures.
    pub login_probe: bool,
    /// Sessions can be listed and ended.
    pub sessions: bool,
}

/// One target system, seen through primitive operations.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The target this connector is bound to.
    fn target(&self) -> &TargetId;

    /// What this connector can prove.
    fn capabilities(&self) -> Capabilities;

    /// Reads every account in scope on a new connection: all login accounts except built-in
    /// ones and the admin account, plus each name in `declared` that exists.
    async fn observe(&self, declared: &[String]) -> Result<TargetObservation, ConnectorError>;

    /// Reads one account back on a new connection; `Ok(None)` when it does not exist.
    async fn read_account(&self, account: &str) -> Result<Option<ObservedAccount>, ConnectorError>;

    /// Lists the account's open sessions on a new connection.
    async fn list_sessions(&self, account: &str) -> Result<Vec<ObservedSession>, ConnectorError>;

    /// Lists the account's open sessions for the record of a change, such as the sessions a
    /// rotation leaves open. Unlike [`Connector::list_sessions`], it may reuse the connection
    /// that makes changes, so the verifier never calls it. The default lists on a new
    /// connection.
    async fn sessions_before_change(
        &self,
        account: &str,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        self.list_sessions(account).await
    }

    /// Creates the account with `settings` (see [`Connector::configure`]), then sets
    /// `credential` when given, recording `now` as its set time. If the account exists
    /// already, sets the settings, credential and login flag instead.
    async fn create_account(
        &self,
        account: &str,
        login: bool,
        settings: &BTreeMap<String, String>,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError>;

    /// Sets the account's target-specific configuration keys to `settings`. Keys the
    /// connector does not manage are an [`ErrorKind::Invalid`] error.
    async fn configure(
        &self,
        account: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), ConnectorError>;

    /// Grants an entitlement. Granting one already held succeeds.
    async fn grant(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError>;

    /// Revokes an entitlement. Revoking one not held succeeds.
    async fn revoke(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError>;

    /// Replaces the account's credential, recording `now` as its set time.
    async fn set_credential(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError>;

    /// Adds `credential` beside the account's current credentials, recording `now` as its set
    /// time, for a dual-credential rotation. Targets that hold one credential at a time return
    /// an [`ErrorKind::Invalid`] error, as the default does.
    async fn add_credential(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        let _ = (credential, now);
        Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("account `{account}` holds one credential at a time, so it cannot hold two during a rotation"),
        ))
    }

    /// Removes every credential of the account except `keep`, ending a dual-credential
    /// rotation. `keep` must be one of its credentials.
    async fn retire_other_credentials(
        &self,
        account: &str,
        keep: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        let _ = (keep, now);
        Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("account `{account}` holds one credential at a time, so it has none to retire"),
        ))
    }

    /// Allows or forbids new logins. Open sessions are not affected.
    async fn set_login(&self, account: &str, enabled: bool) -> Result<(), ConnectorError>;

    /// Ends the account's sessions that `selector` matches at `now`, returning those it ended.
    async fn end_sessions(
        &self,
        account: &str,
        selector: &SessionSelector,
        now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError>;

    /// Deletes the account, handling owned objects as `owned` sets. Deleting an account that
    /// does not exist succeeds.
    async fn delete_account(
        &self,
        account: &str,
        owned: &OwnedObjects,
    ) -> Result<(), ConnectorError>;

    /// Attempts a login as `account` with `credential` on a new connection and closes it.
    async fn probe_login(&self, account: &str, credential: &Secret) -> LoginProbe;
}

/// What a sink records beside a delivered value. Never the value itself.
#[derive(Clone, Debug)]
pub struct DeliveryMeta {
    pub identity: String,
    pub action_id: String,
}

/// The designated store of one credential's current value.
///
/// Delivery is two-phase so that a crash never leaves a dependent without a working value: a
/// new value is first staged beside the current one, then set on the target, then promoted.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Stores `secret` as the staged value, replacing any earlier staged value.
    async fn stage(&self, secret: &Secret, meta: &DeliveryMeta) -> Result<(), ConnectorError>;

    /// Reads the staged value, if any.
    async fn read_staged(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError>;

    /// Makes the staged value current and keeps the value it replaces as the previous one, so
    /// the verifier can prove the previous value is rejected. Succeeds without change if
    /// nothing is staged and the current value already has the `expected` fingerprint, so a
    /// resumed run can repeat it.
    async fn promote(
        &self,
        expected: &Fingerprint,
        key: &FingerprintKey,
    ) -> Result<(), ConnectorError>;

    /// Reads the current value, if any.
    async fn read_current(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError>;

    /// Reads the previous value kept by the last promotion, if any.
    async fn read_previous(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError>;

    /// Removes the staged value, if any.
    async fn discard_staged(&self) -> Result<(), ConnectorError>;

    /// Removes the previous value, if any.
    async fn discard_previous(&self) -> Result<(), ConnectorError>;

    /// Removes every value the sink holds: current, staged and previous.
    async fn purge(&self) -> Result<(), ConnectorError>;

    /// The fingerprints of every value the sink still holds, staged, current or previous.
    async fn held_fingerprints(
        &self,
        key: &FingerprintKey,
    ) -> Result<Vec<Fingerprint>, ConnectorError>;

    /// Where the sink keeps its values, for messages.
    fn describe(&self) -> String;
}

/// Opens the sink a [`SinkRef`] names.
pub trait SinkResolver: Send + Sync {
    /// The sink for `sink`.
    fn open(&self, sink: &SinkRef) -> Result<Box<dyn Sink>, ConnectorError>;
}
