//! Checks of a target that cannot be reached: every failure must be transient, so the
//! executor retries it, and a probe must not claim a rejection it never received.

use super::{ensure, now, supports, During, Failure};
use crate::fixture::{Fixture, Proof};
use enact_connector::{ConnectorError, ErrorKind, LoginProbe};
use enact_model::{OwnedObjects, SessionSelector};

/// Fails the check unless `result` is an error of kind `Unavailable` that says it is
/// transient.
fn expect_unavailable<T: std::fmt::Debug>(
    result: Result<T, ConnectorError>,
    operation: &str,
) -> Result<(), Failure> {
    match result {
        Ok(value) => Err(Failure(format!(
            "{operation} succeeded against a closed port: {value:?}"
        ))),
        Err(error) => {
            ensure!(
                error.kind == ErrorKind::Unavailable,
                "{operation} against a closed port failed as {:?}, expected Unavailable: {error}",
                error.kind
            );
            ensure!(
                error.is_transient(),
                "{operation} against a closed port failed as Unavailable but is not transient"
            );
            Ok(())
        }
    }
}

pub(super) async fn unreachable_reads_are_unavailable<F: Fixture + ?Sized>(
    fixture: &F,
) -> Result<(), Failure> {
    let connector = fixture
        .unreachable_connector()
        .await
        .during("building the connector for a closed port")?;
    let account = fixture.account_name("unreachable");

    expect_unavailable(connector.observe(&[]).await, "observe")?;
    expect_unavailable(
        connector.observe(std::slice::from_ref(&account)).await,
        "observe with a declared account",
    )?;
    expect_unavailable(connector.read_account(&account).await, "read_account")?;
    expect_unavailable(connector.list_sessions(&account).await, "list_sessions")?;
    let probe = connector.probe_login(&account, &fixture.credential()).await;
    ensure!(
        matches!(probe, LoginProbe::Unavailable { .. }),
        "probe_login against a closed port returned {probe:?}, expected Unavailable"
    );
    Ok(())
}

pub(super) async fn unreachable_changes_are_unavailable<F: Fixture + ?Sized>(
    fixture: &F,
) -> Result<(), Failure> {
    let connector = fixture
        .unreachable_connector()
        .await
        .during("building the connector for a closed port")?;
    let account = fixture.account_name("unreachable");
    let [entitlement, _] = fixture.entitlements();
    let credential = fixture.credential();
    let settings = fixture.settings();

    expect_unavailable(
        connector
            .create_account(&account, true, &settings, Some(&credential), now())
            .await,
        "create_account",
    )?;
    // Configuring no settings has nothing to send, so it may succeed without the target.
    if supports(fixture, Proof::Settings) {
        expect_unavailable(connector.configure(&account, &settings).await, "configure")?;
    }
    expect_unavailable(connector.grant(&account, &entitlement).await, "grant")?;
    expect_unavailable(connector.revoke(&account, &entitlement).await, "revoke")?;
    expect_unavailable(
        connector.set_credential(&account, &credential, now()).await,
        "set_credential",
    )?;
    if supports(fixture, Proof::Disable) {
        expect_unavailable(connector.set_login(&account, false).await, "set_login")?;
    }
    if supports(fixture, Proof::Sessions) {
        expect_unavailable(
            connector
                .end_sessions(&account, &SessionSelector::All, now())
                .await,
            "end_sessions",
        )?;
    }
    expect_unavailable(
        connector
            .delete_account(&account, &OwnedObjects::Refuse)
            .await,
        "delete_account",
    )
}
