//! Connections to the server, binds, and the classification of LDAP errors.

use enact_connector::{ConnectorError, ErrorKind};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult};
use std::time::Duration;

/// How long opening a TCP connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one operation (a bind, a search, a modify) may take.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// LDAP result codes (RFC 4511, appendix A) that the connector acts on.
pub(crate) mod code {
    pub(crate) const NO_SUCH_ATTRIBUTE: u32 = 16;
    pub(crate) const UNDEFINED_ATTRIBUTE_TYPE: u32 = 17;
    pub(crate) const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
    pub(crate) const NO_SUCH_OBJECT: u32 = 32;
    pub(crate) const INVALID_CREDENTIALS: u32 = 49;
    pub(crate) const OBJECT_CLASS_VIOLATION: u32 = 65;
    pub(crate) const NOT_ALLOWED_ON_NON_LEAF: u32 = 66;
    pub(crate) const ENTRY_ALREADY_EXISTS: u32 = 68;
}

/// The server's address, from an `ldap://host:port` URL.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// The URL in the form the client library parses: `ldap://host:port`.
    url: String,
}

impl Endpoint {
    /// Parses `ldap://host:port` with an optional trailing `/`. An IPv6 host is written in
    /// brackets, as `ldap://[::1]:389`.
    ///
    /// NOTE: only plain `ldap://` is accepted. Neither `ldaps://` nor StartTLS is wired yet, so
    /// the admin password and every credential cross the network unencrypted.
    pub(crate) fn parse(endpoint: &str) -> Result<Self, ConnectorError> {
        let invalid = |why: &str| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!("invalid LDAP endpoint `{endpoint}`: {why}; expected `ldap://host:port`"),
            )
        };
        let lower = endpoint.to_ascii_lowercase();
        if lower.starts_with("ldaps://") || lower.starts_with("ldapi://") {
            return Err(invalid("only the `ldap://` scheme is supported"));
        }
        let rest = endpoint
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("ldap://"))
            .and_then(|_| endpoint.get(7..))
            .ok_or_else(|| invalid("the URL does not start with `ldap://`"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(invalid("a URL with a path, query or user is not supported"));
        }
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| invalid("no port"))?;
        let bare_host = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host);
        if bare_host.is_empty() {
            return Err(invalid("no host"));
        }
        if bare_host.contains(':') && !host.starts_with('[') {
            return Err(invalid("an IPv6 host must be written in brackets"));
        }
        match port.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Endpoint {
                url: format!("ldap://{host}:{port}"),
            }),
            _ => Err(invalid("the port is not a number from 1 to 65535")),
        }
    }

    /// Returns the URL, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Opens a new connection, not yet bound.
    pub(crate) async fn connect(&self) -> Result<Ldap, LdapError> {
        let settings = LdapConnSettings::new().set_conn_timeout(CONNECT_TIMEOUT);
        let (connection, ldap) = LdapConnAsync::with_settings(settings, &self.url).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.drive().await {
                tracing::debug!(%error, "ldap connection ended with an error");
            }
        });
        Ok(ldap)
    }

    /// Opens a new connection and binds as `dn` with `password`. A failed bind is an error of
    /// kind [`ErrorKind::Denied`].
    pub(crate) async fn bind(&self, dn: &str, password: &str) -> Result<Ldap, ConnectorError> {
        let mut ldap = self
            .connect()
            .await
            .map_err(|e| ldap_error(&format!("connecting to `{}`", self.url), e))?;
        let result = ldap
            .with_timeout(OPERATION_TIMEOUT)
            .simple_bind(dn, password)
            .await
            .and_then(LdapResult::success);
        match result {
            Ok(_) => Ok(ldap),
            Err(error) => Err(ldap_error(&format!("binding as `{dn}`"), error)),
        }
    }
}

/// Closes a read connection politely. A failure only means the connection is already gone.
pub(crate) async fn close(mut ldap: Ldap) {
    if let Err(error) = ldap.unbind().await {
        tracing::debug!(%error, "unbinding an ldap connection failed");
    }
}

/// Returns the result code of a failed operation, if the server sent one.
pub(crate) fn result_code(error: &LdapError) -> Option<u32> {
    match error {
        LdapError::LdapResult { result } => Some(result.rc),
        _ => None,
    }
}

