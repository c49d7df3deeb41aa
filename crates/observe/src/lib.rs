//! Observe: a fresh read of every target in the policy.
//!
//! Each run asks every connector for its state on a new connection; nothing is cached between
//! runs. Targets are read concurrently, and a target that cannot be read fails the whole
//! observation, because a plan made from a partial view could revoke what it did not see.

use enact_connector::{Connector, ConnectorError, SinkResolver};
use enact_model::{FingerprintKey, Observation, Policy, SinkState, TargetId, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::{info, warn};

/// A target that could not be observed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// No connector was given for a target the policy declares.
    #[error("no connector for target `{target}`")]
    NoConnector { target: TargetId },
    /// The connector failed to read the target.
    #[error("failed to observe target `{target}`")]
    Target {
        target: TargetId,
        #[source]
        source: ConnectorError,
    },
    /// The observation task stopped before it finished.
    #[error("observation of target `{target}` was interrupted")]
    Interrupted { target: TargetId },
}

/// Reads every target in `policy` through its connector, concurrently, and what each credential
/// sink the policy names holds, and stamps the result with `now`. A sink that cannot be read is
/// left out of the observation, so no plan relies on it, and the failure is logged.
pub async fn observe(
    policy: &Policy,
    connectors: &BTreeMap<TargetId, Arc<dyn Connector>>,
    sinks: &dyn SinkResolver,
    key: &FingerprintKey,
    now: Timestamp,
) -> Result<Observation, ObserveError> {
    observe_with(policy, connectors, sinks, key, now, &BTreeMap::new()).await
}

/// Observes like [`observe`], and also reads the accounts named in `also` where they exist,
/// such as unmanaged accounts a hygiene rule is waiting to delete after disabling them.
pub async fn observe_with(
    policy: &Policy,
    connectors: &BTreeMap<TargetId, Arc<dyn Connector>>,
    sinks: &dyn SinkResolver,
    key: &FingerprintKey,
    now: Timestamp,
    also: &BTreeMap<TargetId, Vec<String>>,
) -> Result<Observation, ObserveError> {
    let mut tasks = Vec::new();
    for target in policy.targets.keys() {
        let connector =
            connectors
                .get(target)
                .cloned()
                .ok_or_else(|| ObserveError::NoConnector {
                    target: target.clone(),
                })?;
        let declared: Vec<String> = policy
            .accounts_on(target)
            .map(|(_, account)| account.name.clone())
            .chain(also.get(target).into_iter().flatten().cloned())
            .collect();
        let target = target.clone();
        tasks.push((
            target,
            tokio::spawn(async move { observe_target(connector.as_ref(), &declared).await }),
        ));
    }

    let mut targets = BTreeMap::new();
    for (target, task) in tasks {
        let observed = task
            .await
            .map_err(|_| ObserveError::Interrupted {
                target: target.clone(),
            })?
            .map_err(|source| ObserveError::Target {
                target: target.clone(),
                source,
            })?;
        info!(target = %target, accounts = observed.accounts.len(), "observed target");
        targets.insert(target, observed);
    }
    let mut sink_states = BTreeMap::new();
    for identity in policy.identities.values() {
        for account in &identity.accounts {
            let Some(credential) = &account.credential else {
                continue;
            };
            let name = credential.sink.to_string();
            if sink_states.contains_key(&name) {
                continue;
            }
            match read_sink(sinks, &credential.sink, key).await {
                Ok(state) => {
                    sink_states.insert(name, state);
                }
                Err(error) => {
                    warn!(sink = %name, %error, "could not read a credential sink; plans ignore it")
                }
            }
        }
    }
    Ok(Observation {
        observed_at: now,
        targets,
        sinks: sink_states,
    })
}

async fn read_sink(
    sinks: &dyn SinkResolver,
    sink: &enact_model::SinkRef,
    key: &FingerprintKey,
) -> Result<SinkState, ConnectorError> {
    let sink = sinks.open(sink)?;
    let current = sink.read_current(key).await?.is_some();
    let any = current || !sink.held_fingerprints(key).await?.is_empty();
    Ok(SinkState { current, any })
}

/// How many times a target is read before a transient error stops the observation.
const OBSERVE_ATTEMPTS: u32 = 3;

/// Reads one target, reading again after a transient error (a reset connection, a timeout),
/// with a short pause that doubles each time. A read changes nothing, so repeating it is safe.
async fn observe_target(
    connector: &dyn Connector,
    declared: &[String],
) -> Result<enact_model::TargetObservation, enact_connector::ConnectorError> {
    let mut pause = std::time::Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match connector.observe(declared).await {
            Err(error) if error.is_transient() && attempt < OBSERVE_ATTEMPTS => {
                tracing::warn!(target = %connector.target(), attempt, %error, "observation failed; reading again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}
