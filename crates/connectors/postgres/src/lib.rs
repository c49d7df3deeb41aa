//! The PostgreSQL connector: login roles as accounts, role memberships and object privileges
//! as entitlements, SCRAM-SHA-256 passwords as credentials, and backends as sessions.
//!
//! # Rights the admin role needs (PostgreSQL 15)
//!
//! The admin role need not be a superuser. `scripts/pg.sh` creates `enact_admin` with exactly
//! these rights, each found necessary by trying the operation without it:
//!
//! - `LOGIN CREATEROLE`: create, alter and drop non-superuser roles, set their passwords and
//!   login flags, and grant or revoke membership in any non-superuser role. Roles with the
//!   SUPERUSER, REPLICATION or BYPASSRLS attribute cannot be changed (SQLSTATE 42501, reported
//!   as [`ErrorKind::Denied`]).
//! - Membership in `pg_read_all_stats`: read `state`, `client_addr` and the other columns of
//!   other roles' rows in `pg_stat_activity`.
//! - Membership in `pg_signal_backend`: end other roles' sessions with `pg_terminate_backend`.
//! - `GRANT SET ON PARAMETER enact.credential_set_at`: in PostgreSQL 15 only a superuser or a
//!   role granted SET on it may store a custom setting with `ALTER ROLE ... SET`. The
//!   connector records each password's set time in that per-role setting, because PostgreSQL
//!   records none.
//! - Ownership of the database, or the grant option on every object whose privileges it
//!   manages. Without it GRANT and REVOKE only warn (SQLSTATE 01007 and 01006) and change
//!   nothing; the connector turns those warnings into [`ErrorKind::Denied`]. In PostgreSQL 15
//!   the database owner also controls the `public` schema, which `pg_database_owner` owns.
//!
//! Deleting a role needs membership in it and in the role that receives its objects, because
//! REASSIGN OWNED and DROP OWNED require both. A CREATEROLE admin grants itself those
//! memberships inside the deleting transaction, so they never outlive it.
//!
//! # Connections
//!
//! Change operations share one admin connection, opened on first use and opened again when it
//! closes; they run one at a time. `observe`, `read_account`, `list_sessions` and
//! `probe_login` open a new connection for each call. Only plain TCP without TLS is
//! supported.
//!
//! NOTE: the recorded credential set time is written only by this connector. A password
//! changed by other means keeps the older record, so its age is overstated until the next
//! rotation through enact.

mod alternating;
mod change;
mod connect;
mod read;
mod sql;

use async_trait::async_trait;
use connect::Endpoint;
use enact_connector::{Capabilities, Connector, ConnectorError, ErrorKind, LoginProbe, Rejection};
use enact_model::{
    Entitlement, FingerprintKey, ObservedAccount, ObservedSession, OwnedObjects, Secret,
    SessionSelector, Target, TargetId, TargetObservation, Timestamp,
};
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;

pub use read::CREDENTIAL_SET_AT;

/// A connector to one PostgreSQL database, acting as a CREATEROLE admin role.
pub struct PostgresConnector {
    target: TargetId,
    endpoint: Endpoint,
    admin_user: String,
    admin_password: Secret,
    /// The shared connection for change operations; `None` until first use or after it broke.
    admin: Mutex<Option<connect::NoticedClient>>,
    /// Fingerprints the password inside an alternating-users credential.
    key: FingerprintKey,
}

impl PostgresConnector {
    /// Builds a connector for `target`, which names the server as `host:port`, the database
    /// and the admin role. No connection is opened until the first operation.
    ///
    /// `key` fingerprints the password inside an alternating-users credential, which the
    /// connector splits out of the delivered value.
    pub fn new(
        target: &Target,
        admin_password: Secret,
        key: FingerprintKey,
    ) -> Result<Self, ConnectorError> {
        let database = target.database.as_deref().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("target `{}` names no database", target.id),
            )
        })?;
        sql::check_name("database", database)?;
        let admin_user = target.admin_user.clone().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("target `{}` names no admin user", target.id),
            )
        })?;
        sql::check_name("admin role", &admin_user)?;
        Ok(PostgresConnector {
            target: target.id.clone(),
            endpoint: Endpoint::parse(&target.endpoint, database)?,
            admin_user,
            admin_password,
            admin: Mutex::new(None),
            key,
        })
    }

    /// Opens a new admin connection for one read.
    async fn fresh_admin_client(&self) -> Result<tokio_postgres::Client, ConnectorError> {
        // The admin password is needed to authenticate the new connection.
        let password = self.admin_password.expose();
        self.endpoint
            .connect(&self.admin_user, password)
            .await
            .map_err(|e| {
                e.into_connector_error(&format!(
                    "to {} as admin `{}`",
                    self.endpoint, self.admin_user
                ))
            })
    }
}

