//! Alternating users on the real server: a group role holds the entitlements, two login roles
//! take turns holding the password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{key, now, random_password, secret, unique, PgEnv};
use enact_connector::{Connector, ErrorKind, LoginProbe, Rejection};
use enact_model::{alternating_value, Entitlement, OwnedObjects, SessionSelector};
use std::collections::{BTreeMap, BTreeSet};

fn settings(users: &[String; 2]) -> BTreeMap<String, String> {
    BTreeMap::from([("alternating_users".to_owned(), users.join(","))])
}

fn value(user: &str, password: &str) -> enact_model::Secret {
    alternating_value(user, &secret(password), &key())
}

#[tokio::test]
async fn alternating_users_take_turns() {
    let env = PgEnv::load();
    let connector = env.connector();
    let group = unique("alt");
    let users = [format!("{group}_blue"), format!("{group}_green")];
    let first = random_password();
    connector
        .create_account(
            &group,
            true,
            &settings(&users),
            Some(&value(&users[0], &first)),
            now(),
        )
        .await
        .unwrap();

    // The group is the account: it never logs in, its users do, and each is only a member.
    let account = connector.read_account(&group).await.unwrap().unwrap();
    assert!(account.login_enabled);
    assert_eq!(account.settings, settings(&users));
    assert!(account.credential_set_at.is_some());
    for user in &users {
        let found = connector.read_account(user).await.unwrap().unwrap();
        assert_eq!(
            found.entitlements,
            BTreeSet::from([Entitlement::Membership {
                group: group.clone()
            }])
        );
    }
    assert_eq!(
        connector
            .probe_login(&group, &value(&users[0], &first))
            .await,
        LoginProbe::Accepted
    );
    // The observed scope shows the group, not its users as unmanaged logins.
    let observed = connector
        .observe(std::slice::from_ref(&group))
        .await
        .unwrap();
    assert!(observed.accounts.contains_key(&group));
    assert!(!observed.accounts.contains_key(&users[0]));
    assert!(!observed.accounts.contains_key(&users[1]));

    // A session as the first user counts as the group's.
    let session = env.client_as(&users[0], &first).await.unwrap();
    let sessions = connector.list_sessions(&group).await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");

    // Rotation: the second user gets a password while the first keeps working.
    let second = random_password();
    connector
        .add_credential(&group, &value(&users[1], &second), now())
        .await
        .unwrap();
    assert_eq!(
        connector
            .probe_login(&group, &value(&users[0], &first))
            .await,
        LoginProbe::Accepted
    );
    assert_eq!(
        connector
            .probe_login(&group, &value(&users[1], &second))
            .await,
        LoginProbe::Accepted
    );
    connector
        .retire_other_credentials(&group, &value(&users[1], &second), now())
        .await
        .unwrap();
    assert_eq!(
        connector
            .probe_login(&group, &value(&users[0], &first))
            .await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
    assert_eq!(
        connector
            .probe_login(&group, &value(&users[1], &second))
            .await,
        LoginProbe::Accepted
    );

    // Ending the group's sessions ends its users'.
    let ended = connector
        .end_sessions(&group, &SessionSelector::All, now())
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert!(session.simple_query("SELECT 1").await.is_err());

    // A credential naming a role outside the pair is refused and changes nothing.
    let error = connector
        .add_credential(&group, &value("postgres", &random_password()), now())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);

    // Disabling the account disables both users.
    connector.set_login(&group, false).await.unwrap();
    assert!(
        !connector
            .read_account(&group)
            .await
            .unwrap()
            .unwrap()
            .login_enabled
    );
    assert_eq!(
        connector
            .probe_login(&group, &value(&users[1], &second))
            .await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );

    connector
        .delete_account(&group, &OwnedObjects::Refuse)
        .await
        .unwrap();
    for role in [&group, &users[0], &users[1]] {
        assert!(
            connector.read_account(role).await.unwrap().is_none(),
            "{role}"
        );
    }
}

#[tokio::test]
async fn configure_repairs_an_alternating_user() {
    let env = PgEnv::load();
    let connector = env.connector();
    let group = unique("altfix");
    let other = unique("altfix_other");
    let users = [format!("{group}_a"), format!("{group}_b")];
    connector
        .create_account(&group, true, &settings(&users), None, now())
        .await
        .unwrap();
    // Someone grants a user an extra membership and revokes its membership in the group.
    env.admin()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {other} NOLOGIN; GRANT {other} TO {u}; REVOKE {group} FROM {u};",
            u = users[1]
        ))
        .await
        .unwrap();
    let drifted = connector.read_account(&group).await.unwrap().unwrap();
    assert_ne!(drifted.settings, settings(&users), "{:?}", drifted.settings);

    connector
        .configure(&group, &settings(&users))
        .await
        .unwrap();
    let repaired = connector.read_account(&group).await.unwrap().unwrap();
    assert_eq!(repaired.settings, settings(&users));

    connector
        .delete_account(&group, &OwnedObjects::Refuse)
        .await
        .unwrap();
    env.admin()
        .await
        .batch_execute(&format!("DROP ROLE {other}"))
        .await
        .unwrap();
}
