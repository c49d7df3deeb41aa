//! Executor behaviour against an in-memory target: retries, resume, rollback of a staged
//! credential, dependencies and the blast-radius limit. The real-server flows are in the CLI's
//! integration tests; these pin down the executor's own rules with faults injected exactly
//! where each rule matters.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures unwrap: a poisoned lock or failed setup should stop the test at once"
)]
use async_trait::async_trait;
use enact_connector::{
    Capabilities, Connector, ConnectorError, ErrorKind, LoginProbe, Rejection, Sink,
};
use enact_evidence::ActionRecord;
use enact_execute::journal::{
    ActionStatus, JournaledStep, LastVerified, OpenAction, ResumableAction, StateStore, StepResult,
    StoreError,
};
use enact_execute::{
    EvidenceWriter, ExecuteError, ExecuteOptions, Executor, NoProgress, OsSecretGenerator,
    SinkResolver,
};
use enact_model::policy::{CredentialKind, CredentialSource, Limits};
use enact_model::{
    Account, Action, ActionId, ActionKind, CredentialPolicy, Duration, Entitlement, FingerprintKey,
    Identity, LifecycleState, NhiId, ObservedAccount, ObservedSession, OwnedObjects, Plan, PlanId,
    Policy, RotationStrategy, Secret, SessionSelector, SinkRef, SystemClock, Target, TargetId,
    TargetObservation, Timestamp, UnmanagedPolicy,
};
use enact_sink_file::FileSink;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

const KEY: [u8; 32] = [5; 32];

/// One account of the in-memory target.
#[derive(Clone, Default)]
struct FakeAccount {
    login: bool,
    password: Option<String>,
    entitlements: BTreeSet<Entitlement>,
}

/// An in-memory target whose operations can be made to fail.
#[derive(Default)]
struct FakeTarget {
    accounts: Mutex<BTreeMap<String, FakeAccount>>,
    /// Errors to return, per operation name, before the operation succeeds again.
    failures: Mutex<HashMap<&'static str, Vec<ErrorKind>>>,
    /// Operations that fail every time with this error kind.
    always_fail: Mutex<HashMap<&'static str, ErrorKind>>,
    calls: Mutex<HashMap<&'static str, u32>>,
    /// When set, a credential set by `set_credential` is stored but refused at login, as a
    /// target that does not take a new value would.
    refuse_new: Mutex<bool>,
    refused: Mutex<Option<String>>,
}

impl FakeTarget {
    fn fail(&self, op: &'static str, kinds: &[ErrorKind]) {
        self.failures.lock().unwrap().insert(op, kinds.to_vec());
    }

    fn fail_always(&self, op: &'static str, kind: ErrorKind) {
        self.always_fail.lock().unwrap().insert(op, kind);
    }

    fn heal(&self, op: &'static str) {
        self.always_fail.lock().unwrap().remove(op);
    }

    fn calls(&self, op: &'static str) -> u32 {
        self.calls.lock().unwrap().get(op).copied().unwrap_or(0)
    }

    fn enter(&self, op: &'static str) -> Result<(), ConnectorError> {
        *self.calls.lock().unwrap().entry(op).or_default() += 1;
        if let Some(kind) = self.always_fail.lock().unwrap().get(op) {
            return Err(ConnectorError::new(
                *kind,
                format!("{op} failed (injected)"),
            ));
        }
        let mut failures = self.failures.lock().unwrap();
        if let Some(queue) = failures.get_mut(op) {
            if !queue.is_empty() {
                let kind = queue.remove(0);
                return Err(ConnectorError::new(kind, format!("{op} failed (injected)")));
            }
        }
        Ok(())
    }

    fn observed(&self, name: &str, account: &FakeAccount) -> ObservedAccount {
        ObservedAccount {
            name: name.to_string(),
            login_enabled: account.login,
            entitlements: account.entitlements.clone(),
            credential_set_at: None,
            sessions: Vec::new(),
            owned_objects: 0,
            extra_credentials: 0,
            settings: BTreeMap::new(),
        }
    }
}

struct FakeConnector {
    target: TargetId,
    state: Arc<FakeTarget>,
}