/// Converts a client error for the engine, saying what `doing` failed.
pub(crate) fn ldap_error(doing: &str, error: LdapError) -> ConnectorError {
    let (kind, detail) = match &error {
        LdapError::LdapResult { result } => {
            let text = one_line(&result.text);
            let detail = if text.is_empty() {
                format!("{} (result {})", code_name(result.rc), result.rc)
            } else {
                format!("{} (result {}): {text}", code_name(result.rc), result.rc)
            };
            (classify_code(result.rc), detail)
        }
        other => (classify_transport(other), one_line(&other.to_string())),
    };
    ConnectorError::with_source(kind, format!("{doing} failed: {detail}"), error)
}

/// Classifies a failure that is not an LDAP result: the connection, a timeout, or the client.
fn classify_transport(error: &LdapError) -> ErrorKind {
    match error {
        LdapError::Io { .. }
        | LdapError::Timeout { .. }
        | LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::EndOfStream => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// Classifies an LDAP result code for the engine, which retries only
/// [`ErrorKind::Unavailable`].
pub(crate) fn classify_code(rc: u32) -> ErrorKind {
    match rc {
        // busy, unavailable, timeLimitExceeded, adminLimitExceeded.
        51 | 52 | 3 | 11 => ErrorKind::Unavailable,
        // strongerAuthRequired, inappropriateAuthentication, invalidCredentials,
        // insufficientAccessRights, unwillingToPerform, confidentialityRequired.
        8 | 48 | 49 | 50 | 53 | 13 => ErrorKind::Denied,
        // attributeOrValueExists, notAllowedOnNonLeaf, entryAlreadyExists,
        // affectsMultipleDSAs.
        20 | 66 | 68 | 71 => ErrorKind::Conflict,
        // noSuchAttribute, undefinedAttributeType, inappropriateMatching, constraintViolation,
        // invalidAttributeSyntax, noSuchObject, invalidDNSyntax, namingViolation,
        // objectClassViolation, notAllowedOnRDN, objectClassModsProhibited.
        16 | 17 | 18 | 19 | 21 | 32 | 34 | 64 | 65 | 67 | 69 => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

/// Returns the name RFC 4511 gives a result code, for messages.
fn code_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        68 => "entryAlreadyExists",
        80 => "other",
        _ => "error",
    }
}

/// Joins the lines of a server message, so every error message stays on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parses_ldap_urls() {
        for (input, url) in [
            ("ldap://127.0.0.1:53389/", "ldap://127.0.0.1:53389"),
            ("ldap://127.0.0.1:389", "ldap://127.0.0.1:389"),
            ("LDAP://localhost:389/", "ldap://localhost:389"),
            ("ldap://[::1]:389/", "ldap://[::1]:389"),
        ] {
            let parsed = Endpoint::parse(input).map(|e| e.url().to_string()).ok();
            assert_eq!(parsed.as_deref(), Some(url), "{input}");
        }
    }

    #[test]
    fn endpoint_rejects_other_forms() {
        for bad in [
            "127.0.0.1:389",
            "ldaps://127.0.0.1:636/",
            "ldapi:///var/run/slapd.sock",
            "ldap://127.0.0.1/",
            "ldap://:389/",
            "ldap://127.0.0.1:0/",
            "ldap://127.0.0.1:x/",
            "ldap://::1:389/",
            "ldap://127.0.0.1:389/dc=x",
            "ldap://user@127.0.0.1:389/",
            "ldap:/",
        ] {
            let error = Endpoint::parse(bad).err();
            assert_eq!(error.map(|e| e.kind), Some(ErrorKind::Invalid), "{bad}");
        }
    }

    #[test]
    fn result_codes_classify_by_meaning() {
        assert_eq!(classify_code(52), ErrorKind::Unavailable);
        assert_eq!(classify_code(51), ErrorKind::Unavailable);
        assert_eq!(classify_code(50), ErrorKind::Denied);
        assert_eq!(classify_code(49), ErrorKind::Denied);
        assert_eq!(classify_code(68), ErrorKind::Conflict);
        assert_eq!(classify_code(32), ErrorKind::Invalid);
        assert_eq!(classify_code(65), ErrorKind::Invalid);
        assert_eq!(classify_code(80), ErrorKind::Other);
    }

    #[tokio::test]
    async fn closed_port_is_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or(1);
        let endpoint = Endpoint::parse(&format!("ldap://127.0.0.1:{port}/"));
        let Ok(endpoint) = endpoint else {
            panic!("the endpoint is valid");
        };
        let error = endpoint.bind("cn=x", "pw").await.err();
        assert_eq!(error.map(|e| e.kind), Some(ErrorKind::Unavailable));
    }
}
