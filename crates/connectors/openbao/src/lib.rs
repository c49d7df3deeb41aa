//! The OpenBao connector and sink, over the Vault HTTP API.
//!
//! [`OpenBaoConnector`] manages AppRole roles as accounts: a role's `token_policies` are its
//! entitlements ([`Entitlement::Policy`]), a secret ID is its credential, and the tokens
//! issued by logins through the role are its sessions. Periodic and service tokens that an
//! NHI holds are sessions of its role too when their metadata names the role under
//! [`HELD_BY_METADATA`] (`enact_account`): their maximum lifetime is enforced and they are
//! revoked by accessor like the others. [`KvSink`] delivers credentials to a
//! KV version 2 secret.
//!
//! # Capabilities the admin token needs (OpenBao 2.7)
//!
//! `scripts/bao.sh` creates the policy `enact-admin` with exactly these rules, for AppRole at
//! `approle/` and KV version 2 at `secret/`:
//!
//! - `auth/approle/role`: `list`, to observe every role.
//! - `auth/approle/role/*`: `create`, `read`, `update`, `delete`, `list`. This covers writing
//!   and deleting roles, reading role IDs, listing secret ID accessors (`list` on
//!   `role/<name>/secret-id`), and the `update` endpoints `custom-secret-id`,
//!   `secret-id/lookup`, `secret-id-accessor/lookup` and `secret-id-accessor/destroy`.
//! - `auth/token/accessors`: `list` and `sudo`. OpenBao requires sudo to list token accessors.
//! - `auth/token/lookup-accessor` and `auth/token/revoke-accessor`: `update`, to read and end
//!   the tokens issued through a role.
//! - `secret/data/*`: `create`, `read`, `update`; `secret/metadata/*`: `create`, `read`,
//!   `update`, `delete`; `secret/destroy/*`: `update`. These are for the sink. It never soft
//!   deletes, so it needs nothing on `secret/delete/*`.
//!
//! Logging in (`auth/approle/login`) needs no token. A probe revokes the token it obtained
//! with that token itself (`auth/token/revoke-self`, granted by the `default` policy), or with
//! `revoke-accessor` when the role's tokens lack the `default` policy.
//!
//! # Login disabled
//!
//! AppRole has no enable flag. Disabling a role's login sets its `secret_id_bound_cidrs` to
//! [`LOGIN_DISABLED_CIDR`] alone, an address no TCP client can have, so every login fails
//! with HTTP 400 "unauthorized by CIDR restrictions on the role", which a probe reports as
//! [`Rejection::LoginDisabled`]. Secret IDs, policies and settings stay as they are, so
//! enabling it again (an empty `secret_id_bound_cidrs`) restores logins with the same secret
//! ID. A role counts as disabled exactly when its list is that one block. Disabling replaces
//! any CIDR list set by other means, and enabling does not restore it.
//!
//! NOTE: a listener configured to trust `X-Forwarded-For` from a proxy takes the client
//! address from that header, and a client behind that proxy could claim the blocked address.
//!
//! # Connections
//!
//! Change operations share one HTTP client. `observe`, `read_account`, `list_sessions` and
//! `probe_login` build a new client, and so open new connections, for each call. Each client
//! sends at most 16 requests at a time.
//!
//! NOTE: with a role's `secret_id_num_uses` above zero, each login probe uses up one use of
//! the secret ID it presents, as any login does.

mod change;
mod http;
mod kv;
mod names;
mod read;
mod time;

use async_trait::async_trait;
use enact_connector::{Capabilities, Connector, ConnectorError, ErrorKind, LoginProbe, Rejection};
use enact_model::Clock;
use enact_model::{
    Entitlement, FingerprintKey, ObservedAccount, ObservedSession, OwnedObjects, Secret,
    SessionSelector, SystemClock, Target, TargetId, TargetObservation, Timestamp,
};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use http::{error_detail, Api, MAX_IN_FLIGHT};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

pub use kv::KvSink;
pub use names::MANAGED_SETTINGS;
pub use read::{HELD_BY_METADATA, LOGIN_DISABLED_CIDR};

/// The AppRole mount used when the target names none.
pub const DEFAULT_MOUNT: &str = "approle";

/// A connector to the AppRole roles of one OpenBao server, acting with an admin token.
pub struct OpenBaoConnector {
    target: TargetId,
    mount: String,
    /// The shared client for change operations.
    api: Api,
    /// Serializes the read-modify-write of a role's policy list.
    policy_lock: Mutex<()>,
}

impl fmt::Debug for OpenBaoConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenBaoConnector")
            .field("target", &self.target)
            .field("address", &self.api.base())
            .field("mount", &self.mount)
            .finish_non_exhaustive()
    }
}

