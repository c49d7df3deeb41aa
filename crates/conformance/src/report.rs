//! The checks, their outcomes and the report of one run.

use crate::fixture::Proof;
use std::fmt;

/// One behaviour every connector must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    CapabilitiesAgree,
    ProvisionReadsBack,
    GrantAndRevokeReadBack,
    ConfigureReadsBack,
    ConfigureRejectsUnknownKey,
    RotationReplacesCredential,
    RotationAdvancesCredentialAge,
    DisableBlocksLogin,
    SessionsAreListedAndEnded,
    DeleteRemovesAccount,
    DeletedAccountRejectsLogin,
    ObserveFindsUndeclaredAccounts,
    ObserveShowsDrift,
    ObserveSurvivesConcurrentDeletes,
    ChangesAreIdempotent,
    UnreachableReadsAreUnavailable,
    UnreachableChangesAreUnavailable,
    ReadsOpenNewConnections,
}

impl Check {
    /// Every check, in the order [`crate::run_all`] runs them.
    pub const ALL: [Check; 18] = [
        Check::CapabilitiesAgree,
        Check::ProvisionReadsBack,
        Check::GrantAndRevokeReadBack,
        Check::ConfigureReadsBack,
        Check::ConfigureRejectsUnknownKey,
        Check::RotationReplacesCredential,
        Check::RotationAdvancesCredentialAge,
        Check::DisableBlocksLogin,
        Check::SessionsAreListedAndEnded,
        Check::DeleteRemovesAccount,
        Check::DeletedAccountRejectsLogin,
        Check::ObserveFindsUndeclaredAccounts,
        Check::ObserveShowsDrift,
        Check::ObserveSurvivesConcurrentDeletes,
        Check::ChangesAreIdempotent,
        Check::UnreachableReadsAreUnavailable,
        Check::UnreachableChangesAreUnavailable,
        Check::ReadsOpenNewConnections,
    ];

