//! Planner tests, including property tests against a simple model of a target: applying a
//! plan's actions to the model and planning again must give an empty plan.

use super::*;
use enact_model::policy::{CredentialKind, CredentialSource, Limits};
use enact_model::{
    Account, ActionKind, CredentialPolicy, Duration, Entitlement, Identity, LifecycleState, NhiId,
    ObjectRef, ObservedAccount, ObservedSession, OwnedObjects, SessionPolicy, SessionSelector,
    SinkRef, Target, TargetId, TargetObservation, Timestamp, UnmanagedAction, UnmanagedPolicy,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NOW: Timestamp = Timestamp(1_796_428_800_000_000);
const DAY: i64 = 86_400;

fn target(unmanaged: UnmanagedAction) -> Target {
    Target {
        id: TargetId::new("pg"),
        kind: "postgres".into(),
        endpoint: "127.0.0.1:55432".into(),
        database: Some("appdb".into()),
        admin_user: Some("enact_admin".into()),
        admin_credential: CredentialSource::Env("PW".into()),
        unmanaged: UnmanagedPolicy {
            action: unmanaged,
            ignore: vec!["keep_*".into()],
        },
        verify_window: Duration::from_secs(5),
    }
}

fn select(table: &str) -> Entitlement {
    Entitlement::Privilege {
        privilege: "SELECT".into(),
        object: Box::new(ObjectRef {
            kind: "table".into(),
            name: format!("public.{table}"),
        }),
    }
}

fn account(name: &str, entitlements: &[Entitlement]) -> Account {
    Account {
        target: TargetId::new("pg"),
        name: name.into(),
        entitlements: entitlements.iter().cloned().collect(),
        credential: Some(CredentialPolicy {
            kind: CredentialKind::Password,
            max_age: Some(Duration::from_secs(90 * DAY)),
            sink: SinkRef::File {
                path: format!("/tmp/{name}.pw").into(),
            },
            strategy: Default::default(),
            dependents: Vec::new(),
        }),
        sessions: Some(SessionPolicy {
            max_lifetime: Some(Duration::from_secs(8 * 3600)),
            idle_limit: None,
            end_on_rotation: false,
        }),
        owned_objects: OwnedObjects::Refuse,
        settings: BTreeMap::new(),
    }
}

fn policy(identities: Vec<(&str, LifecycleState, Account)>, unmanaged: UnmanagedAction) -> Policy {
    let target = target(unmanaged);
    Policy {
        digest: "d".into(),
        targets: BTreeMap::from([(target.id.clone(), target)]),
        identities: identities
            .into_iter()
            .map(|(id, state, account)| {
                (
                    NhiId::new(id),
                    Identity {
                        id: NhiId::new(id),
                        owner: "team".into(),
                        purpose: "test".into(),
                        state,
                        accounts: vec![account],
                    },
                )
            })
            .collect(),
        limits: Limits::default(),
    }
}

fn observed(
    name: &str,
    login: bool,
    entitlements: &[Entitlement],
    age_days: Option<i64>,
) -> ObservedAccount {
    ObservedAccount {
        name: name.into(),
        login_enabled: login,
        entitlements: entitlements.iter().cloned().collect(),
        credential_set_at: age_days.map(|d| NOW.minus(Duration::from_secs(d * DAY))),
        sessions: Vec::new(),
        owned_objects: 0,
        extra_credentials: 0,
        settings: BTreeMap::new(),
    }
}

fn observation(accounts: Vec<ObservedAccount>) -> Observation {
    let target = TargetId::new("pg");
    Observation {
        observed_at: NOW,
        sinks: BTreeMap::new(),
        targets: BTreeMap::from([(
            target.clone(),
            TargetObservation {
                target,
                observed_at: NOW,
                accounts: accounts.into_iter().map(|a| (a.name.clone(), a)).collect(),
            },
        )]),
    }
}

fn verbs(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| format!("{} {}", a.kind.verb(), a.account))
        .collect()
}

#[test]
fn missing_account_is_created_then_granted() {
    let policy = policy(
        vec![(
            "billing",
            LifecycleState::Active,
            account("billing", &[select("orders")]),
        )],
        UnmanagedAction::Report,
    );
    let plan = plan(&policy, &observation(vec![])).expect("plan");
    assert_eq!(verbs(&plan), vec!["create billing", "grant billing"]);
    assert_eq!(plan.actions[1].depends_on, vec![plan.actions[0].id.clone()]);
}

