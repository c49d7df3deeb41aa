//! Checks of reading: what `observe` finds, that it reports changes, that the connector's declared
//! capabilities are true, and that reads open new connections.

use super::{ensure, ensure_eq, supports, During, Failure, Scratch};
use crate::fixture::{Fixture, Proof, Support};
use enact_model::{Entitlement, OwnedObjects, TargetObservation};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

/// How many reads the connection check makes; each must open its own connection.
const COUNTED_READS: usize = 3;

/// How many accounts the concurrent-delete check deletes while it observes. Each delete is a
/// chance for `observe` to meet an account that vanished after it was listed.
const DELETED_WHILE_OBSERVED: usize = 12;

pub(super) fn capabilities_agree<F: Fixture + ?Sized>(
    scratch: &Scratch<'_, F>,
) -> Result<(), Failure> {
    let declared = scratch.fixture.capabilities();
    let own = scratch.connector.capabilities();
    let pairs = [
        (
            Proof::CredentialAge,
            own.credential_age,
            &declared.credential_age,
        ),
        (Proof::LoginProbe, own.login_probe, &declared.login_probe),
        (Proof::Sessions, own.sessions, &declared.sessions),
    ];
    let mismatches: Vec<String> = pairs
        .iter()
        .filter(|(_, own, declared)| *own != declared.is_supported())
        .map(|(proof, own, declared)| match declared {
            Support::Supported => format!(
                "the connector reports {proof} {own}, but the fixture declares it supported"
            ),
            Support::NotSupported(reason) => format!(
                "the connector reports {proof} {own}, but the fixture declares it not supported: {reason}"
            ),
        })
        .collect();
    ensure!(mismatches.is_empty(), "{}", mismatches.join("; "));
    Ok(())
}

/// Returns the entitlements `observation` reports for `account`, failing the check if the
/// account is missing.
fn observed_entitlements(
    observation: &TargetObservation,
    account: &str,
) -> Result<BTreeSet<Entitlement>, Failure> {
    observation
        .accounts
        .get(account)
        .map(|observed| observed.entitlements.clone())
        .ok_or_else(|| Failure(format!("observe omits declared account `{account}`")))
}

pub(super) async fn observe_finds_undeclared_accounts<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let undeclared = scratch.account("undeclared");
    let declared = scratch.account("declared");
    // A declared account is reported even when it cannot log in, where login can be disabled.
    let declared_login = !supports(scratch.fixture, Proof::Disable);
    scratch.create(&undeclared, true, None).await?;
    scratch.create(&declared, declared_login, None).await?;

    let observation = scratch
        .connector
        .observe(std::slice::from_ref(&declared))
        .await
        .during("observe")?;
    ensure_eq!(
        observation.target,
        *scratch.connector.target(),
        "target of the observation"
    );
    let found = observation.accounts.get(&undeclared).ok_or_else(|| {
        Failure(format!(
            "observe omits login account `{undeclared}`, which is not declared"
        ))
    })?;
    ensure!(
        found.login_enabled,
        "observe reports undeclared `{undeclared}` with login disabled"
    );
    let found = observation.accounts.get(&declared).ok_or_else(|| {
        Failure(format!(
            "observe omits declared account `{declared}` (login {declared_login})"
        ))
    })?;
    ensure_eq!(
        found.login_enabled,
        declared_login,
        "login_enabled of declared `{declared}` in observe"
    );
    Ok(())
}

