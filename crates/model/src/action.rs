//! Actions and plans.

use crate::digest::json_sha256;
use crate::ids::{ActionId, NhiId, PlanId, TargetId};
use crate::policy::{Entitlement, OwnedObjects, SinkRef};
use crate::time::{Duration, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One change to one account, with the reason the planner chose it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Action {
    pub id: ActionId,
    pub target: TargetId,
    /// The identity the account belongs to; `None` for an unmanaged account.
    pub identity: Option<NhiId>,
    pub account: String,
    pub kind: ActionKind,
    /// Why the planner chose this action, for a person.
    pub reason: String,
    /// Actions that must be verified before this one starts.
    pub depends_on: Vec<ActionId>,
}

impl Action {
    /// The stable id of an action: a digest of its target, account and kind. The same change to
    /// the same account has the same id in every plan, which lets a resumed run recognise it.
    pub fn stable_id(target: &TargetId, account: &str, kind: &ActionKind) -> ActionId {
        let digest = json_sha256(&(target, account, kind));
        ActionId::new(format!("act-{}", &digest[..16]))
    }
}

/// The change an action makes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionKind {
    /// Create the account with its target-specific `settings`, and with a new credential
    /// delivered to `sink` when one is declared.
    CreateAccount {
        login: bool,
        sink: Option<SinkRef>,
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        settings: std::collections::BTreeMap<String, String>,
    },
    /// Set the account's target-specific configuration to exactly these values.
    Configure {
        settings: std::collections::BTreeMap<String, String>,
    },
    Grant {
        entitlement: Entitlement,
    },
    Revoke {
        entitlement: Entitlement,
    },
    /// Replace the credential with a new random value delivered to `sink`.
    RotateCredential {
        sink: SinkRef,
        /// End the sessions opened before the rotation.
        end_sessions: bool,
        /// How the credential is replaced.
        #[serde(default, skip_serializing_if = "is_single")]
        strategy: crate::policy::RotationStrategy,
    },
    EndSessions {
        selector: SessionSelector,
    },
    DisableLogin,
    EnableLogin,
    /// Remove every value of a credential from its sink, for an account that no longer
    /// exists but whose credential is still held.
    PurgeCredential {
        sink: SinkRef,
    },
    /// Delete the account, and remove its credential from `purge` when one is declared.
    DeleteAccount {
        owned_objects: OwnedObjects,
        purge: Option<SinkRef>,
    },
}

fn is_single(strategy: &crate::policy::RotationStrategy) -> bool {
    *strategy == crate::policy::RotationStrategy::Single
}

impl ActionKind {
    /// Whether the action takes access away, and so counts against the blast-radius limit.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            ActionKind::Revoke { .. }
                | ActionKind::DisableLogin
                | ActionKind::DeleteAccount { .. }
                | ActionKind::PurgeCredential { .. }
        )
    }

    /// A short verb for tables: `create`, `grant`, `rotate` and so on.
    pub fn verb(&self) -> &'static str {
        match self {
            ActionKind::CreateAccount { .. } => "create",
            ActionKind::Configure { .. } => "configure",
            ActionKind::Grant { .. } => "grant",
            ActionKind::Revoke { .. } => "revoke",
            ActionKind::RotateCredential { .. } => "rotate",
            ActionKind::EndSessions { .. } => "end-sessions",
            ActionKind::DisableLogin => "disable",
            ActionKind::EnableLogin => "enable",
            ActionKind::DeleteAccount { .. } => "delete",
            ActionKind::PurgeCredential { .. } => "purge",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionKind::CreateAccount { login, sink, .. } => {
                write!(f, "create account")?;
                if !login {
                    write!(f, " without login")?;
                }
                if let Some(sink) = sink {
                    write!(f, ", new credential to {sink}")?;
                }
                Ok(())
            }
            ActionKind::Configure { settings } => {
                let pairs: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "configure {}", pairs.join(", "))
            }
            ActionKind::Grant { entitlement } => write!(f, "grant {entitlement}"),
            ActionKind::Revoke { entitlement } => write!(f, "revoke {entitlement}"),
            ActionKind::RotateCredential {
                sink,
                end_sessions,
                strategy,
            } => {
                match strategy {
                    crate::policy::RotationStrategy::Single => write!(f, "rotate credential")?,
                    dual => write!(f, "rotate credential ({dual})")?,
                }
                write!(f, ", deliver to {sink}")?;
                if *end_sessions {
                    write!(f, ", end older sessions")?;
                }
                Ok(())
            }
            ActionKind::EndSessions { selector } => write!(f, "end sessions {selector}"),
            ActionKind::DisableLogin => write!(f, "disable login, end all sessions"),
            ActionKind::PurgeCredential { sink } => write!(f, "purge the credential from {sink}"),
            ActionKind::EnableLogin => write!(f, "enable login"),
            ActionKind::DeleteAccount {
                owned_objects,
                purge,
            } => {
                write!(f, "delete account")?;
                if let OwnedObjects::ReassignTo(role) = owned_objects {
                    write!(f, ", owned objects to {role}")?;
                }
                if let Some(sink) = purge {
                    write!(f, ", purge {sink}")?;
                }
                Ok(())
            }
        }
    }
}

