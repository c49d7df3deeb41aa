//! The checks, one public function each, and the helpers they share.
//!
//! Every check function gates itself the same way [`crate::run_all`] does: a check that the
//! fixture skips for a known defect reports [`Outcome::Skipped`], and a check that needs a proof
//! the connector cannot give reports [`Outcome::NotSupported`]. Otherwise it runs against the
//! fixture's connector, deletes every account it created, and reports [`Outcome::Passed`] or
//! [`Outcome::Failed`].

mod accounts;
mod credentials;
mod observe;
mod unreachable;

use crate::fixture::{Fixture, FixtureError, Proof};
use crate::report::{Check, CheckResult, Outcome};
use enact_connector::{Connector, ConnectorError, LoginProbe};
use enact_model::{Clock, Duration, ObservedAccount, OwnedObjects, Secret, SessionSelector};
use enact_model::{SystemClock, Timestamp};

/// Returns how far a time the target reports may lie outside the interval in which the check
/// made the change. Targets on 127.0.0.1 share the test's clock, but some record whole seconds
/// read from `time()`, which can lag the precise clock by a few milliseconds: slapd once
/// recorded second 36 for a change that the check began at second 37.
pub(crate) fn clock_tolerance() -> Duration {
    Duration::from_secs(2)
}

/// Why a check failed, for a person: one line, no secret.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

/// Fails the check with a formatted message unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err($crate::checks::Failure(format!($($message)+)));
        }
    };
}

/// Fails the check unless `found` equals `expected`, naming `what` was compared.
macro_rules! ensure_eq {
    ($found:expr, $expected:expr, $($what:tt)+) => {{
        let (found, expected) = (&$found, &$expected);
        if found != expected {
            return Err($crate::checks::Failure(format!(
                "{}: expected {:?}, found {:?}",
                format!($($what)+),
                expected,
                found
            )));
        }
    }};
}

pub(crate) use {ensure, ensure_eq};

/// Adds what the check was doing to a connector or fixture error.
pub(crate) trait During<T> {
    /// Converts the error into a failure that names the `step` that failed.
    fn during(self, step: &str) -> Result<T, Failure>;
}

impl<T> During<T> for Result<T, ConnectorError> {
    fn during(self, step: &str) -> Result<T, Failure> {
        self.map_err(|error| Failure(format!("{step} failed ({:?}): {error}", error.kind)))
    }
}

impl<T> During<T> for Result<T, FixtureError> {
    fn during(self, step: &str) -> Result<T, Failure> {
        self.map_err(|error| Failure(format!("fixture: {step} failed: {error}")))
    }
}

/// Returns the current wall-clock time.
pub(crate) fn now() -> Timestamp {
    SystemClock.now()
}

/// The connector under test and the accounts one check created on it, so they can be deleted
/// whatever the outcome.
pub(crate) struct Scratch<'f, F: Fixture + ?Sized> {
    pub(crate) fixture: &'f F,
    pub(crate) connector: Box<dyn Connector>,
    accounts: Vec<String>,
}

impl<'f, F: Fixture + ?Sized> Scratch<'f, F> {
    /// Returns a new account name from the fixture and remembers it for the cleanup.
    pub(crate) fn account(&mut self, label: &str) -> String {
        let name = self.fixture.account_name(label);
        self.accounts.push(name.clone());
        name
    }

    /// Creates `account` with the fixture's settings.
    pub(crate) async fn create(
        &self,
        account: &str,
        login: bool,
        credential: Option<&Secret>,
    ) -> Result<(), Failure> {
        self.connector
            .create_account(account, login, &self.fixture.settings(), credential, now())
            .await
            .during(&format!("create_account(`{account}`)"))
    }

    /// Reads `account` back; a missing account fails the check.
    pub(crate) async fn read(&self, account: &str) -> Result<ObservedAccount, Failure> {
        self.read_optional(account)
            .await?
            .ok_or_else(|| Failure(format!("read_account(`{account}`) found no account")))
    }