pub(super) async fn observe_shows_drift<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("drift");
    let [first, second] = scratch.fixture.entitlements();
    scratch.create(&account, true, None).await?;
    let connector = &scratch.connector;
    let declared = std::slice::from_ref(&account);

    connector
        .grant(&account, &first)
        .await
        .during(&format!("grant(`{account}`, {first})"))?;
    let before = connector.observe(declared).await.during("first observe")?;
    ensure_eq!(
        observed_entitlements(&before, &account)?,
        BTreeSet::from([first.clone()]),
        "entitlements of `{account}` in the first observe"
    );

    // The change a plan did not make: another grant, and a revoke of what was there.
    connector
        .grant(&account, &second)
        .await
        .during(&format!("grant(`{account}`, {second})"))?;
    let granted = connector.observe(declared).await.during("second observe")?;
    ensure_eq!(
        observed_entitlements(&granted, &account)?,
        BTreeSet::from([first.clone(), second.clone()]),
        "entitlements of `{account}` in the observe after granting {second}"
    );

    connector
        .revoke(&account, &first)
        .await
        .during(&format!("revoke(`{account}`, {first})"))?;
    let revoked = connector.observe(declared).await.during("third observe")?;
    ensure_eq!(
        observed_entitlements(&revoked, &account)?,
        BTreeSet::from([second.clone()]),
        "entitlements of `{account}` in the observe after revoking {first}"
    );
    Ok(())
}

pub(super) async fn observe_survives_concurrent_deletes<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let accounts: Vec<String> = (0..DELETED_WHILE_OBSERVED)
        .map(|_| scratch.account("vanish"))
        .collect();
    for account in &accounts {
        scratch.create(account, true, None).await?;
    }
    let connector = &scratch.connector;

    // Both loops run on this task and yield to each other after every call, so the
    // observations interleave with the deletes even where a call never waits on I/O.
    let deletes_done = AtomicBool::new(false);
    let deletes = async {
        let mut result = Ok(());
        for account in &accounts {
            result = connector
                .delete_account(account, &OwnedObjects::Refuse)
                .await
                .during(&format!("delete_account(`{account}`)"));
            if result.is_err() {
                break;
            }
            yield_once().await;
        }
        deletes_done.store(true, Ordering::Relaxed);
        result
    };
    let observations = async {
        let mut count = 0_usize;
        while !deletes_done.load(Ordering::Relaxed) {
            count += 1;
            connector.observe(&accounts).await.during(&format!(
                "observe number {count} while accounts were deleted"
            ))?;
            yield_once().await;
        }
        Ok::<usize, Failure>(count)
    };
    let (observed, deleted) = futures_util::future::join(observations, deletes).await;
    deleted?;
    let count = observed?;
    ensure!(count > 0, "no observe ran while the accounts were deleted");

    let after = connector
        .observe(&accounts)
        .await
        .during("observe after the deletes")?;
    let left: Vec<&String> = accounts
        .iter()
        .filter(|account| after.accounts.contains_key(*account))
        .collect();
    ensure!(
        left.is_empty(),
        "observe still reports deleted accounts {left:?}"
    );
    Ok(())
}

/// Returns after letting the other future of a join run once.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|context| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            context.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

pub(super) async fn reads_open_new_connections<F: Fixture + ?Sized>(
    scratch: &mut Scratch<'_, F>,
) -> Result<(), Failure> {
    let account = scratch.account("connections");
    scratch.create(&account, true, None).await?;
    let counted = scratch
        .fixture
        .counted_connector()
        .await
        .during("building a connector whose connections it counts")?;
    let before = counted
        .log
        .connections(&account)
        .await
        .during("listing connections")?;

    // Three different reads, as the engine makes them between a change and its verification.
    let declared = std::slice::from_ref(&account);
    let first = counted
        .connector
        .read_account(&account)
        .await
        .during(&format!("read_account(`{account}`)"))?;
    ensure!(
        first.is_some(),
        "read_account(`{account}`) found no account"
    );
    let observation = counted
        .connector
        .observe(declared)
        .await
        .during("observe")?;
    ensure!(
        observation.accounts.contains_key(&account),
        "observe omits declared account `{account}`"
    );
    let second = counted
        .connector
        .read_account(&account)
        .await
        .during(&format!("second read_account(`{account}`)"))?;
    ensure!(
        second.is_some(),
        "the second read_account(`{account}`) found no account"
    );

    let after = counted
        .log
        .connections(&account)
        .await
        .during("listing connections")?;
    let opened = after.difference(&before).count();
    ensure!(
        opened >= COUNTED_READS,
        "{COUNTED_READS} reads of `{account}` opened {opened} new connections; each read must open its own"
    );
    Ok(())
}
