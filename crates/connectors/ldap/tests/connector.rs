//! The OpenLDAP connector against the real server that `scripts/ldap.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{closed_port, key, now, random_password, secret, unique, LdapEnv};
use enact_connector::{Connector, ErrorKind, LoginProbe, Rejection};
use enact_ldap::{LdapConnector, PERMANENT_LOCK, PLACEHOLDER_MEMBER};
use enact_model::{Entitlement, ObjectRef, OwnedObjects, SessionSelector};
use std::collections::{BTreeMap, BTreeSet, HashSet};

fn membership(group: &str) -> Entitlement {
    Entitlement::Membership {
        group: group.to_string(),
    }
}

fn no_settings() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// Creates `account` with a new password and returns the password.
async fn create_with_password(connector: &LdapConnector, account: &str) -> String {
    let password = random_password();
    connector
        .create_account(
            account,
            true,
            &no_settings(),
            Some(&secret(&password)),
            now(),
        )
        .await
        .unwrap();
    password
}

async fn delete(connector: &LdapConnector, account: &str) {
    connector
        .delete_account(account, &OwnedObjects::Refuse)
        .await
        .unwrap();
}

#[tokio::test]
async fn observe_lists_accounts_with_memberships() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let member = unique("obs-member");
    let loner = unique("obs-loner");
    let locked = unique("obs-locked");
    create_with_password(&connector, &member).await;
    connector
        .create_account(&loner, true, &no_settings(), None, now())
        .await
        .unwrap();
    connector
        .create_account(&locked, false, &no_settings(), None, now())
        .await
        .unwrap();
    let readers = env
        .create_group(&unique("obs-readers"), &[&env.account_dn(&member)])
        .await;
    let writers = env
        .create_group(&unique("obs-writers"), &[&env.account_dn(&member)])
        .await;
    // An entry below the base with a uid but not named by it is not an account.
    let device = unique("obs-device");
    let unit = format!("cn={device},{}", env.base);
    let mut root = env.root().await;
    root.add(
        &unit,
        vec![
            ("objectClass", HashSet::from(["device", "uidObject"])),
            ("cn", HashSet::from([device.as_str()])),
            ("uid", HashSet::from([device.as_str()])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();

    let observation = connector.observe(&[]).await.unwrap();

    assert_eq!(observation.target.as_str(), "ldap");
    let accounts = &observation.accounts;
    let found = accounts
        .get(&member)
        .expect("the member account is observed");
    assert_eq!(
        found.entitlements,
        BTreeSet::from([membership(&readers), membership(&writers)])
    );
    assert!(found.login_enabled);
    assert!(found.credential_set_at.is_some());
    assert_eq!(found.extra_credentials, 0);
    assert!(found.sessions.is_empty());
    let found = accounts
        .get(&loner)
        .expect("the account without password is observed");
    assert!(found.entitlements.is_empty());
    assert!(found.login_enabled);
    assert_eq!(found.credential_set_at, None);
    let found = accounts.get(&locked).expect("a locked account is observed");
    assert!(!found.login_enabled);
    assert!(
        !accounts.contains_key(&device),
        "an entry named by cn is not an account, even with a uid"
    );
    assert!(!accounts.contains_key("enact-admin"));

    for account in [&member, &loner, &locked] {
        delete(&connector, account).await;
    }
    for dn in [&readers, &writers, &unit] {
        env.delete_entry(dn).await;
    }
}

#[tokio::test]
async fn observe_and_read_agree() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("agree");
    create_with_password(&connector, &account).await;
    let group = env.create_group(&unique("agree-group"), &[]).await;
    connector
        .grant(&account, &membership(&group))
        .await
        .unwrap();

    let read = connector.read_account(&account).await.unwrap().unwrap();
    let observation = connector
        .observe(std::slice::from_ref(&account))
        .await
        .unwrap();
    assert_eq!(observation.accounts.get(&account), Some(&read));
    assert_eq!(read.entitlements, BTreeSet::from([membership(&group)]));

    delete(&connector, &account).await;
    env.delete_entry(&group).await;
}

#[tokio::test]
async fn grant_and_revoke_read_back() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("grant");
    connector
        .create_account(&account, true, &no_settings(), None, now())
        .await
        .unwrap();
    let group = env.create_group(&unique("grant-group"), &[]).await;
    let entitlement = membership(&group);

    connector.grant(&account, &entitlement).await.unwrap();
    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert_eq!(read.entitlements, BTreeSet::from([entitlement.clone()]));
    assert_eq!(
        env.members(&group).await,
        vec![env.account_dn(&account)],
        "the grant removes the empty-group placeholder"
    );

    connector.revoke(&account, &entitlement).await.unwrap();
    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert!(read.entitlements.is_empty());
    assert_eq!(
        env.members(&group).await,
        vec![PLACEHOLDER_MEMBER.to_string()],
        "the last member is replaced by the placeholder"
    );

    delete(&connector, &account).await;
    env.delete_entry(&group).await;
}

