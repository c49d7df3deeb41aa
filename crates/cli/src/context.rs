//! The shared setup of every command: the policy, the state directory, keys, connectors and sinks.

use anyhow::{anyhow, bail, Context as _, Result};
use enact_connector::{Connector, ConnectorError, Sink};
use enact_evidence::ActionRecord;
use enact_evidence::{EvidenceLog, Keys};
use enact_execute::{EvidenceWriter, SinkResolver};
use enact_ldap::LdapConnector;
use enact_model::policy::CredentialSource;
use enact_model::{FingerprintKey, Policy, Secret, SinkRef, Target, TargetId};
use enact_openbao::{KvSink, OpenBaoConnector};
use enact_policy::{parse_policy, HygieneRule, ParseOptions};
use enact_postgres::PostgresConnector;
use enact_redis::RedisConnector;
use enact_sink_file::FileSink;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The connector kinds this build can connect to.
pub const KNOWN_KINDS: &[&str] = &["postgres", "openbao", "redis", "ldap"];

/// A policy file that failed its checks. Its diagnostics are already printed.
#[derive(Debug, thiserror::Error)]
#[error("the policy has {count} problem(s); nothing was changed")]
pub struct PolicyInvalid {
    pub count: usize,
}

/// Reads and checks the policy file, printing every problem with its location.
pub fn load_policy(path: &Path) -> Result<Policy> {
    load_policy_with_rules(path).map(|(policy, _)| policy)
}

/// Reads and checks the policy file like [`load_policy`], and its hygiene rules.
pub fn load_policy_with_rules(path: &Path) -> Result<(Policy, Vec<HygieneRule>)> {
    let source = fs::read_to_string(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "policy file `{}` not found; pass `--policy FILE` or create `enact.yaml`",
                path.display()
            )
        } else {
            anyhow!("failed to read policy file `{}`: {error}", path.display())
        }
    })?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    // Relative sink paths resolve against the policy's directory; making it absolute keeps a
    // saved plan valid when it is applied from another working directory.
    let base_dir = fs::canonicalize(&base_dir).unwrap_or(base_dir);
    let options = ParseOptions {
        origin: path.to_path_buf(),
        base_dir,
        known_kinds: KNOWN_KINDS.iter().map(|k| k.to_string()).collect(),
    };
    let invalid = |errors: enact_policy::PolicyErrors| {
        let report = miette::Report::new(errors.diagnostic());
        eprintln!("{report:?}");
        anyhow::Error::new(PolicyInvalid {
            count: errors.len(),
        })
    };
    let policy = parse_policy(&source, &options).map_err(invalid)?;
    // The rules are read in a second pass over the text, which a policy without a top-level
    // `rules` key skips.
    let rules = if source.lines().any(|line| line.starts_with("rules:")) {
        enact_policy::parse_rules(&source, &options).map_err(invalid)?
    } else {
        Vec::new()
    };
    Ok((policy, rules))
}

/// The state directory, created and keyed on first use.
pub struct State {
    pub dir: PathBuf,
    pub keys: Keys,
}

