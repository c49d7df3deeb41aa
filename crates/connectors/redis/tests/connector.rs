//! The Redis connector against the private server that `scripts/redis.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{closed_port, key, now, random_password, secret, unique, RedisEnv};
use enact_connector::{Connector, ErrorKind, LoginProbe, Rejection};
use enact_model::{Duration, Entitlement, OwnedObjects, SessionSelector, Timestamp};
use enact_redis::{RedisConnector, CREDENTIAL_SET_AT_KEY};
use std::collections::{BTreeMap, BTreeSet};

fn rule(text: &str) -> Entitlement {
    Entitlement::Rule {
        rule: text.to_string(),
    }
}

fn rules(texts: &[&str]) -> BTreeSet<Entitlement> {
    texts.iter().map(|text| rule(text)).collect()
}

fn no_settings() -> BTreeMap<String, String> {
    BTreeMap::new()
}

async fn entitlements(connector: &RedisConnector, user: &str) -> BTreeSet<Entitlement> {
    connector
        .read_account(user)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("user `{user}` is missing"))
        .entitlements
}

async fn delete(connector: &RedisConnector, user: &str) {
    connector
        .delete_account(user, &OwnedObjects::Refuse)
        .await
        .unwrap();
}

#[tokio::test]
async fn observe_lists_users_and_skips_builtins() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("observe");
    let _: String = env
        .run(&[
            "ACL", "SETUSER", &user, "on", "~cache:*", "&events", "+@read", "-get",
        ])
        .await;

    let observed = connector.observe(&[]).await.unwrap();
    let account = observed.accounts.get(&user).expect("user is observed");
    assert!(account.login_enabled);
    assert_eq!(
        account.entitlements,
        rules(&["~cache:*", "&events", "+@read", "-get"])
    );
    assert_eq!(account.credential_set_at, None);
    assert!(!observed.accounts.contains_key("default"));
    assert!(!observed.accounts.contains_key(&env.admin_user));

    let read = connector.read_account(&user).await.unwrap().unwrap();
    assert_eq!(&read, account);
    delete(&connector, &user).await;
}

#[tokio::test]
async fn each_rule_kind_reads_back() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("kinds");
    connector
        .create_account(&user, true, &no_settings(), None, now())
        .await
        .unwrap();
    assert!(entitlements(&connector, &user).await.is_empty());

    for text in [
        "+get",
        "+@read",
        "+config|get",
        "~cache:*",
        "%R~x:*",
        "%W~y:*",
        "&events",
        "~*",
        "&*",
        "+@all",
        "(~sel:* resetchannels -@all +get)",
    ] {
        connector.grant(&user, &rule(text)).await.unwrap();
        assert_eq!(
            entitlements(&connector, &user).await,
            rules(&[text]),
            "after granting `{text}`"
        );
        connector.grant(&user, &rule(text)).await.unwrap();
        assert_eq!(entitlements(&connector, &user).await, rules(&[text]));
        connector.revoke(&user, &rule(text)).await.unwrap();
        assert!(
            entitlements(&connector, &user).await.is_empty(),
            "after revoking `{text}`"
        );
        connector.revoke(&user, &rule(text)).await.unwrap();
    }
    delete(&connector, &user).await;
}

#[tokio::test]
async fn revoke_keeps_the_other_rules() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("revoke");
    connector
        .create_account(&user, true, &no_settings(), None, now())
        .await
        .unwrap();
    for text in ["~a:*", "~b:*", "&one", "&two", "+@read", "-get", "+set"] {
        connector.grant(&user, &rule(text)).await.unwrap();
    }
    let all = rules(&["~a:*", "~b:*", "&one", "&two", "+@read", "-get", "+set"]);
    assert_eq!(entitlements(&connector, &user).await, all);

    for text in ["~a:*", "&two", "-get"] {
        connector.revoke(&user, &rule(text)).await.unwrap();
    }
    assert_eq!(
        entitlements(&connector, &user).await,
        rules(&["~b:*", "&one", "+@read", "+set"])
    );
    delete(&connector, &user).await;
}