    /// The check's name, which is also the name of its function in [`crate::checks`] and of
    /// the test that [`crate::conformance_tests!`] generates for it.
    pub fn name(self) -> &'static str {
        match self {
            Check::CapabilitiesAgree => "capabilities_agree",
            Check::ProvisionReadsBack => "provision_reads_back",
            Check::GrantAndRevokeReadBack => "grant_and_revoke_read_back",
            Check::ConfigureReadsBack => "configure_reads_back",
            Check::ConfigureRejectsUnknownKey => "configure_rejects_unknown_key",
            Check::RotationReplacesCredential => "rotation_replaces_credential",
            Check::RotationAdvancesCredentialAge => "rotation_advances_credential_age",
            Check::DisableBlocksLogin => "disable_blocks_login",
            Check::SessionsAreListedAndEnded => "sessions_are_listed_and_ended",
            Check::DeleteRemovesAccount => "delete_removes_account",
            Check::DeletedAccountRejectsLogin => "deleted_account_rejects_login",
            Check::ObserveFindsUndeclaredAccounts => "observe_finds_undeclared_accounts",
            Check::ObserveShowsDrift => "observe_shows_drift",
            Check::ObserveSurvivesConcurrentDeletes => "observe_survives_concurrent_deletes",
            Check::ChangesAreIdempotent => "changes_are_idempotent",
            Check::UnreachableReadsAreUnavailable => "unreachable_reads_are_unavailable",
            Check::UnreachableChangesAreUnavailable => "unreachable_changes_are_unavailable",
            Check::ReadsOpenNewConnections => "reads_open_new_connections",
        }
    }

    /// Describes what the check proves, in one sentence for the README.
    pub fn description(self) -> &'static str {
        match self {
            Check::CapabilitiesAgree => {
                "The connector's own `capabilities()` agree with the proofs its fixture declares."
            }
            Check::ProvisionReadsBack => {
                "A created account reads back with login enabled, no entitlements and the given settings; after two grants it holds exactly both; `observe` reports it as `read_account` does."
            }
            Check::GrantAndRevokeReadBack => {
                "Each grant and each revoke of two entitlements shows in the next `read_account`."
            }
            Check::ConfigureReadsBack => {
                "`configure` with other settings, then with the first ones again, reads back each time."
            }
            Check::ConfigureRejectsUnknownKey => {
                "`configure` with a key the connector does not manage fails as `Invalid` and leaves the settings as they were."
            }
            Check::RotationReplacesCredential => {
                "After `set_credential` the new credential logs in and the old one is rejected as an invalid credential."
            }
            Check::RotationAdvancesCredentialAge => {
                "`credential_set_at` is read back at creation and moves forward to the time of `set_credential`."
            }
            Check::DisableBlocksLogin => {
                "`set_login(false)` reads back as disabled and a probe is rejected as login disabled; `set_login(true)` lets the same credential log in again."
            }
            Check::SessionsAreListedAndEnded => {
                "A session the fixture holds open is listed with a start time not in the future; `end_sessions(All)` returns it, the session stops working, and it is no longer listed."
            }
            Check::DeleteRemovesAccount => {
                "A deleted account is gone from `read_account` and from `observe`, and a second delete succeeds."
            }
            Check::DeletedAccountRejectsLogin => {
                "The credential of a deleted account is rejected by a login probe."
            }
            Check::ObserveFindsUndeclaredAccounts => {
                "`observe` reports a login account that is not declared, and a declared account that cannot log in."
            }
            Check::ObserveShowsDrift => {
                "An entitlement granted and one revoked between two observations show in the next `observe`."
            }
            Check::ObserveSurvivesConcurrentDeletes => {
                "`observe` succeeds while accounts are being deleted, as other tools and people delete them on a shared target."
            }
            Check::ChangesAreIdempotent => {
                "Every change operation run twice succeeds both times and reads back the same."
            }
            Check::UnreachableReadsAreUnavailable => {
                "Against a closed port, `observe`, `read_account` and `list_sessions` fail as `Unavailable` (transient) and `probe_login` returns `Unavailable`."
            }
            Check::UnreachableChangesAreUnavailable => {
                "Against a closed port, every change operation fails as `Unavailable` (transient)."
            }
            Check::ReadsOpenNewConnections => {
                "Three reads open at least three new connections, as the target records them."
            }
        }
    }

    /// Lists the proofs the check needs. Without any one of them it reports "not supported".
    pub fn requires(self) -> &'static [Proof] {
        match self {
            Check::ConfigureReadsBack => &[Proof::Settings],
            Check::RotationReplacesCredential | Check::DeletedAccountRejectsLogin => {
                &[Proof::LoginProbe]
            }
            Check::RotationAdvancesCredentialAge => &[Proof::CredentialAge],
            Check::DisableBlocksLogin => &[Proof::Disable, Proof::LoginProbe],
            Check::SessionsAreListedAndEnded => &[Proof::Sessions],
            Check::ReadsOpenNewConnections => &[Proof::ConnectionCount],
            Check::CapabilitiesAgree
            | Check::ProvisionReadsBack
            | Check::GrantAndRevokeReadBack
            | Check::ConfigureRejectsUnknownKey
            | Check::DeleteRemovesAccount
            | Check::ObserveFindsUndeclaredAccounts
            | Check::ObserveShowsDrift
            | Check::ObserveSurvivesConcurrentDeletes
            | Check::ChangesAreIdempotent
            | Check::UnreachableReadsAreUnavailable
            | Check::UnreachableChangesAreUnavailable => &[],
        }
    }

    /// Finds the check named `name`.
    pub fn from_name(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|check| check.name() == name)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of one check for one connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The connector showed the behaviour.
    Passed,
    /// The connector did not show the behaviour, or the check could not run.
    Failed { message: String },
    /// The connector cannot give a proof the check needs.
    NotSupported { proof: Proof, reason: String },
    /// The check was not run because the fixture declares a known defect.
    Skipped { reason: String },
}