#[tokio::test]
async fn revoke_keeps_other_members() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("keep");
    connector
        .create_account(&account, true, &no_settings(), None, now())
        .await
        .unwrap();
    let other = env.account_dn(&unique("keep-other"));
    let group = env
        .create_group(&unique("keep-group"), &[&env.account_dn(&account), &other])
        .await;

    connector
        .revoke(&account, &membership(&group))
        .await
        .unwrap();

    assert_eq!(env.members(&group).await, vec![other]);
    delete(&connector, &account).await;
    env.delete_entry(&group).await;
}

#[tokio::test]
async fn grant_rejects_invalid_requests() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("reject");
    connector
        .create_account(&account, true, &no_settings(), None, now())
        .await
        .unwrap();
    let group = env.create_group(&unique("reject-group"), &[]).await;

    let missing_group = env.group_dn(&unique("missing"));
    let error = connector
        .grant(&account, &membership(&missing_group))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
    assert!(error.message.contains("does not exist"), "{error}");

    let not_a_group = membership(&env.base);
    let error = connector.grant(&account, &not_a_group).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");

    let privilege = Entitlement::Privilege {
        privilege: "SELECT".to_string(),
        object: Box::new(ObjectRef {
            kind: "table".to_string(),
            name: "public.orders".to_string(),
        }),
    };
    let error = connector.grant(&account, &privilege).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");

    let error = connector
        .grant(&unique("no-such-account"), &membership(&group))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
    assert_eq!(
        env.members(&group).await,
        vec![PLACEHOLDER_MEMBER.to_string()],
        "a missing account is not added as a member"
    );

    // Revoking from a group that does not exist revokes nothing that is held.
    connector
        .revoke(&account, &membership(&missing_group))
        .await
        .unwrap();

    delete(&connector, &account).await;
    env.delete_entry(&group).await;
}

#[tokio::test]
async fn rotation_replaces_and_hashes_password() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("rotate");
    let log_offset = env.log_length();
    let old = create_with_password(&connector, &account).await;
    let before = connector.read_account(&account).await.unwrap().unwrap();
    let old_set_at = before
        .credential_set_at
        .expect("creation records a set time");

    let new = random_password();
    connector
        .set_credential(&account, &secret(&new), now())
        .await
        .unwrap();

    assert_eq!(
        connector.probe_login(&account, &secret(&new)).await,
        LoginProbe::Accepted
    );
    assert_eq!(
        connector.probe_login(&account, &secret(&old)).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    let after = connector.read_account(&account).await.unwrap().unwrap();
    let new_set_at = after
        .credential_set_at
        .expect("the rotation records a set time");
    assert!(
        new_set_at > old_set_at,
        "pwdChangedTime did not move: {old_set_at} then {new_set_at}"
    );

    // The stored value is a salted hash, never the cleartext.
    let mut admin = env.bind_as(&env.admin_dn, &env.admin_password).await;
    let entry = LdapEnv::read_entry(&mut admin, &env.account_dn(&account), &["userPassword"])
        .await
        .unwrap();
    let stored = entry.get("userPassword").cloned().unwrap_or_default();
    assert_eq!(stored.len(), 1, "one password is stored");
    assert!(
        stored[0].starts_with("{SSHA}"),
        "stored as {{SSHA}}: {}",
        stored[0].get(..6).unwrap_or_default()
    );
    assert!(!stored[0].contains(&new), "the cleartext is not stored");

    // The server's stats log names the operations, never the passwords they carried.
    let log = env.log_since(log_offset);
    assert!(
        log.contains("PASSMOD"),
        "the log records the password changes"
    );
    assert!(!log.contains(&old), "the old password is in the server log");
    assert!(!log.contains(&new), "the new password is in the server log");

    delete(&connector, &account).await;
}

