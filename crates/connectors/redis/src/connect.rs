//! Connections to the server, the raw `AUTH` of a login probe, and error classification.

use enact_connector::{ConnectorError, ErrorKind};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

/// How long opening a connection, authentication included, may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one reply may take. `ACL LIST` of 100,000 users is about 10 MB.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// The address of a server.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// Parses `host:port`, where an IPv6 host is written in brackets, as `[::1]:6379`.
    pub(crate) fn parse(endpoint: &str) -> Result<Self, ConnectorError> {
        let invalid = |why: &str| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("invalid Redis endpoint `{endpoint}`: {why}; expected `host:port`"),
            )
        };
        let (host, port) = endpoint
            .rsplit_once(':')
            .ok_or_else(|| invalid("no port"))?;
        let bracketed = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'));
        let host = bracketed.unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        if host.contains(':') && bracketed.is_none() {
            return Err(invalid("an IPv6 host must be written in brackets"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| invalid("the port is not a number from 1 to 65535"))?;
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }

    /// Opens a connection as `user`, authenticated with `AUTH user password`.
    ///
    /// NOTE: the `redis` crate keeps the password in its connection settings, which are not
    /// zeroized on drop. The copy lives as long as the connection.
    pub(crate) async fn connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<MultiplexedConnection, ConnectorError> {
        let settings = RedisConnectionInfo::default()
            .set_username(user)
            .set_password(password)
            // CLIENT SETINFO exists only from Redis 7.2, and the admin user lacks the right.
            .set_skip_set_lib_name();
        let what = format!("connecting to Redis at {} as `{user}`", self.display());
        let info = ConnectionAddr::Tcp(self.host.clone(), self.port)
            .into_connection_info()
            .map_err(|e| redis_error(&what, e))?
            .set_redis_settings(settings);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let client = redis::Client::open(info).map_err(|e| redis_error(&what, e))?;
        let opening = client.get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(CONNECT_TIMEOUT, opening).await {
            Ok(result) => result.map_err(|e| redis_error(&what, e)),
            Err(_) => Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!("{what} timed out after {} s", CONNECT_TIMEOUT.as_secs()),
            )),
        }
    }

    /// The endpoint as `host:port`, for messages.
    pub(crate) fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The server's reply to `AUTH`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthReply {
    Ok,
    /// `WRONGPASS`: a wrong password, an unknown user, or a user that is `off`.
    WrongPass,
    /// Any other error reply, as the server sent it.
    Error(String),
}

/// Opens a new TCP connection, sends `AUTH user password` and closes the connection again
/// with `QUIT` when it was accepted. Speaks RESP directly, so nothing but AUTH runs.
pub(crate) async fn probe_auth(
    endpoint: &Endpoint,
    user: &str,
    password: &str,
) -> Result<AuthReply, String> {
    let exchange = async {
        let mut stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| format!("connecting to {} failed: {e}", endpoint.display()))?;
        let request = resp_command(&[b"AUTH", user.as_bytes(), password.as_bytes()]);
        stream
            .write_all(&request)
            .await
            .map_err(|e| format!("sending AUTH failed: {e}"))?;
        let mut reader = BufReader::new(&mut stream);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .await
            .map_err(|e| format!("reading the AUTH reply failed: {e}"))?;
        let reply = line.trim_end();
        let outcome = if reply == "+OK" {
            AuthReply::Ok
        } else if reply.starts_with("-WRONGPASS") {
            AuthReply::WrongPass
        } else if let Some(error) = reply.strip_prefix('-') {
            AuthReply::Error(error.to_string())
        } else if reply.is_empty() {
            return Err("the server closed the connection without answering AUTH".to_string());
        } else {
            return Err(format!("unexpected AUTH reply `{}`", reply.escape_debug()));
        };
        if outcome == AuthReply::Ok {
            // The session was opened only to prove the login; ending it is best effort, since
            // dropping the stream closes the socket anyway.
            let _ = stream.write_all(&resp_command(&[b"QUIT"])).await;
            let mut ignored = String::new();
            let _ = BufReader::new(&mut stream).read_line(&mut ignored).await;
        }
        Ok(outcome)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "AUTH at {} timed out after {} s",
            endpoint.display(),
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// Encodes a command as a RESP array of bulk strings, in a buffer zeroized on drop because it
/// may contain a password.
fn resp_command(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(format!("*{}\r\n", parts.len()).into_bytes());
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Converts a client error for the engine, saying what `doing` failed. Errors of the
/// connection (refused, reset, timed out) are [`ErrorKind::Unavailable`], so they are retried.
pub(crate) fn redis_error(doing: &str, error: redis::RedisError) -> ConnectorError {
    let kind = classify(&error);
    let detail = one_line(&error.to_string());
    ConnectorError::with_source(kind, format!("{doing} failed: {detail}"), error)
}

/// Classifies a client error.
pub(crate) fn classify(error: &redis::RedisError) -> ErrorKind {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
    {
        return ErrorKind::Unavailable;
    }
    match error.code() {
        Some("NOPERM" | "WRONGPASS" | "NOAUTH") => ErrorKind::Denied,
        Some("LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN") => ErrorKind::Unavailable,
        Some(_) => ErrorKind::Other,
        None => match error.kind() {
            redis::ErrorKind::AuthenticationFailed => ErrorKind::Denied,
            _ => ErrorKind::Other,
        },
    }
}

/// Joins the lines of a message, so every error message stays on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parses_host_and_port() {
        let endpoint = Endpoint::parse("127.0.0.1:56379").unwrap();
        assert_eq!(
            (endpoint.host.as_str(), endpoint.port),
            ("127.0.0.1", 56379)
        );
        let v6 = Endpoint::parse("[::1]:6379").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.display(), "[::1]:6379");
    }

    #[test]
    fn endpoint_rejects_bad_forms() {
        for bad in [
            "127.0.0.1",
            ":6379",
            "127.0.0.1:x",
            "127.0.0.1:0",
            "::1:6379",
        ] {
            let error = Endpoint::parse(bad).err();
            assert_eq!(error.map(|e| e.kind), Some(ErrorKind::Invalid), "{bad}");
        }
    }

    #[test]
    fn resp_command_encodes_bulk_strings() {
        let encoded = resp_command(&[b"AUTH", b"u", b"p w"]);
        assert_eq!(
            encoded.as_slice(),
            b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$3\r\np w\r\n"
        );
    }
}
