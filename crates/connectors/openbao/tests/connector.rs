//! The OpenBao AppRole connector against the real server that `scripts/bao.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{key, now, random_secret, secret, unique, BaoEnv};
use enact_connector::{Connector, ErrorKind, LoginProbe, Rejection};
use enact_model::{Entitlement, OwnedObjects, SessionSelector};
use enact_openbao::{OpenBaoConnector, LOGIN_DISABLED_CIDR};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;

fn policy(name: &str) -> Entitlement {
    Entitlement::Policy {
        policy: name.to_string(),
    }
}

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Issues a secret ID for `role` with the root token, behind enact's back.
async fn issue_extra_secret_id(env: &BaoEnv, role: &str) -> String {
    let value = random_secret();
    let (status, body) = env
        .root(
            Method::POST,
            &format!("auth/approle/role/{role}/custom-secret-id"),
            Some(json!({ "secret_id": value })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    value
}

async fn delete_roles(connector: &OpenBaoConnector, roles: &[&str]) {
    for role in roles {
        connector
            .delete_account(role, &OwnedObjects::Refuse)
            .await
            .unwrap_or_else(|e| panic!("cleanup of `{role}` failed: {e}"));
    }
}

#[tokio::test]
async fn observe_lists_unmanaged_roles_with_facts() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("obs");
    // A role enact never touched, with more fields set than enact manages.
    let (status, body) = env
        .root(
            Method::POST,
            &format!("auth/approle/role/{role}"),
            Some(json!({
                "token_policies": ["read-db", "write-cache"],
                "token_ttl": "5m",
                "token_max_ttl": 3600,
                "secret_id_ttl": 0,
                "secret_id_num_uses": 3,
                "token_period": 60,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let observation = connector.observe(&[]).await.unwrap();
    let account = observation
        .accounts
        .get(&role)
        .unwrap_or_else(|| panic!("`{role}` is not observed"));

    assert_eq!(observation.target.as_str(), "bao");
    assert!(account.login_enabled);
    assert_eq!(
        account.entitlements,
        [policy("read-db"), policy("write-cache")]
            .into_iter()
            .collect()
    );
    assert_eq!(
        account.settings,
        settings(&[
            ("token_ttl", "300"),
            ("token_max_ttl", "3600"),
            ("secret_id_ttl", "0"),
            ("secret_id_num_uses", "3"),
        ])
    );
    assert_eq!(
        account.credential_set_at, None,
        "a role without secret IDs has no credential"
    );
    assert_eq!(account.extra_credentials, 0);
    assert!(account.sessions.is_empty());
    assert_eq!(account.owned_objects, 0);

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn create_configure_grant_revoke_read_back() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("crud");
    let initial = settings(&[("token_ttl", "600"), ("secret_id_num_uses", "0")]);

    for _ in 0..2 {
        connector
            .create_account(&role, true, &initial, None, now())
            .await
            .unwrap();
    }
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(account.login_enabled);
    assert!(account.entitlements.is_empty());
    assert_eq!(account.settings["token_ttl"], "600");
    assert_eq!(account.settings["secret_id_num_uses"], "0");
    assert_eq!(account.credential_set_at, None);

    let granted = [
        policy("app-read"),
        policy("app-write"),
        policy("Mixed.Case"),
    ];
    for entitlement in &granted {
        // Each change runs twice: the second must succeed and change nothing.
        connector.grant(&role, entitlement).await.unwrap();
        connector.grant(&role, entitlement).await.unwrap();
    }
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert_eq!(account.entitlements, granted.iter().cloned().collect());

    connector.revoke(&role, &granted[0]).await.unwrap();
    connector.revoke(&role, &granted[0]).await.unwrap();
    let account = connector.read_account(&role).await.unwrap().unwrap();
    let expected: BTreeSet<Entitlement> = granted[1..].iter().cloned().collect();
    assert_eq!(account.entitlements, expected);

    let changed = settings(&[
        ("token_ttl", "120"),
        ("token_max_ttl", "7200"),
        ("secret_id_ttl", "86400"),
        ("secret_id_num_uses", "10"),
    ]);
    connector.configure(&role, &changed).await.unwrap();
    connector.configure(&role, &changed).await.unwrap();
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert_eq!(account.settings, changed);
    assert_eq!(
        account.entitlements, expected,
        "configure leaves policies alone"
    );

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn invalid_requests_are_rejected_as_invalid() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("inval");
    connector
        .create_account(&role, true, &BTreeMap::new(), None, now())
        .await
        .unwrap();

    let membership = Entitlement::Membership {
        group: "admins".to_string(),
    };
    let error = connector.grant(&role, &membership).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
    let error = connector.grant(&role, &policy("a,b")).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");

    for bad in [
        settings(&[("token_period", "60")]),
        settings(&[("token_ttl", "1h")]),
        settings(&[("token_ttl", "-5")]),
    ] {
        let error = connector.configure(&role, &bad).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Invalid, "{bad:?}: {error}");
    }

    let missing = unique("missing");
    let error = connector.grant(&missing, &policy("p")).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
    let error = connector
        .set_credential(&missing, &secret(&random_secret()), now())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
    // Revoking from a missing role finds nothing to revoke.
    connector.revoke(&missing, &policy("p")).await.unwrap();

    let error = connector.read_account("UpperCase").await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn rotated_secret_id_replaces_old() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("rotate");
    let first = secret(&random_secret());
    let second = secret(&random_secret());

    let before_create = now();
    connector
        .create_account(&role, true, &BTreeMap::new(), Some(&first), now())
        .await
        .unwrap();
    // Repeating the create with the same credential registers nothing new.
    connector
        .create_account(&role, true, &BTreeMap::new(), Some(&first), now())
        .await
        .unwrap();
    let created = connector.read_account(&role).await.unwrap().unwrap();
    let created_at = created
        .credential_set_at
        .expect("the secret ID has a set time");
    assert!(created_at >= before_create.minus(enact_model::Duration::from_secs(5)));
    assert_eq!(created.extra_credentials, 0);
    assert_eq!(
        connector.probe_login(&role, &first).await,
        LoginProbe::Accepted
    );

    connector
        .set_credential(&role, &second, now())
        .await
        .unwrap();
    connector
        .set_credential(&role, &second, now())
        .await
        .unwrap();

    assert_eq!(
        connector.probe_login(&role, &second).await,
        LoginProbe::Accepted
    );
    assert_eq!(
        connector.probe_login(&role, &first).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    let rotated = connector.read_account(&role).await.unwrap().unwrap();
    let rotated_at = rotated.credential_set_at.unwrap();
    assert!(
        rotated_at > created_at,
        "{rotated_at} is not after {created_at}"
    );
    assert_eq!(rotated.extra_credentials, 0);

    // A secret ID issued behind enact's back is an extra credential until the next rotation.
    let extra = issue_extra_secret_id(&env, &role).await;
    let observation = connector.observe(&[]).await.unwrap();
    assert_eq!(observation.accounts[&role].extra_credentials, 1);
    assert_eq!(
        observation.accounts[&role].credential_set_at,
        Some(rotated_at),
        "the oldest live secret ID sets the age"
    );
    assert_eq!(
        connector.probe_login(&role, &secret(&extra)).await,
        LoginProbe::Accepted
    );

    let third = secret(&random_secret());
    connector
        .set_credential(&role, &third, now())
        .await
        .unwrap();
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert_eq!(account.extra_credentials, 0);
    assert_eq!(
        connector.probe_login(&role, &secret(&extra)).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    assert_eq!(
        connector.probe_login(&role, &third).await,
        LoginProbe::Accepted
    );

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn old_token_lives_until_sessions_ended() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("session");
    let first = random_secret();
    connector
        .create_account(&role, true, &BTreeMap::new(), Some(&secret(&first)), now())
        .await
        .unwrap();
    let (token, accessor) = env.login(&role, &first).await;

    connector
        .set_credential(&role, &secret(&random_secret()), now())
        .await
        .unwrap();
    // OpenBao keeps tokens issued with a destroyed secret ID valid until they are revoked.
    let (status, body) = env
        .request_as(Some(&token), Method::GET, "auth/token/lookup-self", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let sessions = connector.list_sessions(&role).await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].id, accessor);
    assert_eq!(sessions[0].application_name, "approle");
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert_eq!(account.sessions, sessions);

    // A selector that matches nothing ends nothing.
    let started = sessions[0].started_at;
    let none = connector
        .end_sessions(
            &role,
            &SessionSelector::StartedBefore { instant: started },
            now(),
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    let ended = connector
        .end_sessions(&role, &SessionSelector::All, now())
        .await
        .unwrap();
    assert_eq!(ended, sessions);
    let (status, body) = env
        .root(
            Method::POST,
            "auth/token/lookup-accessor",
            Some(json!({ "accessor": accessor })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = env
        .request_as(Some(&token), Method::GET, "auth/token/lookup-self", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(connector.list_sessions(&role).await.unwrap().is_empty());

    let again = connector
        .end_sessions(&role, &SessionSelector::All, now())
        .await
        .unwrap();
    assert!(again.is_empty());

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn disabled_login_rejects_then_restores() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("login");
    let credential = secret(&random_secret());
    connector
        .create_account(&role, true, &BTreeMap::new(), Some(&credential), now())
        .await
        .unwrap();

    connector.set_login(&role, false).await.unwrap();
    connector.set_login(&role, false).await.unwrap();
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(!account.login_enabled);
    let (_, body) = env
        .root(Method::GET, &format!("auth/approle/role/{role}"), None)
        .await;
    assert_eq!(
        body["data"]["secret_id_bound_cidrs"],
        json!([LOGIN_DISABLED_CIDR])
    );
    assert_eq!(
        connector.probe_login(&role, &credential).await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );
    // A rotation while disabled keeps the role disabled.
    let rotated = secret(&random_secret());
    connector
        .set_credential(&role, &rotated, now())
        .await
        .unwrap();
    assert_eq!(
        connector.probe_login(&role, &rotated).await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );

    connector.set_login(&role, true).await.unwrap();
    connector.set_login(&role, true).await.unwrap();
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(account.login_enabled);
    assert_eq!(
        connector.probe_login(&role, &rotated).await,
        LoginProbe::Accepted
    );

    // Creating over an existing role applies the login flag both ways.
    connector
        .create_account(&role, false, &BTreeMap::new(), None, now())
        .await
        .unwrap();
    assert!(
        !connector
            .read_account(&role)
            .await
            .unwrap()
            .unwrap()
            .login_enabled
    );
    connector
        .create_account(&role, true, &BTreeMap::new(), None, now())
        .await
        .unwrap();
    assert!(
        connector
            .read_account(&role)
            .await
            .unwrap()
            .unwrap()
            .login_enabled
    );

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn probe_revokes_its_own_token() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("probe");
    let credential = secret(&random_secret());
    connector
        .create_account(&role, true, &BTreeMap::new(), Some(&credential), now())
        .await
        .unwrap();
    // Without the default policy the probe's token cannot revoke itself, so the admin does.
    let (status, body) = env
        .root(
            Method::POST,
            &format!("auth/approle/role/{role}"),
            Some(json!({ "token_no_default_policy": true })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert_eq!(
        connector.probe_login(&role, &credential).await,
        LoginProbe::Accepted
    );
    assert!(
        connector.list_sessions(&role).await.unwrap().is_empty(),
        "the probe left its token valid"
    );

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn deleted_role_is_gone() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("delete");
    let credential = secret(&random_secret());
    connector
        .create_account(&role, true, &BTreeMap::new(), Some(&credential), now())
        .await
        .unwrap();

    // Owned objects do not apply to AppRole; both rules delete the role.
    connector
        .delete_account(&role, &OwnedObjects::ReassignTo("other".to_string()))
        .await
        .unwrap();
    connector
        .delete_account(&role, &OwnedObjects::Refuse)
        .await
        .unwrap();
    assert!(connector.read_account(&role).await.unwrap().is_none());
    assert!(!connector
        .observe(std::slice::from_ref(&role))
        .await
        .unwrap()
        .accounts
        .contains_key(&role));
    assert_eq!(
        connector.probe_login(&role, &credential).await,
        LoginProbe::Rejected(Rejection::UnknownAccount)
    );
}

#[tokio::test]
async fn closed_port_is_unavailable() {
    let env = BaoEnv::load();
    // Bind and drop a listener, so the port is free and nothing listens on it.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = env.target_at(&format!("http://127.0.0.1:{port}"));
    let connector = OpenBaoConnector::new(&target, secret(&env.token), key()).unwrap();

    let probe = connector
        .probe_login("any-role", &secret(&random_secret()))
        .await;
    assert!(matches!(probe, LoginProbe::Unavailable { .. }), "{probe:?}");
    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    assert!(error.is_transient());
    let error = connector.set_login("any-role", false).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
}

#[tokio::test]
async fn wrong_token_is_denied() {
    let env = BaoEnv::load();
    let connector = OpenBaoConnector::new(&env.target(), secret(&random_secret()), key()).unwrap();
    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Denied, "{error}");
    let error = connector
        .create_account(&unique("denied"), true, &BTreeMap::new(), None, now())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Denied, "{error}");
}

#[tokio::test]
async fn secrets_stay_out_of_logs_and_debug() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let shown = format!("{connector:?}");
    assert!(
        !shown.contains(&env.token),
        "Debug shows the token: {shown}"
    );

    let role = unique("audit");
    let created = random_secret();
    let rotated = random_secret();
    connector
        .create_account(
            &role,
            true,
            &BTreeMap::new(),
            Some(&secret(&created)),
            now(),
        )
        .await
        .unwrap();
    connector
        .set_credential(&role, &secret(&rotated), now())
        .await
        .unwrap();
    assert_eq!(
        connector.probe_login(&role, &secret(&rotated)).await,
        LoginProbe::Accepted
    );

    let audit = env.audit_text();
    // The requests were logged, HMAC'd, so the search below looked at the right entries.
    let hashed = env.audit_hash(&rotated).await;
    assert!(
        audit.contains(&hashed),
        "the audit log has no entry for the secret ID"
    );
    assert!(
        !audit.contains(&created),
        "the created secret ID is in the audit log"
    );
    assert!(
        !audit.contains(&rotated),
        "the rotated secret ID is in the audit log"
    );

    delete_roles(&connector, &[&role]).await;
}

#[tokio::test]
async fn held_periodic_token_is_a_session() {
    let env = BaoEnv::load();
    let connector = env.connector();
    let role = unique("holder");
    connector
        .create_account(
            &role,
            true,
            &BTreeMap::new(),
            Some(&secret(&random_secret())),
            now(),
        )
        .await
        .unwrap();
    // A periodic token created for the NHI outside any login, naming its role in metadata,
    // and one that names no role.
    let (status, body) = env
        .root(
            Method::POST,
            "auth/token/create-orphan",
            Some(json!({ "period": "24h", "policies": ["default"], "meta": { enact_openbao::HELD_BY_METADATA: role } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let held = body["auth"]["accessor"].as_str().unwrap().to_string();
    let (status, body) = env
        .root(
            Method::POST,
            "auth/token/create-orphan",
            Some(json!({ "period": "24h", "policies": ["default"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let unrelated = body["auth"]["accessor"].as_str().unwrap().to_string();

    let sessions = connector.list_sessions(&role).await.unwrap();
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec![held.as_str()]);

    let ended = connector
        .end_sessions(&role, &SessionSelector::All, now())
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    let (status, body) = env
        .root(
            Method::POST,
            "auth/token/lookup-accessor",
            Some(json!({ "accessor": held })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The token that names no role is left alone.
    let (status, body) = env
        .root(
            Method::POST,
            "auth/token/lookup-accessor",
            Some(json!({ "accessor": unrelated })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let _ = env
        .root(
            Method::POST,
            "auth/token/revoke-accessor",
            Some(json!({ "accessor": unrelated })),
        )
        .await;

    delete_roles(&connector, &[&role]).await;
}
