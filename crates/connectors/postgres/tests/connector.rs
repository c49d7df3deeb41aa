//! The PostgreSQL connector against the real server that `scripts/pg.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{drop_roles, now, random_password, retrying, secret, unique, PgEnv};
use enact_connector::{Connector, ErrorKind, LoginProbe, Rejection};
use enact_model::{Duration, Entitlement, ObjectRef, OwnedObjects, SessionSelector, Timestamp};
use enact_postgres::PostgresConnector;
use std::collections::BTreeSet;

fn membership(group: &str) -> Entitlement {
    Entitlement::Membership {
        group: group.to_string(),
    }
}

fn privilege(privilege: &str, kind: &str, name: &str) -> Entitlement {
    Entitlement::Privilege {
        privilege: privilege.to_string(),
        object: Box::new(ObjectRef {
            kind: kind.to_string(),
            name: name.to_string(),
        }),
    }
}

/// Creates a schema with a table and a sequence, owned by the admin role.
async fn create_objects(env: &PgEnv, schema: &str) {
    env.admin()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; \
             CREATE TABLE {schema}.orders (id int); \
             CREATE SEQUENCE {schema}.order_ids;"
        ))
        .await
        .unwrap();
}

async fn drop_schema(env: &PgEnv, schema: &str) {
    env.admin()
        .await
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn observe_scope_excludes_builtins_and_admin() {
    let env = PgEnv::load();
    let connector = env.connector();
    let login = unique("obs_login");
    let declared = unique("obs_declared");
    let hidden = unique("obs_hidden");
    env.admin()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {login} LOGIN; CREATE ROLE {declared} NOLOGIN; CREATE ROLE {hidden} NOLOGIN;"
        ))
        .await
        .unwrap();

    let missing = unique("obs_missing");
    let observation = connector
        .observe(&[declared.clone(), missing.clone()])
        .await
        .unwrap();

    let accounts = &observation.accounts;
    assert_eq!(observation.target.as_str(), "pg");
    assert!(accounts.get(&login).is_some_and(|a| a.login_enabled));
    assert!(accounts.get(&declared).is_some_and(|a| !a.login_enabled));
    assert!(
        !accounts.contains_key(&hidden),
        "an undeclared NOLOGIN role is out of scope"
    );
    assert!(
        !accounts.contains_key("postgres"),
        "the bootstrap superuser is out of scope"
    );
    assert!(
        !accounts.contains_key(&env.admin_user),
        "the admin role is out of scope"
    );
    assert!(accounts.keys().all(|name| !name.starts_with("pg_")));
    assert!(
        !accounts.contains_key(&missing),
        "a declared role that does not exist is absent"
    );

    drop_roles(&env, &connector, &[&login, &declared, &hidden]).await;
}