    /// Reads `account` back, `None` when it does not exist.
    pub(crate) async fn read_optional(
        &self,
        account: &str,
    ) -> Result<Option<ObservedAccount>, Failure> {
        self.connector
            .read_account(account)
            .await
            .during(&format!("read_account(`{account}`)"))
    }

    /// Probes a login as `account` and fails the check unless the probe returns `expected`.
    pub(crate) async fn expect_probe(
        &self,
        account: &str,
        credential: &Secret,
        expected: LoginProbe,
        when: &str,
    ) -> Result<(), Failure> {
        let probe = self.connector.probe_login(account, credential).await;
        ensure_eq!(probe, expected, "probe_login(`{account}`) {when}");
        Ok(())
    }

    /// Ends the sessions of every account the check created, where the connector has sessions,
    /// then deletes the accounts.
    async fn cleanup(self, sessions: bool) -> Result<(), Failure> {
        let mut failures = Vec::new();
        for account in &self.accounts {
            if sessions {
                if let Err(error) = self
                    .connector
                    .end_sessions(account, &SessionSelector::All, now())
                    .await
                {
                    failures.push(format!("ending the sessions of `{account}`: {error}"));
                }
            }
            if let Err(error) = self
                .connector
                .delete_account(account, &OwnedObjects::Refuse)
                .await
            {
                failures.push(format!("deleting `{account}`: {error}"));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Failure(format!("cleanup failed: {}", failures.join("; "))))
        }
    }
}

/// Runs `check` against `fixture`, gated by the fixture's declared capabilities.
pub async fn run<F: Fixture + ?Sized>(fixture: &F, check: Check) -> CheckResult {
    let capabilities = fixture.capabilities();
    let unsupported =
        check
            .requires()
            .iter()
            .find_map(|proof| match capabilities.support(*proof) {
                crate::Support::Supported => None,
                crate::Support::NotSupported(reason) => Some((*proof, reason.clone())),
            });
    let outcome = if let Some(reason) = capabilities.known_defect(check) {
        Outcome::Skipped {
            reason: reason.to_string(),
        }
    } else if let Some((proof, reason)) = unsupported {
        Outcome::NotSupported { proof, reason }
    } else {
        match run_body(fixture, check, capabilities.sessions.is_supported()).await {
            Ok(()) => Outcome::Passed,
            Err(Failure(message)) => Outcome::Failed { message },
        }
    };
    CheckResult {
        connector: fixture.name().to_string(),
        check,
        outcome,
    }
}

/// Runs the body of `check`, then deletes what it created. A failure of the body is reported
/// before a failure of the cleanup.
async fn run_body<F: Fixture + ?Sized>(
    fixture: &F,
    check: Check,
    sessions: bool,
) -> Result<(), Failure> {
    let connector = fixture.connector().await.during("building the connector")?;
    let mut scratch = Scratch {
        fixture,
        connector,
        accounts: Vec::new(),
    };
    let outcome = match check {
        Check::CapabilitiesAgree => observe::capabilities_agree(&scratch),
        Check::ProvisionReadsBack => accounts::provision_reads_back(&mut scratch).await,
        Check::GrantAndRevokeReadBack => accounts::grant_and_revoke_read_back(&mut scratch).await,
        Check::ConfigureReadsBack => accounts::configure_reads_back(&mut scratch).await,
        Check::ConfigureRejectsUnknownKey => {
            accounts::configure_rejects_unknown_key(&mut scratch).await
        }
        Check::RotationReplacesCredential => {
            credentials::rotation_replaces_credential(&mut scratch).await
        }
        Check::RotationAdvancesCredentialAge => {
            credentials::rotation_advances_credential_age(&mut scratch).await
        }
        Check::DisableBlocksLogin => credentials::disable_blocks_login(&mut scratch).await,
        Check::SessionsAreListedAndEnded => {
            credentials::sessions_are_listed_and_ended(&mut scratch).await
        }
        Check::DeleteRemovesAccount => accounts::delete_removes_account(&mut scratch).await,
        Check::DeletedAccountRejectsLogin => {
            credentials::deleted_account_rejects_login(&mut scratch).await
        }
        Check::ObserveFindsUndeclaredAccounts => {
            observe::observe_finds_undeclared_accounts(&mut scratch).await
        }
        Check::ObserveShowsDrift => observe::observe_shows_drift(&mut scratch).await,
        Check::ObserveSurvivesConcurrentDeletes => {
            observe::observe_survives_concurrent_deletes(&mut scratch).await
        }
        Check::ChangesAreIdempotent => accounts::changes_are_idempotent(&mut scratch).await,
        Check::UnreachableReadsAreUnavailable => {
            unreachable::unreachable_reads_are_unavailable(fixture).await
        }
        Check::UnreachableChangesAreUnavailable => {
            unreachable::unreachable_changes_are_unavailable(fixture).await
        }
        Check::ReadsOpenNewConnections => observe::reads_open_new_connections(&mut scratch).await,
    };
    let cleanup = scratch.cleanup(sessions).await;
    outcome.and(cleanup)
}

