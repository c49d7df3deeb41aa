//! The steps of each action kind and how each one is performed.
//!
//! Steps are idempotent. A credential is staged in its sink before the target is changed and
//! promoted after, so whatever point a run is killed at, either the sink's current value still
//! works or the staged value can be read back and applied again.

use crate::journal::StepResult;
use crate::SecretGenerator;
use enact_connector::{Connector, ConnectorError, DeliveryMeta, ErrorKind, LoginProbe, Sink};
use enact_model::{
    alternating_value, split_alternating_value, Action, ActionKind, Clock, Dependent, Fingerprint,
    FingerprintKey, ObservedSession, RotationStrategy, Secret, SessionSelector, Timestamp,
};
use serde::{Deserialize, Serialize};

/// A named step of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    ListSessions,
    StageCredential,
    CreateAccount,
    SetCredential,
    AddCredential,
    TestCredential,
    PromoteCredential,
    RollbackCredential,
    WaitForDependents,
    RetirePrevious,
    Configure,
    Grant,
    Revoke,
    EnableLogin,
    DisableLogin,
    EndSessions,
    DeleteAccount,
    PurgeSink,
    DiscardPrevious,
}

impl Step {
    /// The step's name in the journal and the evidence.
    pub fn name(self) -> &'static str {
        match self {
            Step::ListSessions => "list-sessions",
            Step::StageCredential => "stage-credential",
            Step::CreateAccount => "create-account",
            Step::SetCredential => "set-credential",
            Step::AddCredential => "add-credential",
            Step::TestCredential => "test-credential",
            Step::WaitForDependents => "wait-for-dependents",
            Step::RetirePrevious => "retire-previous",
            Step::RollbackCredential => "rollback-credential",
            Step::PromoteCredential => "promote-credential",
            Step::Configure => "configure",
            Step::Grant => "grant",
            Step::Revoke => "revoke",
            Step::EnableLogin => "enable-login",
            Step::DisableLogin => "disable-login",
            Step::EndSessions => "end-sessions",
            Step::DeleteAccount => "delete-account",
            Step::PurgeSink => "purge-sink",
            Step::DiscardPrevious => "discard-previous",
        }
    }

    /// Whether this step changes who can get in, which makes its end time the instant the
    /// verifier measures sessions against.
    fn marks_effect(self) -> bool {
        matches!(
            self,
            Step::CreateAccount
                | Step::SetCredential
                | Step::RetirePrevious
                | Step::DisableLogin
                | Step::EndSessions
                | Step::DeleteAccount
                | Step::Configure
                | Step::Grant
                | Step::Revoke
                | Step::EnableLogin
        )
    }
}

/// The steps of `action`, in order. Clean-up after verification is not listed here.
pub fn steps_of(action: &Action) -> Vec<Step> {
    match &action.kind {
        ActionKind::CreateAccount {
            sink: Some(_),
            login,
            ..
        } => {
            let mut steps = vec![Step::StageCredential, Step::CreateAccount];
            if *login {
                steps.push(Step::TestCredential);
            }
            steps.push(Step::PromoteCredential);
            steps
        }
        ActionKind::CreateAccount { sink: None, .. } => vec![Step::CreateAccount],
        ActionKind::Configure { .. } => vec![Step::Configure],
        ActionKind::Grant { .. } => vec![Step::Grant],
        ActionKind::Revoke { .. } => vec![Step::Revoke],
        ActionKind::RotateCredential {
            end_sessions,
            strategy,
            ..
        } => {
            let mut steps = match strategy {
                RotationStrategy::Single => vec![
                    Step::ListSessions,
                    Step::StageCredential,
                    Step::SetCredential,
                    Step::TestCredential,
                    Step::PromoteCredential,
                ],
                // Both credentials work from the add to the retire, so a dependent that reads
                // the sink at any moment gets a value the target accepts.
                RotationStrategy::Dual { .. } | RotationStrategy::Alternating { .. } => vec![
                    Step::ListSessions,
                    Step::StageCredential,
                    Step::AddCredential,
                    Step::TestCredential,
                    Step::PromoteCredential,
                    Step::WaitForDependents,
                    Step::RetirePrevious,
                ],
            };
            if *end_sessions {
                steps.push(Step::EndSessions);
            }
            steps
        }
        ActionKind::EndSessions { .. } => vec![Step::EndSessions],
        ActionKind::PurgeCredential { .. } => vec![Step::PurgeSink],
        ActionKind::DisableLogin => vec![Step::DisableLogin, Step::EndSessions],
        ActionKind::EnableLogin => vec![Step::EnableLogin],
        ActionKind::DeleteAccount { purge, .. } => {
            let mut steps = vec![Step::DisableLogin, Step::EndSessions, Step::DeleteAccount];
            if purge.is_some() {
                steps.push(Step::PurgeSink);
            }
            steps
        }
    }
}

