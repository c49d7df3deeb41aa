//! Connections to the server and the classification of their errors.

use enact_connector::{ConnectorError, ErrorKind};
use std::future::poll_fn;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

/// How long opening a connection, authentication included, may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `application_name` of every connection the connector opens, so its own sessions can be
/// distinguished in `pg_stat_activity` and the server log.
const APPLICATION_NAME: &str = "enact";

/// A failure to open a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The server did not finish the connection and authentication in time.
    #[error("timed out after {} s", CONNECT_TIMEOUT.as_secs())]
    Timeout,
    /// The server or the network returned an error.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

impl ConnectError {
    /// The SQLSTATE the server sent, if it sent one.
    pub(crate) fn code(&self) -> Option<&SqlState> {
        match self {
            ConnectError::Timeout => None,
            ConnectError::Postgres(error) => error.code(),
        }
    }

    /// Converts the failure for the engine, naming `what` was being connected.
    pub(crate) fn into_connector_error(self, what: &str) -> ConnectorError {
        let kind = match &self {
            ConnectError::Timeout => ErrorKind::Unavailable,
            ConnectError::Postgres(error) => classify(error),
        };
        let message = format!("connecting {what} failed: {}", one_line(&self.to_string()));
        ConnectorError::with_source(kind, message, self)
    }
}

/// The address and database of a server, without any credential.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Endpoint {
    /// Parses `host:port`, where an IPv6 host is written in brackets, as `[::1]:5432`.
    pub(crate) fn parse(endpoint: &str, database: &str) -> Result<Self, ConnectorError> {
        let invalid = |why: &str| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("invalid PostgreSQL endpoint `{endpoint}`: {why}; expected `host:port`"),
            )
        };
        let (host, port) = endpoint
            .rsplit_once(':')
            .ok_or_else(|| invalid("no port"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        if host.contains(':') && !endpoint.starts_with('[') {
            return Err(invalid("an IPv6 host must be written in brackets"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid("the port is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(invalid("the port is not a number from 1 to 65535"));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
            database: database.to_string(),
        })
    }

    /// Builds a client configuration for `user` with `password`.
    ///
    /// NOTE: `Config` copies the password into a buffer that is not zeroized on drop. The copy
    /// lives only as long as the connection attempt.
    fn config(&self, user: &str, password: &str) -> Config {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(user)
            .password(password)
            .application_name(APPLICATION_NAME)
            .connect_timeout(CONNECT_TIMEOUT);
        config
    }

    /// Opens a connection as `user`. Notices the server sends are dropped.
    pub(crate) async fn connect(&self, user: &str, password: &str) -> Result<Client, ConnectError> {
        let (client, connection) = self.open(user, password).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "postgres connection ended with an error");
            }
        });
        Ok(client)
    }

    /// Opens a connection as `user` whose notices and warnings are kept for the caller.
    pub(crate) async fn connect_with_notices(
        &self,
        user: &str,
        password: &str,
    ) -> Result<NoticedClient, ConnectError> {
        let (client, mut connection) = self.open(user, password).await?;
        let (sender, notices) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // The loop drives the connection. A notice is parsed before the ReadyForQuery that
            // ends its statement, so it is in the channel by the time the statement returns.
            while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notice(notice)) => {
                        // The receiver is gone only when the client was dropped.
                        let _ = sender.send(notice);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%error, "postgres connection ended with an error");
                        break;
                    }
                }
            }
        });
        Ok(NoticedClient { client, notices })
    }

    async fn open(
        &self,
        user: &str,
        password: &str,
    ) -> Result<
        (
            Client,
            tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
        ),
        ConnectError,
    > {
        let config = self.config(user, password);
        // connect_timeout bounds only the TCP connect; this also bounds authentication.
        match tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ConnectError::Timeout),
        }
    }
}

/// A client whose connection forwards the server's notices and warnings.
pub(crate) struct NoticedClient {
    pub(crate) client: Client,
    notices: mpsc::UnboundedReceiver<DbError>,
}

impl NoticedClient {
    /// Discards the notices received so far, before a statement whose notices matter.
    pub(crate) fn clear_notices(&mut self) {
        while self.notices.try_recv().is_ok() {}
    }

    /// Takes the notices received since the last call.
    pub(crate) fn take_notices(&mut self) -> Vec<DbError> {
        let mut taken = Vec::new();
        while let Ok(notice) = self.notices.try_recv() {
            taken.push(notice);
        }
        taken
    }
}

