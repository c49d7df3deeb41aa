//! What connectors observed: the real state of each target at one instant.

use crate::digest::json_sha256;
use crate::ids::TargetId;
use crate::policy::Entitlement;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A fresh read of every target in the policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Observation {
    pub observed_at: Timestamp,
    pub targets: BTreeMap<TargetId, TargetObservation>,
    /// What each credential sink the policy names holds, by the sink's display form
    /// ([`crate::SinkRef`]'s `Display`). A sink that could not be read is absent.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkState>,
}

/// What one credential sink holds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SinkState {
    /// The sink contains a current value.
    pub current: bool,
    /// The sink contains any value: current, staged or previous.
    pub any: bool,
}

impl Observation {
    /// The observed state of `sink`, when it was read.
    pub fn sink(&self, sink: &crate::SinkRef) -> Option<SinkState> {
        self.sinks.get(&sink.to_string()).copied()
    }
}

impl Observation {
    /// A digest of the durable part of the observation for the accounts `in_scope` selects:
    /// login flags, entitlements, settings and credential ages. Sessions come and go every
    /// second, so they are left out; a saved plan that acts on sessions is checked by planning
    /// again instead. Accounts outside the scope, such as other applications' roles that the
    /// policy ignores, do not change the digest.
    pub fn durable_digest_where(&self, in_scope: impl Fn(&TargetId, &str) -> bool) -> String {
        let durable: BTreeMap<&TargetId, BTreeMap<&String, DurableAccount<'_>>> = self
            .targets
            .iter()
            .map(|(id, target)| {
                let accounts = target
                    .accounts
                    .iter()
                    .filter(|(name, _)| in_scope(id, name))
                    .map(|(name, account)| {
                        (
                            name,
                            DurableAccount {
                                login_enabled: account.login_enabled,
                                entitlements: &account.entitlements,
                                credential_set_at: account.credential_set_at,
                                owned_objects: account.owned_objects,
                                extra_credentials: account.extra_credentials,
                                settings: &account.settings,
                            },
                        )
                    })
                    .collect();
                (id, accounts)
            })
            .collect();
        json_sha256(&durable)
    }
}

#[derive(Serialize)]
struct DurableAccount<'a> {
    login_enabled: bool,
    entitlements: &'a BTreeSet<Entitlement>,
    credential_set_at: Option<Timestamp>,
    owned_objects: u64,
    extra_credentials: u32,
    settings: &'a BTreeMap<String, String>,
}

/// One target's accounts as read on a fresh connection.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TargetObservation {
    pub target: TargetId,
    pub observed_at: Timestamp,
    /// Every account in the connector's scope, by name: all login accounts except built-in ones
    /// and enact's own admin account, plus every declared account whether it can log in or not.
    pub accounts: BTreeMap<String, ObservedAccount>,
}

/// One account as it exists on its target.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ObservedAccount {
    pub name: String,
    pub login_enabled: bool,
    pub entitlements: BTreeSet<Entitlement>,
    /// When the current credential was set, where the target records it; `None` means unknown.
    pub credential_set_at: Option<Timestamp>,
    pub sessions: Vec<ObservedSession>,
    /// How many objects the account owns.
    pub owned_objects: u64,
    /// Live credentials beyond the one enact manages, such as secret IDs issued outside enact.
    /// Targets with one credential per account always report 0.
    #[serde(default)]
    pub extra_credentials: u32,
    /// Target-specific configuration read back, for the keys the connector manages.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// The session metadata key under which a connector records the user a session logged in as,
/// where that differs from the account, as with alternating users.
pub const SESSION_USER: &str = "user";

/// An open session of an account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObservedSession {
    /// The target's id for the session (for PostgreSQL, the backend process id).
    pub id: String,
    pub started_at: Timestamp,
    /// When the session last became idle, if it is idle now.
    pub idle_since: Option<Timestamp>,
    pub application_name: String,
    pub client_addr: Option<String>,
    /// Labels the target keeps on the session, such as an OpenBao token's metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}