/// What the steps of one action have learned so far. Journaled in each step's result, so a
/// resumed run restores it. Holds fingerprints and session descriptions, never a secret.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StepState {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub new_fingerprint: Option<Fingerprint>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub previous_fingerprint: Option<Fingerprint>,
    /// When the step that changed access ended; sessions are judged against this instant.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub effect_at: Option<Timestamp>,
    /// Sessions open before a rotation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sessions_before: Vec<ObservedSession>,
    /// Sessions this action ended.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ended: Vec<ObservedSession>,
    /// When the sink made the new credential current.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub promoted_at: Option<Timestamp>,
    /// How each declared dependent was seen to move to the new credential.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub dependents: Vec<DependentMove>,
    /// Ids of the sessions open just before the promotion, which a dependent opened with the
    /// previous credential.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub open_at_promotion: Option<Vec<String>>,
    /// Ids of sessions on the previous credential that belong to no declared dependent.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub undeclared: Vec<String>,
}

/// How a declared dependent was seen to use the new credential.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DependentMove {
    pub name: String,
    /// What showed it, such as `session 4242 opened after the promotion`.
    pub seen: String,
}

impl StepState {
    /// Folds a journaled result detail into the state.
    pub fn merge(&mut self, detail: &serde_json::Value) {
        if let Ok(other) = serde_json::from_value::<StepState>(detail.clone()) {
            if other.new_fingerprint.is_some() {
                self.new_fingerprint = other.new_fingerprint;
            }
            if other.previous_fingerprint.is_some() {
                self.previous_fingerprint = other.previous_fingerprint;
            }
            if other.effect_at.is_some() {
                self.effect_at = other.effect_at;
            }
            if !other.sessions_before.is_empty() {
                self.sessions_before = other.sessions_before;
            }
            self.ended.extend(other.ended);
            if other.promoted_at.is_some() {
                self.promoted_at = other.promoted_at;
            }
            if !other.dependents.is_empty() {
                self.dependents = other.dependents;
            }
            if !other.undeclared.is_empty() {
                self.undeclared = other.undeclared;
            }
            if other.open_at_promotion.is_some() {
                self.open_at_promotion = other.open_at_promotion;
            }
        }
    }

