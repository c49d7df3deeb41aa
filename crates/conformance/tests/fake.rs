//! The suite run against an in-memory connector: a correct one passes, and each injected defect
//! fails the check written for it, so the checks are shown to be able to fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use enact_conformance::{
    run, run_all, Check, Fixture, FixtureCapabilities, FixtureError, KnownDefect, Outcome,
    SessionGuard, Support,
};
use enact_connector::{Capabilities, Connector, ConnectorError, ErrorKind, LoginProbe, Rejection};
use enact_model::{
    Entitlement, FingerprintKey, ObservedAccount, ObservedSession, OwnedObjects, Secret,
    SessionSelector, TargetId, TargetObservation, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A defect the fake connector can be given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Defect {
    None,
    /// A login probe ignores the login flag.
    IgnoresLoginFlag,
    /// Granting an entitlement already held fails.
    GrantTwiceFails,
    /// An unreachable target fails as `Other`, which the executor does not retry.
    UnreachableIsOther,
}

#[derive(Clone, Default)]
struct Account {
    login: bool,
    entitlements: BTreeSet<Entitlement>,
    settings: BTreeMap<String, String>,
    credential: Option<String>,
    set_at: Option<Timestamp>,
}

/// An in-memory target with one setting, `ttl`, and no sessions.
struct FakeConnector {
    target: TargetId,
    accounts: Arc<Mutex<BTreeMap<String, Account>>>,
    reachable: bool,
    defect: Defect,
}

impl FakeConnector {
    fn check_reachable(&self) -> Result<(), ConnectorError> {
        match (self.reachable, self.defect) {
            (true, _) => Ok(()),
            (false, Defect::UnreachableIsOther) => {
                Err(ConnectorError::new(ErrorKind::Other, "connection refused"))
            }
            (false, _) => Err(ConnectorError::new(
                ErrorKind::Unavailable,
                "connection refused",
            )),
        }
    }

    fn check_settings(settings: &BTreeMap<String, String>) -> Result<(), ConnectorError> {
        match settings.keys().find(|key| *key != "ttl") {
            Some(key) => Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("no setting `{key}`"),
            )),
            None => Ok(()),
        }
    }

    fn with_account<T>(
        &self,
        account: &str,
        change: impl FnOnce(&mut Account) -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        self.check_reachable()?;
        let mut accounts = self.accounts.lock().unwrap();
        let found = accounts.get_mut(account).ok_or_else(|| {
            ConnectorError::new(ErrorKind::Invalid, format!("no account `{account}`"))
        })?;
        change(found)
    }

    fn observed(name: &str, account: &Account) -> ObservedAccount {
        ObservedAccount {
            name: name.to_string(),
            login_enabled: account.login,
            entitlements: account.entitlements.clone(),
            credential_set_at: account.set_at,
            sessions: Vec::new(),
            owned_objects: 0,
            extra_credentials: 0,
            settings: account.settings.clone(),
        }
    }
}

