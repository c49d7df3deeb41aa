//! Checks of creating, configuring, granting, revoking and deleting accounts.

use super::{ensure, ensure_eq, now, supports, During, Failure, Scratch};
use crate::fixture::{Fixture, Proof};
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{Entitlement, ObservedAccount, OwnedObjects, SessionSelector};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

/// A setting key no connector manages, for the check that unknown keys are rejected.
const UNKNOWN_SETTING: &str = "enact_conformance_unknown_setting";

/// Collects entitlements into the set that an account reads back.
fn set_of(entitlements: &[&Entitlement]) -> BTreeSet<Entitlement> {
    entitlements.iter().map(|e| (*e).clone()).collect()
}

/// Returns the fixture's two entitlements, failing the check if they are equal.
fn two_entitlements<F: Fixture + ?Sized>(
    fixture: &F,
) -> Result<(Entitlement, Entitlement), Failure> {
    let [first, second] = fixture.entitlements();
    ensure!(
        first != second,
        "fixture: the two entitlements are both `{first}`"
    );
    Ok((first, second))
}

/// Reads `account` and fails the check unless it holds exactly `expected`.
async fn expect_entitlements<F: Fixture + ?Sized>(
    scratch: &Scratch<'_, F>,
    account: &str,
    expected: &[&Entitlement],
    when: &str,
) -> Result<(), Failure> {
    let read = scratch.read(account).await?;
    ensure_eq!(
        read.entitlements,
        set_of(expected),
        "entitlements of `{account}` {when}"
    );
    Ok(())
}

pub(super) async fn provision_reads_back<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let fixture = scratch.fixture;
    let account = scratch.account("provision");
    let (first, second) = two_entitlements(fixture)?;
    let credential = fixture.credential();
    scratch.create(&account, true, Some(&credential)).await?;

    let created = scratch.read(&account).await?;
    ensure_eq!(created.name, account, "name read back");
    ensure!(
        created.login_enabled,
        "`{account}` was created with login but reads back with login disabled"
    );
    ensure!(
        created.entitlements.is_empty(),
        "new account `{account}` holds entitlements {:?}",
        created.entitlements
    );
    ensure_eq!(
        created.settings,
        fixture.settings(),
        "settings of new account `{account}`"
    );

    for entitlement in [&first, &second] {
        scratch
            .connector
            .grant(&account, entitlement)
            .await
            .during(&format!("grant(`{account}`, {entitlement})"))?;
    }
    let provisioned = scratch.read(&account).await?;
    ensure_eq!(
        provisioned.entitlements,
        set_of(&[&first, &second]),
        "entitlements of `{account}` after two grants"
    );

    let observation = scratch
        .connector
        .observe(std::slice::from_ref(&account))
        .await
        .during("observe")?;
    let observed = observation
        .accounts
        .get(&account)
        .ok_or_else(|| Failure(format!("observe omits declared account `{account}`")))?;
    ensure_eq!(
        *observed,
        provisioned,
        "`{account}` in observe compared with read_account"
    );
    Ok(())
}

pub(super) async fn grant_and_revoke_read_back<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("grant");
    let (first, second) = two_entitlements(scratch.fixture)?;
    scratch.create(&account, true, None).await?;
    let connector = &scratch.connector;

    connector
        .grant(&account, &first)
        .await
        .during(&format!("grant(`{account}`, {first})"))?;
    expect_entitlements(
        scratch,
        &account,
        &[&first],
        &format!("after granting {first}"),
    )
    .await?;

    connector
        .grant(&account, &second)
        .await
        .during(&format!("grant(`{account}`, {second})"))?;
    expect_entitlements(
        scratch,
        &account,
        &[&first, &second],
        &format!("after granting {second}"),
    )
    .await?;

    connector
        .revoke(&account, &first)
        .await
        .during(&format!("revoke(`{account}`, {first})"))?;
    expect_entitlements(
        scratch,
        &account,
        &[&second],
        &format!("after revoking {first}"),
    )
    .await?;

    connector
        .revoke(&account, &second)
        .await
        .during(&format!("revoke(`{account}`, {second})"))?;
    expect_entitlements(scratch, &account, &[], &format!("after revoking {second}")).await
}

pub(super) async fn configure_reads_back<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let fixture = scratch.fixture;
    let settings = fixture.settings();
    let other = fixture.other_settings();
    ensure!(
        settings != other,
        "fixture: the other settings equal the settings {settings:?}"
    );
    let account = scratch.account("configure");
    scratch.create(&account, true, None).await?;

    for (expected, which) in [
        (&other, "the other settings"),
        (&settings, "the first settings again"),
    ] {
        scratch
            .connector
            .configure(&account, expected)
            .await
            .during(&format!("configure(`{account}`) with {which}"))?;
        let read = scratch.read(&account).await?;
        ensure_eq!(
            read.settings,
            *expected,
            "settings of `{account}` after configure with {which}"
        );
    }
    Ok(())
}