/// Classifies a client error for the engine, which retries only [`ErrorKind::Unavailable`].
pub(crate) fn classify(error: &tokio_postgres::Error) -> ErrorKind {
    let Some(code) = error.code() else {
        // No SQLSTATE: the connection broke or could not be opened, or a value failed to
        // convert. Only the first two are worth a retry.
        let io_failure = std::error::Error::source(error)
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
        return if error.is_closed() || io_failure {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Other
        };
    };
    if concurrent_catalog_update(error.as_db_error()) {
        return ErrorKind::Unavailable;
    }
    classify_code(code)
}

/// Reports whether another transaction changed the same catalog row first, as when two `GRANT`s
/// on one database run at once. The server calls this an internal error (XX000), but a retry
/// resolves it.
fn concurrent_catalog_update(db: Option<&DbError>) -> bool {
    db.is_some_and(|db| {
        *db.code() == SqlState::INTERNAL_ERROR && db.message().starts_with("tuple concurrently")
    })
}

/// Classifies a SQLSTATE.
pub(crate) fn classify_code(code: &SqlState) -> ErrorKind {
    let class = code.code().get(..2).unwrap_or_default();
    if *code == SqlState::INSUFFICIENT_PRIVILEGE
        || *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        ErrorKind::Denied
    } else if class == "08"
        || class == "53"
        || class == "57"
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        // Connection exceptions, insufficient resources (such as too many connections), operator
        // intervention (shutdown, startup), and concurrency failures.
        ErrorKind::Unavailable
    } else if *code == SqlState::DEPENDENT_OBJECTS_STILL_EXIST
        || *code == SqlState::DUPLICATE_OBJECT
        || *code == SqlState::UNIQUE_VIOLATION
    {
        ErrorKind::Conflict
    } else if class == "42" || class == "22" || class == "3F" || class == "3D" || class == "0L" {
        // Syntax or access rule violations (unknown role, table or schema), data exceptions,
        // unknown schema or database, and invalid grantor or grant operation.
        ErrorKind::Invalid
    } else {
        ErrorKind::Other
    }
}

/// Converts a client error for the engine, saying what `doing` failed.
pub(crate) fn db_error(doing: &str, error: tokio_postgres::Error) -> ConnectorError {
    let kind = classify(&error);
    let detail = match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => error.to_string(),
    };
    ConnectorError::with_source(
        kind,
        format!("{doing} failed: {}", one_line(&detail)),
        error,
    )
}

/// Joins the lines of a server message, so every error message stays on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parses_host_and_port() {
        let endpoint = Endpoint::parse("127.0.0.1:55432", "appdb").ok();
        let parts = endpoint.map(|e| (e.host, e.port, e.database));
        assert_eq!(
            parts,
            Some(("127.0.0.1".to_string(), 55432, "appdb".to_string()))
        );
    }

    #[test]
    fn endpoint_parses_bracketed_ipv6() {
        let endpoint = Endpoint::parse("[::1]:5432", "appdb").ok();
        assert_eq!(endpoint.map(|e| e.host), Some("::1".to_string()));
    }

    #[test]
    fn endpoint_rejects_bad_forms() {
        for bad in [
            "127.0.0.1",
            ":5432",
            "127.0.0.1:x",
            "127.0.0.1:0",
            "::1:5432",
        ] {
            let error = Endpoint::parse(bad, "appdb").err();
            assert_eq!(error.map(|e| e.kind), Some(ErrorKind::Invalid), "{bad}");
        }
    }

    #[test]
    fn sqlstates_classify_by_meaning() {
        assert_eq!(
            classify_code(&SqlState::INSUFFICIENT_PRIVILEGE),
            ErrorKind::Denied
        );
        assert_eq!(
            classify_code(&SqlState::ADMIN_SHUTDOWN),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify_code(&SqlState::TOO_MANY_CONNECTIONS),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify_code(&SqlState::CONNECTION_FAILURE),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify_code(&SqlState::UNDEFINED_OBJECT),
            ErrorKind::Invalid
        );
        assert_eq!(
            classify_code(&SqlState::DEPENDENT_OBJECTS_STILL_EXIST),
            ErrorKind::Conflict
        );
        assert_eq!(classify_code(&SqlState::INTERNAL_ERROR), ErrorKind::Other);
    }
}