#[test]
fn extra_privilege_is_revoked() {
    let policy = policy(
        vec![(
            "billing",
            LifecycleState::Active,
            account("billing", &[select("orders")]),
        )],
        UnmanagedAction::Report,
    );
    let found = observed(
        "billing",
        true,
        &[select("orders"), select("payroll")],
        Some(1),
    );
    let plan = plan(&policy, &observation(vec![found])).expect("plan");
    assert_eq!(verbs(&plan), vec!["revoke billing"]);
    assert_eq!(
        plan.actions[0].kind,
        ActionKind::Revoke {
            entitlement: select("payroll")
        }
    );
    assert_eq!(plan.destructive_count(), 1);
}

#[test]
fn old_or_unknown_credential_is_rotated() {
    let policy = policy(
        vec![
            ("old", LifecycleState::Active, account("old", &[])),
            ("fresh", LifecycleState::Active, account("fresh", &[])),
            ("unknown", LifecycleState::Active, account("unknown", &[])),
        ],
        UnmanagedAction::Report,
    );
    let plan = plan(
        &policy,
        &observation(vec![
            observed("old", true, &[], Some(120)),
            observed("fresh", true, &[], Some(10)),
            observed("unknown", true, &[], None),
        ]),
    )
    .expect("plan");
    assert_eq!(verbs(&plan), vec!["rotate old", "rotate unknown"]);
    assert!(
        plan.actions[0].reason.contains("120d"),
        "{}",
        plan.actions[0].reason
    );
}

#[test]
fn long_session_is_ended() {
    let policy = policy(
        vec![("app", LifecycleState::Active, account("app", &[]))],
        UnmanagedAction::Report,
    );
    let mut found = observed("app", true, &[], Some(1));
    found.sessions.push(ObservedSession {
        id: "42".into(),
        started_at: NOW.minus(Duration::from_secs(9 * 3600)),
        idle_since: None,
        application_name: "app".into(),
        client_addr: None,
        metadata: Default::default(),
    });
    let plan = plan(&policy, &observation(vec![found])).expect("plan");
    assert_eq!(verbs(&plan), vec!["end-sessions app"]);
    assert!(matches!(
        plan.actions[0].kind,
        ActionKind::EndSessions {
            selector: SessionSelector::OlderThan { .. }
        }
    ));
}

#[test]
fn decommissioned_account_is_deleted_with_purge() {
    let policy = policy(
        vec![("gone", LifecycleState::Decommissioned, account("gone", &[]))],
        UnmanagedAction::Report,
    );
    let plan = plan(
        &policy,
        &observation(vec![observed("gone", true, &[], Some(1))]),
    )
    .expect("plan");
    assert_eq!(verbs(&plan), vec!["delete gone"]);
    assert!(matches!(
        &plan.actions[0].kind,
        ActionKind::DeleteAccount { purge: Some(_), .. }
    ));
}

#[test]
fn unmanaged_accounts_follow_policy() {
    let reported = policy(vec![], UnmanagedAction::Report);
    let disabled = policy(vec![], UnmanagedAction::Disable);
    let accounts = || {
        observation(vec![
            observed("stray", true, &[], None),
            observed("keep_me", true, &[], None),
        ])
    };

    let plan_report = plan(&reported, &accounts()).expect("plan");
    assert!(plan_report.actions.is_empty());
    assert_eq!(plan_report.unmanaged.len(), 1);
    assert_eq!(plan_report.unmanaged[0].account, "stray");

    let plan_disable = plan(&disabled, &accounts()).expect("plan");
    assert_eq!(verbs(&plan_disable), vec!["disable stray"]);
    assert_eq!(plan_disable.actions[0].identity, None);
}

#[test]
fn missing_target_observation_is_an_error() {
    let policy = policy(vec![], UnmanagedAction::Report);
    let empty = Observation {
        observed_at: NOW,
        sinks: BTreeMap::new(),
        targets: BTreeMap::new(),
    };
    assert_eq!(
        plan(&policy, &empty),
        Err(PlanError::MissingObservation {
            target: "pg".into()
        })
    );
}

