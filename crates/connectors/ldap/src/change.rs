//! Change operations, on the shared admin connection. Each one is idempotent.

use crate::conn::{code, ldap_error, result_code, OPERATION_TIMEOUT};
use crate::read::{self, AccountEntry, LOCKED_TIME, MEMBER};
use crate::{dn, hash, LdapConnector};
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{Entitlement, Secret};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapError, LdapResult, Mod};
use std::collections::HashSet;

/// The `pwdAccountLockedTime` value that locks an account until the attribute is removed. The
/// ppolicy overlay treats this fixed value as a permanent lock, unlike a real time, which
/// expires after the policy's `pwdLockoutDuration`.
pub const PERMANENT_LOCK: &str = "000001010000Z";

/// The object classes of an account entry. `account` (RFC 4524, in cosine.schema) requires
/// `uid`. `shadowAccount` (RFC 2307, in nis.schema) is the auxiliary class in the standard
/// schemas that allows `userPassword` without requiring it, so an account can exist before
/// it has a password. None of its `shadow*` attributes is set.
const ACCOUNT_CLASSES: [&str; 2] = ["account", "shadowAccount"];

/// The member value that replaces the last member of a group. A groupOfNames needs at least one
/// `member`, and the empty DN can name no account.
pub const PLACEHOLDER_MEMBER: &str = "";

/// Runs one operation with the operation timeout and turns a result code other than success
/// into an error.
async fn checked(
    operation: impl std::future::Future<Output = Result<LdapResult, LdapError>>,
) -> Result<LdapResult, LdapError> {
    operation.await?.success()
}

/// Returns a set of one value, the form the client library takes.
fn one(value: &str) -> HashSet<&str> {
    HashSet::from([value])
}

impl LdapConnector {
    pub(crate) async fn create_account_impl(
        &self,
        account: &str,
        login: bool,
        credential: Option<&Secret>,
    ) -> Result<(), ConnectorError> {
        dn::check_account_name(account)?;
        let account_dn = self.account_dn(account);
        let mut attributes = vec![
            ("objectClass", ACCOUNT_CLASSES.into_iter().collect()),
            (dn::NAME_ATTRIBUTE, one(account)),
        ];
        if !login {
            attributes.push((LOCKED_TIME, one(PERMANENT_LOCK)));
        }
        let added = {
            let mut ldap = self.admin().await?;
            checked(
                ldap.with_timeout(OPERATION_TIMEOUT)
                    .add(&account_dn, attributes),
            )
            .await
        };
        match added {
            Ok(_) => tracing::info!(target = %self.target, account, login, "account created"),
            Err(error) if result_code(&error) == Some(code::ENTRY_ALREADY_EXISTS) => {
                tracing::debug!(target = %self.target, account, "account exists already");
                self.set_login_impl(account, login).await?;
            }
            Err(error) => return Err(ldap_error(&format!("adding account `{account}`"), error)),
        }
        // An add cannot record pwdChangedTime unless the policy ages passwords, so the
        // password is always set afterwards, with Password Modify.
        if let Some(credential) = credential {
            self.set_credential_impl(account, credential).await?;
        }
        Ok(())
    }

    /// Sets the password with the Password Modify extended operation (RFC 3062), so the
    /// server hashes it, unless the account's only password is this one already.
    ///
    /// slapd's ppolicy overlay removes `pwdAccountLockedTime` when an administrator sets a
    /// password, so a lock the account had is put back at once.
    ///
    /// NOTE: between the password change and the restored lock, a disabled account accepts
    /// a bind with the new password for the time of one modify operation.
    ///
    /// `pwdChangedTime` has whole seconds. When the change lands in the same second as the
    /// previous one, the recorded time would not move and the read-back could not show the
    /// rotation. The change is then made again after a one-second pause, so the recorded time
    /// always moves forward.
    pub(crate) async fn set_credential_impl(
        &self,
        account: &str,
        credential: &Secret,
    ) -> Result<(), ConnectorError> {
        dn::check_account_name(account)?;
        let account_dn = self.account_dn(account);
        let before = {
            let mut ldap = self.admin().await?;
            let before = read::read_account(&mut ldap, account, &account_dn)
                .await?
                .ok_or_else(|| {
                    ConnectorError::new(
                        ErrorKind::Invalid,
                        format!("account `{account}` does not exist"),
                    )
                })?;
            if holds_only(&before, credential) {
                tracing::debug!(target = %self.target, account, credential = %credential.fingerprint().short(), "credential unchanged: the account has it already");
                return Ok(());
            }
            self.change_password(&mut ldap, account, &account_dn, credential, &before)
                .await?;
            before
        };

        let after = {
            let mut ldap = self.admin().await?;
            read::read_account(&mut ldap, account, &account_dn).await?
        };
        let moved = match (before.changed_at, after.as_ref().and_then(|a| a.changed_at)) {
            (Some(previous), Some(current)) => current > previous,
            _ => true,
        };
        if !moved {
            tracing::debug!(target = %self.target, account, "password changed in the second of the previous change; changing it again after a pause");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let mut ldap = self.admin().await?;
            self.change_password(&mut ldap, account, &account_dn, credential, &before)
                .await?;
        }
        tracing::info!(target = %self.target, account, credential = %credential.fingerprint().short(), "credential set");
        Ok(())
    }