#[async_trait]
impl Connector for FakeConnector {
    fn target(&self) -> &TargetId {
        &self.target
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn observe(&self, _declared: &[String]) -> Result<TargetObservation, ConnectorError> {
        self.state.enter("observe")?;
        let accounts = self.state.accounts.lock().unwrap();
        Ok(TargetObservation {
            target: self.target.clone(),
            observed_at: Timestamp(0),
            accounts: accounts
                .iter()
                .map(|(name, a)| (name.clone(), self.state.observed(name, a)))
                .collect(),
        })
    }

    async fn read_account(&self, account: &str) -> Result<Option<ObservedAccount>, ConnectorError> {
        self.state.enter("read_account")?;
        let accounts = self.state.accounts.lock().unwrap();
        Ok(accounts
            .get(account)
            .map(|a| self.state.observed(account, a)))
    }

    async fn list_sessions(&self, _account: &str) -> Result<Vec<ObservedSession>, ConnectorError> {
        self.state.enter("list_sessions")?;
        Ok(Vec::new())
    }

    async fn create_account(
        &self,
        account: &str,
        login: bool,
        _settings: &BTreeMap<String, String>,
        credential: Option<&Secret>,
        _now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.state.enter("create_account")?;
        let mut accounts = self.state.accounts.lock().unwrap();
        let entry = accounts.entry(account.to_string()).or_default();
        entry.login = login;
        // The fake target stores the value as a real one would store its verifier.
        entry.password = credential.map(|c| c.expose().to_string());
        Ok(())
    }

    async fn configure(
        &self,
        _account: &str,
        _settings: &BTreeMap<String, String>,
    ) -> Result<(), ConnectorError> {
        self.state.enter("configure")
    }

    async fn grant(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        self.state.enter("grant")?;
        let mut accounts = self.state.accounts.lock().unwrap();
        match accounts.get_mut(account) {
            Some(a) => {
                a.entitlements.insert(entitlement.clone());
                Ok(())
            }
            None => Err(ConnectorError::new(ErrorKind::Invalid, "no such account")),
        }
    }

    async fn revoke(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        self.state.enter("revoke")?;
        if let Some(a) = self.state.accounts.lock().unwrap().get_mut(account) {
            a.entitlements.remove(entitlement);
        }
        Ok(())
    }

    async fn set_credential(
        &self,
        account: &str,
        credential: &Secret,
        _now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.state.enter("set_credential")?;
        if let Some(a) = self.state.accounts.lock().unwrap().get_mut(account) {
            // The fake target keeps the value, as a real one keeps its verifier.
            a.password = Some(credential.expose().to_string());
        }
        *self.state.refused.lock().unwrap() = if *self.state.refuse_new.lock().unwrap() {
            // Only the first value set after the flag is refused; a rollback's is not.
            *self.state.refuse_new.lock().unwrap() = false;
            Some(credential.expose().to_string())
        } else {
            None
        };
        Ok(())
    }

    async fn set_login(&self, account: &str, enabled: bool) -> Result<(), ConnectorError> {
        self.state.enter("set_login")?;
        if let Some(a) = self.state.accounts.lock().unwrap().get_mut(account) {
            a.login = enabled;
        }
        Ok(())
    }

    async fn end_sessions(
        &self,
        _account: &str,
        _selector: &SessionSelector,
        _now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        self.state.enter("end_sessions")?;
        Ok(Vec::new())
    }

    async fn delete_account(
        &self,
        account: &str,
        _owned: &OwnedObjects,
    ) -> Result<(), ConnectorError> {
        self.state.enter("delete_account")?;
        self.state.accounts.lock().unwrap().remove(account);
        Ok(())
    }

    async fn probe_login(&self, account: &str, credential: &Secret) -> LoginProbe {
        if self.state.enter("probe_login").is_err() {
            return LoginProbe::Unavailable {
                reason: "probe failed (injected)".into(),
            };
        }
        let accounts = self.state.accounts.lock().unwrap();
        match accounts.get(account) {
            None => LoginProbe::Rejected(Rejection::InvalidCredential),
            Some(a) if !a.login => LoginProbe::Rejected(Rejection::LoginDisabled),
            Some(_)
                if self.state.refused.lock().unwrap().as_deref() == Some(credential.expose()) =>
            {
                LoginProbe::Rejected(Rejection::InvalidCredential)
            }
            // Comparing values is what the fake target's authentication does.
            Some(a) if a.password.as_deref() == Some(credential.expose()) => LoginProbe::Accepted,
            Some(_) => LoginProbe::Rejected(Rejection::InvalidCredential),
        }
    }
}

/// A journal in memory, with the same contract as the SQLite store.
#[derive(Default)]
struct MemoryStore {
    statuses: Mutex<BTreeMap<(String, String), ActionStatus>>,
    actions: Mutex<BTreeMap<(String, String), Action>>,
    steps: Mutex<Vec<(String, String, JournaledStep)>>,
    runs: Mutex<BTreeMap<String, (PlanId, String, bool)>>,
}

impl StateStore for MemoryStore {
    fn begin_run(
        &self,
        run_id: &str,
        plan: &Plan,
        _started_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.runs.lock().unwrap().insert(
            run_id.into(),
            (plan.id.clone(), plan.policy_digest.clone(), false),
        );
        for action in &plan.actions {
            let key = (run_id.to_string(), action.id.to_string());
            self.statuses
                .lock()
                .unwrap()
                .insert(key.clone(), ActionStatus::Pending);
            self.actions.lock().unwrap().insert(key, action.clone());
        }
        Ok(())
    }

