//! Observe: a fresh read of every target in the policy.
//!
//! Each run asks every connector for its state on a new connection; nothing is cached between
//! runs. Targets are read concurrently, and a target that cannot be read fails the whole
//! observation, because a plan made from a partial view could revoke what it did not see.

use enact_connector::{Connector, ConnectorError};
use enact_model::{Observation, Policy, TargetId, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::info;

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

/// Reads every target in `policy` through its connector, concurrently, and stamps the result
/// with `now`.
pub async fn observe(
    policy: &Policy,
    connectors: &BTreeMap<TargetId, Arc<dyn Connector>>,
    now: Timestamp,
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
            .collect();
        let target = target.clone();
        tasks.push((
            target,
            tokio::spawn(async move { connector.observe(&declared).await }),
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
    Ok(Observation {
        observed_at: now,
        targets,
    })
}