/// Applies an action to the simple model of the target.
fn simulate(state: &mut BTreeMap<String, ObservedAccount>, action: &Action) {
    let name = action.account.clone();
    match &action.kind {
        ActionKind::CreateAccount {
            login,
            sink,
            settings,
        } => {
            state.insert(
                name.clone(),
                ObservedAccount {
                    name,
                    login_enabled: *login,
                    entitlements: BTreeSet::new(),
                    credential_set_at: sink.as_ref().map(|_| NOW),
                    sessions: Vec::new(),
                    owned_objects: 0,
                    extra_credentials: 0,
                    settings: settings.clone(),
                },
            );
        }
        ActionKind::Configure { settings } => {
            if let Some(a) = state.get_mut(&name) {
                a.settings.extend(settings.clone());
            }
        }
        ActionKind::Grant { entitlement } => {
            if let Some(a) = state.get_mut(&name) {
                a.entitlements.insert(entitlement.clone());
            }
        }
        ActionKind::Revoke { entitlement } => {
            if let Some(a) = state.get_mut(&name) {
                a.entitlements.remove(entitlement);
            }
        }
        ActionKind::RotateCredential { .. } => {
            if let Some(a) = state.get_mut(&name) {
                a.credential_set_at = Some(NOW);
                a.extra_credentials = 0;
            }
        }
        ActionKind::EndSessions { selector } => {
            if let Some(a) = state.get_mut(&name) {
                a.sessions
                    .retain(|s| !selector.matches(s.started_at, s.idle_since, NOW));
            }
        }
        ActionKind::DisableLogin => {
            if let Some(a) = state.get_mut(&name) {
                a.login_enabled = false;
                a.sessions.clear();
            }
        }
        ActionKind::EnableLogin => {
            if let Some(a) = state.get_mut(&name) {
                a.login_enabled = true;
            }
        }
        ActionKind::DeleteAccount { .. } => {
            state.remove(&name);
        }
        ActionKind::PurgeCredential { .. } => {}
    }
}

fn arb_state() -> impl Strategy<Value = LifecycleState> {
    prop_oneof![
        Just(LifecycleState::Active),
        Just(LifecycleState::Disabled),
        Just(LifecycleState::Decommissioned)
    ]
}

fn arb_entitlements() -> impl Strategy<Value = Vec<Entitlement>> {
    proptest::collection::vec(
        prop_oneof![
            (0..4u8).prop_map(|i| select(&format!("t{i}"))),
            (0..3u8).prop_map(|i| Entitlement::Membership {
                group: format!("g{i}")
            }),
        ],
        0..5,
    )
}

/// One generated account: declared state and entitlements, and what the target holds.
#[derive(Debug, Clone)]
struct Case {
    state: LifecycleState,
    declared: Vec<Entitlement>,
    exists: bool,
    login: bool,
    held: Vec<Entitlement>,
    age_days: Option<i64>,
    session_hours: Vec<i64>,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        arb_state(),
        arb_entitlements(),
        any::<bool>(),
        any::<bool>(),
        arb_entitlements(),
        proptest::option::of(0..200i64),
        proptest::collection::vec(0..24i64, 0..3),
    )
        .prop_map(
            |(state, declared, exists, login, held, age_days, session_hours)| Case {
                state,
                declared,
                exists,
                login,
                held,
                age_days,
                session_hours,
            },
        )
}

fn build(cases: &[Case], strays: usize) -> (Policy, Observation) {
    let mut identities = Vec::new();
    let mut accounts = Vec::new();
    let names: Vec<String> = (0..cases.len()).map(|i| format!("nhi{i}")).collect();
    for (case, name) in cases.iter().zip(&names) {
        identities.push((name.as_str(), case.state, account(name, &case.declared)));
        if case.exists {
            let mut found = observed(name, case.login, &case.held, case.age_days);
            for (i, hours) in case.session_hours.iter().enumerate() {
                found.sessions.push(ObservedSession {
                    id: format!("{i}"),
                    started_at: NOW.minus(Duration::from_secs(hours * 3600)),
                    idle_since: None,
                    application_name: String::new(),
                    client_addr: None,
                    metadata: Default::default(),
                });
            }
            accounts.push(found);
        }
    }
    for i in 0..strays {
        accounts.push(observed(&format!("stray{i}"), true, &[], None));
    }
    (
        policy(identities, UnmanagedAction::Disable),
        observation(accounts),
    )
}

