//! The individual probes, each retried within the verification window.

use crate::VerifyContext;
use enact_connector::{LoginProbe, Rejection};
use enact_model::{Entitlement, Fingerprint, Probe, ProbeOutcome, Secret, SessionSelector};
use std::future::Future;
use std::time::{Duration as StdDuration, Instant};
use tracing::debug;

/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: StdDuration = StdDuration::from_millis(50);
const MAX_PAUSE: StdDuration = StdDuration::from_millis(1000);

pub(crate) struct ProbeRunner<'a, 'b> {
    ctx: &'a VerifyContext<'b>,
}

fn refuted(reason: impl Into<String>) -> ProbeOutcome {
    ProbeOutcome::Refuted {
        reason: reason.into(),
    }
}

fn indeterminate(reason: impl Into<String>) -> ProbeOutcome {
    ProbeOutcome::Indeterminate {
        reason: reason.into(),
    }
}

impl<'a, 'b> ProbeRunner<'a, 'b> {
    pub(crate) fn new(ctx: &'a VerifyContext<'b>) -> Self {
        ProbeRunner { ctx }
    }

    /// Runs `attempt` until it confirms or the window closes, keeping the last outcome.
    async fn retry<F, Fut>(&self, name: &str, expectation: &str, mut attempt: F) -> Probe
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ProbeOutcome>,
    {
        let started_at = self.ctx.clock.now();
        let deadline = Instant::now() + self.ctx.window;
        let mut pause = FIRST_PAUSE;
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let outcome = attempt().await;
            let settled = matches!(
                outcome,
                ProbeOutcome::Confirmed | ProbeOutcome::NotApplicable { .. }
            );
            if settled || Instant::now() + pause > deadline {
                break outcome;
            }
            debug!(
                probe = name,
                attempts,
                outcome = outcome.name(),
                "probe not confirmed yet, retrying"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        };
        Probe {
            name: name.to_string(),
            expectation: expectation.to_string(),
            outcome,
            started_at,
            ended_at: self.ctx.clock.now(),
            attempts,
            window_ms: u64::try_from(self.ctx.window.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn not_applicable(&self, name: &str, reason: &str) -> Probe {
        let now = self.ctx.clock.now();
        Probe {
            name: name.to_string(),
            expectation: String::new(),
            outcome: ProbeOutcome::NotApplicable {
                reason: reason.to_string(),
            },
            started_at: now,
            ended_at: now,
            attempts: 0,
            window_ms: 0,
        }
    }

    pub(crate) async fn account_exists(&self, account: &str, login: Option<bool>) -> Probe {
        let expectation = match login {
            Some(true) => "the account exists and can log in",
            Some(false) => "the account exists and cannot log in",
            None => "the account exists",
        };
        self.retry("account-read-back", expectation, || async {
            match self.ctx.connector.read_account(account).await {
                Ok(Some(found)) => match login {
                    Some(expected) if found.login_enabled != expected => refuted(format!(
                        "login is {}",
                        if found.login_enabled {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    )),
                    _ => ProbeOutcome::Confirmed,
                },
                Ok(None) => refuted("the account does not exist"),
                Err(error) => indeterminate(format!("read-back failed: {error}")),
            }
        })
        .await
    }

    pub(crate) async fn account_absent(&self, account: &str) -> Probe {
        self.retry("account-absent", "the account no longer exists", || async {
            match self.ctx.connector.read_account(account).await {
                Ok(None) => ProbeOutcome::Confirmed,
                Ok(Some(_)) => refuted("the account still exists"),
                Err(error) => indeterminate(format!("read-back failed: {error}")),
            }
        })
        .await
    }

    pub(crate) async fn entitlement(
        &self,
        account: &str,
        entitlement: &Entitlement,
        held: bool,
    ) -> Probe {
        let (name, expectation) = if held {
            (
                "entitlement-held",
                format!("the account holds {entitlement}"),
            )
        } else {
            (
                "entitlement-absent",
                format!("the account no longer holds {entitlement}"),
            )
        };
        self.retry(name, &expectation, || async {
            match self.ctx.connector.read_account(account).await {
                Ok(Some(found)) => {
                    if found.entitlements.contains(entitlement) == held {
                        ProbeOutcome::Confirmed
                    } else if held {
                        refuted(format!("{entitlement} is not held"))
                    } else {
                        refuted(format!("{entitlement} is still held"))
                    }
                }
                Ok(None) => refuted("the account does not exist"),
                Err(error) => indeterminate(format!("read-back failed: {error}")),
            }
        })
        .await
    }

    pub(crate) async fn settings(
        &self,
        account: &str,
        expected: &std::collections::BTreeMap<String, String>,
    ) -> Probe {
        self.retry(
            "settings-read-back",
            "the account's configuration reads back as declared",
            || async {
                match self.ctx.connector.read_account(account).await {
                    Ok(Some(found)) => {
                        let wrong: Vec<String> = expected
                            .iter()
                            .filter(|(key, value)| found.settings.get(*key) != Some(*value))
                            .map(|(key, value)| {
                                let actual = found
                                    .settings
                                    .get(key)
                                    .map(String::as_str)
                                    .unwrap_or("unset");
                                format!("{key} is {actual}, expected {value}")
                            })
                            .collect();
                        if wrong.is_empty() {
                            ProbeOutcome::Confirmed
                        } else {
                            refuted(wrong.join("; "))
                        }
                    }
                    Ok(None) => refuted("the account does not exist"),
                    Err(error) => indeterminate(format!("read-back failed: {error}")),
                }
            },
        )
        .await
    }

    pub(crate) async fn sink_holds_new(&self, expected: Option<&Fingerprint>) -> Probe {
        let Some(sink) = self.ctx.sink else {
            return self.not_applicable("sink-holds-new-credential", "the account has no sink");
        };
        let Some(expected) = expected else {
            return self
                .retry(
                    "sink-holds-new-credential",
                    "the sink holds the new credential",
                    || async {
                        indeterminate("the journal holds no fingerprint for the new credential")
                    },
                )
                .await;
        };
        let expectation = format!(
            "{} holds the credential {}",
            sink.describe(),
            expected.short()
        );
        self.retry("sink-holds-new-credential", &expectation, || async {
            match sink.read_current(self.ctx.key).await {
                Ok(Some(current)) if current.fingerprint() == expected => ProbeOutcome::Confirmed,
                Ok(Some(current)) => refuted(format!(
                    "the sink holds {} instead",
                    current.fingerprint().short()
                )),
                Ok(None) => refuted("the sink holds no value"),
                Err(error) => indeterminate(format!("reading the sink failed: {error}")),
            }
        })
        .await
    }

    async fn login_outcome(
        &self,
        account: &str,
        secret: &Secret,
        accept: bool,
        rejections: &[Rejection],
    ) -> ProbeOutcome {
        match self.ctx.connector.probe_login(account, secret).await {
            LoginProbe::Accepted if accept => ProbeOutcome::Confirmed,
            LoginProbe::Accepted => refuted(format!(
                "the credential {} is still accepted",
                secret.fingerprint().short()
            )),
            LoginProbe::Rejected(rejection) if accept => {
                refuted(format!("login rejected: {rejection}"))
            }
            LoginProbe::Rejected(rejection) if rejections.contains(&rejection) => {
                ProbeOutcome::Confirmed
            }
            LoginProbe::Rejected(rejection) => {
                indeterminate(format!("login rejected for another reason: {rejection}"))
            }
            LoginProbe::Unavailable { reason } => indeterminate(reason),
        }
    }

    pub(crate) async fn current_login_accepted(&self, account: &str) -> Probe {
        let name = "login-with-current-credential";
        let Some(sink) = self.ctx.sink else {
            return self.not_applicable(name, "the account has no sink");
        };
        let expectation = format!("a login with the value in {} succeeds", sink.describe());
        self.retry(name, &expectation, || async {
            match sink.read_current(self.ctx.key).await {
                Ok(Some(current)) => self.login_outcome(account, &current, true, &[]).await,
                Ok(None) => refuted("the sink holds no value"),
                Err(error) => indeterminate(format!("reading the sink failed: {error}")),
            }
        })
        .await
    }

    pub(crate) async fn current_login_rejected(
        &self,
        account: &str,
        rejections: &[Rejection],
    ) -> Probe {
        let name = "login-rejected";
        let Some(sink) = self.ctx.sink else {
            return self.not_applicable(name, "no credential of the account is held, so no login can be attempted; the read-back shows login disabled");
        };
        match sink.read_current(self.ctx.key).await {
            Ok(Some(current)) => {
                self.retry(
                    name,
                    "a login with the held credential is rejected",
                    || async {
                        self.login_outcome(account, &current, false, rejections)
                            .await
                    },
                )
                .await
            }
            Ok(None) => self.not_applicable(
                name,
                "the sink holds no credential, so no login can be attempted",
            ),
            Err(error) => {
                let reason = format!("reading the sink failed: {error}");
                self.retry(
                    name,
                    "a login with the held credential is rejected",
                    || async { indeterminate(reason.clone()) },
                )
                .await
            }
        }
    }

    pub(crate) async fn previous_login_rejected(
        &self,
        account: &str,
        rejections: &[Rejection],
    ) -> Probe {
        let name = "login-with-previous-credential-rejected";
        let Some(sink) = self.ctx.sink else {
            return self.not_applicable(name, "the account has no sink");
        };
        match sink.read_previous(self.ctx.key).await {
            Ok(Some(previous)) => {
                let expectation = format!(
                    "a login with the previous credential {} is rejected as invalid",
                    previous.fingerprint().short()
                );
                self.retry(name, &expectation, || async {
                    self.login_outcome(account, &previous, false, rejections)
                        .await
                })
                .await
            }
            Ok(None) => self.not_applicable(
                name,
                "the sink held no previous value, so enact never held the replaced credential",
            ),
            Err(error) => {
                let reason = format!("reading the sink failed: {error}");
                self.retry(name, "the previous credential is rejected", || async {
                    indeterminate(reason.clone())
                })
                .await
            }
        }
    }

    pub(crate) async fn no_sessions(&self, account: &str, selector: &SessionSelector) -> Probe {
        let reference = self.ctx.executed_at;
        let expectation = format!("no session {selector} that existed when the action ran remains");
        self.retry("sessions-ended", &expectation, || async {
            match self.ctx.connector.list_sessions(account).await {
                Ok(sessions) => {
                    let remaining: Vec<&str> = sessions
                        .iter()
                        .filter(|s| s.started_at <= reference)
                        .filter(|s| selector.matches(s.started_at, s.idle_since, reference))
                        .map(|s| s.id.as_str())
                        .collect();
                    if remaining.is_empty() {
                        ProbeOutcome::Confirmed
                    } else {
                        refuted(format!("session(s) {} remain", remaining.join(", ")))
                    }
                }
                Err(error) => indeterminate(format!("listing sessions failed: {error}")),
            }
        })
        .await
    }

    pub(crate) async fn sink_empty(&self) -> Probe {
        let Some(sink) = self.ctx.sink else {
            return self.not_applicable("sink-purged", "the account has no sink");
        };
        let expectation = format!("{} holds no value", sink.describe());
        self.retry("sink-purged", &expectation, || async {
            match sink.held_fingerprints(self.ctx.key).await {
                Ok(held) if held.is_empty() => ProbeOutcome::Confirmed,
                Ok(held) => refuted(format!("the sink still holds {} value(s)", held.len())),
                Err(error) => indeterminate(format!("reading the sink failed: {error}")),
            }
        })
        .await
    }

    pub(crate) async fn previous_purged(&self, previous: &Fingerprint) -> Probe {
        let Some(sink) = self.ctx.sink else {
            return self.not_applicable("previous-credential-purged", "the account has no sink");
        };
        let expectation = format!(
            "{} no longer holds the previous credential {}",
            sink.describe(),
            previous.short()
        );
        self.retry("previous-credential-purged", &expectation, || async {
            match sink.held_fingerprints(self.ctx.key).await {
                Ok(held) if held.contains(previous) => {
                    refuted("the sink still holds the previous credential")
                }
                Ok(_) => ProbeOutcome::Confirmed,
                Err(error) => indeterminate(format!("reading the sink failed: {error}")),
            }
        })
        .await
    }
}