    /// Sends Password Modify for `account_dn`, then restores the lock it had in `before`.
    async fn change_password(
        &self,
        ldap: &mut Ldap,
        account: &str,
        account_dn: &str,
        credential: &Secret,
        before: &AccountEntry,
    ) -> Result<(), ConnectorError> {
        let request = PasswordModify {
            user_id: Some(account_dn),
            old_pass: None,
            // The server needs the new password itself to hash and store it.
            new_pass: Some(credential.expose()),
        };
        ldap.with_timeout(OPERATION_TIMEOUT)
            .extended(request)
            .await
            .and_then(|result| result.success())
            .map_err(|e| {
                let mut error = ldap_error(&format!("setting the password of `{account}`"), e);
                if error.kind == ErrorKind::Invalid {
                    error.message.push_str(
                        "; the entry needs an object class that allows userPassword, such as shadowAccount or simpleSecurityObject",
                    );
                }
                error
            })?;
        if !before.locked.is_empty() {
            let locks: HashSet<&str> = before.locked.iter().map(String::as_str).collect();
            checked(
                ldap.with_timeout(OPERATION_TIMEOUT)
                    .modify(account_dn, vec![Mod::Replace(LOCKED_TIME, locks)]),
            )
            .await
            .map_err(|e| ldap_error(&format!("restoring the lock of `{account}`"), e))?;
        }
        Ok(())
    }

    pub(crate) async fn set_login_impl(
        &self,
        account: &str,
        enabled: bool,
    ) -> Result<(), ConnectorError> {
        dn::check_account_name(account)?;
        let account_dn = self.account_dn(account);
        let change = if enabled {
            // Deleting the attribute without values removes every lock time.
            Mod::Delete(LOCKED_TIME, HashSet::new())
        } else {
            Mod::Replace(LOCKED_TIME, one(PERMANENT_LOCK))
        };
        let result = {
            let mut ldap = self.admin().await?;
            checked(
                ldap.with_timeout(OPERATION_TIMEOUT)
                    .modify(&account_dn, vec![change]),
            )
            .await
        };
        match result {
            Ok(_) => {}
            // Deleting a lock that is not there: login is enabled already.
            Err(error) if enabled && result_code(&error) == Some(code::NO_SUCH_ATTRIBUTE) => {}
            Err(error) if result_code(&error) == Some(code::NO_SUCH_OBJECT) => {
                return Err(ConnectorError::with_source(
                    ErrorKind::Invalid,
                    format!("account `{account}` does not exist"),
                    error,
                ))
            }
            Err(error) => {
                let verb = if enabled { "unlocking" } else { "locking" };
                return Err(ldap_error(&format!("{verb} account `{account}`"), error));
            }
        }
        tracing::info!(target = %self.target, account, enabled, "login set");
        Ok(())
    }

