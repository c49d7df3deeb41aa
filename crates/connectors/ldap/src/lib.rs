//! The OpenLDAP connector: service-account entries as accounts, groupOfNames memberships as
//! entitlements, `userPassword` as the credential, and the ppolicy overlay's lock as the login
//! flag.
//!
//! # Entries
//!
//! An account is the entry `uid=<name>,<base>`, where the base is the target's `database`
//! (such as `ou=services,dc=enact,dc=test`). Every entry directly below the base whose RDN is
//! `uid` is in scope. Accounts that enact creates have the object classes `account`
//! (cosine.schema) and `shadowAccount` (nis.schema): the second is the auxiliary class in the
//! standard schemas that allows `userPassword` without requiring it, so an account can exist
//! without a password. No `shadow*` attribute is set. Entries made by other tools with
//! `simpleSecurityObject` in place of `shadowAccount` work the same.
//!
//! - **Entitlements** are [`Entitlement::Membership`] values whose `group` is the full DN of a
//!   groupOfNames anywhere in the naming context that contains the base. The account's DN is
//!   a `member` value of the group. Observed groups are named by their DN as the server
//!   returns it, so a policy must write each group DN in that form to avoid reported drift.
//!   A groupOfNames needs at least one member, so revoking the last one replaces it with the
//!   empty DN in the same modify, and the next grant removes that placeholder again. No other
//!   kind of entitlement, and no setting, applies.
//! - **Credentials** are `userPassword` values, set with the Password Modify extended
//!   operation (RFC 3062) so the server hashes them. `credential_set_at` is the ppolicy
//!   overlay's `pwdChangedTime`, and `extra_credentials` counts the `userPassword` values
//!   beyond the first.
//! - **Login** is disabled by `pwdAccountLockedTime: 000001010000Z`, which the ppolicy overlay
//!   treats as a lock without end, and enabled by removing that attribute. Any
//!   `pwdAccountLockedTime` value, such as a lockout after failed binds, reads as login
//!   disabled.
//! - **Sessions** are not supported: a simple bind opens no session that slapd lists per
//!   account or lets an administrator end. [`Capabilities::sessions`] is false,
//!   `list_sessions` returns none once the server accepts the admin bind, and `end_sessions` ends none.
//! - **Owned objects** do not exist: an entry owns nothing that a delete must hand over, so
//!   the `owned_objects` rule of a delete is not used.
//!
//! # What the server needs (OpenLDAP 2.5)
//!
//! - The ppolicy overlay with a default policy that sets `pwdLockout: TRUE`: slapd 2.5 ignores
//!   `pwdAccountLockedTime` while `pwdLockout` is FALSE. `pwdMaxFailure: 0` keeps failed binds
//!   from locking accounts.
//! - `ppolicy_use_lockout`, so a bind to a locked account carries the accountLocked error in
//!   the password policy response control. Without it a probe of a locked account reports an
//!   invalid credential, because both binds get result 49. The slapo-ppolicy manual notes
//!   that the lock error tells an attacker which accounts are locked, so a site may choose
//!   to leave it off and lose this proof.
//! - A size limit for the admin that covers every account and group, because a search cut
//!   short by the limit fails the observation.
//!
//! # Rights the admin entry needs
//!
//! `scripts/ldap.sh` binds the connector as `cn=enact-admin,dc=enact,dc=test` and grants it
//! exactly these rights with `access` rules, each needed by an operation here:
//!
//! - `read` on the root DSE, to find the naming context that contains the base.
//! - `write` on the base's `children`, to add and delete account entries.
//! - `write` on the entries below the base, all attributes: to add them, lock and unlock them
//!   (`pwdAccountLockedTime`), set `userPassword` with Password Modify and read its hashes,
//!   which serve to count extra passwords and to skip setting a password the account has.
//! - `write` on `member` and `read` on the rest of every groupOfNames entry, and `search` on
//!   the entries above the groups, to find and change memberships.
//!
//! Every `userPassword` also needs `auth` for anonymous clients, so accounts can bind.
//!
//! # Connections
//!
//! Change operations share one admin connection, opened on first use and opened again once it
//! closes; they run one at a time. `observe`, `read_account`, `list_sessions` and
//! `probe_login` open a new connection for each call. Only `ldap://` without TLS is supported.

mod change;
mod conn;
mod dn;
mod hash;
mod ppolicy;
mod read;
mod time;

use async_trait::async_trait;
use conn::{close, code, ldap_error, Endpoint, OPERATION_TIMEOUT};
use enact_connector::{Capabilities, Connector, ConnectorError, ErrorKind, LoginProbe, Rejection};
use enact_model::{
    Clock, Entitlement, FingerprintKey, ObservedAccount, ObservedSession, OwnedObjects, Secret,
    SessionSelector, SystemClock, Target, TargetId, TargetObservation, Timestamp,
};
use ldap3::{Ldap, LdapResult};
use ppolicy::PolicyResponse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

pub use change::{PERMANENT_LOCK, PLACEHOLDER_MEMBER};