    fn finish_run(
        &self,
        run_id: &str,
        _status: &str,
        _ended_at: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(run) = self.runs.lock().unwrap().get_mut(run_id) {
            run.2 = true;
        }
        Ok(())
    }

    fn set_status(
        &self,
        run_id: &str,
        action: &ActionId,
        status: ActionStatus,
        _reason: Option<&str>,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        self.statuses
            .lock()
            .unwrap()
            .insert((run_id.into(), action.to_string()), status);
        Ok(())
    }

    fn step_intent(
        &self,
        run_id: &str,
        action: &ActionId,
        step: &str,
        attempt: u32,
        at: Timestamp,
        intent: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.steps.lock().unwrap().push((
            run_id.into(),
            action.to_string(),
            JournaledStep {
                name: step.into(),
                attempt,
                started_at: at,
                intent: intent.clone(),
                ended_at: None,
                result: None,
            },
        ));
        Ok(())
    }

    fn step_result(
        &self,
        run_id: &str,
        action: &ActionId,
        step: &str,
        attempt: u32,
        at: Timestamp,
        result: &StepResult,
    ) -> Result<(), StoreError> {
        let mut steps = self.steps.lock().unwrap();
        let entry = steps
            .iter_mut()
            .find(|(r, a, s)| {
                r == run_id && a == action.as_str() && s.name == step && s.attempt == attempt
            })
            .ok_or(StoreError {
                message: "no intent".into(),
                source: None,
            })?;
        entry.2.ended_at = Some(at);
        entry.2.result = Some(result.clone());
        Ok(())
    }

    fn steps(&self, run_id: &str, action: &ActionId) -> Result<Vec<JournaledStep>, StoreError> {
        Ok(self
            .steps
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, a, _)| r == run_id && a == action.as_str())
            .map(|(_, _, s)| s.clone())
            .collect())
    }

    fn take_resumable(&self, _at: Timestamp) -> Result<Vec<ResumableAction>, StoreError> {
        let runs = self.runs.lock().unwrap();
        let actions = self.actions.lock().unwrap();
        let mut out = Vec::new();
        for (key, status) in self.statuses.lock().unwrap().iter_mut() {
            if matches!(status, ActionStatus::Running | ActionStatus::Indeterminate) {
                let (plan_id, digest, _) = runs[&key.0].clone();
                out.push(ResumableAction {
                    run_id: key.0.clone(),
                    plan_id,
                    policy_digest: digest,
                    action: actions[key].clone(),
                    status: *status,
                });
            } else if *status == ActionStatus::Pending && !runs[&key.0].2 {
                *status = ActionStatus::Superseded;
            }
        }
        Ok(out)
    }

    fn last_verified(&self) -> Result<Vec<LastVerified>, StoreError> {
        Ok(Vec::new())
    }

    fn open_actions(&self) -> Result<Vec<OpenAction>, StoreError> {
        let actions = self.actions.lock().unwrap();
        let statuses = self.statuses.lock().unwrap();
        Ok(statuses
            .iter()
            .filter(|(_, status)| {
                matches!(status, ActionStatus::Running | ActionStatus::Indeterminate)
            })
            .map(|(key, status)| OpenAction {
                run_id: key.0.clone(),
                action: actions[key].clone(),
                status: *status,
                reason: None,
                updated_at: Timestamp(0),
            })
            .collect())
    }
}

/// Collects evidence records as JSON; can be made to fail.
#[derive(Default)]
struct Records {
    records: Mutex<Vec<serde_json::Value>>,
    broken: Mutex<bool>,
}

