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

/// A workspace on the shared PostgreSQL and OpenLDAP servers. The accounts and groups named
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
    let test = LdapTest::new();
    let uid = test.ws.role("svc");
    let dn = test.ldap.account_dn(&uid);
    let readers = test.ldap.create_group(&test.ws.role("readers"), &[]).await;
    let writers = test.ldap.create_group(&test.ws.role("writers"), &[]).await;
    test.write(&[test.identity("active", &uid, &[&readers, &writers], "90d")]);

    let (code, plan) = test.ws.plan_json().await;
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
    test.ws.enact(&["apply"]).await.expect_code(0);

    // Each group lists the account, and the empty-DN placeholder is gone.
    assert_eq!(test.ldap.members(&readers).await, vec![dn.clone()]);
    assert_eq!(test.ldap.members(&writers).await, vec![dn.clone()]);

    let password = test.ws.sink_value("svc");
    let entry = test
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
        test.ldap.bind_code(&dn, &password).await,
        0,
        "the sink's password does not bind"
    );
    test.ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_rotation_replaces_password() {
    let test = LdapTest::new();
    let uid = test.ws.role("svc");
    let dn = test.ldap.account_dn(&uid);
    test.write(&[test.identity("active", &uid, &[], "90d")]);
    test.ws.enact(&["apply"]).await.expect_code(0);
    let old = test.ws.sink_value("svc");
    assert_eq!(test.ldap.bind_code(&dn, &old).await, 0);

    // A max_age of 1 s makes the password due within about a second, because pwdChangedTime
    // counts whole seconds.
    test.write(&[test.identity("active", &uid, &[], "1s")]);
    poll_until(
        "the password to pass its max_age",
        Duration::from_secs(20),
        || async {
            let (_, plan) = test.ws.plan_json().await;
            let actions = plan_actions(&plan);
            (actions == vec![("rotate_credential".to_string(), uid.clone())]).then_some(())
        },
    )
    .await;
    test.ws.enact(&["apply"]).await.expect_code(0);

    let new = test.ws.sink_value("svc");
    assert_ne!(new, old, "the sink still holds the old password");
    assert_eq!(
        test.ldap.bind_code(&dn, &old).await,
        INVALID_CREDENTIALS,
        "the old password still binds"
    );
    assert_eq!(
        test.ldap.bind_code(&dn, &new).await,
        0,
        "the new password does not bind"
    );
    test.write(&[test.identity("active", &uid, &[], "90d")]);
    test.ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_disable_locks_account() {
    let test = LdapTest::new();
    let uid = test.ws.role("svc");
    let dn = test.ldap.account_dn(&uid);
    test.write(&[test.identity("active", &uid, &[], "90d")]);
    test.ws.enact(&["apply"]).await.expect_code(0);
    let password = test.ws.sink_value("svc");
    assert_eq!(test.ldap.bind_code(&dn, &password).await, 0);

    test.write(&[test.identity("disabled", &uid, &[], "90d")]);
    let (code, plan) = test.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("disable_login".to_string(), uid.clone())],
        "{plan}"
    );
    test.ws.enact(&["apply"]).await.expect_code(0);
    assert_eq!(
        test.ldap.bind_code(&dn, &password).await,
        INVALID_CREDENTIALS,
        "a locked account still binds"
    );
    let entry = test
        .ldap
        .entry(&dn, &["pwdAccountLockedTime"])
        .await
        .expect("the account still exists");
    assert_eq!(
        entry.get("pwdAccountLockedTime"),
        Some(&vec![PERMANENT_LOCK.to_string()])
    );
    test.ws.enact(&["plan"]).await.expect_code(0);

    test.write(&[test.identity("active", &uid, &[], "90d")]);
    let (code, plan) = test.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("enable_login".to_string(), uid.clone())],
        "{plan}"
    );
    test.ws.enact(&["apply"]).await.expect_code(0);
    assert_eq!(
        test.ldap.bind_code(&dn, &password).await,
        0,
        "the unlocked account does not bind with its password"
    );
    test.ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_extra_membership_is_revoked() {
    let test = LdapTest::new();
    let uid = test.ws.role("svc");
    let dn = test.ldap.account_dn(&uid);
    let readers = test.ldap.create_group(&test.ws.role("readers"), &[]).await;
    let admins = test.ldap.create_group(&test.ws.role("admins"), &[]).await;
    test.write(&[test.identity("active", &uid, &[&readers], "90d")]);
    test.ws.enact(&["apply"]).await.expect_code(0);

    // An operator adds the account to a group by hand.
    test.ldap.add_member(&admins, &dn).await;
    assert!(test.ldap.members(&admins).await.contains(&dn));

    let (code, plan) = test.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("revoke".to_string(), uid.clone())],
        "{plan}"
    );
    let text = test.ws.enact(&["plan"]).await;
    assert!(
        text.stdout.contains(&admins),
        "the plan does not name the group\n{text}"
    );
    test.ws.enact(&["apply"]).await.expect_code(0);

    assert!(
        !test.ldap.members(&admins).await.contains(&dn),
        "the account is still a member of `{admins}`"
    );
    assert_eq!(test.ldap.members(&readers).await, vec![dn.clone()]);
    assert_eq!(
        test.ldap.bind_code(&dn, &test.ws.sink_value("svc")).await,
        0
    );
    test.ws.enact(&["plan"]).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_extra_password_is_removed() {
    let test = LdapTest::new();
    let uid = test.ws.role("svc");
    let dn = test.ldap.account_dn(&uid);
    test.write(&[test.identity("active", &uid, &[], "90d")]);
    test.ws.enact(&["apply"]).await.expect_code(0);
    let old = test.ws.sink_value("svc");

    // An operator adds a second password by hand.
    let extra = format!("extra-{:032x}", rand::random::<u128>());
    test.ldap.add_password(&dn, &extra).await;
    assert_eq!(test.ldap.bind_code(&dn, &extra).await, 0);
    let (code, plan) = test.ws.plan_json().await;
    assert_eq!(code, 2);
    assert_eq!(
        plan_actions(&plan),
        vec![("rotate_credential".to_string(), uid.clone())],
        "{plan}"
    );
    test.ws.enact(&["apply"]).await.expect_code(0);

    assert_eq!(
        test.ldap.bind_code(&dn, &extra).await,
        INVALID_CREDENTIALS,
        "the extra password still binds"
    );
    assert_eq!(
        test.ldap.bind_code(&dn, &old).await,
        INVALID_CREDENTIALS,
        "the old password still binds"
    );
    let new = test.ws.sink_value("svc");
    assert_eq!(test.ldap.bind_code(&dn, &new).await, 0);
    let entry = test
        .ldap
        .entry(&dn, &["userPassword"])
        .await
        .expect("the account exists");
    assert_eq!(entry.get("userPassword").map(Vec::len), Some(1));
    test.ws.enact(&["plan"]).await.expect_code(0);
}

/// Defect: LDAP compares `cn`, `ou` and `dc` values without case, so `CN=X,OU=groups,...`
/// and `cn=x,ou=groups,...` name one group. enact compares the DNs as text: the grant is
/// refuted, the next plan revokes the membership it just added, and every later apply flips
/// it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_group_dn_case_is_ignored() {
    let test = LdapTest::new();
    let uid = test.ws.role("svc");
    let dn = test.ldap.account_dn(&uid);
    let group = test.ldap.create_group(&test.ws.role("readers"), &[]).await;
    let shouted = group
        .split(',')
        .map(|rdn| match rdn.split_once('=') {
            Some((attribute, value)) => format!("{}={value}", attribute.to_uppercase()),
            None => rdn.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    test.write(&[test.identity("active", &uid, &[&shouted], "90d")]);

    test.ws.enact(&["apply"]).await.expect_code(0);
    assert_eq!(test.ldap.members(&group).await, vec![dn.clone()]);
    let (code, plan) = test.ws.plan_json().await;
    assert_eq!(
        code, 0,
        "the plan changes a membership that is held: {plan}"
    );
}
