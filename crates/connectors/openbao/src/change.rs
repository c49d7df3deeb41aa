//! Change operations, sent with the connector's shared client.

use crate::http::{error_detail, status_error, MAX_IN_FLIGHT};
use crate::names::{check_policy_name, check_role_name, settings_body};
use crate::read::{self, role_path, LOGIN_DISABLED_CIDR};
use crate::OpenBaoConnector;
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{Entitlement, ObservedSession, OwnedObjects, Secret, SessionSelector, Timestamp};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Whether a change grants or revokes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Grant,
    Revoke,
}

impl OpenBaoConnector {
    pub(crate) async fn create_account_impl(
        &self,
        account: &str,
        login: bool,
        settings: &BTreeMap<String, String>,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        let mut body = settings_body(account, settings)?;
        // Logins must present a secret ID, which is the credential enact manages.
        body.insert("bind_secret_id".into(), Value::Bool(true));
        if login {
            let existing = read::read_role(&self.api, &self.mount, account).await?;
            if existing.is_some_and(|role| !role.login_enabled) {
                body.insert("secret_id_bound_cidrs".into(), json!([]));
            }
        } else {
            body.insert("secret_id_bound_cidrs".into(), json!([LOGIN_DISABLED_CIDR]));
        }
        self.api
            .write(&role_path(&self.mount, account), &Value::Object(body))
            .await?;
        tracing::debug!(target = %self.target, account, login, "role written");
        if let Some(credential) = credential {
            self.issue_secret_id(account, credential, now, OtherSecretIds::Destroy)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn configure_impl(
        &self,
        account: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        let body = settings_body(account, settings)?;
        self.require_role(account).await?;
        if body.is_empty() {
            return Ok(());
        }
        self.api
            .write(&role_path(&self.mount, account), &Value::Object(body))
            .await?;
        tracing::debug!(target = %self.target, account, "settings written");
        Ok(())
    }

    pub(crate) async fn grant_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        self.change_policy(account, entitlement, Direction::Grant)
            .await
    }

    pub(crate) async fn revoke_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        self.change_policy(account, entitlement, Direction::Revoke)
            .await
    }

