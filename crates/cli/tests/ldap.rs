//! OpenLDAP service accounts through the real `enact` binary: accounts created with their group
//! memberships and a hashed password that binds, passwords rotated, login locked and unlocked,
//! and memberships added behind enact's back revoked. Every outcome is read back from the
//! server as its rootdn, with a client of the test's own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{account, credential, identity_with, plan_actions, poll_until};
use common::{LdapCleanup, LdapEnv, Workspace, INVALID_CREDENTIALS};
use std::time::Duration;

/// Unmanaged accounts are reported, and every account that is not the test's own is ignored.
const IGNORE_ALL: &str = "{ action: report, ignore: [\"*\"] }";

/// The `pwdAccountLockedTime` value that the LDAP connector sets: a lock without end.
const PERMANENT_LOCK: &str = "000001010000Z";

/// A workspace on the shared PostgreSQL and OpenLDAP servers; the accounts and groups named
/// with the workspace prefix are deleted when the test ends.
struct LdapTest {
    ws: Workspace,
    ldap: LdapEnv,
    _cleanup: LdapCleanup,
}

impl LdapTest {
    fn new() -> LdapTest {
        let ldap = LdapEnv::shared();
        let mut ws = Workspace::new();
        ws.use_ldap(&ldap);
        let cleanup = ldap.cleanup_on_drop(&ws.prefix);
        LdapTest {
            ws,
            ldap,
            _cleanup: cleanup,
        }
    }

    /// Writes a policy with the LDAP target `directory` and `identities`.
    fn write(&self, identities: &[String]) {
        self.ws.write_policy_with_targets(
            &[self.ldap.target_yaml("directory", IGNORE_ALL)],
            identities,
        );
    }

