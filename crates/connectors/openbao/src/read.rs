//! Reading accounts: AppRole roles, their secret IDs, and the tokens issued through them.

use crate::http::{error_detail, status_error, string_list, Api, MAX_IN_FLIGHT};
use crate::names::MANAGED_SETTINGS;
use crate::time::parse_rfc3339;
use enact_connector::ConnectorError;
use enact_model::{Entitlement, ObservedAccount, ObservedSession, Timestamp};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The `secret_id_bound_cidrs` value that marks a role's login as disabled.
///
/// AppRole has no enable flag. A login from an address outside a role's
/// `secret_id_bound_cidrs` fails with HTTP 400 "source address ... unauthorized by CIDR
/// restrictions on the role", after the secret ID itself has been checked. No TCP client can
/// have the IPv4 limited-broadcast address as its source, and no IPv6 address falls in an IPv4
/// block. So this one block makes every login fail, while the role, its secret IDs and its
/// settings stay as they are.
pub const LOGIN_DISABLED_CIDR: &str = "255.255.255.255/32";

/// The facts of one role that its read returns.
#[derive(Clone, Debug)]
pub(crate) struct RoleFacts {
    pub(crate) policies: BTreeSet<String>,
    pub(crate) settings: BTreeMap<String, String>,
    pub(crate) login_enabled: bool,
}

/// One secret ID of a role, without its value.
#[derive(Clone, Debug)]
pub(crate) struct SecretIdFacts {
    pub(crate) created_at: Timestamp,
    /// `None` when it never expires.
    pub(crate) expires_at: Option<Timestamp>,
}

impl SecretIdFacts {
    fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|expiry| expiry > now)
    }
}

/// The API path of a role.
pub(crate) fn role_path(mount: &str, role: &str) -> String {
    format!("auth/{mount}/role/{role}")
}

/// Lists the names of every role on the mount.
pub(crate) async fn list_roles(api: &Api, mount: &str) -> Result<Vec<String>, ConnectorError> {
    api.list(&format!("auth/{mount}/role")).await
}

/// Reads one role; `None` when it does not exist.
pub(crate) async fn read_role(
    api: &Api,
    mount: &str,
    role: &str,
) -> Result<Option<RoleFacts>, ConnectorError> {
    let Some(data) = api.read(&role_path(mount, role)).await? else {
        return Ok(None);
    };
    let policies = string_list(&data["token_policies"]).into_iter().collect();
    let settings = MANAGED_SETTINGS
        .iter()
        .filter_map(|key| integer_text(&data[*key]).map(|value| (key.to_string(), value)))
        .collect();
    let cidrs = string_list(&data["secret_id_bound_cidrs"]);
    Ok(Some(RoleFacts {
        policies,
        settings,
        login_enabled: !is_disabled_cidrs(&cidrs),
    }))
}

/// Whether a role's `secret_id_bound_cidrs` are the ones that mark its login as disabled.
pub(crate) fn is_disabled_cidrs(cidrs: &[String]) -> bool {
    cidrs.len() == 1 && cidrs.iter().all(|cidr| cidr == LOGIN_DISABLED_CIDR)
}

/// An integer field as decimal text; OpenBao returns durations as whole seconds.
fn integer_text(value: &Value) -> Option<String> {
    value
        .as_i64()
        .map(|n| n.to_string())
        .or_else(|| value.as_u64().map(|n| n.to_string()))
}