/// A connector to the service accounts below one base DN of an LDAP server, acting as an admin
/// entry.
pub struct LdapConnector {
    target: TargetId,
    endpoint: Endpoint,
    /// The DN the accounts are directly below.
    base: String,
    admin_dn: String,
    admin_password: Secret,
    /// The shared connection for change operations; `None` until first use.
    admin: Mutex<Option<Ldap>>,
}

impl fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConnector")
            .field("target", &self.target)
            .field("url", &self.endpoint.url())
            .field("base", &self.base)
            .field("admin_dn", &self.admin_dn)
            .finish_non_exhaustive()
    }
}

impl LdapConnector {
    /// Builds a connector for `target`, whose endpoint is the server's `ldap://host:port` URL,
    /// whose database is the DN the accounts are below, and whose admin user is the DN to bind
    /// as. No connection is opened until the first operation.
    ///
    /// Every connector takes `key`, so all are built alike. This one computes no fingerprints,
    /// because each [`Secret`] it receives already carries its own.
    pub fn new(
        target: &Target,
        admin_password: Secret,
        _key: FingerprintKey,
    ) -> Result<Self, ConnectorError> {
        let base = target.database.clone().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!(
                    "target `{}` names no base DN for its accounts (`database`)",
                    target.id
                ),
            )
        })?;
        dn::check_dn("accounts base DN", &base)?;
        let admin_dn = target.admin_user.clone().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("target `{}` names no admin DN (`admin_user`)", target.id),
            )
        })?;
        dn::check_dn("admin DN", &admin_dn)?;
        Ok(LdapConnector {
            target: target.id.clone(),
            endpoint: Endpoint::parse(&target.endpoint)?,
            base,
            admin_dn,
            admin_password,
            admin: Mutex::new(None),
        })
    }

    /// Builds the DN of `account`.
    fn account_dn(&self, account: &str) -> String {
        dn::account_dn(account, &self.base)
    }

    /// Opens a new connection bound as the admin, for one read.
    async fn fresh_admin(&self) -> Result<Ldap, ConnectorError> {
        // The admin password is needed to authenticate the new connection.
        let password = self.admin_password.expose();
        self.endpoint.bind(&self.admin_dn, password).await
    }

    /// Locks the shared admin connection for changes, opening it again if it closed. Holding the guard
    /// keeps other changes waiting.
    async fn admin(&self) -> Result<MappedMutexGuard<'_, Ldap>, ConnectorError> {
        let mut slot = self.admin.lock().await;
        let open = slot.as_mut().is_some_and(|ldap| !ldap.is_closed());
        if !open {
            *slot = Some(self.fresh_admin().await?);
        }
        MutexGuard::try_map(slot, Option::as_mut)
            .map_err(|_| ConnectorError::new(ErrorKind::Other, "the admin connection is missing"))
    }

    /// Reads every account below the base with its memberships, on `ldap`.
    async fn read_all(
        &self,
        ldap: &mut Ldap,
    ) -> Result<BTreeMap<String, ObservedAccount>, ConnectorError> {
        let suffix = read::naming_context(ldap, &self.base).await?;
        let mut entries = read::read_accounts(ldap, &self.base).await?;
        // The admin entry is never in scope, even where it lives below the base.
        if let Some(name) = dn::account_name(&self.admin_dn) {
            if dn::normalize(&self.account_dn(&name)) == dn::normalize(&self.admin_dn) {
                entries.remove(&name);
            }
        }
        let names: HashMap<String, &String> = entries
            .keys()
            .map(|name| (dn::normalize(&self.account_dn(name)), name))
            .collect();
        let mut memberships: HashMap<&String, BTreeSet<String>> = HashMap::new();
        for (group, members) in read::all_groups(ldap, &suffix).await? {
            for member in members {
                if let Some(name) = names.get(&dn::normalize(&member)) {
                    memberships.entry(*name).or_default().insert(group.clone());
                }
            }
        }
        Ok(entries
            .iter()
            .map(|(name, entry)| {
                let groups = memberships.remove(name).unwrap_or_default();
                (name.clone(), entry.observed(name, groups))
            })
            .collect())
    }

    async fn probe_login_inner(&self, account: &str, credential: &Secret) -> LoginProbe {
        if let Err(error) = dn::check_account_name(account) {
            return LoginProbe::Unavailable {
                reason: error.message,
            };
        }
        // The probe must present the password itself to learn whether the server accepts it.
        let password = credential.expose();
        if password.is_empty() {
            // A simple bind with an empty password is an unauthenticated bind (RFC 4513),
            // which proves nothing about the account.
            return LoginProbe::Unavailable {
                reason: "an empty password cannot be probed: the bind would be unauthenticated"
                    .to_string(),
            };
        }
        let account_dn = self.account_dn(account);
        let mut ldap = match self.endpoint.connect().await {
            Ok(ldap) => ldap,
            Err(error) => {
                return LoginProbe::Unavailable {
                    reason: ldap_error(&format!("connecting to `{}`", self.endpoint.url()), error)
                        .message,
                }
            }
        };
        let result = ldap
            .with_controls(ppolicy::request())
            .with_timeout(OPERATION_TIMEOUT)
            .simple_bind(&account_dn, password)
            .await;
        let outcome = match result {
            Ok(LdapResult { rc: 0, .. }) => LoginProbe::Accepted,
            Ok(result) if result.rc == code::INVALID_CREDENTIALS => {
                match ppolicy::response(&result.ctrls) {
                    PolicyResponse::Present {
                        error: Some(ppolicy::ACCOUNT_LOCKED),
                    } => LoginProbe::Rejected(Rejection::LoginDisabled),
                    PolicyResponse::Malformed => LoginProbe::Unavailable {
                        reason: format!(
                            "the bind as `{account}` was rejected, with a password policy control that could not be decoded"
                        ),
                    },
                    // No control, or one without the lock error: a wrong password, or an
                    // account that does not exist, which LDAP reports the same way.
                    _ => LoginProbe::Rejected(Rejection::InvalidCredential),
                }
            }
            Ok(result) => LoginProbe::Unavailable {
                reason: ldap_error(
                    &format!("binding as `{account}`"),
                    ldap3::LdapError::LdapResult { result },
                )
                .message,
            },
            Err(error) => LoginProbe::Unavailable {
                reason: ldap_error(&format!("binding as `{account}`"), error).message,
            },
        };
        close(ldap).await;
        outcome
    }
}