#[tokio::test]
async fn observe_reads_memberships_and_privileges() {
    let env = PgEnv::load();
    let connector = env.connector();
    let schema = unique("s_obs");
    let role = unique("obs_priv");
    let group = unique("obs_group");
    create_objects(&env, &schema).await;
    let setup = format!(
        "CREATE ROLE {role} LOGIN; CREATE ROLE {group} NOLOGIN; \
         GRANT {group} TO {role}; \
         GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role}; \
         GRANT USAGE ON SCHEMA {schema} TO {role}; \
         GRANT SELECT, INSERT ON {schema}.orders TO {role}; \
         GRANT USAGE ON SEQUENCE {schema}.order_ids TO {role}; \
         GRANT SELECT ON {schema}.orders TO PUBLIC; \
         GRANT USAGE ON SCHEMA {schema} TO PUBLIC;",
        db = env.database
    );
    let admin = env.admin().await;
    let mut attempt = 1;
    while let Err(error) = admin.batch_execute(&setup).await {
        // A parallel test that changes the database's privileges at the same moment fails the
        // batch with XX000, and the batch, one transaction, then changes nothing.
        let racing = error.code() == Some(&tokio_postgres::error::SqlState::INTERNAL_ERROR);
        assert!(racing, "setup failed: {error}");
        assert!(attempt < 5, "setup failed {attempt} times: {error}");
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let observation = connector.observe(&[]).await.unwrap();
    let account = &observation.accounts[&role];

    let table = format!("{schema}.orders");
    let sequence = format!("{schema}.order_ids");
    let expected: BTreeSet<Entitlement> = [
        membership(&group),
        privilege("CONNECT", "database", &env.database),
        privilege("TEMPORARY", "database", &env.database),
        privilege("USAGE", "schema", &schema),
        privilege("SELECT", "table", &table),
        privilege("INSERT", "table", &table),
        privilege("USAGE", "sequence", &sequence),
    ]
    .into_iter()
    .collect();
    assert_eq!(account.entitlements, expected);
    assert_eq!(account.owned_objects, 0);
    assert!(account.sessions.is_empty());
    assert_eq!(
        account.credential_set_at, None,
        "a role enact never set has no set time"
    );

    drop_schema(&env, &schema).await;
    drop_roles(&env, &connector, &[&role, &group]).await;
}

#[tokio::test]
async fn grant_and_revoke_read_back() {
    let env = PgEnv::load();
    let connector = env.connector();
    let schema = unique("s_grant");
    let role = unique("grant_role");
    let group = unique("grant_group");
    create_objects(&env, &schema).await;
    connector
        .create_account(&role, true, &Default::default(), None, now())
        .await
        .unwrap();
    connector
        .create_account(&group, false, &Default::default(), None, now())
        .await
        .unwrap();

    let entitlements = [
        membership(&group),
        privilege("CONNECT", "database", &env.database),
        privilege("CREATE", "schema", &schema),
        privilege("UPDATE", "table", &format!("{schema}.orders")),
        privilege("SELECT", "sequence", &format!("{schema}.order_ids")),
    ];
    for entitlement in &entitlements {
        // Each grant runs twice: the second must succeed and change nothing.
        retrying(|| connector.grant(&role, entitlement))
            .await
            .unwrap();
        retrying(|| connector.grant(&role, entitlement))
            .await
            .unwrap();
    }
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert_eq!(account.entitlements, entitlements.iter().cloned().collect());

    for entitlement in &entitlements {
        retrying(|| connector.revoke(&role, entitlement))
            .await
            .unwrap();
        retrying(|| connector.revoke(&role, entitlement))
            .await
            .unwrap();
    }
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(
        account.entitlements.is_empty(),
        "{:?}",
        account.entitlements
    );

    drop_schema(&env, &schema).await;
    drop_roles(&env, &connector, &[&role, &group]).await;
}

/// Two `GRANT`s on one object race on its catalog row: the later one waits for the earlier to
/// commit and then fails with an internal error. The engine retries only transient errors, so the
/// connector must call this race transient.
#[tokio::test]
async fn grant_race_is_transient() {
    let env = PgEnv::load();
    let connector = env.connector();
    let schema = unique("s_race");
    let role = unique("race_role");
    let other = unique("race_other");
    create_objects(&env, &schema).await;
    for name in [&role, &other] {
        connector
            .create_account(name, false, &Default::default(), None, now())
            .await
            .unwrap();
    }

    let mut admin = env.admin().await;
    let holder = admin.transaction().await.unwrap();
    holder
        .batch_execute(&format!("GRANT USAGE ON SCHEMA {schema} TO {other}"))
        .await
        .unwrap();
    let racing = {
        let connector = env.connector();
        let role = role.clone();
        let entitlement = privilege("CREATE", "schema", &schema);
        tokio::spawn(async move { connector.grant(&role, &entitlement).await })
    };
    // Give the racing grant time to reach the row and wait on it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    holder.commit().await.unwrap();

    let error = racing.await.unwrap().expect_err("the racing grant fails");
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    assert!(error.to_string().contains("concurrently"), "{error}");
    // A second attempt succeeds.
    connector
        .grant(&role, &privilege("CREATE", "schema", &schema))
        .await
        .unwrap();

    drop_schema(&env, &schema).await;
    drop_roles(&env, &connector, &[&role, &other]).await;
}

#[tokio::test]
async fn grant_rejects_unknown_and_noncanonical_objects() {
    let env = PgEnv::load();
    let connector = env.connector();
    let schema = unique("s_names");
    let role = unique("names_role");
    create_objects(&env, &schema).await;
    connector
        .create_account(&role, true, &Default::default(), None, now())
        .await
        .unwrap();

    let cases = [
        privilege("SELECT", "table", &format!("{schema}.missing")),
        privilege("SELECT", "table", "orders"),
        privilege("SELECT", "table", &format!("{schema}.order_ids")),
        privilege("select", "table", &format!("{schema}.orders")),
        privilege("USAGE", "schema", &unique("s_missing")),
        privilege("CONNECT", "database", "postgres"),
        membership(&unique("missing_group")),
    ];
    for entitlement in &cases {
        let error = connector.grant(&role, entitlement).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Invalid, "{entitlement}: {error}");
    }
    // Revoking from a missing object or a missing role finds nothing to revoke.
    connector.revoke(&role, &cases[0]).await.unwrap();
    connector
        .revoke(&unique("missing_role"), &membership(&role))
        .await
        .unwrap();

    drop_schema(&env, &schema).await;
    drop_roles(&env, &connector, &[&role]).await;
}

