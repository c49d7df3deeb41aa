//! The connector conformance suite: the behaviour every enact connector must have, as checks
//! that each connector's tests run against its real target.
//!
//! A connector's test crate implements [`Fixture`] for its target. The fixture builds the
//! connector, names accounts, supplies entitlements, opens sessions and declares which proofs
//! the target can give. The test crate then calls [`conformance_tests!`] to get one
//! `#[tokio::test]` per check, or calls [`run_all`] and [`Report::assert_no_failures`]. The checks and the proofs each connector
//! gives are listed in this crate's README, which tests keep in sync with the code.
//!
//! A check never passes silently in place of a proof it could not make: a proof the
//! connector cannot give is reported as "not supported by <connector>: <reason>", and a check
//! skipped for a known defect in one connector is reported as skipped with the reason.

pub mod checks;
pub mod docs;
mod fixture;
mod report;

pub use checks::run;
pub use fixture::{
    ConnectionLog, CountedConnector, Fixture, FixtureCapabilities, FixtureError, KnownDefect,
    Proof, SessionGuard, Support,
};
pub use report::{Check, CheckResult, Outcome, Report};

/// Runs every check against `fixture`, in the order of [`Check::ALL`], then the fixture's
/// teardown. A failed teardown is reported as a failure of the last check.
pub async fn run_all<F: Fixture + ?Sized>(fixture: &F) -> Report {
    let mut results = Vec::new();
    for check in Check::ALL {
        results.push(run(fixture, check).await);
    }
    if let Err(error) = fixture.teardown().await {
        if let Some(last) = results.last_mut() {
            last.outcome = Outcome::Failed {
                message: format!("fixture: teardown failed: {error}"),
            };
        }
    }
    Report {
        connector: fixture.name().to_string(),
        results,
    }
}

/// Tears `fixture` down, prints `result`, and fails the calling test if the check failed or
/// the teardown did. The tests that [`conformance_tests!`] generates end with it.
#[expect(
    clippy::panic,
    reason = "this helper is an assertion for tests, so failing the test is its purpose"
)]
pub async fn finish_check<F: Fixture + ?Sized>(fixture: &F, result: CheckResult) {
    let teardown = fixture.teardown().await;
    println!(
        "conformance of `{}`: {}: {result}",
        result.connector, result.check
    );
    if let Outcome::Failed { message } = &result.outcome {
        panic!(
            "connector `{}` failed conformance check `{}`: {message}",
            result.connector, result.check
        );
    }
    if let Err(error) = teardown {
        panic!(
            "fixture `{}` failed its teardown after `{}`: {error}",
            result.connector, result.check
        );
    }
}

/// Fails the calling test unless `names` are exactly the names of [`Check::ALL`], so the list
/// in [`conformance_tests!`] cannot fall behind the checks.
#[expect(
    clippy::panic,
    reason = "this helper is an assertion for tests, so failing the test is its purpose"
)]
pub fn assert_covers_every_check(names: &[&str]) {
    let expected: Vec<&str> = Check::ALL.iter().map(|check| check.name()).collect();
    if names != expected.as_slice() {
        panic!("the conformance test list {names:?} differs from the checks {expected:?}");
    }
}

/// Generates one `#[tokio::test]` per check, each named after its check, plus a test that the
/// list covers every check. `$fixture` is an expression whose `.await` yields a [`Fixture`];
/// it is evaluated once per test.
///
/// The calling crate needs `tokio` with the `macros` and `rt` features.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::conformance_tests!(@each $fixture;
            capabilities_agree,
            provision_reads_back,
            grant_and_revoke_read_back,
            configure_reads_back,
            configure_rejects_unknown_key,
            rotation_replaces_credential,
            rotation_advances_credential_age,
            disable_blocks_login,
            sessions_are_listed_and_ended,
            delete_removes_account,
            deleted_account_rejects_login,
            observe_finds_undeclared_accounts,
            observe_shows_drift,
            observe_survives_concurrent_deletes,
            changes_are_idempotent,
            unreachable_reads_are_unavailable,
            unreachable_changes_are_unavailable,
            reads_open_new_connections,
        );
    };
    (@each $fixture:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let fixture = $fixture.await;
                let result = $crate::checks::$check(&fixture).await;
                $crate::finish_check(&fixture, result).await;
            }
        )+

        #[test]
        fn every_check_has_a_test() {
            $crate::assert_covers_every_check(&[$(stringify!($check)),+]);
        }
    };
}
