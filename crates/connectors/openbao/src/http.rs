//! The HTTP client for the OpenBao API and the classification of its errors.

use enact_connector::{ConnectorError, ErrorKind};
use enact_model::Secret;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long opening a TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may take from sending to the end of the response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The maximum number of requests one [`Api`] has in flight at once. Observing a thousand roles
/// takes a few thousand requests, so they run concurrently, but a bounded number at a time so
/// the server is not flooded.
pub(crate) const MAX_IN_FLIGHT: usize = 16;

/// The header that carries the client token.
const TOKEN_HEADER: &str = "X-Vault-Token";

/// A failed request, kept as the source of a [`ConnectorError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request could not be sent or its response not read.
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// The server returned an error status.
    #[error("HTTP {status}: {detail}")]
    Status { status: StatusCode, detail: String },
}

/// A client for one OpenBao server, acting with one token.
///
/// Requests go to `<base>/v1/<path>`. Each `Api` owns its own connection pool, so a read that
/// must not trust an earlier connection builds a new one with [`Api::fresh`].
#[derive(Clone)]
pub(crate) struct Api {
    /// The server's base URL without a trailing slash, such as `http://127.0.0.1:58200`.
    base: String,
    token: Arc<Secret>,
    client: reqwest::Client,
    in_flight: Arc<Semaphore>,
}

/// A response: its status and its JSON body (`Value::Null` when the body is empty).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Reply {
    /// The `data` object of the body.
    pub(crate) fn data(&self) -> &Value {
        &self.body["data"]
    }
}

/// How many times a read is sent when OpenBao reports a storage conflict.
const READ_ATTEMPTS: u32 = 4;

impl Api {
    /// Builds a client for the server at `base` (`http://host:port` or `https://host:port`),
    /// acting with `token`.
    pub(crate) fn new(base: &str, token: Arc<Secret>) -> Result<Api, ConnectorError> {
        let base = check_base_url(base)?;
        Ok(Api {
            client: build_client()?,
            base,
            token,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// A client for the same server and token with a new connection pool.
    pub(crate) fn fresh(&self) -> Result<Api, ConnectorError> {
        Ok(Api {
            client: build_client()?,
            base: self.base.clone(),
            token: Arc::clone(&self.token),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request to `v1/<path>` with the client's token and returns the response,
    /// whatever its status. Only a failure to send or receive is an error.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ConnectorError> {
        // A read or a delete that meets a storage conflict is tried again a few times: OpenBao
        // 2.7 answers HTTP 500 "transaction commit failed" when another request changes the
        // same entries at that moment. A read has no effect to repeat, and a delete has the
        // same effect however often it runs. Other writes are never repeated here.
        let read_only = method == Method::GET
            || method == Method::DELETE
            || path.ends_with("lookup")
            || path.ends_with("lookup-accessor");
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The token authenticates the request; the header is marked sensitive so it is
            // never printed by reqwest's own Debug output.
            let reply = self
                .send_with_token(method.clone(), path, body, Some(self.token.expose()))
                .await?;
            // A token accessor looked up while another client revokes that token can answer
            // 403 for a moment before it answers 400 "invalid accessor".
            let conflict = (reply.status == StatusCode::INTERNAL_SERVER_ERROR
                && error_detail(&reply.body).contains("transaction commit failed"))
                || (reply.status == StatusCode::FORBIDDEN && path.ends_with("lookup-accessor"));
            if !(read_only && conflict) || attempt >= READ_ATTEMPTS {
                return Ok(reply);
            }
            tracing::debug!(path, attempt, "storage conflict on a read, retrying");
            tokio::time::sleep(std::time::Duration::from_millis(25 * u64::from(attempt))).await;
        }
    }

    /// Sends one request with `token`, or without any token when `None`.
    pub(crate) async fn send_with_token(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Reply, ConnectorError> {
        let doing = format!("`{method} {path}`");
        let url = format!("{}/v1/{path}", self.base);
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(token).map_err(|_| {
                ConnectorError::new(
                    ErrorKind::Invalid,
                    "the OpenBao token contains characters not allowed in an HTTP header",
                )
            })?;
            value.set_sensitive(true);
            headers.insert(TOKEN_HEADER, value);
        }
        let mut request = self.client.request(method, url).headers(headers);
        if let Some(body) = body {
            request = request.json(body);
        }

        // The semaphore is never closed, so acquiring fails only if it were; then the request
        // runs without a permit rather than failing.
        let _permit = self.in_flight.acquire().await.ok();
        let response = request
            .send()
            .await
            .map_err(|error| transport_error(&doing, error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| transport_error(&doing, error))?;
        // NOTE: response bodies that carry a secret (a KV value, an issued token, a secret ID
        // echoed back) are parsed into plain strings that are not zeroized on drop. They live
        // only until the operation returns.
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Reply { status, body })
    }

    /// Sends a request and fails on any status other than 2xx.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ConnectorError> {
        let reply = self.send(method.clone(), path, body).await?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(status_error(&format!("`{method} {path}`"), &reply))
        }
    }

    /// Reads `path`: the `data` object, or `None` on 404.
    pub(crate) async fn read(&self, path: &str) -> Result<Option<Value>, ConnectorError> {
        let reply = self.send(Method::GET, path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(status_error(&format!("`GET {path}`"), &reply));
        }
        Ok(Some(reply.data().clone()))
    }

    /// Lists the keys under `path`; a 404 means there are none.
    pub(crate) async fn list(&self, path: &str) -> Result<Vec<String>, ConnectorError> {
        let reply = self
            .send(Method::GET, &format!("{path}?list=true"), None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !reply.status.is_success() {
            return Err(status_error(&format!("`LIST {path}`"), &reply));
        }
        Ok(string_list(&reply.data()["keys"]))
    }

    /// Writes `body` to `path` with POST and returns the `data` object (null when none).
    pub(crate) async fn write(&self, path: &str, body: &Value) -> Result<Value, ConnectorError> {
        let reply = self.call(Method::POST, path, Some(body)).await?;
        Ok(reply.data().clone())
    }

    /// Deletes `path`. A path that does not exist is not an error.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), ConnectorError> {
        let reply = self.send(Method::DELETE, path, None).await?;
        if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(status_error(&format!("`DELETE {path}`"), &reply))
        }
    }
}

fn build_client() -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        // The server's address is configured; a redirect elsewhere is never followed with the
        // token.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| {
            ConnectorError::with_source(
                ErrorKind::Other,
                format!("building the HTTP client failed: {error}"),
                error,
            )
        })
}