#[tokio::test]
async fn grant_without_grant_option_is_denied() {
    let env = PgEnv::load();
    let connector = env.connector();
    let table = unique("su_table");
    let role = unique("denied_role");
    // A table the superuser owns, on which the admin has no privilege at all.
    env.superuser()
        .await
        .batch_execute(&format!("CREATE TABLE public.{table} (id int)"))
        .await
        .unwrap();
    connector
        .create_account(&role, true, &Default::default(), None, now())
        .await
        .unwrap();

    let entitlement = privilege("SELECT", "table", &format!("public.{table}"));
    let error = connector.grant(&role, &entitlement).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Denied, "{error}");

    // Holding the privilege without the grant option, the admin gets only a warning from the
    // server, and nothing is granted.
    env.superuser()
        .await
        .batch_execute(&format!(
            "GRANT SELECT ON public.{table} TO {}",
            env.admin_user
        ))
        .await
        .unwrap();
    let error = connector.grant(&role, &entitlement).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Denied, "{error}");
    assert!(
        error.message.contains("no privileges were granted"),
        "{}",
        error.message
    );
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(account.entitlements.is_empty());

    env.superuser()
        .await
        .batch_execute(&format!("DROP TABLE public.{table}"))
        .await
        .unwrap();
    drop_roles(&env, &connector, &[&role]).await;
}

#[tokio::test]
async fn rotated_password_replaces_old() {
    let env = PgEnv::load();
    let connector = env.connector();
    let role = unique("rotate_role");
    let first = secret(&random_password());
    let second = secret(&random_password());

    let created_at = Timestamp(1_700_000_000_000_000);
    connector
        .create_account(&role, true, &Default::default(), Some(&first), created_at)
        .await
        .unwrap();
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert_eq!(account.credential_set_at, Some(created_at));
    assert_eq!(
        connector.probe_login(&role, &first).await,
        LoginProbe::Accepted
    );

    let rotated_at = Timestamp(1_700_000_100_000_000);
    connector
        .set_credential(&role, &second, rotated_at)
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
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert_eq!(account.credential_set_at, Some(rotated_at));
    let observation = connector.observe(&[]).await.unwrap();
    assert_eq!(
        observation.accounts[&role].credential_set_at,
        Some(rotated_at)
    );

    drop_roles(&env, &connector, &[&role]).await;
}