/// Which sessions an end-sessions action ends. Sessions are chosen when the action runs, so
/// the action id stays stable while sessions come and go.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "select", rename_all = "snake_case")]
pub enum SessionSelector {
    /// Every session of the account.
    All,
    /// Sessions that started more than this long ago.
    OlderThan { max_lifetime: Duration },
    /// Sessions idle for more than this long.
    IdleLongerThan { idle_limit: Duration },
    /// Sessions that started before this instant, such as before a rotation.
    StartedBefore { instant: Timestamp },
}

impl SessionSelector {
    /// Whether a session with these times falls under this selector at `now`.
    pub fn matches(
        &self,
        started_at: Timestamp,
        idle_since: Option<Timestamp>,
        now: Timestamp,
    ) -> bool {
        match self {
            SessionSelector::All => true,
            SessionSelector::OlderThan { max_lifetime } => now.since(started_at) > *max_lifetime,
            SessionSelector::IdleLongerThan { idle_limit } => {
                idle_since.is_some_and(|since| now.since(since) > *idle_limit)
            }
            SessionSelector::StartedBefore { instant } => started_at < *instant,
        }
    }
}

impl fmt::Display for SessionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionSelector::All => write!(f, "(all)"),
            SessionSelector::OlderThan { max_lifetime } => write!(f, "older than {max_lifetime}"),
            SessionSelector::IdleLongerThan { idle_limit } => {
                write!(f, "idle longer than {idle_limit}")
            }
            SessionSelector::StartedBefore { instant } => write!(f, "started before {instant}"),
        }
    }
}

/// An account found on a target that no identity declares.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnmanagedFinding {
    pub target: TargetId,
    pub account: String,
    pub login_enabled: bool,
    pub open_sessions: usize,
    /// What the plan does about it: `report`, `disable` or `ignore`.
    pub handling: String,
}

/// The actions that bring the observed state to the declared one, in execution order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub id: PlanId,
    pub created_at: Timestamp,
    pub policy_digest: String,
    pub observation_digest: String,
    pub actions: Vec<Action>,
    pub unmanaged: Vec<UnmanagedFinding>,
}

impl Plan {
    /// How many actions take access away.
    pub fn destructive_count(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.kind.is_destructive())
            .count()
    }

    /// The plan id for a set of inputs and actions: equal inputs give equal ids.
    pub fn compute_id(policy_digest: &str, observation_digest: &str, actions: &[Action]) -> PlanId {
        let ids: Vec<&ActionId> = actions.iter().map(|a| &a.id).collect();
        let digest = json_sha256(&(policy_digest, observation_digest, ids));
        PlanId::new(format!("plan-{}", &digest[..16]))
    }
}
