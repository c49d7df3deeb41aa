//! Alternating users: PostgreSQL holds one password per role, so a rotation without a window
//! uses two login roles that are members of a group role holding the entitlements. The group
//! is the account enact manages; the two users carry the setting `enact.alternate_of` naming
//! it. A rotation sets the password of the user not in use, the sink flips to it, and after
//! the grace period the other user's password is cleared.
//!
//! A credential of such an account is the JSON value that
//! [`enact_model::alternating_value`] builds, naming the user it belongs to.

use crate::read::{ALTERNATE_OF, ALTERNATING_USERS, CREDENTIAL_SET_AT};
use crate::sql::{check_name, ident, literal};
use crate::PostgresConnector;
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{split_alternating_value, Secret, Timestamp};
use std::collections::BTreeMap;

/// The two users an account's settings declare, when it has `alternating_users`.
pub(crate) fn declared_users(
    account: &str,
    settings: &BTreeMap<String, String>,
) -> Result<Option<Vec<String>>, ConnectorError> {
    if let Some(key) = settings.keys().find(|key| *key != ALTERNATING_USERS) {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("role `{account}`: PostgreSQL accounts have no setting `{key}`"),
        ));
    }
    let Some(value) = settings.get(ALTERNATING_USERS) else {
        return Ok(None);
    };
    let users: Vec<String> = value
        .split(',')
        .map(|user| user.trim().to_owned())
        .collect();
    if users.len() != 2 || users[0] == users[1] || users.iter().any(|user| user == account) {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!(
                "role `{account}`: `{ALTERNATING_USERS}` must name two other roles, not `{value}`"
            ),
        ));
    }
    for user in &users {
        check_name("role", user)?;
    }
    Ok(Some(users))
}

impl PostgresConnector {
    /// The login roles marked as alternating users of `group`, by name.
    pub(crate) async fn alternates_of(&self, group: &str) -> Result<Vec<String>, ConnectorError> {
        let marker = format!("{ALTERNATE_OF}={group}");
        self.admin_read("reading alternating users", move |client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT r.rolname::text FROM pg_db_role_setting s \
                         JOIN pg_roles r ON r.oid = s.setrole \
                         WHERE s.setdatabase = 0 AND $1 = ANY(s.setconfig) ORDER BY 1",
                        &[&marker],
                    )
                    .await?;
                Ok(rows.iter().map(|row| row.get(0)).collect())
            })
        })
        .await
    }

    /// Creates or repairs the two users of `group`: each exists, is marked, is a member of the
    /// group and of nothing else. A new user can log in only when `login` is set; an existing
    /// one keeps its flag and password.
    pub(crate) async fn configure_alternates(
        &self,
        group: &str,
        users: &[String],
        login: bool,
    ) -> Result<(), ConnectorError> {
        let login_keyword = if login { "LOGIN" } else { "NOLOGIN" };
        for user in users {
            let mut statements = Vec::new();
            match self.lookup_role(user).await? {
                None => statements.push(format!(
                    "CREATE ROLE {} {login_keyword} IN ROLE {}",
                    ident(user),
                    ident(group)
                )),
                Some(_) => {
                    statements.push(format!("GRANT {} TO {}", ident(group), ident(user)));
                }
            }
            statements.push(format!(
                "ALTER ROLE {} SET {ALTERNATE_OF} = {}",
                ident(user),
                literal(group)
            ));
            self.run_in_transaction("creating an alternating user", &statements)
                .await?;
            // Least privilege: the user holds only membership in the group.
            let held = enact_connector::Connector::read_account(self, user)
                .await?
                .map(|account| account.entitlements)
                .unwrap_or_default();
            for entitlement in held {
                if entitlement
                    != (enact_model::Entitlement::Membership {
                        group: group.to_owned(),
                    })
                {
                    self.revoke_impl(user, &entitlement).await?;
                }
            }
        }
        tracing::debug!(target = %self.target, account = group, users = ?users, "alternating users configured");
        Ok(())
    }

    /// Splits an alternating credential of `group` and checks that its user is one of the
    /// group's users. Returns the user, the password and the group's other users.
    async fn alternating_parts(
        &self,
        group: &str,
        credential: &Secret,
    ) -> Result<Option<(String, Secret, Vec<String>)>, ConnectorError> {
        let Some((user, password)) = split_alternating_value(credential, &self.key) else {
            return Ok(None);
        };
        let users = self.alternates_of(group).await?;
        if !users.contains(&user) {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("role `{user}` is not an alternating user of `{group}`"),
            ));
        }
        let others = users.into_iter().filter(|other| *other != user).collect();
        Ok(Some((user, password, others)))
    }

    /// Sets the password of the credential's user. With `clear_others`, the group's other
    /// users lose theirs, so the credential is the account's only one. Returns `false` when
    /// the credential is not an alternating one.
    pub(crate) async fn set_alternating(
        &self,
        group: &str,
        credential: &Secret,
        now: Timestamp,
        clear_others: bool,
    ) -> Result<bool, ConnectorError> {
        let Some((user, password, others)) = self.alternating_parts(group, credential).await?
        else {
            return Ok(false);
        };
        let mut statements = vec![
            format!(
                "ALTER ROLE {} PASSWORD {}",
                ident(&user),
                crate::change::scram_verifier(&password)?
            ),
            crate::change::record_set_time(&user, now),
        ];
        if clear_others {
            statements.extend(others.iter().flat_map(|other| clear_password(other)));
        }
        self.run_in_transaction("setting an alternating user's password", &statements)
            .await?;
        tracing::debug!(
            target = %self.target,
            account = group,
            user,
            credential = %credential.fingerprint().short(),
            "alternating credential set"
        );
        Ok(true)
    }

    /// Clears the password of every user of `group` except the one `keep` names.
    pub(crate) async fn retire_alternates(
        &self,
        group: &str,
        keep: &Secret,
    ) -> Result<(), ConnectorError> {
        let Some((user, _, others)) = self.alternating_parts(group, keep).await? else {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("role `{group}` holds one password at a time, so it has none to retire"),
            ));
        };
        let statements: Vec<String> = others.iter().flat_map(|o| clear_password(o)).collect();
        self.run_in_transaction("clearing an alternating user's password", &statements)
            .await?;
        tracing::debug!(target = %self.target, account = group, kept = user, retired = ?others, "alternating credentials retired");
        Ok(())
    }
}

/// The statements that leave `user` without a password, so no password logs it in.
fn clear_password(user: &str) -> [String; 2] {
    [
        format!("ALTER ROLE {} PASSWORD NULL", ident(user)),
        format!("ALTER ROLE {} RESET {CREDENTIAL_SET_AT}", ident(user)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(ALTERNATING_USERS.to_owned(), value.to_owned())])
    }

    #[test]
    fn declared_users_reads_two_names() {
        assert_eq!(
            declared_users("app", &settings("app_blue,app_green")).unwrap(),
            Some(vec!["app_blue".to_owned(), "app_green".to_owned()])
        );
        assert_eq!(declared_users("app", &BTreeMap::new()).unwrap(), None);
    }

    #[test]
    fn declared_users_refuses_bad_lists() {
        for bad in ["app_blue", "a,a", "app,app_blue", "a,b,c"] {
            let error = declared_users("app", &settings(bad)).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Invalid, "{bad}");
        }
        let other = BTreeMap::from([("token_ttl".to_owned(), "1h".to_owned())]);
        assert!(declared_users("app", &other)
            .unwrap_err()
            .message
            .contains("token_ttl"));
    }
}