#[tokio::test]
async fn server_log_has_no_cleartext_password() {
    let env = PgEnv::load();
    let connector = env.connector();
    let role = unique("log_role");
    let created = random_password();
    let rotated = random_password();

    connector
        .create_account(
            &role,
            true,
            &Default::default(),
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

    let log = std::fs::read_to_string(&env.log).unwrap();
    // The DDL was logged, so the search below looked at the right statements.
    assert!(
        log.contains(&format!("ALTER ROLE \"{role}\" PASSWORD E'SCRAM-SHA-256$")),
        "the server log holds no ALTER ROLE for `{role}`"
    );
    assert!(
        !log.contains(&created),
        "the created password is in the server log"
    );
    assert!(
        !log.contains(&rotated),
        "the rotated password is in the server log"
    );

    drop_roles(&env, &connector, &[&role]).await;
}

#[tokio::test]
async fn disabled_login_keeps_session_until_ended() {
    let env = PgEnv::load();
    let connector = env.connector();
    let role = unique("session_role");
    let password = random_password();
    connector
        .create_account(
            &role,
            true,
            &Default::default(),
            Some(&secret(&password)),
            now(),
        )
        .await
        .unwrap();
    let open_session = env.client_as(&role, &password).await.unwrap();
    let pid: i32 = open_session
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    connector.set_login(&role, false).await.unwrap();
    connector.set_login(&role, false).await.unwrap();

    assert_eq!(
        connector.probe_login(&role, &secret(&password)).await,
        LoginProbe::Rejected(Rejection::LoginDisabled)
    );
    open_session
        .simple_query("SELECT 1")
        .await
        .expect("the open session survives NOLOGIN");
    let sessions = connector.list_sessions(&role).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, pid.to_string());
    assert_eq!(sessions[0].application_name, "enact-test");
    assert_eq!(sessions[0].client_addr.as_deref(), Some("127.0.0.1"));
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(!account.login_enabled);
    assert_eq!(account.sessions, sessions);

    let ended = connector
        .end_sessions(&role, &SessionSelector::All, now())
        .await
        .unwrap();
    assert_eq!(ended, sessions);
    assert!(connector.list_sessions(&role).await.unwrap().is_empty());
    assert!(
        open_session.simple_query("SELECT 1").await.is_err(),
        "the ended session still answers"
    );
    let again = connector
        .end_sessions(&role, &SessionSelector::All, now())
        .await
        .unwrap();
    assert!(again.is_empty());

    connector.set_login(&role, true).await.unwrap();
    assert_eq!(
        connector.probe_login(&role, &secret(&password)).await,
        LoginProbe::Accepted
    );

    drop_roles(&env, &connector, &[&role]).await;
}

#[tokio::test]
async fn end_sessions_older_than_spares_new() {
    let env = PgEnv::load();
    let connector = env.connector();
    let role = unique("age_role");
    let password = random_password();
    connector
        .create_account(
            &role,
            true,
            &Default::default(),
            Some(&secret(&password)),
            now(),
        )
        .await
        .unwrap();
    let old = env.client_as(&role, &password).await.unwrap();
    let old_pid: i32 = old
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let new = env.client_as(&role, &password).await.unwrap();

    let selector = SessionSelector::OlderThan {
        max_lifetime: Duration::from_secs(1),
    };
    let ended = connector
        .end_sessions(&role, &selector, now())
        .await
        .unwrap();

    let ended_ids: Vec<&str> = ended.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ended_ids, vec![old_pid.to_string().as_str()]);
    assert!(
        old.simple_query("SELECT 1").await.is_err(),
        "the old session still answers"
    );
    new.simple_query("SELECT 1")
        .await
        .expect("the new session survives");
    assert_eq!(connector.list_sessions(&role).await.unwrap().len(), 1);

    connector
        .end_sessions(&role, &SessionSelector::All, now())
        .await
        .unwrap();
    drop_roles(&env, &connector, &[&role]).await;
}