pub(super) async fn configure_rejects_unknown_key<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("unknownkey");
    scratch.create(&account, true, None).await?;

    let unknown = BTreeMap::from([(UNKNOWN_SETTING.to_string(), "1".to_string())]);
    match scratch.connector.configure(&account, &unknown).await {
        Ok(()) => {
            return Err(Failure(format!(
                "configure(`{account}`) accepted the unknown setting `{UNKNOWN_SETTING}`"
            )))
        }
        Err(error) => ensure!(
            error.kind == ErrorKind::Invalid,
            "configure(`{account}`) with the unknown setting `{UNKNOWN_SETTING}` failed as {:?}, expected Invalid: {error}",
            error.kind
        ),
    }
    let read = scratch.read(&account).await?;
    ensure_eq!(
        read.settings,
        scratch.fixture.settings(),
        "settings of `{account}` after the rejected configure"
    );
    Ok(())
}

pub(super) async fn delete_removes_account<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("delete");
    let (first, _) = two_entitlements(scratch.fixture)?;
    let credential = scratch.fixture.credential();
    scratch.create(&account, true, Some(&credential)).await?;
    // An entitlement held at deletion must not stop the delete.
    scratch
        .connector
        .grant(&account, &first)
        .await
        .during(&format!("grant(`{account}`, {first})"))?;

    for run in ["first", "second"] {
        scratch
            .connector
            .delete_account(&account, &OwnedObjects::Refuse)
            .await
            .during(&format!("{run} delete_account(`{account}`)"))?;
        let read = scratch.read_optional(&account).await?;
        ensure!(
            read.is_none(),
            "`{account}` still reads back after the {run} delete: {read:?}"
        );
    }
    let observation = scratch
        .connector
        .observe(std::slice::from_ref(&account))
        .await
        .during("observe")?;
    ensure!(
        !observation.accounts.contains_key(&account),
        "observe still reports deleted account `{account}`"
    );
    Ok(())
}

/// Runs `change` twice, reading `account` back after each run, and fails the check unless
/// both runs succeed and both reads are equal. Returns the second read.
async fn twice<F, Fut>(
    scratch: &Scratch<'_, F>,
    account: &str,
    what: &str,
    change: impl Fn() -> Fut,
) -> Result<Option<ObservedAccount>, Failure>
where
    F: Fixture + ?Sized,
    Fut: Future<Output = Result<(), ConnectorError>>,
{
    change().await.during(&format!("{what} (first run)"))?;
    let first = scratch.read_optional(account).await?;
    change().await.during(&format!("{what} (second run)"))?;
    let second = scratch.read_optional(account).await?;
    ensure_eq!(
        second,
        first,
        "`{account}` after the second {what} compared with after the first"
    );
    Ok(second)
}

pub(super) async fn changes_are_idempotent<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let fixture = scratch.fixture;
    let account = scratch.account("idempotent");
    let (first, _) = two_entitlements(fixture)?;
    let settings = fixture.settings();
    let other = fixture.other_settings();
    let credential = fixture.credential();
    let rotated = fixture.credential();
    let created_at = now();
    let scratch = &*scratch;
    let connector = &scratch.connector;

    twice(scratch, &account, "create_account", || {
        connector.create_account(&account, true, &settings, Some(&credential), created_at)
    })
    .await?;
    let configured = twice(scratch, &account, "configure", || {
        connector.configure(&account, &other)
    })
    .await?;
    ensure!(
        configured.is_some_and(|read| read.settings == other),
        "the settings of `{account}` do not read back after configure"
    );
    let granted = twice(scratch, &account, &format!("grant of {first}"), || {
        connector.grant(&account, &first)
    })
    .await?;
    ensure!(
        granted.is_some_and(|read| read.entitlements.contains(&first)),
        "`{account}` does not hold {first} after the grant"
    );
    let revoked = twice(scratch, &account, &format!("revoke of {first}"), || {
        connector.revoke(&account, &first)
    })
    .await?;
    ensure!(
        revoked.is_some_and(|read| !read.entitlements.contains(&first)),
        "`{account}` still holds {first} after the revoke"
    );
    let rotated_at = now();
    twice(scratch, &account, "set_credential", || {
        connector.set_credential(&account, &rotated, rotated_at)
    })
    .await?;

    if supports(fixture, Proof::Disable) {
        for enabled in [false, true] {
            let read = twice(scratch, &account, &format!("set_login({enabled})"), || {
                connector.set_login(&account, enabled)
            })
            .await?;
            ensure!(
                read.is_some_and(|read| read.login_enabled == enabled),
                "`{account}` does not read back login_enabled {enabled} after set_login({enabled})"
            );
        }
    }

    if supports(fixture, Proof::Sessions) {
        for run in ["first", "second"] {
            let ended = connector
                .end_sessions(&account, &SessionSelector::All, now())
                .await
                .during(&format!("{run} end_sessions(`{account}`)"))?;
            ensure!(
                ended.is_empty(),
                "the {run} end_sessions(`{account}`) ended sessions of an account nobody logged in to: {ended:?}"
            );
        }
    }

    let deleted = twice(scratch, &account, "delete_account", || {
        connector.delete_account(&account, &OwnedObjects::Refuse)
    })
    .await?;
    ensure!(
        deleted.is_none(),
        "`{account}` still reads back after delete_account"
    );
    Ok(())
}
