//! Reading users, credential set times and sessions, each read in one round trip.
//!
//! `observe` pipelines four commands on one connection: `TIME`, `ACL LIST`, `CLIENT LIST`
//! and `HGETALL` of the credential record. Redis runs each atomically, but not the four
//! together, so a user created between `ACL LIST` and `CLIENT LIST` is absent while its
//! sessions are dropped.

use crate::connect::redis_error;
use crate::rules::{parse_acl_list_line, AclUser, GetUserReply};
use crate::sessions::{parse_client_list, ClientEntry};
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{ObservedAccount, Timestamp};
use redis::aio::MultiplexedConnection;
use redis::Value;
use std::collections::{BTreeMap, HashMap};

/// The hash key in database 0 in which the connector records when it set each user's
/// password: field = user name, value = microseconds since the Unix epoch.
pub const CREDENTIAL_SET_AT_KEY: &str = "enact:credential-set-at";

/// Everything `observe` reads, as of one moment of the server clock.
pub(crate) struct Snapshot {
    pub(crate) observed_at: Timestamp,
    pub(crate) users: Vec<AclUser>,
    pub(crate) clients: Vec<ClientEntry>,
    pub(crate) set_times: HashMap<String, String>,
}

/// Reads every user, every client and every credential set time.
pub(crate) async fn read_all(
    connection: &mut MultiplexedConnection,
) -> Result<Snapshot, ConnectorError> {
    // TIME runs first, so a client's age is never counted from a later instant than it.
    let (time, users, clients, set_times): (
        Vec<String>,
        Vec<String>,
        String,
        HashMap<String, String>,
    ) = redis::pipe()
        .cmd("TIME")
        .cmd("ACL")
        .arg("LIST")
        .cmd("CLIENT")
        .arg("LIST")
        .cmd("HGETALL")
        .arg(CREDENTIAL_SET_AT_KEY)
        .query_async(connection)
        .await
        .map_err(|e| redis_error("reading users and clients", e))?;
    Ok(Snapshot {
        observed_at: parse_time(&time)?,
        // Each line is freed once it is parsed, so the reply and the users are never both
        // whole in memory.
        users: users
            .into_iter()
            .filter_map(|line| parse_acl_list_line(&line))
            .collect(),
        clients: parse_client_list(&clients),
        set_times,
    })
}

/// One user, its clients and its credential set time, as of one moment of the server clock.
pub(crate) struct OneUser {
    pub(crate) observed_at: Timestamp,
    pub(crate) user: Option<AclUser>,
    pub(crate) clients: Vec<ClientEntry>,
    pub(crate) set_at: Option<String>,
}

/// Reads one user with `ACL GETUSER`, and the clients and set time that belong to it.
pub(crate) async fn read_one(
    connection: &mut MultiplexedConnection,
    name: &str,
) -> Result<OneUser, ConnectorError> {
    let (time, user, clients, set_at): (Vec<String>, Value, String, Option<String>) = redis::pipe()
        .cmd("TIME")
        .cmd("ACL")
        .arg("GETUSER")
        .arg(name)
        .cmd("CLIENT")
        .arg("LIST")
        .cmd("HGET")
        .arg(CREDENTIAL_SET_AT_KEY)
        .arg(name)
        .query_async(connection)
        .await
        .map_err(|e| redis_error(&format!("reading user `{name}`"), e))?;
    Ok(OneUser {
        observed_at: parse_time(&time)?,
        user: parse_getuser(name, &user)?,
        clients: parse_client_list(&clients)
            .into_iter()
            .filter(|client| client.user == name)
            .collect(),
        set_at,
    })
}

/// Reads one user's rules and flags with `ACL GETUSER`; `None` when it does not exist.
pub(crate) async fn read_user(
    connection: &mut MultiplexedConnection,
    name: &str,
) -> Result<Option<AclUser>, ConnectorError> {
    let reply: Value = redis::cmd("ACL")
        .arg("GETUSER")
        .arg(name)
        .query_async(connection)
        .await
        .map_err(|e| redis_error(&format!("reading user `{name}`"), e))?;
    parse_getuser(name, &reply)
}

/// Reads the server clock and every client of `name`.
pub(crate) async fn read_clients(
    connection: &mut MultiplexedConnection,
    name: &str,
) -> Result<(Timestamp, Vec<ClientEntry>), ConnectorError> {
    let (time, clients): (Vec<String>, String) = redis::pipe()
        .cmd("TIME")
        .cmd("CLIENT")
        .arg("LIST")
        .query_async(connection)
        .await
        .map_err(|e| redis_error("listing clients", e))?;
    let clients = parse_client_list(&clients)
        .into_iter()
        .filter(|client| client.user == name)
        .collect();
    Ok((parse_time(&time)?, clients))
}

/// Builds the observed account of `user` from the clients and set time read with it.
pub(crate) fn to_account(
    user: AclUser,
    clients: &[&ClientEntry],
    set_at: Option<&String>,
    observed_at: Timestamp,
) -> ObservedAccount {
    // `nopass` lets any password in, which is a credential enact does not manage.
    let extra = user.password_hashes.len().saturating_sub(1) + usize::from(user.nopass);
    ObservedAccount {
        entitlements: user.rules.entitlements(),
        login_enabled: user.enabled,
        credential_set_at: set_at
            .and_then(|value| value.parse::<i64>().ok())
            .map(Timestamp),
        sessions: clients
            .iter()
            .map(|client| client.to_session(observed_at))
            .collect(),
        owned_objects: 0,
        extra_credentials: u32::try_from(extra).unwrap_or(u32::MAX),
        settings: BTreeMap::new(),
        name: user.name,
    }
}