/// Checks that `base` is an `http` or `https` URL with a host and nothing after the port, and
/// returns it without a trailing slash.
pub(crate) fn check_base_url(base: &str) -> Result<String, ConnectorError> {
    let invalid = |why: &str| {
        ConnectorError::new(
            ErrorKind::Invalid,
            format!("invalid OpenBao address `{base}`: {why}; expected `http://host:port`"),
        )
    };
    let url = reqwest::Url::parse(base).map_err(|error| invalid(&error.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid("the scheme is not http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the address are not supported"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a path, query or fragment is not supported"));
    }
    Ok(base.trim_end_matches('/').to_string())
}

/// Converts a failure to send or receive. Connection failures and timeouts are transient.
fn transport_error(doing: &str, error: reqwest::Error) -> ConnectorError {
    let kind = if error.is_connect() || error.is_timeout() || error.is_request() {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Other
    };
    let message = format!("{doing} failed: {}", one_line(&error_chain(&error)));
    ConnectorError::with_source(kind, message, ApiError::Transport(error))
}

/// Converts an error status, saying what `doing` was.
pub(crate) fn status_error(doing: &str, reply: &Reply) -> ConnectorError {
    let detail = error_detail(&reply.body);
    // A storage conflict aborts the request's transaction, so nothing changed and the engine
    // may run the step again.
    let kind = if reply.status == StatusCode::INTERNAL_SERVER_ERROR
        && detail.contains("transaction commit failed")
    {
        ErrorKind::Unavailable
    } else {
        classify(reply.status)
    };
    let message = if detail.is_empty() {
        format!("{doing} failed: HTTP {}", reply.status.as_u16())
    } else {
        format!("{doing} failed: HTTP {}: {detail}", reply.status.as_u16())
    };
    ConnectorError::with_source(
        kind,
        message,
        ApiError::Status {
            status: reply.status,
            detail,
        },
    )
}

/// Classifies an error status for the engine, which retries only [`ErrorKind::Unavailable`].
pub(crate) fn classify(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        // A token without the capability, or an invalid or expired token.
        401 | 403 => ErrorKind::Denied,
        400 | 404 | 405 => ErrorKind::Invalid,
        409 => ErrorKind::Conflict,
        // 412: a performance standby has not yet caught up; 429: rate limited; 502 to 504: a
        // proxy or load balancer without a healthy server; 503: sealed or in standby.
        412 | 429 | 502..=504 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// The server's error messages from a response body, on one line.
pub(crate) fn error_detail(body: &Value) -> String {
    let mut messages = string_list(&body["errors"]);
    // A few endpoints return 404 with `data.error` instead of `errors`.
    if let Some(message) = body["data"]["error"].as_str() {
        messages.push(message.to_string());
    }
    let joined: Vec<String> = messages
        .iter()
        .map(|message| {
            // Go's multierror wraps one message as "1 error occurred:\n\t* message\n\n".
            let inner = message
                .strip_prefix("1 error occurred:")
                .map(|rest| rest.trim().trim_start_matches('*'))
                .unwrap_or(message);
            one_line(inner)
        })
        .filter(|message| !message.is_empty())
        .collect();
    joined.join("; ")
}

/// The strings in a JSON array; anything else gives an empty list.
pub(crate) fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The message of an error and of every error below it, because reqwest's own message omits
/// the cause (such as "connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Joins the lines of a message, so every error message stays on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_url_accepts_host_and_port() {
        let base = check_base_url("http://127.0.0.1:58200/").ok();
        assert_eq!(base.as_deref(), Some("http://127.0.0.1:58200"));
    }

    #[test]
    fn base_url_rejects_bad_forms() {
        for bad in [
            "127.0.0.1:58200",
            "ftp://127.0.0.1:21",
            "http://127.0.0.1:58200/v1",
            "http://user:pw@127.0.0.1:58200",
            "http://127.0.0.1:58200?x=1",
        ] {
            let error = check_base_url(bad).err();
            assert_eq!(error.map(|e| e.kind), Some(ErrorKind::Invalid), "{bad}");
        }
    }

    #[test]
    fn statuses_classify_by_meaning() {
        assert_eq!(classify(StatusCode::FORBIDDEN), ErrorKind::Denied);
        assert_eq!(classify(StatusCode::BAD_REQUEST), ErrorKind::Invalid);
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR),
            ErrorKind::Other
        );
    }

    #[test]
    fn error_detail_unwraps_multierror() {
        let body = json!({"errors": ["1 error occurred:\n\t* permission denied\n\n"]});
        assert_eq!(error_detail(&body), "permission denied");
        let body = json!({"data": {"error": "failed to find accessor entry"}});
        assert_eq!(error_detail(&body), "failed to find accessor entry");
        assert_eq!(error_detail(&json!({"errors": []})), "");
    }
}
