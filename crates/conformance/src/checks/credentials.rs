//! Checks of credentials, login and sessions: what a login probe and the target's own records
//! prove after a rotation, a disable, a session ended or an account deleted.

use super::{clock_tolerance, ensure, now, During, Failure, Scratch};
use crate::fixture::Fixture;
use enact_connector::{LoginProbe, Rejection};
use enact_model::{OwnedObjects, SessionSelector, Timestamp};

/// Fails the check unless `recorded` lies within `from..=to`, widened by the clock tolerance.
fn ensure_within(
    recorded: Timestamp,
    from: Timestamp,
    to: Timestamp,
    subject: &str,
) -> Result<(), Failure> {
    let tolerance = clock_tolerance();
    ensure!(
        recorded >= from.minus(tolerance) && recorded <= to.plus(tolerance),
        "{subject} is {recorded}, outside the interval from {from} to {to} in which the check made the change"
    );
    Ok(())
}

pub(super) async fn rotation_replaces_credential<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("rotate");
    let old = scratch.fixture.credential();
    let new = scratch.fixture.credential();
    scratch.create(&account, true, Some(&old)).await?;
    // Without this, a rejected old credential below would prove nothing.
    scratch
        .expect_probe(&account, &old, LoginProbe::Accepted, "before the rotation")
        .await?;

    scratch
        .connector
        .set_credential(&account, &new, now())
        .await
        .during(&format!("set_credential(`{account}`)"))?;

    scratch
        .expect_probe(
            &account,
            &new,
            LoginProbe::Accepted,
            "with the new credential",
        )
        .await?;
    scratch
        .expect_probe(
            &account,
            &old,
            LoginProbe::Rejected(Rejection::InvalidCredential),
            "with the replaced credential",
        )
        .await
}

pub(super) async fn rotation_advances_credential_age<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("age");
    let old = scratch.fixture.credential();
    let new = scratch.fixture.credential();

    let before_create = now();
    scratch
        .connector
        .create_account(
            &account,
            true,
            &scratch.fixture.settings(),
            Some(&old),
            before_create,
        )
        .await
        .during(&format!("create_account(`{account}`)"))?;
    let after_create = now();
    let created = scratch.read(&account).await?;
    let Some(created_at) = created.credential_set_at else {
        return Err(Failure(format!(
            "`{account}` was created with a credential but reads back no credential_set_at"
        )));
    };
    ensure_within(
        created_at,
        before_create,
        after_create,
        "credential_set_at after create_account",
    )?;

    let before_rotate = now();
    scratch
        .connector
        .set_credential(&account, &new, before_rotate)
        .await
        .during(&format!("set_credential(`{account}`)"))?;
    let after_rotate = now();
    let rotated = scratch.read(&account).await?;
    let Some(rotated_at) = rotated.credential_set_at else {
        return Err(Failure(format!(
            "`{account}` reads back no credential_set_at after set_credential"
        )));
    };
    ensure!(
        rotated_at > created_at,
        "credential_set_at of `{account}` did not move forward: {created_at} before set_credential, {rotated_at} after"
    );
    ensure_within(
        rotated_at,
        before_rotate,
        after_rotate,
        "credential_set_at after set_credential",
    )
}

pub(super) async fn disable_blocks_login<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("disable");
    let credential = scratch.fixture.credential();
    scratch.create(&account, true, Some(&credential)).await?;
    scratch
        .expect_probe(
            &account,
            &credential,
            LoginProbe::Accepted,
            "before set_login(false)",
        )
        .await?;

    scratch
        .connector
        .set_login(&account, false)
        .await
        .during(&format!("set_login(`{account}`, false)"))?;
    let disabled = scratch.read(&account).await?;
    ensure!(
        !disabled.login_enabled,
        "`{account}` reads back login_enabled true after set_login(false)"
    );
    scratch
        .expect_probe(
            &account,
            &credential,
            LoginProbe::Rejected(Rejection::LoginDisabled),
            "after set_login(false)",
        )
        .await?;

    scratch
        .connector
        .set_login(&account, true)
        .await
        .during(&format!("set_login(`{account}`, true)"))?;
    let enabled = scratch.read(&account).await?;
    ensure!(
        enabled.login_enabled,
        "`{account}` reads back login_enabled false after set_login(true)"
    );
    scratch
        .expect_probe(
            &account,
            &credential,
            LoginProbe::Accepted,
            "after set_login(true)",
        )
        .await
}