#[tokio::test]
async fn delete_refuses_or_reassigns_owned_table() {
    let env = PgEnv::load();
    let connector = env.connector();
    let owner = unique("owner_role");
    let heir = unique("heir_role");
    let table = unique("owned_table");
    connector
        .create_account(&owner, true, &Default::default(), None, now())
        .await
        .unwrap();
    connector
        .create_account(&heir, true, &Default::default(), None, now())
        .await
        .unwrap();
    env.superuser()
        .await
        .batch_execute(&format!(
            "CREATE TABLE public.{table} (id int); ALTER TABLE public.{table} OWNER TO {owner};"
        ))
        .await
        .unwrap();
    let account = connector.read_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.owned_objects, 1);

    let error = connector
        .delete_account(&owner, &OwnedObjects::Refuse)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error.message.contains("owns 1 object(s)"),
        "{}",
        error.message
    );
    assert!(connector.read_account(&owner).await.unwrap().is_some());

    let reassign = OwnedObjects::ReassignTo(heir.clone());
    connector.delete_account(&owner, &reassign).await.unwrap();
    connector.delete_account(&owner, &reassign).await.unwrap();

    assert!(connector.read_account(&owner).await.unwrap().is_none());
    let table_owner: String = env
        .admin()
        .await
        .query_one(
            "SELECT relowner::regrole::text FROM pg_class WHERE oid = to_regclass($1)",
            &[&format!("public.{table}")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(table_owner, heir);
    let admin_roles: i64 = env
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM pg_auth_members WHERE member = session_user::regrole \
             AND roleid = $1::text::regrole",
            &[&heir],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        admin_roles, 0,
        "the admin kept its temporary membership in the new owner"
    );

    env.superuser()
        .await
        .batch_execute(&format!("DROP TABLE public.{table}"))
        .await
        .unwrap();
    drop_roles(&env, &connector, &[&heir]).await;
}

#[tokio::test]
async fn delete_revokes_privileges_first() {
    let env = PgEnv::load();
    let connector = env.connector();
    let schema = unique("s_delete");
    let role = unique("delete_role");
    create_objects(&env, &schema).await;
    connector
        .create_account(&role, true, &Default::default(), None, now())
        .await
        .unwrap();
    connector
        .grant(
            &role,
            &privilege("SELECT", "table", &format!("{schema}.orders")),
        )
        .await
        .unwrap();

    connector
        .delete_account(&role, &OwnedObjects::Refuse)
        .await
        .unwrap();

    assert!(connector.read_account(&role).await.unwrap().is_none());
    drop_schema(&env, &schema).await;
}

#[tokio::test]
async fn change_operations_are_idempotent() {
    let env = PgEnv::load();
    let connector = env.connector();
    let role = unique("idem_role");
    let password = secret(&random_password());

    for _ in 0..2 {
        connector
            .create_account(&role, false, &Default::default(), Some(&password), now())
            .await
            .unwrap();
    }
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(!account.login_enabled);

    for _ in 0..2 {
        connector
            .create_account(&role, true, &Default::default(), Some(&password), now())
            .await
            .unwrap();
        connector
            .set_credential(&role, &password, now())
            .await
            .unwrap();
        connector.set_login(&role, true).await.unwrap();
    }
    assert_eq!(
        connector.probe_login(&role, &password).await,
        LoginProbe::Accepted
    );

    for _ in 0..2 {
        connector
            .delete_account(&role, &OwnedObjects::Refuse)
            .await
            .unwrap();
    }
    assert!(connector.read_account(&role).await.unwrap().is_none());
    assert!(connector.list_sessions(&role).await.unwrap().is_empty());
    let ended = connector
        .end_sessions(&role, &SessionSelector::All, now())
        .await
        .unwrap();
    assert!(ended.is_empty());
}

#[tokio::test]
async fn operations_on_missing_role_are_invalid() {
    let env = PgEnv::load();
    let connector = env.connector();
    let role = unique("missing_role");

    let error = connector.set_login(&role, false).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    let error = connector
        .set_credential(&role, &secret(&random_password()), now())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    let error = connector
        .grant(&role, &membership(&env.admin_user))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(connector.read_account(&role).await.unwrap().is_none());
}