impl OpenBaoConnector {
    /// Checks a limited-use secret ID without spending a use: it must be found by
    /// `secret-id/lookup` with uses left and not expired, and the role must allow logins.
    async fn probe_by_lookup(
        &self,
        api: &Api,
        account: &str,
        role: &read::RoleFacts,
        credential: &Secret,
    ) -> LoginProbe {
        let path = format!("{}/secret-id/lookup", read::role_path(&self.mount, account));
        // The lookup needs the secret ID itself to find it.
        let body = json!({ "secret_id": credential.expose() });
        let reply = match api.send(Method::POST, &path, Some(&body)).await {
            Ok(reply) => reply,
            Err(error) => {
                return LoginProbe::Unavailable {
                    reason: error.message,
                }
            }
        };
        if reply.status == StatusCode::NO_CONTENT || reply.status == StatusCode::NOT_FOUND {
            return LoginProbe::Rejected(Rejection::InvalidCredential);
        }
        if !reply.status.is_success() {
            return LoginProbe::Unavailable {
                reason: format!(
                    "`POST {path}` failed: HTTP {}: {}",
                    reply.status.as_u16(),
                    error_detail(&reply.body)
                ),
            };
        }
        let data = reply.data();
        let uses_left = data["secret_id_num_uses"].as_i64().unwrap_or(0);
        let expired = data["expiration_time"]
            .as_str()
            .and_then(time::parse_rfc3339)
            .filter(|expiry| *expiry > Timestamp(0))
            .is_some_and(|expiry| expiry <= SystemClock.now());
        // A limited secret ID reports its remaining uses; zero left would mean it is spent.
        if expired || uses_left < 0 {
            return LoginProbe::Rejected(Rejection::InvalidCredential);
        }
        if !role.login_enabled {
            return LoginProbe::Rejected(Rejection::LoginDisabled);
        }
        LoginProbe::Accepted
    }

    /// Builds a connector for `target`, whose endpoint is the server's base URL (such as
    /// `http://127.0.0.1:58200`) and whose database is the AppRole mount (default
    /// [`DEFAULT_MOUNT`]). No request is sent until the first operation.
    ///
    /// Every connector takes `key`, so all are built alike. This one computes no fingerprints,
    /// because each [`Secret`] it receives already carries its own.
    pub fn new(
        target: &Target,
        token: Secret,
        _key: FingerprintKey,
    ) -> Result<Self, ConnectorError> {
        let mount = target
            .database
            .clone()
            .unwrap_or_else(|| DEFAULT_MOUNT.to_string());
        names::check_path("AppRole mount", &mount)?;
        if let Some(user) = &target.admin_user {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!(
                    "target `{}` names admin user `{user}`, but OpenBao authenticates with a token only",
                    target.id
                ),
            ));
        }
        Ok(OpenBaoConnector {
            target: target.id.clone(),
            mount,
            api: Api::new(&target.endpoint, Arc::new(token))?,
            policy_lock: Mutex::new(()),
        })
    }

    /// Reads the named roles with their secret IDs and sessions on a new client.
    async fn read_accounts(
        &self,
        api: &Api,
        roles: Vec<String>,
    ) -> Result<BTreeMap<String, ObservedAccount>, ConnectorError> {
        let mount = self.mount.as_str();
        let found: Vec<_> = stream::iter(roles)
            .map(|role| async move {
                let facts = read::read_role_with_secret_ids(api, mount, &role).await?;
                Ok::<_, ConnectorError>(facts.map(|facts| (role, facts)))
            })
            .buffer_unordered(MAX_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut sessions = read::read_sessions(api, mount).await?;
        let now = SystemClock.now();
        Ok(found
            .into_iter()
            .flatten()
            .map(|(name, (role, secret_ids))| {
                let account = read::observed_account(
                    &name,
                    role,
                    &secret_ids,
                    sessions.remove(&name).unwrap_or_default(),
                    now,
                );
                (name, account)
            })
            .collect())
    }

    /// Revokes a token obtained by a probe: with itself first, then with the admin token.
    async fn revoke_probe_token(&self, api: &Api, account: &str, token: &str, accessor: &str) {
        let by_itself = api
            .send_with_token(Method::POST, "auth/token/revoke-self", None, Some(token))
            .await;
        if by_itself.is_ok_and(|reply| reply.status.is_success()) {
            return;
        }
        let by_admin = api
            .call(
                Method::POST,
                "auth/token/revoke-accessor",
                Some(&json!({ "accessor": accessor })),
            )
            .await;
        if let Err(error) = by_admin {
            tracing::warn!(target = %self.target, account, %error, "revoking the token of a login probe failed; it stays valid until it expires");
        }
    }
}

#[async_trait]
impl Connector for OpenBaoConnector {
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