/// Reads every secret ID of a role that still exists on the server, expired or not.
pub(crate) async fn read_secret_ids(
    api: &Api,
    mount: &str,
    role: &str,
) -> Result<Vec<SecretIdFacts>, ConnectorError> {
    let path = role_path(mount, role);
    let list_path = format!("{path}/secret-id");
    let reply = api
        .send(Method::GET, &format!("{list_path}?list=true"), None)
        .await?;
    // A role deleted by someone else since it was read has no secret IDs left to list.
    if reply.status == StatusCode::NOT_FOUND || role_vanished(&reply) {
        return Ok(Vec::new());
    }
    if !reply.status.is_success() {
        return Err(status_error(&format!("`LIST {list_path}`"), &reply));
    }
    let accessors = string_list(&reply.data()["keys"]);
    let lookup_path = format!("{path}/secret-id-accessor/lookup");
    let found: Vec<Option<SecretIdFacts>> = stream::iter(accessors)
        .map(|accessor| lookup_secret_id(api, &lookup_path, accessor))
        .buffer_unordered(MAX_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Looks up one secret ID by accessor; `None` when it was destroyed since it was listed.
async fn lookup_secret_id(
    api: &Api,
    lookup_path: &str,
    accessor: String,
) -> Result<Option<SecretIdFacts>, ConnectorError> {
    let body = json!({ "secret_id_accessor": accessor });
    let reply = api.send(Method::POST, lookup_path, Some(&body)).await?;
    // An accessor destroyed after the listing gets 404 ("failed to find accessor entry"); one
    // whose role was deleted meanwhile gets 400 or 500 "role ... does not exist".
    if reply.status == StatusCode::NOT_FOUND
        || reply.status == StatusCode::NO_CONTENT
        || role_vanished(&reply)
    {
        return Ok(None);
    }
    if !reply.status.is_success() {
        return Err(status_error(&format!("`POST {lookup_path}`"), &reply));
    }
    let data = reply.data();
    let created_at = data["creation_time"]
        .as_str()
        .and_then(parse_rfc3339)
        .ok_or_else(|| malformed(lookup_path, "creation_time"))?;
    // Go's zero time, year 1, means the secret ID never expires.
    let expires_at = data["expiration_time"]
        .as_str()
        .and_then(parse_rfc3339)
        .filter(|expiry| *expiry > Timestamp(0));
    Ok(Some(SecretIdFacts {
        created_at,
        expires_at,
    }))
}

/// Whether a reply says the role it concerns does not exist (any more). OpenBao 2.7 answers
/// 400 when listing the secret IDs of a deleted role and 500 when looking one up.
fn role_vanished(reply: &crate::http::Reply) -> bool {
    (reply.status == StatusCode::BAD_REQUEST || reply.status == StatusCode::INTERNAL_SERVER_ERROR)
        && error_detail(&reply.body).contains("does not exist")
}

fn malformed(path: &str, field: &str) -> ConnectorError {
    ConnectorError::new(
        enact_connector::ErrorKind::Other,
        format!("the response of `{path}` has no valid `{field}`"),
    )
}

/// The token metadata key that names the AppRole role of an NHI holding a token created
/// outside a login, such as a periodic or service token.
pub const HELD_BY_METADATA: &str = "enact_account";

/// Reads the open sessions of every role on the mount, by role name.
///
/// A session is a token issued by a login through the mount (its `path` is
/// `auth/<mount>/login` and its metadata names the role), or any other token whose
/// [`HELD_BY_METADATA`] metadata names the role. Batch tokens are not stored, so they
/// cannot be listed or revoked one by one and never appear here.
///
/// NOTE: OpenBao has no index of tokens by role, so this lists every token accessor on the
/// server and looks each one up: the cost grows with all tokens, not with the role's. The
/// lookups run at most [`MAX_IN_FLIGHT`] at a time.
pub(crate) async fn read_sessions(
    api: &Api,
    mount: &str,
) -> Result<HashMap<String, Vec<ObservedSession>>, ConnectorError> {
    let accessors = api.list("auth/token/accessors").await?;
    let login_path = format!("auth/{mount}/login");
    let tokens: Vec<Option<(String, ObservedSession)>> = stream::iter(accessors)
        .map(|accessor| lookup_token(api, &login_path, accessor))
        .buffer_unordered(MAX_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut by_role: HashMap<String, Vec<ObservedSession>> = HashMap::new();
    for (role, session) in tokens.into_iter().flatten() {
        by_role.entry(role).or_default().push(session);
    }
    for sessions in by_role.values_mut() {
        sessions.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
    }
    Ok(by_role)
}

/// Looks up one token by accessor and returns its role and session when it was issued by a
/// login through `login_path`.
async fn lookup_token(
    api: &Api,
    login_path: &str,
    accessor: String,
) -> Result<Option<(String, ObservedSession)>, ConnectorError> {
    let body = json!({ "accessor": accessor });
    let reply = api
        .send(Method::POST, "auth/token/lookup-accessor", Some(&body))
        .await?;
    // A token revoked or expired after the listing gets 400 "invalid accessor".
    if reply.status == StatusCode::BAD_REQUEST {
        return Ok(None);
    }
    if !reply.status.is_success() {
        return Err(status_error("`POST auth/token/lookup-accessor`", &reply));
    }
    let data = reply.data();
    // A token belongs to a role when a login through the mount issued it, or when whoever
    // created it (for example a periodic or service token made with `auth/token/create`)
    // named the role in its `enact_account` metadata.
    let role = if data["path"].as_str() == Some(login_path) {
        data["meta"]["role_name"].as_str()
    } else {
        data["meta"][HELD_BY_METADATA].as_str()
    };
    let Some(role) = role else {
        return Ok(None);
    };
    // `issue_time` has sub-second precision; `creation_time` is whole seconds.
    let started_at = data["issue_time"]
        .as_str()
        .and_then(parse_rfc3339)
        .or_else(|| {
            data["creation_time"]
                .as_i64()
                .map(|secs| Timestamp(secs.saturating_mul(1_000_000)))
        })
        .ok_or_else(|| malformed("auth/token/lookup-accessor", "issue_time"))?;
    let session = ObservedSession {
        id: accessor,
        started_at,
        // NOTE: OpenBao records no last-use time for a token, so an idle limit never ends one.
        idle_since: None,
        application_name: data["display_name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        client_addr: None,
        metadata: data["meta"]
            .as_object()
            .map(|meta| {
                meta.iter()
                    .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(Some((role.to_string(), session)))
}

/// Builds the observed account of a role from its facts at `now`.
///
/// The credential is the oldest live secret ID, and its creation time is the set time; any
/// further live secret ID counts as an extra credential.
pub(crate) fn observed_account(
    name: &str,
    role: RoleFacts,
    secret_ids: &[SecretIdFacts],
    sessions: Vec<ObservedSession>,
    now: Timestamp,
) -> ObservedAccount {
    let live: Vec<&SecretIdFacts> = secret_ids.iter().filter(|s| s.is_live(now)).collect();
    let credential_set_at = live.iter().map(|s| s.created_at).min();
    let extra = live.len().saturating_sub(1);
    ObservedAccount {
        name: name.to_string(),
        login_enabled: role.login_enabled,
        entitlements: role
            .policies
            .into_iter()
            .map(|policy| Entitlement::Policy { policy })
            .collect(),
        credential_set_at,
        sessions,
        owned_objects: 0,
        extra_credentials: u32::try_from(extra).unwrap_or(u32::MAX),
        settings: role.settings,
    }
}

/// Reads one role with its secret IDs; `None` when the role does not exist.
pub(crate) async fn read_role_with_secret_ids(
    api: &Api,
    mount: &str,
    role: &str,
) -> Result<Option<(RoleFacts, Vec<SecretIdFacts>)>, ConnectorError> {
    let Some(facts) = read_role(api, mount, role).await? else {
        return Ok(None);
    };
    let secret_ids = read_secret_ids(api, mount, role).await?;
    Ok(Some((facts, secret_ids)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_id(created: i64, expires: Option<i64>) -> SecretIdFacts {
        SecretIdFacts {
            created_at: Timestamp(created),
            expires_at: expires.map(Timestamp),
        }
    }

    fn role() -> RoleFacts {
        RoleFacts {
            policies: ["b".to_string(), "a".to_string()].into_iter().collect(),
            settings: BTreeMap::new(),
            login_enabled: true,
        }
    }

    #[test]
    fn oldest_live_secret_id_sets_age() {
        let ids = [
            secret_id(10, Some(50)),
            secret_id(20, None),
            secret_id(30, Some(200)),
        ];
        let account = observed_account("r", role(), &ids, Vec::new(), Timestamp(100));
        assert_eq!(account.credential_set_at, Some(Timestamp(20)));
        assert_eq!(account.extra_credentials, 1);
        assert_eq!(account.entitlements.len(), 2);
    }

    #[test]
    fn no_live_secret_id_means_unknown_age() {
        let ids = [secret_id(10, Some(50))];
        let account = observed_account("r", role(), &ids, Vec::new(), Timestamp(100));
        assert_eq!(account.credential_set_at, None);
        assert_eq!(account.extra_credentials, 0);
    }

    #[test]
    fn only_the_exact_marker_disables() {
        assert!(is_disabled_cidrs(&[LOGIN_DISABLED_CIDR.to_string()]));
        assert!(!is_disabled_cidrs(&[]));
        assert!(!is_disabled_cidrs(&[
            LOGIN_DISABLED_CIDR.to_string(),
            "10.0.0.0/8".to_string()
        ]));
    }
}