impl State {
    /// Opens the state directory, running `enact init` first if it has no keys yet. It refuses
    /// to start a new state while the policy's own folder has one, because two states would
    /// split the evidence log and use different fingerprint keys.
    pub fn open(dir: &Path, policy: &Path) -> Result<State> {
        if !dir.join("keys").exists() {
            let folder = match policy.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            let beside = folder.join(".enact");
            let same = std::path::absolute(&beside).ok() == std::path::absolute(dir).ok();
            if !same && beside.join("keys").exists() {
                bail!(
                    "no enact state in `{}`, but `{}` beside the policy has one; run from `{}`, pass `--state-dir {}`, or run `enact init --state-dir {}` to start a separate state on purpose",
                    dir.display(),
                    beside.display(),
                    folder.display(),
                    beside.display(),
                    dir.display()
                );
            }
        }
        let report =
            Keys::init(dir).with_context(|| format!("failed to initialize `{}`", dir.display()))?;
        if !report.created.is_empty() {
            eprintln!(
                "Initialized enact state in `{}`: created {}",
                dir.display(),
                report
                    .created
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let keys = Keys::load(dir)?;
        Ok(State {
            dir: dir.to_path_buf(),
            keys,
        })
    }

    /// The path of the state database.
    pub fn database(&self) -> PathBuf {
        self.dir.join("state.db")
    }

    /// Takes the apply lock, so that two applies never run on one state directory at once.
    pub fn lock(&self) -> Result<File> {
        let path = self.dir.join("apply.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("failed to open `{}`", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(_) => bail!(
                "another enact apply holds the lock `{}`; wait for it to finish",
                path.display()
            ),
        }
    }
}

/// Reads a target's admin credential from the environment variable or file the policy names.
pub fn admin_credential(target: &Target, key: &FingerprintKey) -> Result<Secret> {
    match &target.admin_credential {
        CredentialSource::Env(name) => match std::env::var(name) {
            Ok(value) if value.is_empty() => bail!(
                "environment variable `{name}` is empty; it must hold the admin credential of target `{}`",
                target.id
            ),
            Ok(value) => Ok(Secret::new(value, key)),
            Err(_) => bail!(
                "environment variable `{name}` is not set; it must hold the admin credential of target `{}`, as the policy's `admin` section of that target says",
                target.id
            ),
        },
        CredentialSource::File(path) => {
            let text = fs::read_to_string(path).map_err(|error| {
                anyhow!(
                    "failed to read the admin credential of target `{}` from `{}`: {error}",
                    target.id,
                    path.display()
                )
            })?;
            let value = text.strip_suffix('\n').unwrap_or(&text).to_string();
            if value.is_empty() {
                bail!(
                    "the admin credential file `{}` of target `{}` is empty",
                    path.display(),
                    target.id
                );
            }
            Ok(Secret::new(value, key))
        }
    }
}

/// Builds a connector for every target in the policy.
pub fn connectors(
    policy: &Policy,
    key: &FingerprintKey,
) -> Result<BTreeMap<TargetId, Arc<dyn Connector>>> {
    // Every target's credential is read first, so that all the missing ones are named at once.
    let mut secrets = BTreeMap::new();
    let mut missing = Vec::new();
    for (id, target) in &policy.targets {
        match admin_credential(target, key) {
            Ok(secret) => {
                secrets.insert(id.clone(), secret);
            }
            Err(error) => missing.push(error.to_string()),
        }
    }
    match missing.as_slice() {
        [] => {}
        [one] => bail!("{one}"),
        many => bail!(
            "{} admin credentials are missing:\n  - {}",
            many.len(),
            many.join("\n  - ")
        ),
    }
    let mut out: BTreeMap<TargetId, Arc<dyn Connector>> = BTreeMap::new();
    for (id, target) in &policy.targets {
        let secret = secrets
            .remove(id)
            .ok_or_else(|| anyhow!("no admin credential was read for target `{id}`"))?;
        let connector: Arc<dyn Connector> = match target.kind.as_str() {
            "postgres" => Arc::new(
                PostgresConnector::new(target, secret, key.clone())
                    .map_err(|e| anyhow!("target `{id}`: {e}"))?,
            ),
            "openbao" => Arc::new(
                OpenBaoConnector::new(target, secret, key.clone())
                    .map_err(|e| anyhow!("target `{id}`: {e}"))?,
            ),
            "redis" => Arc::new(
                RedisConnector::new(target, secret, key.clone())
                    .map_err(|e| anyhow!("target `{id}`: {e}"))?,
            ),
            "ldap" => Arc::new(
                LdapConnector::new(target, secret, key.clone())
                    .map_err(|e| anyhow!("target `{id}`: {e}"))?,
            ),
            other => bail!(
                "target `{id}` has kind `{other}`, which this build of enact cannot connect to"
            ),
        };
        out.insert(id.clone(), connector);
    }
    Ok(out)
}

/// Opens sinks by their reference. Vault sinks write with the admin token of the OpenBao
/// target they name.
pub struct Sinks {
    vaults: BTreeMap<TargetId, (String, Secret)>,
}

impl Sinks {
    /// Collects the endpoint and token of every OpenBao target in the policy.
    pub fn new(policy: &Policy, key: &FingerprintKey) -> Result<Sinks> {
        let mut vaults = BTreeMap::new();
        for (id, target) in &policy.targets {
            if target.kind == "openbao" {
                vaults.insert(
                    id.clone(),
                    (target.endpoint.clone(), admin_credential(target, key)?),
                );
            }
        }
        Ok(Sinks { vaults })
    }
}

impl SinkResolver for Sinks {
    fn open(&self, sink: &SinkRef) -> Result<Box<dyn Sink>, ConnectorError> {
        match sink {
            SinkRef::File { path } => Ok(Box::new(FileSink::new(path.clone()))),
            SinkRef::Vault {
                target,
                mount,
                path,
            } => {
                let (endpoint, token) = self.vaults.get(target).ok_or_else(|| {
                    ConnectorError::new(
                        enact_connector::ErrorKind::Invalid,
                        format!("vault sink names target `{target}`, which is not an OpenBao target of the policy"),
                    )
                })?;
                Ok(Box::new(KvSink::new(endpoint, token.clone(), mount, path)?))
            }
        }
    }
}

/// The evidence log shared by the executor's tasks, with an index of the action records that
/// earlier runs wrote, built on first use.
pub struct SharedEvidence {
    pub log: Mutex<EvidenceLog>,
    state_dir: PathBuf,
    earlier: std::sync::OnceLock<Result<EarlierOutcomes, String>>,
}

/// The last outcome recorded for each (run id, action id), with its record's sequence number.
type EarlierOutcomes = std::collections::HashMap<(String, String), (u64, String)>;

impl SharedEvidence {
    /// Shares `log`, whose files are in `state_dir`.
    pub fn new(log: EvidenceLog, state_dir: &Path) -> Self {
        SharedEvidence {
            log: Mutex::new(log),
            state_dir: state_dir.to_path_buf(),
            earlier: std::sync::OnceLock::new(),
        }
    }