/// Parses the reply of `TIME`: seconds and microseconds, as two strings.
fn parse_time(reply: &[String]) -> Result<Timestamp, ConnectorError> {
    let parsed = match reply {
        [seconds, micros] => seconds
            .parse::<i64>()
            .ok()
            .zip(micros.parse::<i64>().ok())
            .map(|(s, us)| Timestamp(s.saturating_mul(1_000_000).saturating_add(us))),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ConnectorError::new(
            ErrorKind::Other,
            format!("unexpected TIME reply from Redis: {reply:?}"),
        )
    })
}

/// Parses an `ACL GETUSER` reply; `None` for the nil reply of a missing user.
fn parse_getuser(name: &str, reply: &Value) -> Result<Option<AclUser>, ConnectorError> {
    if matches!(reply, Value::Nil) {
        return Ok(None);
    }
    let unexpected = || {
        ConnectorError::new(
            ErrorKind::Other,
            format!("unexpected ACL GETUSER reply for user `{name}`"),
        )
    };
    let fields = pairs(reply).ok_or_else(unexpected)?;
    let mut parsed = GetUserReply::default();
    for (field, value) in fields {
        match field.as_str() {
            "flags" => parsed.flags = strings(value),
            "passwords" => parsed.passwords = strings(value),
            "commands" => parsed.commands = text(value).unwrap_or_default(),
            "keys" => parsed.keys = text(value).unwrap_or_default(),
            "channels" => parsed.channels = text(value).unwrap_or_default(),
            "selectors" => {
                let Value::Array(selectors) = value else {
                    continue;
                };
                for selector in selectors {
                    let mut commands = String::new();
                    let mut keys = String::new();
                    let mut channels = String::new();
                    for (field, value) in pairs(selector).ok_or_else(unexpected)? {
                        let value = text(value).unwrap_or_default();
                        match field.as_str() {
                            "commands" => commands = value,
                            "keys" => keys = value,
                            "channels" => channels = value,
                            _ => {}
                        }
                    }
                    parsed.selectors.push((commands, keys, channels));
                }
            }
            _ => {}
        }
    }
    let line = parsed.to_acl_list_line(name);
    parse_acl_list_line(&line).map(Some).ok_or_else(unexpected)
}

/// The field-value pairs of a RESP2 array of alternating fields and values, or a RESP3 map.
fn pairs(value: &Value) -> Option<Vec<(String, &Value)>> {
    match value {
        Value::Array(items) => items
            .chunks(2)
            .map(|pair| match pair {
                [field, value] => Some((text(field)?, value)),
                _ => None,
            })
            .collect(),
        Value::Map(items) => items
            .iter()
            .map(|(field, value)| Some((text(field)?, value)))
            .collect(),
        _ => None,
    }
}

/// The text of a string reply.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => Some(text.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".to_string()),
        _ => None,
    }
}

/// The texts of an array or set reply.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn getuser_reply_parses_like_acl_list() {
        let reply = Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on")]),
            bulk("passwords"),
            Value::Array(vec![bulk("aa"), bulk("bb")]),
            bulk("commands"),
            bulk("-@all +@read -get"),
            bulk("keys"),
            bulk("~q"),
            bulk("channels"),
            bulk("&ch"),
            bulk("selectors"),
            Value::Array(vec![Value::Array(vec![
                bulk("commands"),
                bulk("-@all +get"),
                bulk("keys"),
                bulk("~x"),
                bulk("channels"),
                bulk(""),
            ])]),
        ]);
        let user = parse_getuser("a", &reply).unwrap().unwrap();
        let listed = parse_acl_list_line(
            "user a on #aa #bb ~q resetchannels &ch -@all +@read -get (~x resetchannels -@all +get)",
        )
        .unwrap();
        assert_eq!(user, listed);
        assert!(parse_getuser("a", &Value::Nil).unwrap().is_none());
    }

    #[test]
    fn extra_credentials_count_passwords_and_nopass() {
        let two = parse_acl_list_line("user a on #aa #bb resetchannels -@all").unwrap();
        assert_eq!(
            to_account(two, &[], None, Timestamp(0)).extra_credentials,
            1
        );
        let nopass = parse_acl_list_line("user b on nopass resetchannels -@all").unwrap();
        assert_eq!(
            to_account(nopass, &[], None, Timestamp(0)).extra_credentials,
            1
        );
        let one = parse_acl_list_line("user c on #aa resetchannels -@all").unwrap();
        let account = to_account(one, &[], Some(&"42".to_string()), Timestamp(0));
        assert_eq!(account.extra_credentials, 0);
        assert_eq!(account.credential_set_at, Some(Timestamp(42)));
    }

    #[test]
    fn time_reply_parses_to_micros() {
        let time = parse_time(&["1796419174".to_string(), "893930".to_string()]).unwrap();
        assert_eq!(time, Timestamp(1_796_419_174_893_930));
        assert!(parse_time(&["x".to_string()]).is_err());
    }
}