pub(super) async fn sessions_are_listed_and_ended<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("session");
    let credential = scratch.fixture.credential();
    scratch.create(&account, true, Some(&credential)).await?;

    let before_open = now();
    let guard = scratch
        .fixture
        .open_session(&account, &credential)
        .await
        .during(&format!("opening a session as `{account}`"))?;
    let is_open = guard
        .is_open()
        .await
        .during("using the session just opened")?;
    ensure!(is_open, "fixture: the session just opened does not work");

    let listed = scratch
        .connector
        .list_sessions(&account)
        .await
        .during(&format!("list_sessions(`{account}`)"))?;
    let session = match guard.id() {
        Some(id) => listed
            .iter()
            .find(|session| session.id == id)
            .ok_or_else(|| {
                Failure(format!(
                    "list_sessions(`{account}`) omits open session `{id}`: {listed:?}"
                ))
            })?,
        None => listed.first().ok_or_else(|| {
            Failure(format!(
                "list_sessions(`{account}`) lists no session while one is open"
            ))
        })?,
    };
    ensure_within(
        session.started_at,
        before_open,
        now(),
        &format!("started_at of session `{}`", session.id),
    )?;
    let read = scratch.read(&account).await?;
    ensure!(
        read.sessions.iter().any(|s| s.id == session.id),
        "read_account(`{account}`) omits session `{}` that list_sessions reports: {:?}",
        session.id,
        read.sessions
    );

    let ended = scratch
        .connector
        .end_sessions(&account, &SessionSelector::All, now())
        .await
        .during(&format!("end_sessions(`{account}`, all)"))?;
    ensure!(
        ended.iter().any(|s| s.id == session.id),
        "end_sessions(`{account}`, all) does not return session `{}`: {ended:?}",
        session.id
    );
    let still_open = guard
        .is_open()
        .await
        .during("using the session after end_sessions")?;
    ensure!(
        !still_open,
        "session `{}` of `{account}` still works after end_sessions",
        session.id
    );
    let remaining = scratch
        .connector
        .list_sessions(&account)
        .await
        .during(&format!("list_sessions(`{account}`) after end_sessions"))?;
    ensure!(
        remaining.is_empty(),
        "list_sessions(`{account}`) still lists sessions after end_sessions: {remaining:?}"
    );
    let again = scratch
        .connector
        .end_sessions(&account, &SessionSelector::All, now())
        .await
        .during(&format!("second end_sessions(`{account}`, all)"))?;
    ensure!(
        again.is_empty(),
        "a second end_sessions(`{account}`, all) ended sessions again: {again:?}"
    );
    Ok(())
}

pub(super) async fn deleted_account_rejects_login<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("gone");
    let credential = scratch.fixture.credential();
    scratch.create(&account, true, Some(&credential)).await?;
    scratch
        .expect_probe(
            &account,
            &credential,
            LoginProbe::Accepted,
            "before the delete",
        )
        .await?;

    scratch
        .connector
        .delete_account(&account, &OwnedObjects::Refuse)
        .await
        .during(&format!("delete_account(`{account}`)"))?;

    // Many targets hide whether an account exists, so either rejection proves the point.
    let probe = scratch.connector.probe_login(&account, &credential).await;
    ensure!(
        matches!(
            probe,
            LoginProbe::Rejected(Rejection::InvalidCredential | Rejection::UnknownAccount)
        ),
        "probe_login(`{account}`) after the delete: expected a rejection as invalid credential or unknown account, found {probe:?}"
    );
    Ok(())
}