impl EvidenceWriter for Records {
    fn append_action(&self, record: &ActionRecord<'_>) -> Result<u64, String> {
        if *self.broken.lock().unwrap() {
            return Err("disk full (injected)".into());
        }
        let mut records = self.records.lock().unwrap();
        records.push(serde_json::to_value(record).map_err(|e| e.to_string())?);
        Ok(records.len() as u64)
    }

    fn recorded_outcome(
        &self,
        run_id: &str,
        action: &ActionId,
    ) -> Result<Option<(u64, String)>, String> {
        let records = self.records.lock().unwrap();
        Ok(records
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, r)| r["run_id"] == run_id && r["action"]["id"] == action.as_str())
            .map(|(index, r)| {
                let outcome = match r["outcome"]["status"].as_str() {
                    Some("judged") => r["outcome"]["verdict"]["verdict"].as_str(),
                    other => other,
                };
                (index as u64 + 1, outcome.unwrap_or_default().to_string())
            })
            .next())
    }
}

struct FileSinks;

impl SinkResolver for FileSinks {
    fn open(&self, sink: &SinkRef) -> Result<Box<dyn Sink>, ConnectorError> {
        match sink {
            SinkRef::File { path } => Ok(Box::new(FileSink::new(path.clone()))),
            other => Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("unsupported sink {other}"),
            )),
        }
    }
}

struct Harness {
    target: Arc<FakeTarget>,
    store: Arc<MemoryStore>,
    records: Arc<Records>,
    executor: Executor,
    dir: tempfile::TempDir,
}

fn target_id() -> TargetId {
    TargetId::new("fake")
}

fn sink_path(dir: &tempfile::TempDir) -> SinkRef {
    SinkRef::File {
        path: dir.path().join("app.pw"),
    }
}

fn harness(max_destructive: Option<usize>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let target = Arc::new(FakeTarget::default());
    let store = Arc::new(MemoryStore::default());
    let records = Arc::new(Records::default());
    let fake = Target {
        id: target_id(),
        kind: "fake".into(),
        endpoint: "127.0.0.1:1".into(),
        database: None,
        admin_user: None,
        admin_credential: CredentialSource::Env("UNUSED".into()),
        unmanaged: UnmanagedPolicy::default(),
        verify_window: Duration::from_secs(0),
    };
    let identity = Identity {
        id: NhiId::new("app"),
        owner: "team".into(),
        purpose: "test".into(),
        state: LifecycleState::Active,
        accounts: vec![Account {
            target: target_id(),
            name: "app".into(),
            entitlements: BTreeSet::new(),
            credential: Some(CredentialPolicy {
                kind: CredentialKind::Password,
                max_age: None,
                sink: sink_path(&dir),
                strategy: Default::default(),
                dependents: Vec::new(),
            }),
            sessions: None,
            owned_objects: OwnedObjects::Refuse,
            settings: BTreeMap::new(),
        }],
    };
    let policy = Policy {
        digest: "digest".into(),
        targets: BTreeMap::from([(target_id(), fake)]),
        identities: BTreeMap::from([(identity.id.clone(), identity)]),
        limits: Limits::default(),
    };
    let connector: Arc<dyn Connector> = Arc::new(FakeConnector {
        target: target_id(),
        state: target.clone(),
    });
    let executor = Executor {
        policy: Arc::new(policy),
        connectors: BTreeMap::from([(target_id(), connector)]),
        sinks: Arc::new(FileSinks),
        store: store.clone(),
        evidence: records.clone(),
        key: FingerprintKey::from_bytes(KEY),
        clock: Arc::new(SystemClock),
        generator: Arc::new(OsSecretGenerator),
        progress: Arc::new(NoProgress),
        options: ExecuteOptions {
            max_attempts: 3,
            base_backoff: StdDuration::from_millis(1),
            per_target_concurrency: 4,
            max_destructive,
            crash: None,
        },
    };
    Harness {
        target,
        store,
        records,
        executor,
        dir,
    }
}

fn action(kind: ActionKind, depends_on: Vec<ActionId>) -> Action {
    Action {
        id: Action::stable_id(&target_id(), "app", &kind),
        target: target_id(),
        identity: Some(NhiId::new("app")),
        account: "app".into(),
        kind,
        reason: "test".into(),
        depends_on,
    }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        id: PlanId::new("plan-test"),
        created_at: Timestamp(0),
        policy_digest: "digest".into(),
        observation_digest: "obs".into(),
        actions,
        unmanaged: Vec::new(),
    }
}