    fn index_earlier(&self) -> Result<EarlierOutcomes, String> {
        let mut index = EarlierOutcomes::new();
        let records = enact_evidence::read_records(&self.state_dir).map_err(|e| e.to_string())?;
        for record in records {
            let (seq, body) = record.map_err(|e| e.to_string())?;
            if body["type"] != "action" {
                continue;
            }
            let run = body["run_id"].as_str().unwrap_or_default().to_string();
            let action = body["action"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let outcome = match body["outcome"]["status"].as_str() {
                Some("judged") => body["outcome"]["verdict"]["verdict"].as_str(),
                other => other,
            };
            if let Some(outcome) = outcome {
                index.insert((run, action), (seq, outcome.to_string()));
            }
        }
        Ok(index)
    }
}

impl EvidenceWriter for SharedEvidence {
    fn append_action(&self, record: &ActionRecord<'_>) -> Result<u64, String> {
        let mut log = self
            .log
            .lock()
            .map_err(|_| "the evidence log lock is poisoned".to_string())?;
        let appended = log.append_action(record).map_err(|e| e.to_string())?;
        // Hand the record to the operating system now, so a killed run keeps it; the signed
        // checkpoint at the end of the run makes it durable.
        log.flush().map_err(|e| e.to_string())?;
        Ok(appended.seq)
    }

    fn recorded_outcome(
        &self,
        run_id: &str,
        action: &enact_model::ActionId,
    ) -> Result<Option<(u64, String)>, String> {
        let index = self.earlier.get_or_init(|| self.index_earlier());
        match index {
            Ok(index) => Ok(index
                .get(&(run_id.to_string(), action.to_string()))
                .cloned()),
            Err(error) => Err(error.clone()),
        }
    }
}