impl Outcome {
    /// Returns whether the outcome is a failure.
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }
}

/// The outcome of one check for one connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// The connector's name, from [`crate::Fixture::name`].
    pub connector: String,
    pub check: Check,
    pub outcome: Outcome,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Passed => write!(f, "passed"),
            Outcome::Failed { message } => write!(f, "FAILED: {message}"),
            Outcome::NotSupported { proof, reason } => {
                write!(f, "not supported by {}: {reason} ({proof})", self.connector)
            }
            Outcome::Skipped { reason } => {
                write!(f, "skipped, known defect in {}: {reason}", self.connector)
            }
        }
    }
}

/// The outcomes of every check for one connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The connector's name, from [`crate::Fixture::name`].
    pub connector: String,
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Returns the results that failed.
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.results
            .iter()
            .filter(|result| result.outcome.is_failed())
            .collect()
    }

    /// Prints the report as a table and fails the calling test if any check failed.
    #[expect(
        clippy::panic,
        reason = "this helper is an assertion for tests, so failing the test is its purpose"
    )]
    pub fn assert_no_failures(&self) {
        println!("{self}");
        let failures = self.failures();
        if !failures.is_empty() {
            let names: Vec<&str> = failures.iter().map(|result| result.check.name()).collect();
            panic!(
                "connector `{}` failed {} conformance checks: {}",
                self.connector,
                failures.len(),
                names.join(", ")
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |wanted: fn(&Outcome) -> bool| {
            self.results
                .iter()
                .filter(|result| wanted(&result.outcome))
                .count()
        };
        writeln!(
            f,
            "conformance of `{}`: {} passed, {} failed, {} not supported, {} skipped",
            self.connector,
            count(|o| matches!(o, Outcome::Passed)),
            count(|o| matches!(o, Outcome::Failed { .. })),
            count(|o| matches!(o, Outcome::NotSupported { .. })),
            count(|o| matches!(o, Outcome::Skipped { .. })),
        )?;
        let width = Check::ALL
            .iter()
            .map(|check| check.name().len())
            .max()
            .unwrap_or(0);
        for result in &self.results {
            writeln!(f, "  {:<width$}  {result}", result.check.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_are_unique_and_round_trip() {
        for check in Check::ALL {
            assert_eq!(Check::from_name(check.name()), Some(check));
        }
        let mut names: Vec<&str> = Check::ALL.iter().map(|check| check.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Check::ALL.len());
    }

    #[test]
    fn report_table_names_each_outcome() {
        let result = |check, outcome| CheckResult {
            connector: "fake".to_string(),
            check,
            outcome,
        };
        let report = Report {
            connector: "fake".to_string(),
            results: vec![
                result(Check::ProvisionReadsBack, Outcome::Passed),
                result(
                    Check::ObserveShowsDrift,
                    Outcome::Failed {
                        message: "entitlements differ".to_string(),
                    },
                ),
                result(
                    Check::SessionsAreListedAndEnded,
                    Outcome::NotSupported {
                        proof: Proof::Sessions,
                        reason: "no sessions".to_string(),
                    },
                ),
                result(
                    Check::DisableBlocksLogin,
                    Outcome::Skipped {
                        reason: "probe misreads".to_string(),
                    },
                ),
            ],
        };
        let table = report.to_string();
        assert!(
            table.contains("1 passed, 1 failed, 1 not supported, 1 skipped"),
            "{table}"
        );
        assert!(table.contains("observe_shows_drift"), "{table}");
        assert!(table.contains("FAILED: entitlements differ"), "{table}");
        assert!(
            table.contains("not supported by fake: no sessions (sessions)"),
            "{table}"
        );
        assert!(
            table.contains("skipped, known defect in fake: probe misreads"),
            "{table}"
        );
        assert_eq!(report.failures().len(), 1);
    }
}
