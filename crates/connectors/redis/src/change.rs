//! Change operations, run on the connector's one admin connection.

use crate::connect::redis_error;
use crate::read::{self, CREDENTIAL_SET_AT_KEY};
use crate::rules::{check_rule, rule_of, AclUser, Rules};
use crate::sessions::ClientEntry;
use crate::{check_user_name, password_hash, RedisConnector};
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{Entitlement, ObservedSession, Secret, SessionSelector, Timestamp};
use redis::aio::MultiplexedConnection;
use redis::{Cmd, Value};

impl RedisConnector {
    /// Returns a handle to the shared admin connection, opening it when there is none.
    /// A multiplexed connection is a cheap handle, so callers run commands on a clone.
    async fn admin_connection(&self) -> Result<MultiplexedConnection, ConnectorError> {
        let mut slot = self.admin.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self.fresh_admin().await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the shared connection after a transient `error`, which means it broke, so the
    /// next operation opens a new one.
    async fn drop_if_broken(&self, error: &ConnectorError) {
        if error.is_transient() {
            tracing::debug!(target = %self.target, %error, "admin connection dropped");
            *self.admin.lock().await = None;
        }
    }

    /// Runs one command on the admin connection.
    async fn admin_run<T: redis::FromRedisValue>(
        &self,
        doing: &str,
        command: &Cmd,
    ) -> Result<T, ConnectorError> {
        let mut connection = self.admin_connection().await?;
        let result = command
            .query_async(&mut connection)
            .await
            .map_err(|e| redis_error(doing, e));
        if let Err(error) = &result {
            self.drop_if_broken(error).await;
        }
        result
    }

    /// Reads one user on the admin connection.
    async fn admin_user(&self, account: &str) -> Result<Option<AclUser>, ConnectorError> {
        let mut connection = self.admin_connection().await?;
        let result = read::read_user(&mut connection, account).await;
        if let Err(error) = &result {
            self.drop_if_broken(error).await;
        }
        result
    }

    /// Reads one user on the admin connection; a missing user is an error.
    async fn require_user(&self, account: &str) -> Result<AclUser, ConnectorError> {
        self.admin_user(account).await?.ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("Redis user `{account}` does not exist"),
            )
        })
    }

    /// Reads the server clock and the clients of `account` on the admin connection.
    pub(crate) async fn admin_clients(
        &self,
        account: &str,
    ) -> Result<(Timestamp, Vec<ClientEntry>), ConnectorError> {
        let mut connection = self.admin_connection().await?;
        let result = read::read_clients(&mut connection, account).await;
        if let Err(error) = &result {
            self.drop_if_broken(error).await;
        }
        result
    }

    /// Runs `ACL SETUSER account args...`.
    async fn set_user(
        &self,
        account: &str,
        args: &[String],
        doing: &str,
    ) -> Result<(), ConnectorError> {
        let mut command = redis::cmd("ACL");
        command.arg("SETUSER").arg(account);
        for arg in args {
            command.arg(arg);
        }
        match self
            .admin_run::<Value>(&format!("{doing} for user `{account}`"), &command)
            .await
        {
            Ok(_) => Ok(()),
            // Redis returns ERR for a rule it cannot apply, such as an unknown command or a
            // pattern added after `~*`; nothing changed, and retrying cannot help.
            Err(mut error) if error.kind == ErrorKind::Other => {
                error.kind = ErrorKind::Invalid;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Records `now` as the time the password of `account` was set.
    async fn record_set_time(&self, account: &str, now: Timestamp) -> Result<(), ConnectorError> {
        let mut command = redis::cmd("HSET");
        command.arg(CREDENTIAL_SET_AT_KEY).arg(account).arg(now.0);
        self.admin_run::<Value>(
            &format!("recording the credential set time of `{account}`"),
            &command,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn create_account_impl(
        &self,
        account: &str,
        login: bool,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        let mut args = vec![login_flag(login).to_string()];
        if let Some(secret) = credential {
            args.extend(password_args(secret)?);
        }
        // ACL SETUSER creates a missing user and changes an existing one, so a create that
        // is run again, or that meets an existing user, converges on the same state.
        self.set_user(account, &args, "creating the user").await?;
        if credential.is_some() {
            self.record_set_time(account, now).await?;
        }
        tracing::debug!(target = %self.target, account, login, "account created");
        Ok(())
    }

    pub(crate) async fn set_credential_impl(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        self.require_user(account).await?;
        // The password is set before its time is recorded: a failure in between leaves an
        // older record, which overstates the age and never understates it.
        self.set_user(account, &password_args(credential)?, "setting the password")
            .await?;
        self.record_set_time(account, now).await?;
        tracing::debug!(
            target = %self.target,
            account,
            credential = %credential.fingerprint().short(),
            "credential set"
        );
        Ok(())
    }

    /// Adds `credential` beside the user's passwords, for a dual rotation.
    pub(crate) async fn add_credential_impl(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        self.require_user(account).await?;
        let mut args = password_args(credential)?;
        // Without `resetpass`, `#hash` adds the password to the ones the user has.
        args.retain(|arg| arg != "resetpass");
        self.set_user(account, &args, "adding a password").await?;
        self.record_set_time(account, now).await
    }

    /// Leaves `keep` as the user's only password, ending a dual rotation. It is the same
    /// command as setting the password, so keeping a password the user lacks sets it.
    pub(crate) async fn retire_others_impl(
        &self,
        account: &str,
        keep: &Secret,
    ) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        self.require_user(account).await?;
        self.set_user(account, &password_args(keep)?, "retiring other passwords")
            .await
    }

    pub(crate) async fn set_login_impl(
        &self,
        account: &str,
        enabled: bool,
    ) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        self.require_user(account).await?;
        self.set_user(
            account,
            &[login_flag(enabled).to_string()],
            "changing the login flag",
        )
        .await?;
        if !enabled {
            // `off` refuses new AUTH only; connections already authenticated keep working.
            let mut command = redis::cmd("CLIENT");
            command.arg("KILL").arg("USER").arg(account);
            let killed: i64 = self
                .admin_run(&format!("ending the connections of `{account}`"), &command)
                .await?;
            tracing::debug!(target = %self.target, account, killed, "connections ended");
        }
        tracing::debug!(target = %self.target, account, enabled, "login flag set");
        Ok(())
    }

    pub(crate) async fn grant_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        let rule = rule_of(entitlement)?;
        check_rule(rule)?;
        let before = self.require_user(account).await?;
        if before.rules.contains(rule) {
            return Ok(());
        }
        self.set_user(account, &[rule.to_string()], &format!("granting `{rule}`"))
            .await?;
        let mut expected = before.rules.entitlements();
        expected.insert(entitlement.clone());
        self.expect_rules(
            account,
            &before.rules,
            &expected,
            &format!("adding `{rule}`"),
        )
        .await?;
        tracing::debug!(target = %self.target, account, rule, "granted");
        Ok(())
    }

    pub(crate) async fn revoke_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        let rule = rule_of(entitlement)?;
        let Some(before) = self.admin_user(account).await? else {
            tracing::debug!(target = %self.target, account, "revoke skipped: user does not exist");
            return Ok(());
        };
        if !before.rules.contains(rule) {
            return Ok(());
        }
        let remaining = before.rules.without(rule);
        self.set_user(
            account,
            &remaining.replacement_args(),
            &format!("revoking `{rule}`"),
        )
        .await?;
        self.expect_rules(
            account,
            &before.rules,
            &remaining.entitlements(),
            &format!("removing `{rule}`"),
        )
        .await?;
        tracing::debug!(target = %self.target, account, rule, "revoked");
        Ok(())
    }

    /// Reads the user back after a change and, unless its rules are exactly `expected`,
    /// restores `before` and fails: Redis rewrote the rules, so the change would never read
    /// back as made.
    async fn expect_rules(
        &self,
        account: &str,
        before: &Rules,
        expected: &std::collections::BTreeSet<Entitlement>,
        change: &str,
    ) -> Result<(), ConnectorError> {
        let after = self.require_user(account).await?;
        if after.rules.entitlements() == *expected {
            return Ok(());
        }
        let stored = after.rules.describe();
        self.set_user(account, &before.replacement_args(), "restoring the rules")
            .await?;
        Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!(
                "Redis stores the rules of `{account}` as `{stored}` after {change}, so the change would not read back; the change was undone. Declare the rules as `ACL LIST` prints them"
            ),
        ))
    }

    pub(crate) async fn end_sessions_impl(
        &self,
        account: &str,
        selector: &SessionSelector,
        now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        check_user_name(account)?;
        let (server_now, clients) = self.admin_clients(account).await?;
        let chosen: Vec<(u64, ObservedSession)> = clients
            .iter()
            .map(|client| (client.id, client.to_session(server_now)))
            .filter(|(_, session)| selector.matches(session.started_at, session.idle_since, now))
            .collect();
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for (id, _) in &chosen {
            pipeline.cmd("CLIENT").arg("KILL").arg("ID").arg(*id);
        }
        let mut connection = self.admin_connection().await?;
        // Each reply is the number of clients killed; 0 for one that closed meanwhile.
        let killed: Result<Vec<i64>, ConnectorError> = pipeline
            .query_async(&mut connection)
            .await
            .map_err(|e| redis_error(&format!("ending sessions of `{account}`"), e));
        if let Err(error) = &killed {
            self.drop_if_broken(error).await;
        }
        killed?;

        // CLIENT KILL frees a client before it replies, so none may remain.
        let (_, remaining) = self.admin_clients(account).await?;
        let still_open: Vec<String> = chosen
            .iter()
            .filter(|(id, _)| remaining.iter().any(|client| client.id == *id))
            .map(|(id, _)| id.to_string())
            .collect();
        if !still_open.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "clients {} of `{account}` are still connected after CLIENT KILL",
                    still_open.join(", ")
                ),
            ));
        }
        tracing::debug!(target = %self.target, account, ended = chosen.len(), "sessions ended");
        Ok(chosen.into_iter().map(|(_, session)| session).collect())
    }

    pub(crate) async fn delete_account_impl(&self, account: &str) -> Result<(), ConnectorError> {
        self.check_managed(account)?;
        // ACL DELUSER also closes the user's connections, and returns 0 for a missing user.
        let mut delete = redis::cmd("ACL");
        delete.arg("DELUSER").arg(account);
        let deleted: i64 = self
            .admin_run(&format!("deleting user `{account}`"), &delete)
            .await?;
        let mut forget = redis::cmd("HDEL");
        forget.arg(CREDENTIAL_SET_AT_KEY).arg(account);
        let _: i64 = self
            .admin_run(
                &format!("removing the credential record of `{account}`"),
                &forget,
            )
            .await?;
        tracing::debug!(target = %self.target, account, existed = deleted > 0, "account deleted");
        Ok(())
    }
}

/// The ACL flag for a login state.
fn login_flag(enabled: bool) -> &'static str {
    if enabled {
        "on"
    } else {
        "off"
    }
}

/// The `ACL SETUSER` arguments that leave `credential` as the user's only password. They send
/// its SHA-256, so the cleartext never reaches the server, its logs or `MONITOR`.
fn password_args(credential: &Secret) -> Result<Vec<String>, ConnectorError> {
    if credential.expose().is_empty() {
        // Only emptiness is checked here; the value itself is never shown.
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            "an empty password cannot be set",
        ));
    }
    Ok(vec![
        "resetpass".to_string(),
        format!("#{}", password_hash(credential)),
    ])
}
