//! The Redis 7 connector: ACL users as accounts, their ACL rules as entitlements, passwords as
//! credentials, and client connections as sessions.
//!
//! # Accounts and entitlements
//!
//! Every ACL user is an account except `default` and the admin user, which the connector
//! neither reports nor changes. `login_enabled` is the user's `on` flag. Entitlements are
//! [`Entitlement::Rule`] tokens: command rules (`+get`, `+@read`, `-@dangerous`), key
//! patterns (`~cache:*`, `%R~x:*`, `%W~y:*`), channel patterns (`&events`) and selectors
//! (`(~x resetchannels -@all +get)`), spelled exactly as `ACL LIST` prints them. Redis 7.0
//! rebuilds a user's command rules from its permission bitmap on every read, so a rule that
//! another rule covers, or a spelling Redis rewrites, never reads back. `grant` and `revoke`
//! therefore read the user back after each change and undo it unless the user's rules are
//! exactly the old set plus or minus that one token. The error then shows what Redis would
//! have stored. A policy must declare the rules as `ACL LIST` prints them for the intended
//! user. `revoke` rewrites all of the user's rules without the revoked one in one
//! `ACL SETUSER`, rather than adding the opposite rule, so what is left reads back unchanged.
//!
//! NOTE: Redis applies command rules in order (`+@read -get` differs from `-get +@read`), but
//! an account's entitlements are a set. The connector keeps the order Redis prints and adds
//! new rules at the end; two users with the same set in a different order compare equal.
//!
//! # Credentials and their age
//!
//! A credential is one password. Redis stores only SHA-256 hashes of passwords and no time
//! at which one was set, so the connector sends the hash (`resetpass #<sha256>`; the cleartext
//! never reaches the server) and records the set time itself in the hash key
//! [`CREDENTIAL_SET_AT_KEY`] in database 0: field = user name, value = microseconds since the
//! Unix epoch. The record lives as long as the users themselves: both are kept only in memory
//! unless the server saves its data and its ACL file. `extra_credentials` counts the
//! passwords beyond one, plus one for the `nopass` flag, which lets any password in.
//!
//! NOTE: the record is written only by this connector, after the password is set. A password
//! changed by other means keeps the older record, so its age is overstated until the next
//! rotation through enact, which errs toward rotating early.
//!
//! # Sessions
//!
//! Sessions are `CLIENT LIST` entries whose `user=` is the account. Redis counts a client's
//! `age` and `idle` in whole seconds, so start and idle times are the start of the second in
//! which they fall: a session may look up to a second older than it is, never younger.
//! `ACL SETUSER u off` leaves open connections working, so disabling login also runs
//! `CLIENT KILL USER u`.
//!
//! # Login probes
//!
//! A probe sends `AUTH user password` on a new TCP connection and closes it with `QUIT` when
//! it was accepted. Redis answers `WRONGPASS` alike for a wrong password, an unknown user and
//! a user that is `off`, so after a `WRONGPASS` the probe reads the user on a new admin
//! connection: when the user is `off` and the probed password's SHA-256 is one of its
//! password hashes (or the user is `nopass`), the rejection is [`Rejection::LoginDisabled`];
//! when the user does not exist, [`Rejection::UnknownAccount`]; otherwise, and whenever that
//! read fails, [`Rejection::InvalidCredential`].
//!
//! # Rights the admin user needs (Redis 7.0)
//!
//! `scripts/redis.sh` creates `enact-admin` with exactly these rights:
//! `+acl|list +acl|getuser +acl|setuser +acl|deluser` (read and change users),
//! `+client|list +client|kill` (list and end sessions), `+time` (the server clock that
//! session ages are counted from), `+hgetall +hget +hset +hdel` on the one key
//! `~enact:credential-set-at` (the credential record). `ACL SETUSER` lets its holder give
//! any user, itself included, any right, so the admin is as powerful as `default` in effect;
//! the narrow list guards against mistakes, not against a stolen admin password.
//!
//! # Connections
//!
//! Change operations share one admin connection, opened on first use and opened again after
//! a connection error. `observe`, `read_account`, `list_sessions` and `probe_login` open a new
//! connection for each call. `observe` reads every user in one pipelined round trip (see
//! [`read`]). Only plain TCP without TLS is supported.
//!
//! NOTE: the server bounds a cold `observe`. On a 2-core test machine, Redis 7.0.15 took 5 to
//! 34 s, depending on the load, for the first `ACL LIST` after 100,000 users were created or
//! loaded, and 0.1 to 0.3 s for each later one. Redis serves no other client meanwhile. The
//! connector's own parsing of 100,000 users took about 0.2 s (release build). By those rates,
//! the 60 s reply timeout stops a cold `observe` somewhere between 180,000 and 460,000 users
//! (an estimate). Valkey 8.1 keeps the rules as written and took 0.4 s for that first call.