#[tokio::test]
async fn disabled_login_is_rejected_as_disabled() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("disable");
    let password = create_with_password(&connector, &account).await;

    connector.set_login(&account, false).await.unwrap();
    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert!(!read.login_enabled);
    assert_eq!(
        connector.probe_login(&account, &secret(&password)).await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );
    let mut root = env.root().await;
    let entry = LdapEnv::read_entry(
        &mut root,
        &env.account_dn(&account),
        &["pwdAccountLockedTime"],
    )
    .await
    .unwrap();
    assert_eq!(
        entry.get("pwdAccountLockedTime"),
        Some(&vec![PERMANENT_LOCK.to_string()])
    );

    connector.set_login(&account, true).await.unwrap();
    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert!(read.login_enabled);
    assert_eq!(
        connector.probe_login(&account, &secret(&password)).await,
        LoginProbe::Accepted
    );

    delete(&connector, &account).await;
}

#[tokio::test]
async fn rotation_keeps_login_disabled() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("keep-lock");
    create_with_password(&connector, &account).await;
    connector.set_login(&account, false).await.unwrap();

    // slapd's ppolicy overlay unlocks an account whose password an administrator sets.
    let new = random_password();
    connector
        .set_credential(&account, &secret(&new), now())
        .await
        .unwrap();

    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert!(!read.login_enabled, "the rotation unlocked the account");
    assert_eq!(
        connector.probe_login(&account, &secret(&new)).await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );
    connector.set_login(&account, true).await.unwrap();
    assert_eq!(
        connector.probe_login(&account, &secret(&new)).await,
        LoginProbe::Accepted
    );
    delete(&connector, &account).await;
}

#[tokio::test]
async fn create_without_login_is_locked() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("nologin");
    let password = random_password();
    connector
        .create_account(
            &account,
            false,
            &no_settings(),
            Some(&secret(&password)),
            now(),
        )
        .await
        .unwrap();

    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert!(!read.login_enabled);
    assert!(read.credential_set_at.is_some());
    assert_eq!(
        connector.probe_login(&account, &secret(&password)).await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );
    delete(&connector, &account).await;
}

#[tokio::test]
async fn delete_removes_memberships_and_entry() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("delete");
    let password = create_with_password(&connector, &account).await;
    let other = env.account_dn(&unique("delete-other"));
    let shared = env
        .create_group(
            &unique("delete-shared"),
            &[&env.account_dn(&account), &other],
        )
        .await;
    let alone = env
        .create_group(&unique("delete-alone"), &[&env.account_dn(&account)])
        .await;

    delete(&connector, &account).await;

    assert_eq!(env.members(&shared).await, vec![other]);
    assert_eq!(
        env.members(&alone).await,
        vec![PLACEHOLDER_MEMBER.to_string()]
    );
    assert_eq!(connector.read_account(&account).await.unwrap(), None);
    let mut root = env.root().await;
    assert!(
        LdapEnv::read_entry(&mut root, &env.account_dn(&account), &["uid"])
            .await
            .is_none()
    );
    assert_eq!(
        connector.probe_login(&account, &secret(&password)).await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    // A second delete finds nothing and succeeds.
    delete(&connector, &account).await;

    env.delete_entry(&shared).await;
    env.delete_entry(&alone).await;
}

#[tokio::test]
async fn changes_are_idempotent() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("twice");
    let group = env.create_group(&unique("twice-group"), &[]).await;
    let password = secret(&random_password());

    for _ in 0..2 {
        connector
            .create_account(&account, true, &no_settings(), Some(&password), now())
            .await
            .unwrap();
    }
    let created = connector.read_account(&account).await.unwrap().unwrap();

    // Setting the same password in a later second must not record a new set time.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    connector
        .set_credential(&account, &password, now())
        .await
        .unwrap();
    let again = connector.read_account(&account).await.unwrap().unwrap();
    assert_eq!(again.credential_set_at, created.credential_set_at);

    for _ in 0..2 {
        connector
            .grant(&account, &membership(&group))
            .await
            .unwrap();
    }
    assert_eq!(env.members(&group).await, vec![env.account_dn(&account)]);
    for _ in 0..2 {
        connector
            .revoke(&account, &membership(&group))
            .await
            .unwrap();
    }
    assert_eq!(
        env.members(&group).await,
        vec![PLACEHOLDER_MEMBER.to_string()]
    );
    for enabled in [false, false, true, true] {
        connector.set_login(&account, enabled).await.unwrap();
        let read = connector.read_account(&account).await.unwrap().unwrap();
        assert_eq!(read.login_enabled, enabled);
    }
    assert_eq!(
        connector.probe_login(&account, &password).await,
        LoginProbe::Accepted
    );

    delete(&connector, &account).await;
    delete(&connector, &account).await;
    env.delete_entry(&group).await;
}