#[tokio::test]
async fn rewritten_rule_is_rejected_and_undone() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("rewritten");
    connector
        .create_account(&user, true, &no_settings(), None, now())
        .await
        .unwrap();
    connector.grant(&user, &rule("+@read")).await.unwrap();

    // `get` is in `@read`, so Redis describes the user as `+@read` alone.
    let error = connector.grant(&user, &rule("+get")).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(error.message.contains("+@read"), "{}", error.message);
    assert_eq!(entitlements(&connector, &user).await, rules(&["+@read"]));

    for spelled in ["+GET", "%RW~k", "allkeys", ">password", "on"] {
        let error = connector.grant(&user, &rule(spelled)).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Invalid, "{spelled}");
    }
    let unknown = connector.grant(&user, &rule("+nosuchcommand")).await;
    assert_eq!(unknown.map_err(|e| e.kind).err(), Some(ErrorKind::Invalid));
    assert_eq!(entitlements(&connector, &user).await, rules(&["+@read"]));

    let other = Entitlement::Policy {
        policy: "x".to_string(),
    };
    let error = connector.grant(&user, &other).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    delete(&connector, &user).await;
}

#[tokio::test]
async fn set_credential_replaces_password() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("rotate");
    let old = secret(&random_password());
    let new = secret(&random_password());
    let created_at = Timestamp(1_700_000_000_000_000);
    connector
        .create_account(&user, true, &no_settings(), Some(&old), created_at)
        .await
        .unwrap();
    let created = connector.read_account(&user).await.unwrap().unwrap();
    assert_eq!(created.credential_set_at, Some(created_at));
    assert_eq!(created.extra_credentials, 0);
    assert_eq!(
        connector.probe_login(&user, &old).await,
        LoginProbe::Accepted
    );

    let rotated_at = Timestamp(1_700_000_100_000_000);
    connector
        .set_credential(&user, &new, rotated_at)
        .await
        .unwrap();
    assert_eq!(
        connector.probe_login(&user, &new).await,
        LoginProbe::Accepted
    );
    assert_eq!(
        connector.probe_login(&user, &old).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    let rotated = connector.read_account(&user).await.unwrap().unwrap();
    assert_eq!(rotated.credential_set_at, Some(rotated_at));

    // A password added behind enact's back is counted, then removed by the next rotation.
    let extra = random_password();
    let _: String = env
        .run(&["ACL", "SETUSER", &user, &format!(">{extra}")])
        .await;
    let drifted = connector.read_account(&user).await.unwrap().unwrap();
    assert_eq!(drifted.extra_credentials, 1);
    assert_eq!(
        connector.probe_login(&user, &secret(&extra)).await,
        LoginProbe::Accepted
    );

    let newest = secret(&random_password());
    connector
        .set_credential(&user, &newest, now())
        .await
        .unwrap();
    connector
        .set_credential(&user, &newest, now())
        .await
        .unwrap();
    let cleaned = connector.read_account(&user).await.unwrap().unwrap();
    assert_eq!(cleaned.extra_credentials, 0);
    assert_eq!(
        connector.probe_login(&user, &secret(&extra)).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    assert_eq!(
        connector.probe_login(&user, &newest).await,
        LoginProbe::Accepted
    );
    delete(&connector, &user).await;
}

#[tokio::test]
async fn nopass_counts_as_extra_credential() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("nopass");
    let _: String = env.run(&["ACL", "SETUSER", &user, "on", "nopass"]).await;
    let read = connector.read_account(&user).await.unwrap().unwrap();
    assert_eq!(read.extra_credentials, 1);

    let password = secret(&random_password());
    connector
        .set_credential(&user, &password, now())
        .await
        .unwrap();
    let read = connector.read_account(&user).await.unwrap().unwrap();
    assert_eq!(read.extra_credentials, 0);
    assert_eq!(
        connector.probe_login(&user, &secret("anything")).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    delete(&connector, &user).await;
}

#[tokio::test]
async fn disabling_login_ends_open_connections() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("disable");
    let password = random_password();
    connector
        .create_account(&user, true, &no_settings(), Some(&secret(&password)), now())
        .await
        .unwrap();
    let mut held = env.session(&user, &password).await;
    assert!(held.is_open().await);

    connector.set_login(&user, false).await.unwrap();
    assert!(!held.is_open().await, "the open connection survived");
    assert!(connector.list_sessions(&user).await.unwrap().is_empty());
    let read = connector.read_account(&user).await.unwrap().unwrap();
    assert!(!read.login_enabled);
    assert_eq!(
        connector.probe_login(&user, &secret(&password)).await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );
    assert_eq!(
        connector.probe_login(&user, &secret("wrong")).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    connector.set_login(&user, false).await.unwrap();

    connector.set_login(&user, true).await.unwrap();
    connector.set_login(&user, true).await.unwrap();
    assert!(
        connector
            .read_account(&user)
            .await
            .unwrap()
            .unwrap()
            .login_enabled
    );
    assert_eq!(
        connector.probe_login(&user, &secret(&password)).await,
        LoginProbe::Accepted
    );
    delete(&connector, &user).await;
}

#[tokio::test]
async fn end_sessions_by_idle_and_age() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("sessions");
    let password = random_password();
    connector
        .create_account(&user, true, &no_settings(), Some(&secret(&password)), now())
        .await
        .unwrap();
    let mut busy = env.session(&user, &password).await;
    let mut idle = env.session(&user, &password).await;
    let opened: Vec<String> = connector
        .list_sessions(&user)
        .await
        .unwrap()
        .into_iter()
        .map(|session| session.id)
        .collect();
    assert_eq!(opened.len(), 2);

    // Redis counts idle time in whole seconds and a slow machine can cross a second boundary
    // between two commands, so the idle connection waits four seconds and the limit is two:
    // the busy one, which runs a command just before the sessions are read, stays well under.
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    assert!(busy.is_open().await);
    let idle_limit = Duration::from_secs(2);
    let idle_selector = SessionSelector::IdleLongerThan { idle_limit };
    let sessions = connector.list_sessions(&user).await.unwrap();
    let read_at = now();
    let idle_ids: Vec<&str> = sessions
        .iter()
        .filter(|session| idle_selector.matches(session.started_at, session.idle_since, read_at))
        .map(|session| session.id.as_str())
        .collect();
    assert_eq!(idle_ids.len(), 1, "{sessions:?}");
    for session in &sessions {
        assert!(session.started_at <= now());
        assert!(session
            .client_addr
            .as_deref()
            .is_some_and(|a| a.starts_with("127.0.0.1:")));
    }

    let ended = connector
        .end_sessions(&user, &idle_selector, now())
        .await
        .unwrap();
    let ended_ids: Vec<&str> = ended.iter().map(|session| session.id.as_str()).collect();
    assert_eq!(ended_ids, idle_ids);
    assert!(!idle.is_open().await);
    assert!(busy.is_open().await);

    let age_selector = SessionSelector::OlderThan {
        max_lifetime: Duration::from_secs(1),
    };
    let ended = connector
        .end_sessions(&user, &age_selector, now())
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert!(!busy.is_open().await);
    assert!(connector.list_sessions(&user).await.unwrap().is_empty());
    let again = connector
        .end_sessions(&user, &SessionSelector::All, now())
        .await
        .unwrap();
    assert!(again.is_empty());
    delete(&connector, &user).await;
}