proptest! {
    #[test]
    fn applying_plan_converges(cases in proptest::collection::vec(arb_case(), 1..8), strays in 0..3usize) {
        let (policy, observation) = build(&cases, strays);
        let first = plan(&policy, &observation).expect("plan");

        let target = TargetId::new("pg");
        let mut state = observation.targets[&target].accounts.clone();
        for action in &first.actions {
            simulate(&mut state, action);
        }
        let after = Observation {
            observed_at: NOW,
            sinks: BTreeMap::new(),
            targets: BTreeMap::from([(
                target.clone(),
                TargetObservation { target, observed_at: NOW, accounts: state },
            )]),
        };
        let second = plan(&policy, &after).expect("plan");
        prop_assert!(second.actions.is_empty(), "second plan not empty: {:?}", verbs(&second));
    }

    #[test]
    fn plan_is_deterministic(cases in proptest::collection::vec(arb_case(), 1..8)) {
        let (policy, observation) = build(&cases, 1);
        let a = plan(&policy, &observation).expect("plan");
        let b = plan(&policy, &observation).expect("plan");
        prop_assert_eq!(a, b);
    }

    #[test]
    fn action_ids_are_unique(cases in proptest::collection::vec(arb_case(), 1..8)) {
        let (policy, observation) = build(&cases, 2);
        let plan = plan(&policy, &observation).expect("plan");
        let ids: BTreeSet<_> = plan.actions.iter().map(|a| a.id.clone()).collect();
        prop_assert_eq!(ids.len(), plan.actions.len());
    }

    #[test]
    fn dependencies_point_backwards(cases in proptest::collection::vec(arb_case(), 1..8)) {
        let (policy, observation) = build(&cases, 0);
        let plan = plan(&policy, &observation).expect("plan");
        for (index, action) in plan.actions.iter().enumerate() {
            for dependency in &action.depends_on {
                let position = plan.actions.iter().position(|a| &a.id == dependency);
                prop_assert!(matches!(position, Some(p) if p < index));
            }
        }
    }
}

#[test]
fn digest_ignores_out_of_scope_accounts() {
    let reported = policy(
        vec![("app", LifecycleState::Active, account("app", &[]))],
        UnmanagedAction::Report,
    );
    let base = observation(vec![observed("app", true, &[], Some(1))]);
    let with_stranger = observation(vec![
        observed("app", true, &[], Some(1)),
        observed("other_app", true, &[], Some(1)),
    ]);
    let with_drift = observation(vec![observed("app", true, &[select("orders")], Some(1))]);

    let digest = |p: &Policy, o: &Observation| plan(p, o).expect("plan").observation_digest;
    assert_eq!(digest(&reported, &base), digest(&reported, &with_stranger));
    assert_ne!(digest(&reported, &base), digest(&reported, &with_drift));

    // Where unmanaged accounts are disabled, a new one changes what the plan does.
    let disabling = policy(
        vec![("app", LifecycleState::Active, account("app", &[]))],
        UnmanagedAction::Disable,
    );
    assert_ne!(
        digest(&disabling, &base),
        digest(&disabling, &with_stranger)
    );
    let ignored = observation(vec![
        observed("app", true, &[], Some(1)),
        observed("keep_me", true, &[], Some(1)),
    ]);
    assert_eq!(digest(&disabling, &base), digest(&disabling, &ignored));
}

fn with_sink(mut observation: Observation, name: &str, current: bool, any: bool) -> Observation {
    let sink = SinkRef::File {
        path: format!("/tmp/{name}.pw").into(),
    };
    observation
        .sinks
        .insert(sink.to_string(), enact_model::SinkState { current, any });
    observation
}

#[test]
fn empty_sink_is_refilled_by_rotation() {
    let policy = policy(
        vec![("app", LifecycleState::Active, account("app", &[]))],
        UnmanagedAction::Report,
    );
    let found = observation(vec![observed("app", true, &[], Some(1))]);
    let lost = with_sink(found.clone(), "app", false, false);
    let kept = with_sink(found, "app", true, true);

    let plan_lost = plan(&policy, &lost).expect("plan");
    assert_eq!(verbs(&plan_lost), vec!["rotate app"]);
    assert!(
        plan_lost.actions[0].reason.contains("holds no credential"),
        "{}",
        plan_lost.actions[0].reason
    );
    assert!(plan(&policy, &kept).expect("plan").actions.is_empty());
}

#[test]
fn gone_account_sink_is_purged() {
    let policy = policy(
        vec![("gone", LifecycleState::Decommissioned, account("gone", &[]))],
        UnmanagedAction::Report,
    );
    let holding = with_sink(observation(vec![]), "gone", true, true);
    let empty = with_sink(observation(vec![]), "gone", false, false);

    let plan_holding = plan(&policy, &holding).expect("plan");
    assert_eq!(verbs(&plan_holding), vec!["purge gone"]);
    assert!(plan_holding.actions[0].kind.is_destructive());
    assert!(plan(&policy, &empty).expect("plan").actions.is_empty());
}