fn readers() -> Entitlement {
    Entitlement::Membership {
        group: "readers".into(),
    }
}

fn seed_account(h: &Harness, password: &str) {
    h.target.accounts.lock().unwrap().insert(
        "app".into(),
        FakeAccount {
            login: true,
            password: Some(password.into()),
            entitlements: BTreeSet::new(),
        },
    );
    std::fs::write(h.dir.path().join("app.pw"), password).unwrap();
}

fn rotate(h: &Harness) -> Action {
    action(
        ActionKind::RotateCredential {
            sink: sink_path(&h.dir),
            end_sessions: false,
            strategy: RotationStrategy::Single,
        },
        vec![],
    )
}

fn rotate_dual(h: &Harness) -> Action {
    action(
        ActionKind::RotateCredential {
            sink: sink_path(&h.dir),
            end_sessions: false,
            strategy: RotationStrategy::Dual {
                grace: Duration::from_secs(0),
            },
        },
        vec![],
    )
}

#[tokio::test]
async fn transient_error_is_retried() {
    let h = harness(None);
    seed_account(&h, "old");
    h.target
        .fail("grant", &[ErrorKind::Unavailable, ErrorKind::Unavailable]);
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );

    let results = h
        .executor
        .run(&plan(vec![grant.clone()]), "run-1")
        .await
        .unwrap();

    assert_eq!(results[0].status, ActionStatus::Verified);
    assert_eq!(h.target.calls("grant"), 3);
    let attempts = h.store.steps("run-1", &grant.id).unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(matches!(attempts[2].result, Some(StepResult::Ok { .. })));
}

#[tokio::test]
async fn retries_are_bounded() {
    let h = harness(None);
    seed_account(&h, "old");
    h.target.fail_always("grant", ErrorKind::Unavailable);
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );

    let results = h
        .executor
        .run(&plan(vec![grant.clone()]), "run-1")
        .await
        .unwrap();

    assert_eq!(results[0].status, ActionStatus::Failed);
    assert_eq!(h.target.calls("grant"), 3);
    assert!(results[0]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("resumes"));
    // The action stays open in the journal so the next apply resumes it.
    let resumable = h.store.take_resumable(Timestamp(0)).unwrap();
    assert_eq!(resumable.len(), 1);
}

#[tokio::test]
async fn permanent_error_is_not_retried() {
    let h = harness(None);
    seed_account(&h, "old");
    h.target.fail_always("grant", ErrorKind::Denied);
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );

    let results = h.executor.run(&plan(vec![grant]), "run-1").await.unwrap();

    assert_eq!(results[0].status, ActionStatus::Failed);
    assert_eq!(h.target.calls("grant"), 1);
    let records = h.records.records.lock().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"]["status"], "failed");
}

#[tokio::test]
async fn rotation_proves_old_rejected() {
    let h = harness(None);
    seed_account(&h, "old-value");
    let results = h
        .executor
        .run(&plan(vec![rotate(&h)]), "run-1")
        .await
        .unwrap();

    assert_eq!(
        results[0].status,
        ActionStatus::Verified,
        "{:?}",
        results[0].reason
    );
    let current = std::fs::read_to_string(h.dir.path().join("app.pw")).unwrap();
    assert_ne!(current, "old-value");
    assert_eq!(
        h.target.accounts.lock().unwrap()["app"].password.as_deref(),
        Some(current.as_str())
    );
    assert!(!h.dir.path().join("app.pw.previous").exists());
    let records = h.records.records.lock().unwrap();
    let probes = records[0]["outcome"]["verdict"]["probes"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<&str> = probes.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"login-with-previous-credential-rejected"),
        "{names:?}"
    );
    assert!(names.contains(&"previous-credential-purged"), "{names:?}");
}