#[async_trait]
impl Connector for LdapConnector {
    fn target(&self) -> &TargetId {
        &self.target
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            credential_age: true,
            login_probe: true,
            sessions: false,
        }
    }

    /// Reads every account below the base: all are in scope, declared or not, except the
    /// admin entry.
    async fn observe(&self, _declared: &[String]) -> Result<TargetObservation, ConnectorError> {
        let mut ldap = self.fresh_admin().await?;
        let observed_at = SystemClock.now();
        let accounts = self.read_all(&mut ldap).await;
        close(ldap).await;
        let accounts = accounts?;
        tracing::debug!(target = %self.target, accounts = accounts.len(), "observed");
        Ok(TargetObservation {
            target: self.target.clone(),
            observed_at,
            accounts,
        })
    }

    async fn read_account(&self, account: &str) -> Result<Option<ObservedAccount>, ConnectorError> {
        dn::check_account_name(account)?;
        let account_dn = self.account_dn(account);
        let mut ldap = self.fresh_admin().await?;
        let read = async {
            let Some(entry) = read::read_account(&mut ldap, account, &account_dn).await? else {
                return Ok(None);
            };
            let suffix = read::naming_context(&mut ldap, &self.base).await?;
            let groups = read::groups_of(&mut ldap, &suffix, &account_dn).await?;
            Ok::<_, ConnectorError>(Some(entry.observed(account, groups)))
        }
        .await;
        close(ldap).await;
        tracing::debug!(target = %self.target, account, "account read");
        read
    }

    /// Returns no sessions, because the server lists none per account. It still binds on a
    /// new connection, so an unreachable server is an error here as in every other read.
    async fn list_sessions(&self, account: &str) -> Result<Vec<ObservedSession>, ConnectorError> {
        dn::check_account_name(account)?;
        let ldap = self.fresh_admin().await?;
        close(ldap).await;
        Ok(Vec::new())
    }

    async fn create_account(
        &self,
        account: &str,
        login: bool,
        settings: &BTreeMap<String, String>,
        credential: Option<&Secret>,
        _now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.configure(account, settings).await?;
        self.create_account_impl(account, login, credential).await
    }

    async fn configure(
        &self,
        account: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), ConnectorError> {
        // LDAP accounts have no configuration keys that enact manages.
        match settings.keys().next() {
            None => Ok(()),
            Some(key) => Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("account `{account}`: LDAP accounts have no setting `{key}`"),
            )),
        }
    }

    async fn grant(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        self.grant_impl(account, entitlement).await
    }

    async fn revoke(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        self.revoke_impl(account, entitlement).await
    }

    /// Sets the password. The server records its own time in `pwdChangedTime`, so `now` is
    /// not used.
    async fn set_credential(
        &self,
        account: &str,
        credential: &Secret,
        _now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.set_credential_impl(account, credential).await
    }

    async fn set_login(&self, account: &str, enabled: bool) -> Result<(), ConnectorError> {
        self.set_login_impl(account, enabled).await
    }

    /// Ends no session, because a simple bind leaves none that the server can end.
    async fn end_sessions(
        &self,
        account: &str,
        _selector: &SessionSelector,
        _now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        tracing::debug!(target = %self.target, account, "end sessions: LDAP binds leave no sessions to end");
        Ok(Vec::new())
    }

    async fn delete_account(
        &self,
        account: &str,
        _owned: &OwnedObjects,
    ) -> Result<(), ConnectorError> {
        self.delete_account_impl(account).await
    }

    async fn probe_login(&self, account: &str, credential: &Secret) -> LoginProbe {
        let outcome = self.probe_login_inner(account, credential).await;
        tracing::debug!(
            target = %self.target,
            account,
            credential = %credential.fingerprint().short(),
            outcome = ?outcome,
            "login probed"
        );
        outcome
    }
}