/// Defines one public function per check that runs it through [`run`].
macro_rules! check_functions {
    ($($(#[$doc:meta])* $name:ident => $check:ident;)+) => {
        $(
            $(#[$doc])*
            pub async fn $name<F: Fixture + ?Sized>(fixture: &F) -> CheckResult {
                run(fixture, Check::$check).await
            }
        )+
    };
}

check_functions! {
    /// Runs [`Check::CapabilitiesAgree`].
    capabilities_agree => CapabilitiesAgree;
    /// Runs [`Check::ProvisionReadsBack`].
    provision_reads_back => ProvisionReadsBack;
    /// Runs [`Check::GrantAndRevokeReadBack`].
    grant_and_revoke_read_back => GrantAndRevokeReadBack;
    /// Runs [`Check::ConfigureReadsBack`].
    configure_reads_back => ConfigureReadsBack;
    /// Runs [`Check::ConfigureRejectsUnknownKey`].
    configure_rejects_unknown_key => ConfigureRejectsUnknownKey;
    /// Runs [`Check::RotationReplacesCredential`].
    rotation_replaces_credential => RotationReplacesCredential;
    /// Runs [`Check::RotationAdvancesCredentialAge`].
    rotation_advances_credential_age => RotationAdvancesCredentialAge;
    /// Runs [`Check::DisableBlocksLogin`].
    disable_blocks_login => DisableBlocksLogin;
    /// Runs [`Check::SessionsAreListedAndEnded`].
    sessions_are_listed_and_ended => SessionsAreListedAndEnded;
    /// Runs [`Check::DeleteRemovesAccount`].
    delete_removes_account => DeleteRemovesAccount;
    /// Runs [`Check::DeletedAccountRejectsLogin`].
    deleted_account_rejects_login => DeletedAccountRejectsLogin;
    /// Runs [`Check::ObserveFindsUndeclaredAccounts`].
    observe_finds_undeclared_accounts => ObserveFindsUndeclaredAccounts;
    /// Runs [`Check::ObserveShowsDrift`].
    observe_shows_drift => ObserveShowsDrift;
    /// Runs [`Check::ObserveSurvivesConcurrentDeletes`].
    observe_survives_concurrent_deletes => ObserveSurvivesConcurrentDeletes;
    /// Runs [`Check::ChangesAreIdempotent`].
    changes_are_idempotent => ChangesAreIdempotent;
    /// Runs [`Check::UnreachableReadsAreUnavailable`].
    unreachable_reads_are_unavailable => UnreachableReadsAreUnavailable;
    /// Runs [`Check::UnreachableChangesAreUnavailable`].
    unreachable_changes_are_unavailable => UnreachableChangesAreUnavailable;
    /// Runs [`Check::ReadsOpenNewConnections`].
    reads_open_new_connections => ReadsOpenNewConnections;
}

/// Whether the fixture declares `proof` supported, for the steps a check takes only then.
pub(crate) fn supports<F: Fixture + ?Sized>(fixture: &F, proof: Proof) -> bool {
    fixture.capabilities().support(proof).is_supported()
}