    /// Adds or removes one of the role's `token_policies` by rewriting the whole list.
    async fn change_policy(
        &self,
        account: &str,
        entitlement: &Entitlement,
        direction: Direction,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        let Entitlement::Policy { policy } = entitlement else {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("OpenBao AppRole roles hold only policy entitlements; `{entitlement}` cannot be applied"),
            ));
        };
        check_policy_name(policy)?;

        // The list is read, changed and written back whole, so two changes to one role must
        // not interleave.
        // NOTE: this lock covers this connector only; another writer of the same role between
        // the read and the write would lose its change or have it undone.
        let _guard = self.policy_lock.lock().await;
        let Some(role) = read::read_role(&self.api, &self.mount, account).await? else {
            return match direction {
                Direction::Revoke => Ok(()),
                Direction::Grant => Err(missing_role(account)),
            };
        };
        let mut policies = role.policies;
        let changed = match direction {
            Direction::Grant => policies.insert(policy.clone()),
            Direction::Revoke => policies.remove(policy),
        };
        if !changed {
            return Ok(());
        }
        let body = json!({ "token_policies": policies });
        self.api
            .write(&role_path(&self.mount, account), &body)
            .await?;
        tracing::debug!(target = %self.target, account, entitlement = %entitlement, "token policies written");
        Ok(())
    }

    pub(crate) async fn set_credential_impl(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        self.require_role(account).await?;
        self.issue_secret_id(account, credential, now, OtherSecretIds::Destroy)
            .await
    }

    /// Registers `credential` beside the role's other secret IDs, for a dual rotation.
    pub(crate) async fn add_credential_impl(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        self.require_role(account).await?;
        self.issue_secret_id(account, credential, now, OtherSecretIds::Keep)
            .await
    }

    /// Destroys every secret ID of the role except `keep`, which must be registered.
    pub(crate) async fn retire_others_impl(
        &self,
        account: &str,
        keep: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        self.require_role(account).await?;
        self.issue_secret_id(account, keep, now, OtherSecretIds::DestroyKeepingExisting)
            .await
    }

    /// Registers `credential` unless it already is (except with [`OtherSecretIds::DestroyKeepingExisting`], where
    /// it must be), then destroys every other secret ID of the role unless `issue` keeps them.
    async fn issue_secret_id(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
        others: OtherSecretIds,
    ) -> Result<(), ConnectorError> {
        let path = role_path(&self.mount, account);
        // The value is sent to look it up and to register it; it travels only in request
        // bodies, which the audit log records HMAC'd.
        let value = credential.expose();
        if value.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Invalid,
                "an empty secret ID cannot be set",
            ));
        }

        // Registering a value twice fails, so a repeated call finds the earlier registration.
        let lookup_path = format!("{path}/secret-id/lookup");
        let lookup = self
            .api
            .send(
                Method::POST,
                &lookup_path,
                Some(&json!({ "secret_id": value })),
            )
            .await?;
        let kept = match lookup.status {
            StatusCode::OK => accessor_of(&lookup.body, &lookup_path)?,
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND
                if others == OtherSecretIds::DestroyKeepingExisting =>
            {
                return Err(ConnectorError::new(
                    ErrorKind::Conflict,
                    format!(
                        "role `{account}` has no secret ID {} to keep",
                        credential.fingerprint().short()
                    ),
                ));
            }
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => {
                // OpenBao copies secret ID metadata into the metadata of every token issued
                // with it, so it records only when enact set the value.
                let metadata = json!({ "enact_set_at": now.to_rfc3339() }).to_string();
                let issue_path = format!("{path}/custom-secret-id");
                let reply = self
                    .api
                    .call(
                        Method::POST,
                        &issue_path,
                        Some(&json!({ "secret_id": value, "metadata": metadata })),
                    )
                    .await?;
                accessor_of(&reply.body, &issue_path)?
            }
            _ => return Err(status_error(&format!("`POST {lookup_path}`"), &lookup)),
        };

        if others == OtherSecretIds::Keep {
            return Ok(());
        }
        let others: Vec<String> = self
            .api
            .list(&format!("{path}/secret-id"))
            .await?
            .into_iter()
            .filter(|accessor| *accessor != kept)
            .collect();
        let destroy_path = format!("{path}/secret-id-accessor/destroy");
        let destroyed = others.len();
        stream::iter(others)
            .map(|accessor| self.destroy_secret_id(&destroy_path, accessor))
            .buffer_unordered(MAX_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        tracing::debug!(
            target = %self.target,
            account,
            credential = %credential.fingerprint().short(),
            destroyed,
            "secret id set"
        );
        Ok(())
    }

    async fn destroy_secret_id(
        &self,
        destroy_path: &str,
        accessor: String,
    ) -> Result<(), ConnectorError> {
        let body = json!({ "secret_id_accessor": accessor });
        let reply = self
            .api
            .send(Method::POST, destroy_path, Some(&body))
            .await?;
        // A secret ID destroyed or expired since the listing gets 500 "failed to find
        // accessor entry" (OpenBao 2.7); that is the outcome wanted.
        let gone = reply.status == StatusCode::NOT_FOUND
            || error_detail(&reply.body).contains("failed to find accessor entry");
        if reply.status.is_success() || gone {
            Ok(())
        } else {
            Err(status_error(&format!("`POST {destroy_path}`"), &reply))
        }
    }

    pub(crate) async fn set_login_impl(
        &self,
        account: &str,
        enabled: bool,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        let role = self.require_role(account).await?;
        if role.login_enabled == enabled {
            return Ok(());
        }
        let cidrs = if enabled {
            json!([])
        } else {
            json!([LOGIN_DISABLED_CIDR])
        };
        self.api
            .write(
                &role_path(&self.mount, account),
                &json!({ "secret_id_bound_cidrs": cidrs }),
            )
            .await?;
        tracing::debug!(target = %self.target, account, enabled, "login flag set");
        Ok(())
    }

    pub(crate) async fn end_sessions_impl(
        &self,
        account: &str,
        selector: &SessionSelector,
        now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        check_role_name(account)?;
        // Tokens outlive their role, so they are looked for whether the role exists or not.
        let mut sessions = read::read_sessions(&self.api, &self.mount).await?;
        let chosen: Vec<ObservedSession> = sessions
            .remove(account)
            .unwrap_or_default()
            .into_iter()
            .filter(|session| selector.matches(session.started_at, session.idle_since, now))
            .collect();
        if chosen.is_empty() {
            return Ok(chosen);
        }

        // Revoking an accessor that no longer exists succeeds with a warning.
        let accessors: Vec<String> = chosen.iter().map(|session| session.id.clone()).collect();
        stream::iter(accessors.clone())
            .map(|accessor| self.revoke_token(accessor))
            .buffer_unordered(MAX_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;

        // Revocation is synchronous for the token itself; check it, as the PostgreSQL
        // connector checks that terminated backends are gone.
        let still_open: Vec<String> = stream::iter(accessors)
            .map(|accessor| self.token_still_valid(accessor))
            .buffer_unordered(MAX_IN_FLIGHT)
            .try_collect::<Vec<Option<String>>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        if !still_open.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "tokens {} of role `{account}` were still valid after revocation",
                    still_open.join(", ")
                ),
            ));
        }
        tracing::debug!(target = %self.target, account, ended = chosen.len(), "sessions ended");
        Ok(chosen)
    }

    async fn revoke_token(&self, accessor: String) -> Result<(), ConnectorError> {
        let body = json!({ "accessor": accessor });
        self.api
            .call(Method::POST, "auth/token/revoke-accessor", Some(&body))
            .await?;
        Ok(())
    }

    /// Returns `accessor` when its token is still valid, `None` when it is gone.
    async fn token_still_valid(&self, accessor: String) -> Result<Option<String>, ConnectorError> {
        let body = json!({ "accessor": accessor });
        let reply = self
            .api
            .send(Method::POST, "auth/token/lookup-accessor", Some(&body))
            .await?;
        Ok(reply.status.is_success().then_some(accessor))
    }

    pub(crate) async fn delete_account_impl(
        &self,
        account: &str,
        owned: &OwnedObjects,
    ) -> Result<(), ConnectorError> {
        check_role_name(account)?;
        // A role owns nothing in OpenBao, so both rules for owned objects have nothing to do.
        tracing::debug!(target = %self.target, account, owned = ?owned, "owned objects do not apply to AppRole roles");
        // Deleting a role that does not exist returns 204 as well. Its secret IDs go with it;
        // tokens already issued stay valid until revoked or expired.
        self.api.delete(&role_path(&self.mount, account)).await?;
        tracing::debug!(target = %self.target, account, "role deleted");
        Ok(())
    }

    async fn require_role(&self, account: &str) -> Result<read::RoleFacts, ConnectorError> {
        read::read_role(&self.api, &self.mount, account)
            .await?
            .ok_or_else(|| missing_role(account))
    }
}

fn missing_role(account: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Invalid,
        format!("AppRole role `{account}` does not exist"),
    )
}

/// The `secret_id_accessor` of a secret ID lookup or registration response.
fn accessor_of(body: &Value, path: &str) -> Result<String, ConnectorError> {
    body["data"]["secret_id_accessor"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Other,
                format!("the response of `{path}` has no `secret_id_accessor`"),
            )
        })
}

/// What registering a secret ID does with the role's other secret IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OtherSecretIds {
    /// Register it and destroy the others: a single rotation.
    Destroy,
    /// Register it beside the others: the first half of a dual rotation.
    Keep,
    /// Require it registered already, and destroy the others: the end of a dual rotation.
    DestroyKeepingExisting,
}