#[tokio::test]
async fn delete_removes_user_and_record() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("delete");
    let password = random_password();
    connector
        .create_account(&user, true, &no_settings(), Some(&secret(&password)), now())
        .await
        .unwrap();
    let recorded: Option<String> = env.run(&["HGET", CREDENTIAL_SET_AT_KEY, &user]).await;
    assert!(recorded.is_some());
    let mut held = env.session(&user, &password).await;

    delete(&connector, &user).await;
    assert!(connector.read_account(&user).await.unwrap().is_none());
    assert!(!held.is_open().await);
    let recorded: Option<String> = env.run(&["HGET", CREDENTIAL_SET_AT_KEY, &user]).await;
    assert_eq!(recorded, None);
    assert_eq!(
        connector.probe_login(&user, &secret(&password)).await,
        LoginProbe::Rejected(Rejection::UnknownAccount)
    );
    delete(&connector, &user).await;
    assert!(!connector
        .observe(std::slice::from_ref(&user))
        .await
        .unwrap()
        .accounts
        .contains_key(&user));
}

#[tokio::test]
async fn create_is_idempotent_and_never_nopass() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let user = unique("create");
    for _ in 0..2 {
        connector
            .create_account(&user, false, &no_settings(), None, now())
            .await
            .unwrap();
    }
    let read = connector.read_account(&user).await.unwrap().unwrap();
    assert!(!read.login_enabled);
    assert_eq!(read.credential_set_at, None);
    assert_eq!(read.extra_credentials, 0);

    // A user that is on but has no password cannot authenticate with any password.
    connector
        .create_account(&user, true, &no_settings(), None, now())
        .await
        .unwrap();
    assert_eq!(
        connector.probe_login(&user, &secret("anything")).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );

    let password = secret(&random_password());
    let at = Timestamp(1_750_000_000_000_000);
    for _ in 0..2 {
        connector
            .create_account(&user, true, &no_settings(), Some(&password), at)
            .await
            .unwrap();
    }
    let read = connector.read_account(&user).await.unwrap().unwrap();
    assert!(read.login_enabled);
    assert_eq!(read.credential_set_at, Some(at));
    assert_eq!(
        connector.probe_login(&user, &password).await,
        LoginProbe::Accepted
    );

    let mut settings = BTreeMap::new();
    settings.insert("ttl".to_string(), "1".to_string());
    let error = connector
        .create_account(&user, true, &settings, None, now())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    delete(&connector, &user).await;
}