mod change;
mod connect;
pub mod read;
mod rules;
mod sessions;

use async_trait::async_trait;
use connect::{probe_auth, AuthReply, Endpoint};
use enact_connector::{Capabilities, Connector, ConnectorError, ErrorKind, LoginProbe, Rejection};
use enact_model::{
    Entitlement, FingerprintKey, ObservedAccount, ObservedSession, OwnedObjects, Secret,
    SessionSelector, Target, TargetId, TargetObservation, Timestamp,
};
use redis::aio::MultiplexedConnection;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use tokio::sync::Mutex;

pub use read::CREDENTIAL_SET_AT_KEY;

/// The user every Redis server has, which the connector never reports or changes.
pub const DEFAULT_USER: &str = "default";

/// A connector to one Redis server, acting as an ACL admin user.
pub struct RedisConnector {
    target: TargetId,
    endpoint: Endpoint,
    admin_user: String,
    admin_password: Secret,
    /// The shared connection for change operations; `None` until first use or after it broke.
    admin: Mutex<Option<MultiplexedConnection>>,
}

impl RedisConnector {
    /// Builds a connector for `target`, which names the server as `host:port` and the admin
    /// ACL user. No connection is opened until the first operation.
    ///
    /// Every connector takes `key`, so all are built alike. This one computes no fingerprints,
    /// because each [`Secret`] it receives already carries its own.
    pub fn new(
        target: &Target,
        admin_password: Secret,
        _key: FingerprintKey,
    ) -> Result<Self, ConnectorError> {
        let admin_user = target.admin_user.clone().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("target `{}` names no admin user", target.id),
            )
        })?;
        check_user_name(&admin_user)?;
        Ok(RedisConnector {
            target: target.id.clone(),
            endpoint: Endpoint::parse(&target.endpoint)?,
            admin_user,
            admin_password,
            admin: Mutex::new(None),
        })
    }

    /// Opens a new admin connection for one read.
    async fn fresh_admin(&self) -> Result<MultiplexedConnection, ConnectorError> {
        // The admin password is needed to authenticate the new connection.
        let password = self.admin_password.expose();
        self.endpoint.connect(&self.admin_user, password).await
    }

    /// Whether `name` is an account in the connector's scope.
    fn in_scope(&self, name: &str) -> bool {
        name != DEFAULT_USER && name != self.admin_user
    }

    /// Checks that `account` may be changed: a valid user name, neither `default` nor the admin.
    fn check_managed(&self, account: &str) -> Result<(), ConnectorError> {
        check_user_name(account)?;
        if !self.in_scope(account) {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("user `{account}` is built in or is enact's admin user, so enact does not change it"),
            ));
        }
        Ok(())
    }

    /// Tells apart the reasons Redis gives one `WRONGPASS` for, by reading the user.
    async fn classify_rejection(&self, account: &str, credential: &Secret) -> Rejection {
        let user = match self.fresh_admin().await {
            Ok(mut connection) => read::read_user(&mut connection, account).await,
            Err(error) => Err(error),
        };
        match user {
            Ok(None) => Rejection::UnknownAccount,
            Ok(Some(user)) if !user.enabled => {
                let hash = password_hash(credential);
                if user.nopass || user.password_hashes.contains(&hash) {
                    Rejection::LoginDisabled
                } else {
                    Rejection::InvalidCredential
                }
            }
            Ok(Some(_)) => Rejection::InvalidCredential,
            Err(error) => {
                tracing::debug!(target = %self.target, account, %error, "reading the rejected user failed");
                Rejection::InvalidCredential
            }
        }
    }
}

