//! A sink that keeps a credential in a KV version 2 secret.
//!
//! The current value is the `value` field of the latest version of `<path>`; the previous value
//! is the newest older version that is still readable. A staged value lives in the sibling
//! secret `<path>.staged`, so a dependent that reads `<path>` never sees a value the target
//! has not accepted yet. Promotion writes the staged value as a new version of `<path>` and
//! then deletes `<path>.staged` with all its versions.
//!
//! The custom metadata of each secret records, for version N, `enact_fingerprint_vN`,
//! `enact_identity_vN` and `enact_action_id_vN`: the value's fingerprint, the identity and the
//! enact action that wrote it. Never the value. Keys of versions that are destroyed or gone
//! are removed, and the oldest are dropped to stay within OpenBao's limit of 64 keys.
//!
//! Fingerprints are computed from the values read back, not taken from this metadata, except
//! for a soft-deleted version, whose data cannot be read but is still held.

use crate::http::{status_error, Api};
use crate::names::check_path;
use async_trait::async_trait;
use enact_connector::{ConnectorError, DeliveryMeta, ErrorKind, Sink};
use enact_model::{Fingerprint, FingerprintKey, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// OpenBao accepts at most 64 custom metadata keys per secret.
const MAX_METADATA_KEYS: usize = 64;

const FINGERPRINT_KEY: &str = "enact_fingerprint_v";
const IDENTITY_KEY: &str = "enact_identity_v";
const ACTION_KEY: &str = "enact_action_id_v";

/// The field of a version's data that holds the value.
const VALUE_FIELD: &str = "value";

/// A KV version 2 secret and its staged sibling.
pub struct KvSink {
    api: Api,
    mount: String,
    path: String,
    staged: String,
}

impl fmt::Debug for KvSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvSink")
            .field("address", &self.api.base())
            .field("mount", &self.mount)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One version's state, from the secret's metadata.
#[derive(Clone, Copy, Debug)]
struct VersionState {
    number: u64,
    destroyed: bool,
    deleted: bool,
}

/// The parts of a secret's metadata the sink uses.
#[derive(Debug, Default)]
struct Metadata {
    current_version: u64,
    versions: Vec<VersionState>,
    custom: Map<String, Value>,
}

impl Metadata {
    fn parse(data: &Value) -> Metadata {
        let mut versions: Vec<VersionState> = data["versions"]
            .as_object()
            .map(|versions| {
                versions
                    .iter()
                    .filter_map(|(number, state)| {
                        Some(VersionState {
                            number: number.parse().ok()?,
                            destroyed: state["destroyed"].as_bool().unwrap_or(false),
                            deleted: state["deletion_time"]
                                .as_str()
                                .is_some_and(|time| !time.is_empty()),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.sort_by_key(|version| version.number);
        Metadata {
            current_version: data["current_version"].as_u64().unwrap_or(0),
            versions,
            custom: data["custom_metadata"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// A value read from one version.
struct Read {
    version: u64,
    secret: Secret,
}

impl KvSink {
    /// A sink for the secret at `path` on the KV version 2 engine mounted at `mount`, on the
    /// server at `endpoint` (such as `http://127.0.0.1:58200`), written with `token`.
    pub fn new(
        endpoint: &str,
        token: Secret,
        mount: &str,
        path: &str,
    ) -> Result<Self, ConnectorError> {
        check_path("KV mount", mount)?;
        check_path("KV secret path", path)?;
        Ok(KvSink {
            api: Api::new(endpoint, Arc::new(token))?,
            mount: mount.to_string(),
            path: path.to_string(),
            staged: format!("{path}.staged"),
        })
    }

    fn data_path(&self, secret: &str) -> String {
        format!("{}/data/{secret}", self.mount)
    }

    fn metadata_path(&self, secret: &str) -> String {
        format!("{}/metadata/{secret}", self.mount)
    }

    /// Reads a secret's metadata; `None` when the secret does not exist.
    async fn metadata(&self, api: &Api, secret: &str) -> Result<Option<Metadata>, ConnectorError> {
        Ok(api
            .read(&self.metadata_path(secret))
            .await?
            .map(|data| Metadata::parse(&data)))
    }

    /// Reads one version of a secret, or the latest when `version` is `None`. `None` when the
    /// secret, or that version, does not exist or is deleted or destroyed.
    async fn read_version(
        &self,
        api: &Api,
        secret: &str,
        version: Option<u64>,
        key: &FingerprintKey,
    ) -> Result<Option<Read>, ConnectorError> {
        let path = match version {
            Some(number) => format!("{}?version={number}", self.data_path(secret)),
            None => self.data_path(secret),
        };
        // Reading a deleted or destroyed version returns 404 with its metadata in the body.
        let Some(data) = api.read(&path).await? else {
            return Ok(None);
        };
        let number = data["metadata"]["version"].as_u64().unwrap_or(0);
        let Some(value) = data["data"][VALUE_FIELD].as_str() else {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!(
                    "version {number} of `{}/{secret}` has no string field `{VALUE_FIELD}`",
                    self.mount
                ),
            ));
        };
        Ok(Some(Read {
            version: number,
            secret: Secret::new(value.to_string(), key),
        }))
    }

    /// Writes `secret` as a new version of `target` with check-and-set `cas` (0: the secret
    /// must not exist yet), and returns the new version number.
    async fn write_version(
        &self,
        target: &str,
        secret: &Secret,
        cas: u64,
    ) -> Result<u64, ConnectorError> {
        let path = self.data_path(target);
        // The value is written to its designated store; the audit log records it HMAC'd.
        let body = json!({
            "data": { VALUE_FIELD: secret.expose() },
            "options": { "cas": cas },
        });
        let reply = self.api.send(Method::POST, &path, Some(&body)).await?;
        if !reply.status.is_success() {
            let mut error = status_error(&format!("`POST {path}`"), &reply);
            if reply.status == StatusCode::BAD_REQUEST && error.message.contains("check-and-set") {
                error.kind = ErrorKind::Conflict;
                error.message = format!(
                    "`{}/{target}` changed while enact wrote it: {}",
                    self.mount, error.message
                );
            }
            return Err(error);
        }
        reply.data()["version"].as_u64().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Other,
                format!("the response of `POST {path}` has no version"),
            )
        })
    }

    /// Rewrites the custom metadata of `target`: records `fingerprint`, the identity and the
    /// action for `version` (when given), and drops the keys of versions that are no longer
    /// held. Keys that enact does not own are kept.
    async fn record_versions(
        &self,
        target: &str,
        version: Option<(u64, &Fingerprint, &DeliveryMeta)>,
    ) -> Result<(), ConnectorError> {
        let metadata = self.metadata(&self.api, target).await?.unwrap_or_default();
        let held: BTreeSet<u64> = metadata
            .versions
            .iter()
            .filter(|state| !state.destroyed)
            .map(|state| state.number)
            .collect();
        let mut custom = metadata.custom.clone();
        custom.retain(|key, _| match enact_key_version(key) {
            Some(number) => held.contains(&number),
            None => true,
        });
        if let Some((number, fingerprint, meta)) = version {
            custom.insert(
                format!("{FINGERPRINT_KEY}{number}"),
                Value::from(fingerprint.as_str()),
            );
            // OpenBao rejects empty values, so an unmanaged identity is recorded as `-`.
            let identity = if meta.identity.is_empty() {
                "-"
            } else {
                meta.identity.as_str()
            };
            custom.insert(format!("{IDENTITY_KEY}{number}"), Value::from(identity));
            custom.insert(
                format!("{ACTION_KEY}{number}"),
                Value::from(meta.action_id.as_str()),
            );
        }
        trim_oldest(&mut custom);
        if custom == metadata.custom {
            return Ok(());
        }
        self.api
            .write(
                &self.metadata_path(target),
                &json!({ "custom_metadata": custom }),
            )
            .await?;
        Ok(())
    }

    /// The fingerprints of every version of `target` that is still held: computed from the
    /// value where it can be read, taken from the recorded metadata for a soft-deleted one.
    async fn held_in(
        &self,
        api: &Api,
        target: &str,
        key: &FingerprintKey,
    ) -> Result<Vec<Fingerprint>, ConnectorError> {
        let Some(metadata) = self.metadata(api, target).await? else {
            return Ok(Vec::new());
        };
        let mut held = Vec::new();
        for state in metadata.versions.iter().filter(|state| !state.destroyed) {
            match self
                .read_version(api, target, Some(state.number), key)
                .await?
            {
                Some(read) => held.push(read.secret.fingerprint().clone()),
                None => {
                    let recorded = metadata
                        .custom
                        .get(&format!("{FINGERPRINT_KEY}{}", state.number));
                    match recorded.and_then(Value::as_str) {
                        Some(fingerprint) => {
                            held.push(Fingerprint::from_string(fingerprint.to_string()))
                        }
                        None if state.deleted => {
                            // NOTE: a version soft-deleted by other means, without a recorded
                            // fingerprint, still holds a value that cannot be named here.
                            tracing::warn!(
                                sink = %self.describe(),
                                version = state.number,
                                "a soft-deleted version without a recorded fingerprint is still held"
                            );
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(held)
    }
}

/// The version number of an enact custom metadata key, or `None` for any other key.
fn enact_key_version(key: &str) -> Option<u64> {
    [FINGERPRINT_KEY, IDENTITY_KEY, ACTION_KEY]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
        .and_then(|number| number.parse().ok())
}

/// Removes the enact keys of the oldest versions until at most [`MAX_METADATA_KEYS`] remain.
fn trim_oldest(custom: &mut Map<String, Value>) {
    while custom.len() > MAX_METADATA_KEYS {
        let Some(oldest) = custom.keys().filter_map(|key| enact_key_version(key)).min() else {
            return;
        };
        custom.retain(|key, _| enact_key_version(key) != Some(oldest));
    }
}

#[async_trait]
impl Sink for KvSink {
    async fn stage(&self, secret: &Secret, meta: &DeliveryMeta) -> Result<(), ConnectorError> {
        // Deleting the metadata removes every earlier staged version, so the staged secret
        // only ever holds the latest staged value.
        self.api.delete(&self.metadata_path(&self.staged)).await?;
        let version = self.write_version(&self.staged, secret, 0).await?;
        self.record_versions(&self.staged, Some((version, secret.fingerprint(), meta)))
            .await?;
        tracing::debug!(sink = %self.describe(), fingerprint = %secret.fingerprint().short(), "value staged");
        Ok(())
    }

    async fn read_staged(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError> {
        let api = self.api.fresh()?;
        Ok(self
            .read_version(&api, &self.staged, None, key)
            .await?
            .map(|read| read.secret))
    }

    async fn promote(
        &self,
        expected: &Fingerprint,
        key: &FingerprintKey,
    ) -> Result<(), ConnectorError> {
        let staged = self
            .read_version(&self.api, &self.staged, None, key)
            .await?;
        let current = self.read_version(&self.api, &self.path, None, key).await?;
        let current_matches = current
            .as_ref()
            .is_some_and(|read| read.secret.fingerprint() == expected);

        let Some(staged) = staged else {
            if current_matches {
                return Ok(());
            }
            return Err(ConnectorError::new(
                ErrorKind::Conflict,
                format!(
                    "{} has no staged value and its current value is not {}",
                    self.describe(),
                    expected.short()
                ),
            ));
        };
        if staged.secret.fingerprint() != expected {
            return Err(ConnectorError::new(
                ErrorKind::Conflict,
                format!(
                    "the staged value of {} is {}, not the expected {}",
                    self.describe(),
                    staged.secret.fingerprint().short(),
                    expected.short()
                ),
            ));
        }

        // A promotion interrupted after the write finds the value current already and only
        // finishes the cleanup.
        if !current_matches {
            let staged_meta = self
                .metadata(&self.api, &self.staged)
                .await?
                .unwrap_or_default();
            let recorded = |prefix: &str| {
                staged_meta
                    .custom
                    .get(&format!("{prefix}{}", staged.version))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let meta = DeliveryMeta {
                identity: recorded(IDENTITY_KEY),
                action_id: recorded(ACTION_KEY),
            };
            let metadata = self
                .metadata(&self.api, &self.path)
                .await?
                .unwrap_or_default();
            let version = self
                .write_version(&self.path, &staged.secret, metadata.current_version)
                .await?;
            self.record_versions(&self.path, Some((version, expected, &meta)))
                .await?;
        }
        self.api.delete(&self.metadata_path(&self.staged)).await?;
        tracing::debug!(sink = %self.describe(), fingerprint = %expected.short(), "value promoted");
        Ok(())
    }

    async fn read_current(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError> {
        let api = self.api.fresh()?;
        Ok(self
            .read_version(&api, &self.path, None, key)
            .await?
            .map(|read| read.secret))
    }

    async fn read_previous(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError> {
        let api = self.api.fresh()?;
        let Some(metadata) = self.metadata(&api, &self.path).await? else {
            return Ok(None);
        };
        let older = metadata
            .versions
            .iter()
            .rev()
            .filter(|state| state.number < metadata.current_version)
            .filter(|state| !state.destroyed && !state.deleted);
        for state in older {
            if let Some(read) = self
                .read_version(&api, &self.path, Some(state.number), key)
                .await?
            {
                return Ok(Some(read.secret));
            }
        }
        Ok(None)
    }

    async fn discard_staged(&self) -> Result<(), ConnectorError> {
        self.api.delete(&self.metadata_path(&self.staged)).await
    }

    async fn discard_previous(&self) -> Result<(), ConnectorError> {
        let Some(metadata) = self.metadata(&self.api, &self.path).await? else {
            return Ok(());
        };
        let older: Vec<u64> = metadata
            .versions
            .iter()
            .filter(|state| state.number < metadata.current_version && !state.destroyed)
            .map(|state| state.number)
            .collect();
        if !older.is_empty() {
            // Destroy removes the data for good; a soft delete could be undone.
            self.api
                .write(
                    &format!("{}/destroy/{}", self.mount, self.path),
                    &json!({ "versions": older }),
                )
                .await?;
        }
        self.record_versions(&self.path, None).await?;
        tracing::debug!(sink = %self.describe(), destroyed = older.len(), "previous versions destroyed");
        Ok(())
    }

    async fn purge(&self) -> Result<(), ConnectorError> {
        // Deleting the metadata removes every version and its data.
        self.api.delete(&self.metadata_path(&self.staged)).await?;
        self.api.delete(&self.metadata_path(&self.path)).await?;
        tracing::debug!(sink = %self.describe(), "purged");
        Ok(())
    }

    async fn held_fingerprints(
        &self,
        key: &FingerprintKey,
    ) -> Result<Vec<Fingerprint>, ConnectorError> {
        let api = self.api.fresh()?;
        let mut held = self.held_in(&api, &self.path, key).await?;
        held.extend(self.held_in(&api, &self.staged, key).await?);
        Ok(held)
    }

    fn describe(&self) -> String {
        format!("vault {}/{}", self.mount, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enact_keys_carry_their_version() {
        assert_eq!(enact_key_version("enact_fingerprint_v12"), Some(12));
        assert_eq!(enact_key_version("enact_action_id_v3"), Some(3));
        assert_eq!(enact_key_version("owner"), None);
        assert_eq!(enact_key_version("enact_fingerprint_vx"), None);
    }

    #[test]
    fn trimming_drops_oldest_enact_versions() {
        let mut custom = Map::new();
        custom.insert("owner".into(), Value::from("team"));
        for version in 1..=30 {
            for prefix in [FINGERPRINT_KEY, IDENTITY_KEY, ACTION_KEY] {
                custom.insert(format!("{prefix}{version}"), Value::from("x"));
            }
        }
        trim_oldest(&mut custom);
        assert!(custom.len() <= MAX_METADATA_KEYS);
        assert!(custom.contains_key("owner"));
        assert!(custom.contains_key("enact_fingerprint_v30"));
        assert!(!custom.contains_key("enact_fingerprint_v1"));
    }

    #[test]
    fn metadata_parses_version_states() {
        let data = json!({
            "current_version": 3,
            "custom_metadata": null,
            "versions": {
                "1": {"destroyed": true, "deletion_time": ""},
                "2": {"destroyed": false, "deletion_time": "2026-12-04T20:41:13Z"},
                "3": {"destroyed": false, "deletion_time": ""},
            }
        });
        let metadata = Metadata::parse(&data);
        assert_eq!(metadata.current_version, 3);
        let states: Vec<(u64, bool, bool)> = metadata
            .versions
            .iter()
            .map(|s| (s.number, s.destroyed, s.deleted))
            .collect();
        assert_eq!(
            states,
            vec![(1, true, false), (2, false, true), (3, false, false)]
        );
        assert!(metadata.custom.is_empty());
    }
}