#[tokio::test]
async fn resume_repeats_only_unfinished_steps() {
    let h = harness(None);
    seed_account(&h, "old-value");
    h.target
        .fail_always("set_credential", ErrorKind::Unavailable);
    let rotation = rotate(&h);

    let first = h
        .executor
        .run(&plan(vec![rotation.clone()]), "run-1")
        .await
        .unwrap();
    assert_eq!(first[0].status, ActionStatus::Failed);
    let staged = std::fs::read_to_string(h.dir.path().join("app.pw.pending")).unwrap();
    assert_eq!(h.target.calls("list_sessions"), 1);

    h.target.heal("set_credential");
    let resumed = h.executor.resume().await.unwrap();

    assert_eq!(resumed.len(), 1);
    assert_eq!(
        resumed[0].status,
        ActionStatus::Verified,
        "{:?}",
        resumed[0].reason
    );
    // The completed steps were not repeated; the credential set is the one staged before.
    assert_eq!(h.target.calls("list_sessions"), 1);
    assert_eq!(
        std::fs::read_to_string(h.dir.path().join("app.pw")).unwrap(),
        staged
    );
    assert_eq!(
        h.target.accounts.lock().unwrap()["app"].password.as_deref(),
        Some(staged.as_str())
    );
    let stage_attempts = h
        .store
        .steps("run-1", &rotation.id)
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "stage-credential")
        .count();
    assert_eq!(stage_attempts, 1);
}

#[tokio::test]
async fn failure_before_promotion_keeps_current() {
    let h = harness(None);
    seed_account(&h, "old-value");
    h.target.fail_always("set_credential", ErrorKind::Denied);

    let results = h
        .executor
        .run(&plan(vec![rotate(&h)]), "run-1")
        .await
        .unwrap();

    assert_eq!(results[0].status, ActionStatus::Failed);
    assert!(!h.dir.path().join("app.pw.pending").exists());
    assert_eq!(
        std::fs::read_to_string(h.dir.path().join("app.pw")).unwrap(),
        "old-value"
    );
    assert_eq!(
        h.target.accounts.lock().unwrap()["app"].password.as_deref(),
        Some("old-value")
    );
}

#[tokio::test]
async fn dependent_of_failed_action_fails() {
    let h = harness(None);
    h.target.fail_always("create_account", ErrorKind::Denied);
    let create = action(
        ActionKind::CreateAccount {
            login: true,
            sink: None,
            settings: BTreeMap::new(),
        },
        vec![],
    );
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![create.id.clone()],
    );

    let results = h
        .executor
        .run(&plan(vec![create, grant]), "run-1")
        .await
        .unwrap();

    assert_eq!(results[0].status, ActionStatus::Failed);
    assert_eq!(results[1].status, ActionStatus::Failed);
    assert!(results[1]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("depends on"));
    assert_eq!(h.target.calls("grant"), 0);
}

#[tokio::test]
async fn destructive_plan_over_limit_is_refused() {
    let h = harness(Some(1));
    seed_account(&h, "old");
    let revokes = vec![
        action(
            ActionKind::Revoke {
                entitlement: readers(),
            },
            vec![],
        ),
        action(ActionKind::DisableLogin, vec![]),
    ];

    let error = h.executor.run(&plan(revokes), "run-1").await.unwrap_err();

    assert!(matches!(
        error,
        ExecuteError::TooDestructive { count: 2, limit: 1 }
    ));
    assert!(h.store.runs.lock().unwrap().is_empty());
    assert_eq!(h.target.calls("revoke") + h.target.calls("set_login"), 0);
}

#[tokio::test]
async fn unreachable_verification_is_indeterminate() {
    let h = harness(None);
    seed_account(&h, "old");
    h.target.fail_always("read_account", ErrorKind::Unavailable);
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );

    let results = h
        .executor
        .run(&plan(vec![grant.clone()]), "run-1")
        .await
        .unwrap();
    assert_eq!(results[0].status, ActionStatus::Indeterminate);

    h.target.heal("read_account");
    let resumed = h.executor.resume().await.unwrap();
    assert_eq!(resumed[0].status, ActionStatus::Verified);
    // The grant itself ran once; the second run only verified.
    assert_eq!(h.target.calls("grant"), 1);
}

#[tokio::test]
async fn unwritable_evidence_blocks_verified() {
    let h = harness(None);
    seed_account(&h, "old");
    *h.records.broken.lock().unwrap() = true;
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );

    let results = h
        .executor
        .run(&plan(vec![grant.clone()]), "run-1")
        .await
        .unwrap();

    assert_ne!(results[0].status, ActionStatus::Verified);
    let status = h.store.statuses.lock().unwrap()[&("run-1".to_string(), grant.id.to_string())];
    assert_eq!(status, ActionStatus::Running);
}