    pub(crate) async fn grant_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        dn::check_account_name(account)?;
        let group = membership_group(entitlement)?;
        let account_dn = self.account_dn(account);
        let mut ldap = self.admin().await?;
        // A member value is only a DN, so the server would accept one for a missing account.
        if read::read_account(&mut ldap, account, &account_dn)
            .await?
            .is_none()
        {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("account `{account}` does not exist"),
            ));
        }

        let added = checked(
            ldap.with_timeout(OPERATION_TIMEOUT)
                .modify(group, vec![Mod::Add(MEMBER, one(account_dn.as_str()))]),
        )
        .await;
        match added {
            Ok(_) => tracing::info!(target = %self.target, account, group, "membership granted"),
            Err(error) if result_code(&error) == Some(code::ATTRIBUTE_OR_VALUE_EXISTS) => {
                tracing::debug!(target = %self.target, account, group, "membership held already");
            }
            Err(error) => return Err(group_error("adding", account, group, error)),
        }

        // The group has a real member now, so a placeholder left by an earlier revoke can go.
        let removed = checked(
            ldap.with_timeout(OPERATION_TIMEOUT)
                .modify(group, vec![Mod::Delete(MEMBER, one(PLACEHOLDER_MEMBER))]),
        )
        .await;
        match removed {
            Ok(_) => {
                tracing::debug!(target = %self.target, group, "empty-group placeholder removed")
            }
            Err(error) if result_code(&error) == Some(code::NO_SUCH_ATTRIBUTE) => {}
            Err(error) => {
                return Err(ldap_error(
                    &format!("removing the empty-group placeholder from `{group}`"),
                    error,
                ))
            }
        }
        Ok(())
    }

    pub(crate) async fn revoke_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        dn::check_account_name(account)?;
        let group = membership_group(entitlement)?;
        let account_dn = self.account_dn(account);
        let mut ldap = self.admin().await?;
        remove_member(&mut ldap, group, &account_dn).await?;
        tracing::info!(target = %self.target, account, group, "membership revoked");
        Ok(())
    }

    pub(crate) async fn delete_account_impl(&self, account: &str) -> Result<(), ConnectorError> {
        dn::check_account_name(account)?;
        let account_dn = self.account_dn(account);
        let mut ldap = self.admin().await?;
        // Memberships are removed first, so no group keeps a member that names nothing. They
        // are searched for even when the entry is gone, which cleans up after a delete that
        // stopped midway.
        let suffix = read::naming_context(&mut ldap, &self.base).await?;
        for group in read::groups_of(&mut ldap, &suffix, &account_dn).await? {
            remove_member(&mut ldap, &group, &account_dn).await?;
            tracing::debug!(target = %self.target, account, group, "membership removed before the delete");
        }

        let deleted = checked(ldap.with_timeout(OPERATION_TIMEOUT).delete(&account_dn)).await;
        match deleted {
            Ok(_) => tracing::info!(target = %self.target, account, "account deleted"),
            Err(error) if result_code(&error) == Some(code::NO_SUCH_OBJECT) => {
                tracing::debug!(target = %self.target, account, "delete skipped: account does not exist");
            }
            Err(error) if result_code(&error) == Some(code::NOT_ALLOWED_ON_NON_LEAF) => {
                return Err(ConnectorError::with_source(
                    ErrorKind::Conflict,
                    format!("account `{account}` has entries below it, so it cannot be deleted"),
                    error,
                ))
            }
            Err(error) => return Err(ldap_error(&format!("deleting account `{account}`"), error)),
        }
        Ok(())
    }
}

/// Checks whether the account's only password is `credential`. An account with several passwords is
/// changed, which leaves it with one. A hash this crate cannot check counts as different, so
/// the password is set again.
fn holds_only(entry: &AccountEntry, credential: &Secret) -> bool {
    match entry.passwords.as_slice() {
        // The stored hash is checked against the value itself, so a repeated call changes
        // nothing.
        [stored] => hash::matches(stored, credential.expose()) == Some(true),
        _ => false,
    }
}

/// Returns the group DN of a membership. Any other kind of entitlement is invalid here.
fn membership_group(entitlement: &Entitlement) -> Result<&str, ConnectorError> {
    match entitlement {
        Entitlement::Membership { group } => {
            dn::check_dn("group DN", group)?;
            Ok(group)
        }
        other => Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("LDAP accounts hold only group memberships, not {other}"),
        )),
    }
}

/// Removes `account_dn` from the members of `group`. Removing a member that is not there, or
/// from a group that does not exist, succeeds. The last member is replaced by
/// [`PLACEHOLDER_MEMBER`] in the same modify, because a groupOfNames without members violates
/// its object class.
async fn remove_member(
    ldap: &mut Ldap,
    group: &str,
    account_dn: &str,
) -> Result<(), ConnectorError> {
    let removed = checked(
        ldap.with_timeout(OPERATION_TIMEOUT)
            .modify(group, vec![Mod::Delete(MEMBER, one(account_dn))]),
    )
    .await;
    let error = match removed {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    match result_code(&error) {
        // Not a member, or no such group: the membership is not held.
        Some(code::NO_SUCH_ATTRIBUTE) | Some(code::NO_SUCH_OBJECT) => Ok(()),
        Some(code::OBJECT_CLASS_VIOLATION) => {
            let replaced = checked(ldap.with_timeout(OPERATION_TIMEOUT).modify(
                group,
                vec![
                    Mod::Delete(MEMBER, one(account_dn)),
                    Mod::Add(MEMBER, one(PLACEHOLDER_MEMBER)),
                ],
            ))
            .await;
            replaced
                .map(|_| ())
                .map_err(|e| group_error("replacing the last member", account_dn, group, e))
        }
        _ => Err(group_error("removing", account_dn, group, error)),
    }
}

/// Converts a failed change of `group`'s members, with a clearer message for a group that is
/// missing or is not a groupOfNames.
fn group_error(doing: &str, account: &str, group: &str, error: LdapError) -> ConnectorError {
    match result_code(&error) {
        Some(code::NO_SUCH_OBJECT) => ConnectorError::with_source(
            ErrorKind::Invalid,
            format!("group `{group}` does not exist"),
            error,
        ),
        Some(code::OBJECT_CLASS_VIOLATION) | Some(code::UNDEFINED_ATTRIBUTE_TYPE) => {
            ConnectorError::with_source(
                ErrorKind::Invalid,
                format!(
                    "`{group}` is not a {} group, so it has no `{MEMBER}`",
                    read::GROUP_CLASS
                ),
                error,
            )
        }
        _ => ldap_error(&format!("{doing} member `{account}` of `{group}`"), error),
    }
}