#[tokio::test]
async fn probe_of_unknown_role_is_rejected() {
    let env = PgEnv::load();
    let connector = env.connector();
    // With SCRAM the server hides whether the role exists.
    assert_eq!(
        connector
            .probe_login(&unique("nobody"), &secret(&random_password()))
            .await,
        LoginProbe::Rejected(Rejection::InvalidCredential)
    );
}

#[tokio::test]
async fn admin_connection_reconnects_after_termination() {
    let env = PgEnv::load();
    // A dedicated admin role, so ending its connections disturbs no other test.
    let admin = unique("test_admin");
    let admin_password = random_password();
    env.superuser()
        .await
        .batch_execute(&format!(
            "SET log_statement = 'none'; \
             CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{admin_password}'; \
             GRANT pg_read_all_stats TO {admin};"
        ))
        .await
        .unwrap();
    let mut target = env.target();
    target.admin_user = Some(admin.clone());
    let connector =
        PostgresConnector::new(&target, secret(&admin_password), common::key()).unwrap();
    let role = unique("reconnect_role");
    connector
        .create_account(&role, true, &Default::default(), None, now())
        .await
        .unwrap();

    // End the connector's shared admin connection from outside.
    let pids: Vec<i32> = env
        .superuser()
        .await
        .query(
            "SELECT pid FROM pg_stat_activity WHERE usename = $1",
            &[&admin],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "the connector keeps one admin connection open"
    );
    env.superuser()
        .await
        .execute("SELECT pg_terminate_backend($1, 5000)", &[&pids[0]])
        .await
        .unwrap();

    connector.set_login(&role, false).await.unwrap();
    let account = connector.read_account(&role).await.unwrap().unwrap();
    assert!(!account.login_enabled);

    connector
        .delete_account(&role, &OwnedObjects::Refuse)
        .await
        .unwrap();
    env.superuser()
        .await
        .batch_execute(&format!("DROP ROLE {admin}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn closed_port_is_unavailable() {
    let env = PgEnv::load();
    // Bind and release a port, so nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = env.target_at(&format!("127.0.0.1:{port}"));
    let connector =
        PostgresConnector::new(&target, secret(&env.admin_password), common::key()).unwrap();

    let probe = connector.probe_login("anyone", &secret("anything")).await;
    assert!(matches!(probe, LoginProbe::Unavailable { .. }), "{probe:?}");
    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.is_transient());
    let error = connector.set_login("anyone", false).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable);
}

#[tokio::test]
async fn wrong_admin_password_is_denied() {
    let env = PgEnv::load();
    let connector =
        PostgresConnector::new(&env.target(), secret(&random_password()), common::key()).unwrap();

    let error = connector.observe(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Denied, "{error}");
    assert!(!error.message.contains(&env.admin_password));
}

#[tokio::test]
async fn observe_two_thousand_roles() {
    let env = PgEnv::load();
    let connector = env.connector();
    let prefix = unique("bulk");
    let count = 2000;
    let admin = env.admin().await;
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 1..{count} LOOP \
               EXECUTE format('CREATE ROLE %I LOGIN', '{prefix}_' || i); \
             END LOOP; END $$;"
        ))
        .await
        .unwrap();

    let observation = connector.observe(&[]).await;

    admin
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 1..{count} LOOP \
               EXECUTE format('DROP ROLE %I', '{prefix}_' || i); \
             END LOOP; END $$;"
        ))
        .await
        .unwrap();
    let observation = observation.unwrap();
    let seeded = observation
        .accounts
        .keys()
        .filter(|name| name.starts_with(&format!("{prefix}_")))
        .count();
    assert_eq!(seeded, count);
    assert!(observation.accounts[&format!("{prefix}_1")].login_enabled);
}