    /// A line for the evidence about what a step learned, where there is more to say than `ok`.
    pub fn summary(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .dependents
            .iter()
            .map(|moved| format!("dependent `{}` moved ({})", moved.name, moved.seen))
            .collect();
        if !self.undeclared.is_empty() {
            parts.push(format!(
                "sessions {} on the previous credential belong to no declared dependent",
                self.undeclared.join(", ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Everything a step needs to run.
pub struct StepContext<'a> {
    pub action: &'a Action,
    pub connector: &'a dyn Connector,
    pub sink: Option<&'a dyn Sink>,
    pub key: &'a FingerprintKey,
    pub generator: &'a dyn SecretGenerator,
    pub clock: &'a dyn Clock,
    /// The declared dependents of the credential, for a rotation.
    pub dependents: &'a [Dependent],
    /// The two login users of an alternating-users account, when the action gives it a
    /// credential; the staged value then names the user it is for.
    pub alternating: Option<&'a [String; 2]>,
    /// The account's place among the target's accounts worked on at once.
    pub slot: &'a crate::engine::Slot,
}

fn missing_sink(action: &Action) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Invalid,
        format!(
            "action `{}` needs a credential sink but none is declared",
            action.id
        ),
    )
}

/// Reads the staged value that the stage step journaled, falling back to the current value if
/// an earlier run promoted it already.
async fn staged_value(ctx: &StepContext<'_>, state: &StepState) -> Result<Secret, ConnectorError> {
    let sink = ctx.sink.ok_or_else(|| missing_sink(ctx.action))?;
    let expected = state.new_fingerprint.as_ref().ok_or_else(|| {
        ConnectorError::new(
            ErrorKind::Other,
            "the journal holds no fingerprint for the staged credential",
        )
    })?;
    for candidate in [
        sink.read_staged(ctx.key).await?,
        sink.read_current(ctx.key).await?,
    ]
    .into_iter()
    .flatten()
    {
        if candidate.fingerprint() == expected {
            return Ok(candidate);
        }
    }
    Err(ConnectorError::new(
        ErrorKind::Conflict,
        format!(
            "{} no longer holds the staged credential {}",
            sink.describe(),
            expected.short()
        ),
    ))
}

/// Performs one step at `now` and returns what it learned.
pub async fn perform(
    step: Step,
    ctx: &StepContext<'_>,
    state: &StepState,
    now: Timestamp,
) -> Result<StepState, ConnectorError> {
    let account = ctx.action.account.as_str();
    let mut learned = StepState::default();
    match step {
        Step::ListSessions => {
            learned.sessions_before = ctx.connector.sessions_before_change(account).await?;
        }
        Step::StageCredential => {
            let sink = ctx.sink.ok_or_else(|| missing_sink(ctx.action))?;
            let previous = sink.read_current(ctx.key).await?;
            let mut secret = ctx.generator.generate(ctx.key);
            if let Some(users) = ctx.alternating {
                // The new password goes to the user that the current value does not name.
                let in_use = previous
                    .as_ref()
                    .and_then(|value| split_alternating_value(value, ctx.key))
                    .map(|(user, _)| user);
                let next = match in_use {
                    Some(user) if user == users[0] => &users[1],
                    _ => &users[0],
                };
                secret = alternating_value(next, &secret, ctx.key);
            }
            let meta = DeliveryMeta {
                identity: ctx
                    .action
                    .identity
                    .as_ref()
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                action_id: ctx.action.id.to_string(),
            };
            sink.stage(&secret, &meta).await?;
            learned.new_fingerprint = Some(secret.fingerprint().clone());
            learned.previous_fingerprint = previous.map(|p| p.fingerprint().clone());
        }
        Step::CreateAccount => {
            let ActionKind::CreateAccount {
                login,
                sink,
                settings,
            } = &ctx.action.kind
            else {
                return Err(ConnectorError::new(
                    ErrorKind::Other,
                    "create step on another action kind",
                ));
            };
            let credential = match sink {
                Some(_) => Some(staged_value(ctx, state).await?),
                None => None,
            };
            ctx.connector
                .create_account(account, *login, settings, credential.as_ref(), now)
                .await?;
        }
        Step::SetCredential => {
            let credential = staged_value(ctx, state).await?;
            ctx.connector
                .set_credential(account, &credential, now)
                .await?;
        }
        Step::AddCredential => {
            let credential = staged_value(ctx, state).await?;
            ctx.connector
                .add_credential(account, &credential, now)
                .await?;
        }
        Step::WaitForDependents => {
            if let ActionKind::RotateCredential {
                strategy,
                end_sessions,
                ..
            } = &ctx.action.kind
            {
                let grace = strategy
                    .grace()
                    .unwrap_or(enact_model::Duration::from_secs(0));
                // Waiting is not work on the target, so another account takes the place meanwhile.
                ctx.slot.release();
                if ctx.dependents.is_empty() {
                    // No dependent to watch, so each one gets the whole grace period, counted
                    // from the promotion, so a resumed run waits only for what is left of it.
                    let promoted_at = state.promoted_at.unwrap_or(now);
                    let deadline = promoted_at.0.saturating_add(grace.as_micros());
                    let left = u64::try_from(deadline.saturating_sub(now.0)).unwrap_or(0);
                    tracing::info!(
                        action = %ctx.action.id,
                        target = %ctx.action.target,
                        account = %ctx.action.account,
                        grace = %grace,
                        left_ms = left / 1000,
                        "no dependents are declared, so waiting out the grace period before retiring the previous credential"
                    );
                    tokio::time::sleep(std::time::Duration::from_micros(left)).await;
                    ctx.slot.acquire().await;
                } else {
                    let new_user = staged_value(ctx, state)
                        .await
                        .ok()
                        .and_then(|value| split_alternating_value(&value, ctx.key))
                        .map(|(user, _)| user);
                    let watch = crate::dependents::Watch {
                        open_at_promotion: state
                            .open_at_promotion
                            .as_ref()
                            .map(|ids| ids.iter().cloned().collect()),
                        promoted_at: state.promoted_at.unwrap_or(now),
                        grace,
                        new_user,
                        end_on_rotation: *end_sessions,
                        new_fingerprint: state.new_fingerprint.clone(),
                    };
                    let seen = crate::dependents::wait(ctx, &watch).await;
                    ctx.slot.acquire().await;
                    let seen = seen?;
                    learned.dependents = seen.moved;
                    learned.undeclared = seen.undeclared;
                }
            }
        }
        Step::RetirePrevious => {
            let keep = staged_value(ctx, state).await?;
            ctx.connector
                .retire_other_credentials(account, &keep, now)
                .await?;
        }
        Step::TestCredential => {
            // The new credential must work before the sink hands it to dependents.
            let credential = staged_value(ctx, state).await?;
            match ctx.connector.probe_login(account, &credential).await {
                LoginProbe::Accepted => {}
                LoginProbe::Rejected(rejection) => {
                    return Err(ConnectorError::new(
                        ErrorKind::Conflict,
                        format!("the target rejects the new credential ({rejection})"),
                    ))
                }
                LoginProbe::Unavailable { reason } => {
                    return Err(ConnectorError::new(ErrorKind::Unavailable, reason))
                }
            }
        }
        Step::RollbackCredential => {
            // The sink's current value is still the previous credential, because promotion
            // did not happen; setting it again puts the target back where it was.
            let sink = ctx.sink.ok_or_else(|| missing_sink(ctx.action))?;
            if let Some(previous) = sink.read_current(ctx.key).await? {
                ctx.connector
                    .set_credential(account, &previous, now)
                    .await?;
                learned.previous_fingerprint = Some(previous.fingerprint().clone());
            }
            sink.discard_staged().await?;
        }
        Step::PromoteCredential => {
            let sink = ctx.sink.ok_or_else(|| missing_sink(ctx.action))?;
            let expected = state.new_fingerprint.as_ref().ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Other,
                    "the journal holds no fingerprint to promote",
                )
            })?;
            if !ctx.dependents.is_empty() && ctx.alternating.is_none() {
                // Sessions that exist now use the previous credential; the dependents stage
                // counts only sessions that appear later as moved.
                learned.open_at_promotion = Some(
                    ctx.connector
                        .sessions_before_change(account)
                        .await?
                        .into_iter()
                        .map(|session| session.id)
                        .collect(),
                );
            }
            sink.promote(expected, ctx.key).await?;
            learned.promoted_at = Some(ctx.clock.now());
        }
        Step::Configure => {
            let ActionKind::Configure { settings } = &ctx.action.kind else {
                return Err(ConnectorError::new(
                    ErrorKind::Other,
                    "configure step on another action kind",
                ));
            };
            ctx.connector.configure(account, settings).await?;
        }
        Step::Grant | Step::Revoke => match &ctx.action.kind {
            ActionKind::Grant { entitlement } => ctx.connector.grant(account, entitlement).await?,
            ActionKind::Revoke { entitlement } => {
                ctx.connector.revoke(account, entitlement).await?
            }
            _ => {
                return Err(ConnectorError::new(
                    ErrorKind::Other,
                    "entitlement step on another action kind",
                ))
            }
        },
        Step::EnableLogin => ctx.connector.set_login(account, true).await?,
        Step::DisableLogin => ctx.connector.set_login(account, false).await?,
        Step::EndSessions => {
            let selector = match &ctx.action.kind {
                ActionKind::EndSessions { selector } => selector.clone(),
                ActionKind::RotateCredential { .. } => SessionSelector::StartedBefore {
                    instant: state.effect_at.unwrap_or(now),
                },
                _ => SessionSelector::All,
            };
            learned.ended = ctx.connector.end_sessions(account, &selector, now).await?;
        }
        Step::DeleteAccount => {
            let ActionKind::DeleteAccount { owned_objects, .. } = &ctx.action.kind else {
                return Err(ConnectorError::new(
                    ErrorKind::Other,
                    "delete step on another action kind",
                ));
            };
            ctx.connector.delete_account(account, owned_objects).await?;
        }
        Step::PurgeSink => {
            let sink = ctx.sink.ok_or_else(|| missing_sink(ctx.action))?;
            sink.purge().await?;
        }
        Step::DiscardPrevious => {
            let sink = ctx.sink.ok_or_else(|| missing_sink(ctx.action))?;
            sink.discard_previous().await?;
        }
    }
    // Sessions are judged against the instant access changed. A change takes effect by the
    // time its call returns, so that is the instant, except for ending sessions, whose
    // selector was evaluated at the step's start. The end-sessions step of a rotation keeps
    // the instant of the credential change.
    if step == Step::EndSessions {
        if !matches!(ctx.action.kind, ActionKind::RotateCredential { .. }) {
            learned.effect_at = Some(now);
        }
    } else if step.marks_effect() {
        learned.effect_at = Some(ctx.clock.now());
    }
    Ok(learned)
}

/// Wraps a step's outcome as a journal result.
pub fn to_result(outcome: &Result<StepState, ConnectorError>) -> StepResult {
    match outcome {
        Ok(state) => StepResult::Ok {
            detail: serde_json::to_value(state).unwrap_or(serde_json::Value::Null),
        },
        Err(error) => StepResult::Failed {
            reason: error.to_string(),
            transient: error.is_transient(),
        },
    }
}