#[async_trait]
impl Connector for PostgresConnector {
    fn target(&self) -> &TargetId {
        &self.target
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            credential_age: true,
            login_probe: true,
            sessions: true,
        }
    }

    async fn observe(&self, declared: &[String]) -> Result<TargetObservation, ConnectorError> {
        let mut client = self.fresh_admin_client().await?;
        let snapshot = read::read_accounts(&mut client, read::Scope::Observe { declared }).await?;
        tracing::debug!(target = %self.target, accounts = snapshot.accounts.len(), "observed");
        Ok(TargetObservation {
            target: self.target.clone(),
            observed_at: snapshot.observed_at,
            accounts: snapshot.accounts,
        })
    }

    async fn read_account(&self, account: &str) -> Result<Option<ObservedAccount>, ConnectorError> {
        let mut client = self.fresh_admin_client().await?;
        let mut snapshot = read::read_accounts(&mut client, read::Scope::One(account)).await?;
        tracing::debug!(target = %self.target, account, "account read");
        Ok(snapshot.accounts.remove(account))
    }

    async fn list_sessions(&self, account: &str) -> Result<Vec<ObservedSession>, ConnectorError> {
        let client = self.fresh_admin_client().await?;
        // An alternating-users account's sessions are its users'.
        let oids = read::session_oids(&client, account).await?;
        let sessions = read::read_sessions(&client, &oids).await?;
        let mut all: Vec<ObservedSession> = sessions.into_values().flatten().collect();
        all.sort_by(|a, b| (a.started_at, a.id.as_str()).cmp(&(b.started_at, b.id.as_str())));
        Ok(all)
    }

    async fn sessions_before_change(
        &self,
        account: &str,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        // A read for the evidence of a change, not a verification, so the admin connection
        // serves and no new login is needed.
        let mut sessions = self.sessions_on_admin(account).await?;
        for user in self.alternates_of(account).await? {
            sessions.extend(self.sessions_on_admin(&user).await?);
        }
        Ok(sessions)
    }

    async fn create_account(
        &self,
        account: &str,
        login: bool,
        settings: &std::collections::BTreeMap<String, String>,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        match alternating::declared_users(account, settings)? {
            None => {
                self.create_account_impl(account, login, credential, now)
                    .await
            }
            Some(users) => {
                // The group holds the entitlements and never logs in; its users do.
                self.create_account_impl(account, false, None, now).await?;
                self.configure_alternates(account, &users, login).await?;
                if let Some(credential) = credential {
                    self.set_credential(account, credential, now).await?;
                }
                Ok(())
            }
        }
    }

    async fn configure(
        &self,
        account: &str,
        settings: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConnectorError> {
        // The only setting is `alternating_users`, the two login roles of a group account.
        match alternating::declared_users(account, settings)? {
            None => Ok(()),
            Some(users) => {
                self.require_role(account).await?;
                self.configure_alternates(account, &users, true).await
            }
        }
    }

    async fn grant(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        self.grant_impl(account, entitlement).await
    }

    async fn revoke(&self, account: &str, entitlement: &Entitlement) -> Result<(), ConnectorError> {
        self.revoke_impl(account, entitlement).await
    }

    async fn set_credential(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        if self.set_alternating(account, credential, now, true).await? {
            return Ok(());
        }
        self.set_credential_impl(account, credential, now).await
    }

    async fn add_credential(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        // Only an alternating-users account holds two passwords, one per user.
        if self
            .set_alternating(account, credential, now, false)
            .await?
        {
            return Ok(());
        }
        Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("role `{account}` holds one password at a time; rotate it with `strategy: alternating` to keep two"),
        ))
    }

    async fn retire_other_credentials(
        &self,
        account: &str,
        keep: &Secret,
        _now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.retire_alternates(account, keep).await
    }

    async fn set_login(&self, account: &str, enabled: bool) -> Result<(), ConnectorError> {
        let users = self.alternates_of(account).await?;
        if users.is_empty() {
            return self.set_login_impl(account, enabled).await;
        }
        for user in users {
            self.set_login_impl(&user, enabled).await?;
        }
        Ok(())
    }

    async fn end_sessions(
        &self,
        account: &str,
        selector: &SessionSelector,
        now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        let mut ended = self.end_sessions_impl(account, selector, now).await?;
        for user in self.alternates_of(account).await? {
            ended.extend(self.end_sessions_impl(&user, selector, now).await?);
        }
        Ok(ended)
    }

    async fn delete_account(
        &self,
        account: &str,
        owned: &OwnedObjects,
    ) -> Result<(), ConnectorError> {
        for user in self.alternates_of(account).await? {
            self.delete_account_impl(&user, owned).await?;
        }
        self.delete_account_impl(account, owned).await
    }

    async fn probe_login(&self, account: &str, credential: &Secret) -> LoginProbe {
        // An alternating-users credential logs in as the user it names.
        let split = enact_model::split_alternating_value(credential, &self.key);
        let (login_as, secret) = match &split {
            Some((user, password)) => (user.as_str(), password),
            None => (account, credential),
        };
        // The probe must present the credential itself to learn whether the server accepts it.
        let password = secret.expose();
        let outcome = match self.endpoint.connect(login_as, password).await {
            Ok(client) => {
                // Dropping the client sends Terminate and closes the session.
                drop(client);
                LoginProbe::Accepted
            }
            Err(error) => match error.code() {
                Some(code) if *code == SqlState::INVALID_PASSWORD => {
                    LoginProbe::Rejected(Rejection::InvalidCredential)
                }
                // 28000 is what a NOLOGIN role gets once its password has been checked.
                Some(code) if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                    LoginProbe::Rejected(Rejection::LoginDisabled)
                }
                _ => LoginProbe::Unavailable {
                    reason: error
                        .into_connector_error(&format!("to {} as `{account}`", self.endpoint))
                        .message,
                },
            },
        };
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
