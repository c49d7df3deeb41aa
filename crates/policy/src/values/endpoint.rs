//! Target endpoints: `host:port`, or a URL with a host and a port for the kinds that speak
//! a URL scheme.

use super::Problem;
use crate::kinds::{LDAP, OPENBAO, REDIS};

/// Checks the endpoint of a target of `kind`: an `http://` or `https://` URL for OpenBao, an
/// `ldap://` or `ldaps://` URL for LDAP, and `host:port` for every other kind. Without a known
/// kind, the form the text starts with decides.
pub(crate) fn endpoint(kind: Option<&str>, text: &str) -> Result<(), Problem> {
    let is_url = text.starts_with("http://") || text.starts_with("https://");
    let is_ldap_url = text.starts_with("ldap://") || text.starts_with("ldaps://");
    match kind {
        Some(OPENBAO) => url_endpoint(text),
        Some(LDAP) => ldap_url_endpoint(text),
        Some(REDIS) => host_port_endpoint(text, 6379),
        None if is_url => url_endpoint(text),
        None if is_ldap_url => ldap_url_endpoint(text),
        _ => host_port_endpoint(text, 5432),
    }
}

/// Checks an endpoint of the form `host:port`, with IPv6 hosts in brackets. `port` is the port
/// the help's examples use.
fn host_port_endpoint(text: &str, port: u16) -> Result<(), Problem> {
    if host_port_ok(text) {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid endpoint `{text}`"),
            format!("write `host:port`, e.g. `127.0.0.1:{port}` or `[::1]:{port}`"),
        ))
    }
}

/// Checks an endpoint of the form `ldap://host:port` or `ldaps://host:port`, with an optional
/// trailing `/` (an LDAP URL with an empty DN). A path is rejected, because the base DN is set
/// with `base` and an LDAP URL's path would name a DN too.
fn ldap_url_endpoint(text: &str) -> Result<(), Problem> {
    let authority = text
        .strip_prefix("ldap://")
        .or_else(|| text.strip_prefix("ldaps://"))
        .map(|rest| rest.strip_suffix('/').unwrap_or(rest));
    if authority.is_some_and(host_port_ok) {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid endpoint `{text}` for an `ldap` target"),
            "write an `ldap://` or `ldaps://` URL with a host and a port and no path, e.g. \
             `ldap://127.0.0.1:389`",
        ))
    }
}

/// Checks an endpoint of the form `http://host:port` or `https://host:port`. A path is rejected,
/// because the connector appends the API path to the endpoint.
fn url_endpoint(text: &str) -> Result<(), Problem> {
    let authority = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    if authority.is_some_and(host_port_ok) {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid endpoint `{text}` for an `openbao` target"),
            "write an `http://` or `https://` URL with a host and a port and no path, e.g. \
             `http://127.0.0.1:8200`",
        ))
    }
}

/// Tests `host:port`, where the host is a name, an IPv4 address or a bracketed IPv6 address and
/// the port is from 1 to 65535.
fn host_port_ok(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(bracketed) => bracketed
            .strip_suffix(']')
            .is_some_and(|inner| !inner.is_empty() && inner.contains(':')),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        }
    };
    let port_ok = port.parse::<u16>().is_ok_and(|port| port > 0);
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::POSTGRES;

    #[test]
    fn endpoints_need_host_and_port() {
        let postgres = Some(POSTGRES);
        assert!(endpoint(postgres, "127.0.0.1:55432").is_ok());
        assert!(endpoint(postgres, "localhost:5432").is_ok());
        assert!(endpoint(postgres, "[::1]:5432").is_ok());
        for text in [
            "127.0.0.1",
            ":5432",
            "host:0",
            "host:70000",
            "::1:5432",
            "host:x",
            "http://127.0.0.1:5432",
        ] {
            assert!(endpoint(postgres, text).is_err(), "`{text}` was accepted");
        }
    }

    #[test]
    fn openbao_endpoints_are_urls() {
        let openbao = Some(OPENBAO);
        assert!(endpoint(openbao, "http://127.0.0.1:58200").is_ok());
        assert!(endpoint(openbao, "https://localhost:8200").is_ok());
        assert!(endpoint(openbao, "http://[::1]:8200").is_ok());
        for text in [
            "127.0.0.1:8200",
            "http://127.0.0.1",
            "http://127.0.0.1:8200/",
            "http://127.0.0.1:8200/v1",
            "ftp://127.0.0.1:8200",
            "HTTP://127.0.0.1:8200",
            "http://:8200",
        ] {
            assert!(endpoint(openbao, text).is_err(), "`{text}` was accepted");
        }
    }

    #[test]
    fn redis_endpoints_are_host_port() {
        assert!(endpoint(Some(REDIS), "127.0.0.1:56379").is_ok());
        let help = endpoint(Some(REDIS), "127.0.0.1")
            .err()
            .and_then(|problem| problem.help);
        assert_eq!(
            help.as_deref(),
            Some("write `host:port`, e.g. `127.0.0.1:6379` or `[::1]:6379`")
        );
        assert!(endpoint(Some(REDIS), "redis://127.0.0.1:6379").is_err());
    }

    #[test]
    fn ldap_endpoints_are_urls() {
        let ldap = Some(LDAP);
        assert!(endpoint(ldap, "ldap://127.0.0.1:53389").is_ok());
        assert!(endpoint(ldap, "ldap://127.0.0.1:53389/").is_ok());
        assert!(endpoint(ldap, "ldap://127.0.0.1:53389//").is_err());
        assert!(endpoint(ldap, "ldaps://localhost:636").is_ok());
        assert!(endpoint(ldap, "ldap://[::1]:389").is_ok());
        for text in [
            "127.0.0.1:389",
            "ldap://127.0.0.1",
            "ldap://127.0.0.1:389/dc=enact,dc=test",
            "http://127.0.0.1:389",
            "LDAP://127.0.0.1:389",
            "ldapi://127.0.0.1:389",
        ] {
            assert!(endpoint(ldap, text).is_err(), "`{text}` was accepted");
        }
    }

    #[test]
    fn unknown_kind_endpoint_takes_either_form() {
        assert!(endpoint(None, "ldap://127.0.0.1:389").is_ok());
        assert!(endpoint(None, "ldap://127.0.0.1").is_err());
        assert!(endpoint(None, "127.0.0.1:5432").is_ok());
        assert!(endpoint(None, "http://127.0.0.1:8200").is_ok());
        assert!(endpoint(None, "http://127.0.0.1").is_err());
        assert!(endpoint(None, "127.0.0.1").is_err());
    }
}