/// Checks that `name` can be a Redis user name: not empty, and no whitespace or control
/// character, which Redis rejects and which would break the parsing of `ACL LIST`.
pub(crate) fn check_user_name(name: &str) -> Result<(), ConnectorError> {
    if name.is_empty() {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            "user name is empty",
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!(
                "user name `{}` contains whitespace or a control character",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// The SHA-256 of a password as lower-case hex, the form in which Redis stores it.
pub(crate) fn password_hash(credential: &Secret) -> String {
    // Redis compares passwords by their SHA-256, so the hash is computed from the value.
    hex::encode(Sha256::digest(credential.expose().as_bytes()))
}

#[async_trait]
impl Connector for RedisConnector {
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
        // Every user except `default` and the admin is in scope, so `declared` adds nothing.
        let _ = declared;
        let mut connection = self.fresh_admin().await?;
        let snapshot = read::read_all(&mut connection).await?;
        let mut clients: HashMap<&str, Vec<&sessions::ClientEntry>> = HashMap::new();
        for client in &snapshot.clients {
            clients
                .entry(client.user.as_str())
                .or_default()
                .push(client);
        }
        let mut accounts = BTreeMap::new();
        for user in snapshot.users {
            if !self.in_scope(&user.name) {
                continue;
            }
            let user_clients = clients.get(user.name.as_str()).map(Vec::as_slice);
            let set_at = snapshot.set_times.get(&user.name);
            let account = read::to_account(
                user,
                user_clients.unwrap_or_default(),
                set_at,
                snapshot.observed_at,
            );
            accounts.insert(account.name.clone(), account);
        }
        tracing::debug!(target = %self.target, accounts = accounts.len(), "observed");
        Ok(TargetObservation {
            target: self.target.clone(),
            observed_at: snapshot.observed_at,
            accounts,
        })
    }

    async fn read_account(&self, account: &str) -> Result<Option<ObservedAccount>, ConnectorError> {
        check_user_name(account)?;
        let mut connection = self.fresh_admin().await?;
        let one = read::read_one(&mut connection, account).await?;
        let clients: Vec<&sessions::ClientEntry> = one.clients.iter().collect();
        Ok(one
            .user
            .map(|user| read::to_account(user, &clients, one.set_at.as_ref(), one.observed_at)))
    }

    async fn list_sessions(&self, account: &str) -> Result<Vec<ObservedSession>, ConnectorError> {
        check_user_name(account)?;
        let mut connection = self.fresh_admin().await?;
        let (now, clients) = read::read_clients(&mut connection, account).await?;
        Ok(clients
            .iter()
            .map(|client| client.to_session(now))
            .collect())
    }

    async fn sessions_before_change(
        &self,
        account: &str,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        // A read for the evidence of a change, not a verification, so the admin connection
        // serves and no new login is needed.
        check_user_name(account)?;
        let (now, clients) = self.admin_clients(account).await?;
        Ok(clients
            .iter()
            .map(|client| client.to_session(now))
            .collect())
    }

    async fn create_account(
        &self,
        account: &str,
        login: bool,
        settings: &BTreeMap<String, String>,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.configure(account, settings).await?;
        self.create_account_impl(account, login, credential, now)
            .await
    }

    async fn configure(
        &self,
        account: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), ConnectorError> {
        // Redis users have no configuration keys that enact manages.
        match settings.keys().next() {
            None => Ok(()),
            Some(key) => Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("user `{account}`: Redis accounts have no setting `{key}`"),
            )),
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
        self.set_credential_impl(account, credential, now).await
    }

    async fn add_credential(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.add_credential_impl(account, credential, now).await
    }

    async fn retire_other_credentials(
        &self,
        account: &str,
        keep: &Secret,
        _now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.retire_others_impl(account, keep).await
    }

    async fn set_login(&self, account: &str, enabled: bool) -> Result<(), ConnectorError> {
        self.set_login_impl(account, enabled).await
    }

    async fn end_sessions(
        &self,
        account: &str,
        selector: &SessionSelector,
        now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        self.end_sessions_impl(account, selector, now).await
    }

    async fn delete_account(
        &self,
        account: &str,
        owned: &OwnedObjects,
    ) -> Result<(), ConnectorError> {
        // Redis users own no objects, so `owned` has nothing to act on.
        let _ = owned;
        self.delete_account_impl(account).await
    }

    async fn probe_login(&self, account: &str, credential: &Secret) -> LoginProbe {
        // The probe must present the credential itself to learn whether the server accepts it.
        let password = credential.expose();
        let outcome = match probe_auth(&self.endpoint, account, password).await {
            Ok(AuthReply::Ok) => LoginProbe::Accepted,
            Ok(AuthReply::WrongPass) => {
                LoginProbe::Rejected(self.classify_rejection(account, credential).await)
            }
            Ok(AuthReply::Error(error)) => LoginProbe::Unavailable {
                reason: format!("AUTH as `{account}` failed: {error}"),
            },
            Err(reason) => LoginProbe::Unavailable { reason },
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