    /// Reads every role on the mount. AppRole has no built-in roles and enact's admin token
    /// belongs to no role, so every role is in scope, declared or not.
    async fn observe(&self, _declared: &[String]) -> Result<TargetObservation, ConnectorError> {
        let api = self.api.fresh()?;
        let observed_at = SystemClock.now();
        let roles = read::list_roles(&api, &self.mount).await?;
        let accounts = self.read_accounts(&api, roles).await?;
        tracing::debug!(target = %self.target, accounts = accounts.len(), "observed");
        Ok(TargetObservation {
            target: self.target.clone(),
            observed_at,
            accounts,
        })
    }

    async fn read_account(&self, account: &str) -> Result<Option<ObservedAccount>, ConnectorError> {
        names::check_role_name(account)?;
        let api = self.api.fresh()?;
        let mut accounts = self.read_accounts(&api, vec![account.to_string()]).await?;
        tracing::debug!(target = %self.target, account, "account read");
        Ok(accounts.remove(account))
    }

    async fn list_sessions(&self, account: &str) -> Result<Vec<ObservedSession>, ConnectorError> {
        names::check_role_name(account)?;
        let api = self.api.fresh()?;
        let mut sessions = read::read_sessions(&api, &self.mount).await?;
        Ok(sessions.remove(account).unwrap_or_default())
    }

    async fn create_account(
        &self,
        account: &str,
        login: bool,
        settings: &BTreeMap<String, String>,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.create_account_impl(account, login, settings, credential, now)
            .await
    }

    async fn configure(
        &self,
        account: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), ConnectorError> {
        self.configure_impl(account, settings).await
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
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        self.retire_others_impl(account, keep, now).await
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
        self.delete_account_impl(account, owned).await
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

impl OpenBaoConnector {
    async fn probe_login_inner(&self, account: &str, credential: &Secret) -> LoginProbe {
        let unavailable = |error: ConnectorError| LoginProbe::Unavailable {
            reason: error.message,
        };
        if let Err(error) = names::check_role_name(account) {
            return unavailable(error);
        }
        let api = match self.api.fresh() {
            Ok(api) => api,
            Err(error) => return unavailable(error),
        };
        let role_id_path = format!("{}/role-id", read::role_path(&self.mount, account));
        let role_id = match api.read(&role_id_path).await {
            Ok(Some(data)) => match data["role_id"].as_str() {
                Some(role_id) => role_id.to_string(),
                None => {
                    return LoginProbe::Unavailable {
                        reason: format!("the response of `{role_id_path}` has no `role_id`"),
                    }
                }
            },
            Ok(None) => return LoginProbe::Rejected(Rejection::UnknownAccount),
            Err(error) => return unavailable(error),
        };

        // A secret ID limited to a number of uses would be used up by a login probe, leaving
        // the dependent a dead credential. For such roles the probe looks the secret ID up
        // instead, which spends no use, and checks the role's login flag.
        let role = match read::read_role(&api, &self.mount, account).await {
            Ok(Some(role)) => role,
            Ok(None) => return LoginProbe::Rejected(Rejection::UnknownAccount),
            Err(error) => return unavailable(error),
        };
        let limited = role
            .settings
            .get("secret_id_num_uses")
            .is_some_and(|uses| uses != "0");
        if limited {
            return self.probe_by_lookup(&api, account, &role, credential).await;
        }

        let login_path = format!("auth/{}/login", self.mount);
        // The probe must present the secret ID itself to learn whether the server accepts it.
        let body = json!({ "role_id": role_id, "secret_id": credential.expose() });
        let reply = match api
            .send_with_token(Method::POST, &login_path, Some(&body), None)
            .await
        {
            Ok(reply) => reply,
            Err(error) => return unavailable(error),
        };
        if reply.status.is_success() {
            let token = Zeroizing::new(
                reply.body["auth"]["client_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            let accessor = reply.body["auth"]["accessor"].as_str().unwrap_or_default();
            if token.is_empty() {
                return LoginProbe::Unavailable {
                    reason: format!("the login through `{login_path}` returned no token"),
                };
            }
            self.revoke_probe_token(&api, account, &token, accessor)
                .await;
            return LoginProbe::Accepted;
        }
        let detail = error_detail(&reply.body);
        if reply.status == StatusCode::BAD_REQUEST {
            // OpenBao 2.7 returns the same error for a wrong role ID and a wrong secret ID.
            if detail.contains("invalid role or secret ID") {
                return LoginProbe::Rejected(Rejection::InvalidCredential);
            }
            // The role's CIDR list (or the secret ID's) excludes this client, as it does for
            // every client while login is disabled.
            if detail.contains("unauthorized") && detail.contains("CIDR") {
                return LoginProbe::Rejected(Rejection::LoginDisabled);
            }
        }
        LoginProbe::Unavailable {
            reason: format!(
                "login through `{login_path}` failed: HTTP {}: {detail}",
                reply.status.as_u16()
            ),
        }
    }
}