#[tokio::test]
async fn recorded_verdict_is_not_repeated() {
    let h = harness(None);
    seed_account(&h, "old");
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );
    let results = h
        .executor
        .run(&plan(vec![grant.clone()]), "run-1")
        .await
        .unwrap();
    assert_eq!(results[0].status, ActionStatus::Verified);

    // A crash after the evidence record but before the journal's verdict leaves it running.
    h.store
        .set_status(
            "run-1",
            &grant.id,
            ActionStatus::Running,
            None,
            Timestamp(0),
        )
        .unwrap();
    let resumed = h.executor.resume().await.unwrap();

    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].status, ActionStatus::Verified);
    assert_eq!(h.records.records.lock().unwrap().len(), 1);
    assert_eq!(h.target.calls("grant"), 1);
    let status = h.store.statuses.lock().unwrap()[&("run-1".to_string(), grant.id.to_string())];
    assert_eq!(status, ActionStatus::Verified);
}

#[tokio::test]
async fn refused_new_credential_rolls_back() {
    let h = harness(None);
    seed_account(&h, "old-value");
    *h.target.refuse_new.lock().unwrap() = true;

    let results = h
        .executor
        .run(&plan(vec![rotate(&h)]), "run-1")
        .await
        .unwrap();

    assert_eq!(results[0].status, ActionStatus::Failed);
    let reason = results[0].reason.as_deref().unwrap_or("");
    assert!(reason.contains("test-credential"), "{reason}");
    assert!(reason.contains("rolled back"), "{reason}");
    // The target and the sink hold the previous credential again; nothing is staged.
    assert_eq!(
        h.target.accounts.lock().unwrap()["app"].password.as_deref(),
        Some("old-value")
    );
    assert_eq!(
        std::fs::read_to_string(h.dir.path().join("app.pw")).unwrap(),
        "old-value"
    );
    assert!(!h.dir.path().join("app.pw.pending").exists());
    // The evidence records the failed test step and the rollback.
    let records = h.records.records.lock().unwrap();
    let steps: Vec<(String, String)> = records[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        steps
            .iter()
            .any(|(n, r)| n == "test-credential" && r.starts_with("failed")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|(n, r)| n == "rollback-credential" && r == "ok"),
        "{steps:?}"
    );
    assert_eq!(records[0]["outcome"]["status"], "failed");
}

#[tokio::test]
async fn dual_rotation_without_dual_support_rolls_back() {
    // The in-memory target holds one credential at a time, as the connector trait's default
    // says: adding a second is refused, so nothing changes and nothing is staged.
    let h = harness(None);
    seed_account(&h, "old-value");

    let results = h
        .executor
        .run(&plan(vec![rotate_dual(&h)]), "run-1")
        .await
        .unwrap();

    assert_eq!(results[0].status, ActionStatus::Failed);
    let reason = results[0].reason.as_deref().unwrap_or("");
    assert!(reason.contains("add-credential"), "{reason}");
    assert_eq!(
        h.target.accounts.lock().unwrap()["app"].password.as_deref(),
        Some("old-value")
    );
    assert_eq!(
        std::fs::read_to_string(h.dir.path().join("app.pw")).unwrap(),
        "old-value"
    );
    assert!(!h.dir.path().join("app.pw.pending").exists());
}

#[tokio::test]
async fn failed_step_already_in_effect_is_verified() {
    let h = harness(None);
    seed_account(&h, "old");
    // The grant reached the target, but its reply was lost and the repeat failed for good.
    h.target
        .accounts
        .lock()
        .unwrap()
        .get_mut("app")
        .unwrap()
        .entitlements
        .insert(readers());
    h.target.fail_always("grant", ErrorKind::Conflict);
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );
    let results = h.executor.run(&plan(vec![grant]), "run-1").await.unwrap();
    assert_eq!(results[0].status, ActionStatus::Verified);
    let records = h.records.records.lock().unwrap();
    let steps = records[0]["steps"].to_string();
    assert!(steps.contains("failed"), "{steps}");
    assert_eq!(records[0]["outcome"]["status"], "judged");
}

#[tokio::test]
async fn failed_step_not_in_effect_stays_failed() {
    let h = harness(None);
    seed_account(&h, "old");
    h.target.fail_always("grant", ErrorKind::Conflict);
    let grant = action(
        ActionKind::Grant {
            entitlement: readers(),
        },
        vec![],
    );
    let results = h.executor.run(&plan(vec![grant]), "run-1").await.unwrap();
    assert_eq!(results[0].status, ActionStatus::Failed);
}