    /// Renders the identity `svc` in `state` with the account `uid` on `directory`, member of
    /// `groups`, its password delivered to the sink `svc` and rotated after `max_age`.
    fn identity(&self, state: &str, uid: &str, groups: &[&str], max_age: &str) -> String {
        let mut body = String::new();
        if !groups.is_empty() {
            body.push_str("entitlements:\n");
            for group in groups {
                body.push_str(&format!("  - member_of: \"{group}\"\n"));
            }
        }
        body.push_str(&credential(&self.ws.sink("svc"), max_age));
        identity_with("svc", state, &[account("directory", uid, &body)])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_account_joins_its_groups() {
    let t = LdapTest::new();
    let uid = t.ws.role("svc");
    let dn = t.ldap.account_dn(&uid);
    let readers = t.ldap.create_group(&t.ws.role("readers"), &[]).await;
    let writers = t.ldap.create_group(&t.ws.role("writers"), &[]).await;
    t.write(&[t.identity("active", &uid, &[&readers, &writers], "90d")]);

    let (code, plan) = t.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![
            ("create_account".to_string(), uid.clone()),
            ("grant".to_string(), uid.clone()),
            ("grant".to_string(), uid.clone()),
        ],
        "{plan}"
    );
    t.ws.enact(&["apply"]).await.expect_code(0);

    // Each group lists the account, and the empty-DN placeholder is gone.
    assert_eq!(t.ldap.members(&readers).await, vec![dn.clone()]);
    assert_eq!(t.ldap.members(&writers).await, vec![dn.clone()]);

    let password = t.ws.sink_value("svc");
    let entry = t
        .ldap
        .entry(&dn, &["userPassword"])
        .await
        .expect("the account exists");
    let stored = entry.get("userPassword").cloned().unwrap_or_default();
    assert_eq!(
        stored.len(),
        1,
        "the account has {} passwords",
        stored.len()
    );
    assert!(
        stored[0].starts_with("{SSHA}"),
        "the stored password is not hashed with a scheme prefix ({} bytes)",
        stored[0].len()
    );
    assert!(
        !stored[0].contains(&password),
        "the stored password contains the cleartext"
    );
    assert_eq!(
        t.ldap.bind_code(&dn, &password).await,
        0,
        "the sink's password does not bind"
    );
    t.ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_rotation_replaces_password() {
    let t = LdapTest::new();
    let uid = t.ws.role("svc");
    let dn = t.ldap.account_dn(&uid);
    t.write(&[t.identity("active", &uid, &[], "90d")]);
    t.ws.enact(&["apply"]).await.expect_code(0);
    let old = t.ws.sink_value("svc");
    assert_eq!(t.ldap.bind_code(&dn, &old).await, 0);

    // A max_age of 1 s makes the password due; pwdChangedTime counts whole seconds.
    t.write(&[t.identity("active", &uid, &[], "1s")]);
    poll_until(
        "the password to pass its max_age",
        Duration::from_secs(20),
        || async {
            let (_, plan) = t.ws.plan_json().await;
            let actions = plan_actions(&plan);
            (actions == vec![("rotate_credential".to_string(), uid.clone())]).then_some(())
        },
    )
    .await;
    t.ws.enact(&["apply"]).await.expect_code(0);

    let new = t.ws.sink_value("svc");
    assert_ne!(new, old, "the sink still holds the old password");
    assert_eq!(
        t.ldap.bind_code(&dn, &old).await,
        INVALID_CREDENTIALS,
        "the old password still binds"
    );
    assert_eq!(
        t.ldap.bind_code(&dn, &new).await,
        0,
        "the new password does not bind"
    );
    t.write(&[t.identity("active", &uid, &[], "90d")]);
    t.ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_disable_locks_account() {
    let t = LdapTest::new();
    let uid = t.ws.role("svc");
    let dn = t.ldap.account_dn(&uid);
    t.write(&[t.identity("active", &uid, &[], "90d")]);
    t.ws.enact(&["apply"]).await.expect_code(0);
    let password = t.ws.sink_value("svc");
    assert_eq!(t.ldap.bind_code(&dn, &password).await, 0);

    t.write(&[t.identity("disabled", &uid, &[], "90d")]);
    let (code, plan) = t.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("disable_login".to_string(), uid.clone())],
        "{plan}"
    );
    t.ws.enact(&["apply"]).await.expect_code(0);
    assert_eq!(
        t.ldap.bind_code(&dn, &password).await,
        INVALID_CREDENTIALS,
        "a locked account still binds"
    );
    let entry = t
        .ldap
        .entry(&dn, &["pwdAccountLockedTime"])
        .await
        .expect("the account still exists");
    assert_eq!(
        entry.get("pwdAccountLockedTime"),
        Some(&vec![PERMANENT_LOCK.to_string()])
    );
    t.ws.enact(&["plan"]).await.expect_code(0);

    t.write(&[t.identity("active", &uid, &[], "90d")]);
    let (code, plan) = t.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("enable_login".to_string(), uid.clone())],
        "{plan}"
    );
    t.ws.enact(&["apply"]).await.expect_code(0);
    assert_eq!(
        t.ldap.bind_code(&dn, &password).await,
        0,
        "the unlocked account does not bind with its password"
    );
    t.ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_extra_membership_is_revoked() {
    let t = LdapTest::new();
    let uid = t.ws.role("svc");
    let dn = t.ldap.account_dn(&uid);
    let readers = t.ldap.create_group(&t.ws.role("readers"), &[]).await;
    let admins = t.ldap.create_group(&t.ws.role("admins"), &[]).await;
    t.write(&[t.identity("active", &uid, &[&readers], "90d")]);
    t.ws.enact(&["apply"]).await.expect_code(0);

    // An operator adds the account to a group by hand.
    t.ldap.add_member(&admins, &dn).await;
    assert!(t.ldap.members(&admins).await.contains(&dn));

    let (code, plan) = t.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("revoke".to_string(), uid.clone())],
        "{plan}"
    );
    let text = t.ws.enact(&["plan"]).await;
    assert!(
        text.stdout.contains(&admins),
        "the plan does not name the group\n{text}"
    );
    t.ws.enact(&["apply"]).await.expect_code(0);

    assert!(
        !t.ldap.members(&admins).await.contains(&dn),
        "the account is still a member of `{admins}`"
    );
    assert_eq!(t.ldap.members(&readers).await, vec![dn.clone()]);
    assert_eq!(t.ldap.bind_code(&dn, &t.ws.sink_value("svc")).await, 0);
    t.ws.enact(&["plan"]).await.expect_code(0);
}