#[tokio::test]
async fn extra_passwords_are_counted_and_removed() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("extra");
    let password = create_with_password(&connector, &account).await;
    env.root_add_value(
        &env.account_dn(&account),
        "userPassword",
        &random_password(),
    )
    .await;

    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert_eq!(read.extra_credentials, 1);

    // Setting the password it already has still removes the second one.
    connector
        .set_credential(&account, &secret(&password), now())
        .await
        .unwrap();
    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert_eq!(read.extra_credentials, 0);
    assert_eq!(
        connector.probe_login(&account, &secret(&password)).await,
        LoginProbe::Accepted
    );
    delete(&connector, &account).await;
}

#[tokio::test]
async fn names_with_special_characters_round_trip() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = format!("{}, odd+name=x", unique("odd"));
    let password = create_with_password(&connector, &account).await;
    let group = env.create_group(&unique("odd-group"), &[]).await;
    connector
        .grant(&account, &membership(&group))
        .await
        .unwrap();

    let read = connector.read_account(&account).await.unwrap().unwrap();
    assert_eq!(read.name, account);
    assert_eq!(read.entitlements, BTreeSet::from([membership(&group)]));
    let observation = connector.observe(&[]).await.unwrap();
    assert_eq!(observation.accounts.get(&account), Some(&read));
    assert_eq!(
        connector.probe_login(&account, &secret(&password)).await,
        LoginProbe::Accepted
    );

    delete(&connector, &account).await;
    assert_eq!(
        env.members(&group).await,
        vec![PLACEHOLDER_MEMBER.to_string()]
    );
    env.delete_entry(&group).await;
}

#[tokio::test]
async fn sessions_are_not_supported() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("sessions");
    create_with_password(&connector, &account).await;

    assert!(!connector.capabilities().sessions);
    assert!(connector.capabilities().credential_age);
    assert!(connector.capabilities().login_probe);
    assert!(connector.list_sessions(&account).await.unwrap().is_empty());
    let ended = connector
        .end_sessions(&account, &SessionSelector::All, now())
        .await
        .unwrap();
    assert!(ended.is_empty());
    delete(&connector, &account).await;
}

#[tokio::test]
async fn settings_are_rejected() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("settings");
    let settings = BTreeMap::from([("token_ttl".to_string(), "60".to_string())]);
    let error = connector
        .create_account(&account, true, &settings, None, now())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
    assert_eq!(connector.read_account(&account).await.unwrap(), None);
}

#[tokio::test]
async fn empty_password_probe_proves_nothing() {
    let env = LdapEnv::load();
    let connector = env.connector();
    let account = unique("empty");
    create_with_password(&connector, &account).await;
    let probe = connector.probe_login(&account, &secret("")).await;
    assert!(matches!(probe, LoginProbe::Unavailable { .. }), "{probe:?}");
    delete(&connector, &account).await;
}

#[tokio::test]
async fn closed_port_is_unavailable() {
    let env = LdapEnv::load();
    let target = env.target_at(&format!("ldap://127.0.0.1:{}/", closed_port()));
    let connector = LdapConnector::new(&target, secret(&env.admin_password), key()).unwrap();
    let account = unique("closed");

    let probe = connector
        .probe_login(&account, &secret(&random_password()))
        .await;
    assert!(matches!(probe, LoginProbe::Unavailable { .. }), "{probe:?}");
    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    let error = connector.read_account(&account).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    let error = connector.set_login(&account, false).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn wrong_admin_password_is_denied() {
    let env = LdapEnv::load();
    let connector = LdapConnector::new(&env.target(), secret(&random_password()), key()).unwrap();
    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Denied, "{error}");
    assert!(!error.message.contains(&env.admin_password));
}
