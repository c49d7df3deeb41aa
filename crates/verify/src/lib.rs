//! Verify: independent proof of each executed action.
//!
//! The verifier never trusts the call that made a change. It reads the target back through the
//! connector, which opens a new connection for every read and login probe, and it reads
//! credential values back from their sink and compares their fingerprints with the ones the
//! journal recorded. Each probe retries within the target's verification window, because some
//! targets apply changes with a delay, and records how many attempts it took.

mod probes;

use enact_connector::{Connector, Rejection, Sink};
use enact_model::{
    Action, ActionKind, Clock, Fingerprint, FingerprintKey, Probe, ProbeOutcome, SessionSelector,
    Timestamp,
};
use probes::ProbeRunner;
use std::time::Duration as StdDuration;

/// What the verifier needs to know about one executed action.
pub struct VerifyContext<'a> {
    pub connector: &'a dyn Connector,
    /// The sink of the account's credential, when it has one.
    pub sink: Option<&'a dyn Sink>,
    pub key: &'a FingerprintKey,
    pub clock: &'a dyn Clock,
    /// How long a probe keeps retrying before it settles on its last outcome.
    pub window: StdDuration,
    /// When the action's effect started, the reference instant for session probes.
    pub executed_at: Timestamp,
    /// The fingerprint of the credential the action set, as journaled.
    pub new_fingerprint: Option<Fingerprint>,
}

/// Runs every probe that `action` calls for and returns them in order.
pub async fn probe_action(action: &Action, ctx: &VerifyContext<'_>) -> Vec<Probe> {
    let runner = ProbeRunner::new(ctx);
    let account = action.account.as_str();
    let mut probes = Vec::new();
    match &action.kind {
        ActionKind::CreateAccount {
            login,
            sink,
            settings,
        } => {
            probes.push(runner.account_exists(account, Some(*login)).await);
            if !settings.is_empty() {
                probes.push(runner.settings(account, settings).await);
            }
            if sink.is_some() {
                probes.push(runner.sink_holds_new(ctx.new_fingerprint.as_ref()).await);
                probes.push(runner.current_login_accepted(account).await);
            }
        }
        ActionKind::Configure { settings } => {
            probes.push(runner.settings(account, settings).await);
        }
        ActionKind::Grant { entitlement } => {
            probes.push(runner.entitlement(account, entitlement, true).await);
        }
        ActionKind::Revoke { entitlement } => {
            probes.push(runner.entitlement(account, entitlement, false).await);
        }
        ActionKind::RotateCredential { end_sessions, .. } => {
            probes.push(runner.sink_holds_new(ctx.new_fingerprint.as_ref()).await);
            probes.push(runner.current_login_accepted(account).await);
            probes.push(
                runner
                    .previous_login_rejected(account, &[Rejection::InvalidCredential])
                    .await,
            );
            if *end_sessions {
                let selector = SessionSelector::StartedBefore {
                    instant: ctx.executed_at,
                };
                probes.push(runner.no_sessions(account, &selector).await);
            } else {
                probes.push(runner.not_applicable(
                    "sessions-before-rotation-ended",
                    "the session policy keeps sessions opened before the rotation; they are listed in the evidence",
                ));
            }
        }
        ActionKind::EndSessions { selector } => {
            probes.push(runner.no_sessions(account, selector).await);
        }
        ActionKind::DisableLogin => {
            probes.push(runner.account_exists(account, Some(false)).await);
            probes.push(runner.no_sessions(account, &SessionSelector::All).await);
            probes.push(
                runner
                    .current_login_rejected(
                        account,
                        &[Rejection::LoginDisabled, Rejection::InvalidCredential],
                    )
                    .await,
            );
        }
        ActionKind::EnableLogin => {
            probes.push(runner.account_exists(account, Some(true)).await);
            if ctx.sink.is_some() {
                probes.push(runner.current_login_accepted(account).await);
            }
        }
        ActionKind::PurgeCredential { .. } => {
            probes.push(runner.sink_empty().await);
        }
        ActionKind::DeleteAccount { purge, .. } => {
            probes.push(runner.account_absent(account).await);
            probes.push(runner.no_sessions(account, &SessionSelector::All).await);
            if purge.is_some() {
                probes.push(runner.sink_empty().await);
            }
        }
    }
    probes
}

/// Checks that the sink no longer holds the previous credential with fingerprint `previous`.
pub async fn probe_previous_purged(ctx: &VerifyContext<'_>, previous: &Fingerprint) -> Probe {
    ProbeRunner::new(ctx).previous_purged(previous).await
}

/// Whether every probe so far is confirmed or not applicable, so clean-up may proceed.
pub fn all_confirmed(probes: &[Probe]) -> bool {
    probes.iter().all(|p| {
        matches!(
            p.outcome,
            ProbeOutcome::Confirmed | ProbeOutcome::NotApplicable { .. }
        )
    })
}