#[tokio::test]
async fn builtin_and_admin_users_are_not_changed() {
    let env = RedisEnv::load();
    let connector = env.connector();
    for user in ["default", env.admin_user.as_str()] {
        let error = connector
            .set_credential(user, &secret("x"), now())
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Invalid, "{user}");
        let error = connector
            .delete_account(user, &OwnedObjects::Refuse)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Invalid, "{user}");
    }
    let error = connector
        .create_account("two words", true, &no_settings(), None, now())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
}

#[tokio::test]
async fn closed_port_is_unavailable() {
    let env = RedisEnv::load();
    let target = env.target_at(&format!("127.0.0.1:{}", closed_port()));
    let connector = RedisConnector::new(&target, secret(&env.admin_password), key()).unwrap();

    let probe = connector.probe_login("anyone", &secret("x")).await;
    assert!(matches!(probe, LoginProbe::Unavailable { .. }), "{probe:?}");
    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{}", error.message);
    assert!(error.is_transient());
    let error = connector.set_login("anyone", false).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{}", error.message);
}

#[tokio::test]
async fn wrong_admin_password_is_denied() {
    let env = RedisEnv::load();
    let connector = RedisConnector::new(&env.target(), secret("not-the-password"), key()).unwrap();
    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Denied, "{}", error.message);
}

#[tokio::test]
async fn observe_reads_twenty_thousand_users() {
    let env = RedisEnv::load();
    let connector = env.connector();
    let prefix = unique("bulk");
    let count = 20_000;
    let mut superuser = env.superuser().await;
    let mut seed = redis::pipe();
    for i in 0..count {
        seed.cmd("ACL")
            .arg("SETUSER")
            .arg(format!("{prefix}-{i}"))
            .arg("on")
            .arg(format!("~k:{i}"))
            .arg("+get")
            .ignore();
    }
    let _: () = seed.query_async(&mut superuser).await.unwrap();

    let observed = connector.observe(&[]).await.unwrap();
    let seeded: Vec<_> = observed
        .accounts
        .iter()
        .filter(|(name, _)| name.starts_with(&format!("{prefix}-")))
        .collect();
    assert_eq!(seeded.len(), count);
    let sample = &observed.accounts[&format!("{prefix}-123")];
    assert!(sample.login_enabled);
    assert_eq!(sample.entitlements, rules(&["~k:123", "+get"]));

    let mut cleanup = redis::pipe();
    for i in 0..count {
        cleanup
            .cmd("ACL")
            .arg("DELUSER")
            .arg(format!("{prefix}-{i}"))
            .ignore();
    }
    let _: () = cleanup.query_async(&mut superuser).await.unwrap();
}