#[async_trait]
impl Connector for FakeConnector {
    fn target(&self) -> &TargetId {
        &self.target
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            credential_age: true,
            login_probe: true,
            sessions: false,
        }
    }

    async fn observe(&self, _declared: &[String]) -> Result<TargetObservation, ConnectorError> {
        self.check_reachable()?;
        let accounts = self.accounts.lock().unwrap();
        Ok(TargetObservation {
            target: self.target.clone(),
            observed_at: Timestamp(0),
            accounts: accounts
                .iter()
                .map(|(name, account)| (name.clone(), Self::observed(name, account)))
                .collect(),
        })
    }

    async fn read_account(&self, account: &str) -> Result<Option<ObservedAccount>, ConnectorError> {
        self.check_reachable()?;
        let accounts = self.accounts.lock().unwrap();
        Ok(accounts
            .get(account)
            .map(|found| Self::observed(account, found)))
    }

    async fn list_sessions(&self, _account: &str) -> Result<Vec<ObservedSession>, ConnectorError> {
        self.check_reachable()?;
        Ok(Vec::new())
    }

    async fn create_account(
        &self,
        account: &str,
        login: bool,
        settings: &BTreeMap<String, String>,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.check_reachable()?;
        Self::check_settings(settings)?;
        let mut accounts = self.accounts.lock().unwrap();
        let entry = accounts.entry(account.to_string()).or_default();
        entry.login = login;
        entry.settings = settings.clone();
        if let Some(credential) = credential {
            entry.credential = Some(credential.expose().to_string());
            entry.set_at = Some(now);
        }
        Ok(())
    }

    async fn configure(
        &self,
        account: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), ConnectorError> {
        Self::check_settings(settings)?;
        self.with_account(account, |found| {
            found.settings = settings.clone();
            Ok(())
        })
    }

    async fn grant(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        let defect = self.defect;
        self.with_account(account, |found| {
            let added = found.entitlements.insert(entitlement.clone());
            if !added && defect == Defect::GrantTwiceFails {
                return Err(ConnectorError::new(ErrorKind::Conflict, "already granted"));
            }
            Ok(())
        })
    }

    async fn revoke(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        self.check_reachable()?;
        if let Some(found) = self.accounts.lock().unwrap().get_mut(account) {
            found.entitlements.remove(entitlement);
        }
        Ok(())
    }

    async fn set_credential(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.with_account(account, |found| {
            found.credential = Some(credential.expose().to_string());
            found.set_at = Some(now);
            Ok(())
        })
    }

    async fn set_login(&self, account: &str, enabled: bool) -> Result<(), ConnectorError> {
        self.with_account(account, |found| {
            found.login = enabled;
            Ok(())
        })
    }

    async fn end_sessions(
        &self,
        _account: &str,
        _selector: &SessionSelector,
        _now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        self.check_reachable()?;
        Ok(Vec::new())
    }

    async fn delete_account(
        &self,
        account: &str,
        _owned: &OwnedObjects,
    ) -> Result<(), ConnectorError> {
        self.check_reachable()?;
        self.accounts.lock().unwrap().remove(account);
        Ok(())
    }

    async fn probe_login(&self, account: &str, credential: &Secret) -> LoginProbe {
        if let Err(error) = self.check_reachable() {
            return LoginProbe::Unavailable {
                reason: error.message,
            };
        }
        let accounts = self.accounts.lock().unwrap();
        let Some(found) = accounts.get(account) else {
            return LoginProbe::Rejected(Rejection::UnknownAccount);
        };
        if found.credential.as_deref() != Some(credential.expose()) {
            LoginProbe::Rejected(Rejection::InvalidCredential)
        } else if !found.login && self.defect != Defect::IgnoresLoginFlag {
            LoginProbe::Rejected(Rejection::LoginDisabled)
        } else {
            LoginProbe::Accepted
        }
    }
}

struct FakeFixture {
    accounts: Arc<Mutex<BTreeMap<String, Account>>>,
    next: AtomicU64,
    defect: Defect,
    known_defects: Vec<KnownDefect>,
}

impl FakeFixture {
    fn new(defect: Defect) -> Self {
        FakeFixture {
            accounts: Arc::default(),
            next: AtomicU64::new(0),
            defect,
            known_defects: Vec::new(),
        }
    }

    fn build(&self, reachable: bool) -> Box<dyn Connector> {
        Box::new(FakeConnector {
            target: TargetId::new("fake"),
            accounts: Arc::clone(&self.accounts),
            reachable,
            defect: self.defect,
        })
    }
}

#[async_trait]
impl Fixture for FakeFixture {
    fn name(&self) -> &str {
        "fake"
    }

    fn capabilities(&self) -> FixtureCapabilities {
        FixtureCapabilities {
            sessions: Support::not_supported("the fake target has no sessions"),
            connection_count: Support::not_supported("the fake target opens no connections"),
            known_defects: self.known_defects.clone(),
            ..FixtureCapabilities::all_supported()
        }
    }

    async fn connector(&self) -> Result<Box<dyn Connector>, FixtureError> {
        Ok(self.build(true))
    }

    async fn unreachable_connector(&self) -> Result<Box<dyn Connector>, FixtureError> {
        Ok(self.build(false))
    }

    fn account_name(&self, label: &str) -> String {
        format!("{label}-{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn entitlements(&self) -> [Entitlement; 2] {
        ["read", "write"].map(|policy| Entitlement::Policy {
            policy: policy.to_string(),
        })
    }

    fn settings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("ttl".to_string(), "60".to_string())])
    }

    fn other_settings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("ttl".to_string(), "30".to_string())])
    }

    fn credential(&self) -> Secret {
        let value = format!("secret-{}", self.next.fetch_add(1, Ordering::Relaxed));
        Secret::new(value, &FingerprintKey::from_bytes([1; 32]))
    }

    async fn open_session(
        &self,
        _account: &str,
        _credential: &Secret,
    ) -> Result<Box<dyn SessionGuard>, FixtureError> {
        Err(FixtureError::new("the fake target has no sessions"))
    }
}

fn outcome_of(report: &enact_conformance::Report, check: Check) -> &Outcome {
    &report
        .results
        .iter()
        .find(|result| result.check == check)
        .unwrap()
        .outcome
}

#[tokio::test]
async fn correct_fake_passes_every_check() {
    let fixture = FakeFixture::new(Defect::None);
    let report = run_all(&fixture).await;
    println!("{report}");
    assert!(report.failures().is_empty(), "{report}");
    assert_eq!(
        *outcome_of(&report, Check::SessionsAreListedAndEnded),
        Outcome::NotSupported {
            proof: enact_conformance::Proof::Sessions,
            reason: "the fake target has no sessions".to_string(),
        }
    );
    assert_eq!(
        *outcome_of(&report, Check::ProvisionReadsBack),
        Outcome::Passed
    );
    assert!(
        fixture.accounts.lock().unwrap().is_empty(),
        "the checks left accounts behind"
    );
}

#[tokio::test]
async fn ignored_login_flag_fails_disable_check() {
    let fixture = FakeFixture::new(Defect::IgnoresLoginFlag);
    let result = run(&fixture, Check::DisableBlocksLogin).await;
    let Outcome::Failed { message } = &result.outcome else {
        panic!("{result}");
    };
    assert!(message.contains("after set_login(false)"), "{message}");
    assert!(message.contains("LoginDisabled"), "{message}");
}

#[tokio::test]
async fn failing_second_grant_fails_idempotence() {
    let fixture = FakeFixture::new(Defect::GrantTwiceFails);
    let result = run(&fixture, Check::ChangesAreIdempotent).await;
    let Outcome::Failed { message } = &result.outcome else {
        panic!("{result}");
    };
    assert!(
        message.contains("(second run) failed (Conflict)"),
        "{message}"
    );
    assert!(fixture.accounts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn non_transient_outage_fails_unreachable_checks() {
    let fixture = FakeFixture::new(Defect::UnreachableIsOther);
    for check in [
        Check::UnreachableReadsAreUnavailable,
        Check::UnreachableChangesAreUnavailable,
    ] {
        let result = run(&fixture, check).await;
        let Outcome::Failed { message } = &result.outcome else {
            panic!("{result}");
        };
        assert!(message.contains("expected Unavailable"), "{message}");
    }
}

#[tokio::test]
async fn known_defect_is_skipped_with_reason() {
    let mut fixture = FakeFixture::new(Defect::IgnoresLoginFlag);
    fixture.known_defects.push(KnownDefect {
        check: Check::DisableBlocksLogin,
        reason: "probes ignore the login flag".to_string(),
    });
    let result = run(&fixture, Check::DisableBlocksLogin).await;
    assert_eq!(
        result.outcome,
        Outcome::Skipped {
            reason: "probes ignore the login flag".to_string()
        }
    );
    assert_eq!(
        result.to_string(),
        "skipped, known defect in fake: probes ignore the login flag"
    );
}
