//! The dependents stage of a rotation: after the new credential is promoted, wait until every
//! declared dependent uses it, within the grace period.
//!
//! A dependent observed through sessions has moved when one of its sessions uses the new
//! credential and none uses the previous one, or the rotation ends the older sessions. A
//! session uses the new credential when it logged in as the new user of an alternating-users
//! account, or, for other strategies, when it opened after the promotion: the target cannot
//! tell which of two valid credentials a session presented. A dependent observed through a
//! probe has moved when its command exits 0 or its endpoint answers 2xx.
//!
//! If the grace period ends first, the stage fails as unavailable: the previous credential is
//! not retired, so no declared dependent is cut off, and the next apply waits again.

use crate::steps::{DependentMove, StepContext};
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{
    Dependent, DependentCheck, Duration, Fingerprint, ObservedSession, Timestamp, SESSION_USER,
};
use std::collections::HashSet;
use std::time::Duration as StdDuration;
use tracing::{debug, info};

/// How often the stage looks again while dependents have not moved.
const POLL: StdDuration = StdDuration::from_millis(250);

/// How long one probe command or request may take.
const PROBE_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// The promotion a dependents stage judges sessions against.
pub(crate) struct Watch {
    /// The sessions open just before the promotion; `None` when they were not listed.
    pub open_at_promotion: Option<HashSet<String>>,
    pub promoted_at: Timestamp,
    pub grace: Duration,
    /// The user the new credential logs in as, for an alternating-users account.
    pub new_user: Option<String>,
    /// The rotation ends sessions opened before it, so old sessions need not close by
    /// themselves.
    pub end_on_rotation: bool,
    pub new_fingerprint: Option<Fingerprint>,
}

/// What tells a session on the new credential from one on the old.
struct Judge<'w> {
    watch: &'w Watch,
    /// The sessions known to have opened before the promotion: those listed just before it,
    /// or, when that list is missing, those open at the stage's first look. Start times alone
    /// cannot order a session against the promotion where the target records them in whole
    /// seconds (Redis).
    before: &'w HashSet<String>,
}

impl Judge<'_> {
    fn uses_new(&self, session: &ObservedSession) -> bool {
        match &self.watch.new_user {
            Some(user) => session.metadata.get(SESSION_USER) == Some(user),
            None => !self.before.contains(&session.id),
        }
    }
}

/// The outcome of a dependents stage in which every dependent moved.
pub(crate) struct Seen {
    pub moved: Vec<DependentMove>,
    /// Sessions on the previous credential that belong to no declared dependent.
    pub undeclared: Vec<String>,
}

/// Waits until every declared dependent has moved, or the grace period ends.
pub(crate) async fn wait(ctx: &StepContext<'_>, watch: &Watch) -> Result<Seen, ConnectorError> {
    let deadline = Timestamp(watch.promoted_at.0.saturating_add(watch.grace.as_micros()));
    info!(
        action = %ctx.action.id,
        target = %ctx.action.target,
        account = %ctx.action.account,
        dependents = ctx.dependents.len(),
        grace = %watch.grace,
        "waiting for the declared dependents to move to the new credential"
    );
    let mut first_seen: Option<HashSet<String>> = None;
    loop {
        let sessions = ctx.connector.list_sessions(&ctx.action.account).await?;
        let before = match &watch.open_at_promotion {
            Some(listed) => listed,
            None => {
                first_seen.get_or_insert_with(|| sessions.iter().map(|s| s.id.clone()).collect())
            }
        };
        let judge = &Judge { watch, before };
        let mut moved = Vec::new();
        let mut waiting = Vec::new();
        for dependent in ctx.dependents {
            match check(ctx, judge, dependent, &sessions).await {
                Ok(seen) => moved.push(DependentMove {
                    name: dependent.name.clone(),
                    seen,
                }),
                Err(why) => waiting.push(format!("{dependent}: {why}")),
            }
        }
        if waiting.is_empty() {
            let undeclared = sessions
                .iter()
                .filter(|s| !judge.uses_new(s) && !ctx.dependents.iter().any(|d| d.owns(s)))
                .map(|s| s.id.clone())
                .collect();
            info!(action = %ctx.action.id, dependents = moved.len(), "every declared dependent moved to the new credential");
            return Ok(Seen { moved, undeclared });
        }
        let now = ctx.clock.now();
        if now >= deadline {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "not every dependent moved to the new credential within the grace period of {}: {}; the previous credential stays valid",
                    watch.grace,
                    waiting.join("; ")
                ),
            ));
        }
        debug!(action = %ctx.action.id, waiting = waiting.len(), "waiting for dependents");
        let left = StdDuration::from_micros(u64::try_from(deadline.0 - now.0).unwrap_or(0));
        tokio::time::sleep(POLL.min(left)).await;
    }
}

/// Checks whether one dependent has moved: `Ok` with what showed it, or `Err` with why not yet.
async fn check(
    ctx: &StepContext<'_>,
    judge: &Judge<'_>,
    dependent: &Dependent,
    sessions: &[ObservedSession],
) -> Result<String, String> {
    let watch = judge.watch;
    match &dependent.check {
        DependentCheck::Command(argv) => run_command(ctx, watch, dependent, argv).await,
        DependentCheck::Http(url) => fetch(ctx, watch, dependent, url).await,
        _ => {
            let own: Vec<&ObservedSession> =
                sessions.iter().filter(|s| dependent.owns(s)).collect();
            let new = own.iter().find(|s| judge.uses_new(s));
            let old: Vec<&str> = own
                .iter()
                .filter(|s| !judge.uses_new(s))
                .map(|s| s.id.as_str())
                .collect();
            match new {
                None => Err("no session on the new credential yet".to_owned()),
                Some(session) if old.is_empty() => {
                    Ok(format!("session {} on the new credential", session.id))
                }
                Some(session) if watch.end_on_rotation => Ok(format!(
                    "session {} on the new credential; sessions {} on the previous one are ended by the rotation",
                    session.id,
                    old.join(", ")
                )),
                Some(_) => Err(format!(
                    "sessions {} still use the previous credential",
                    old.join(", ")
                )),
            }
        }
    }
}

/// The environment a probe gets: which dependent, account and credential it checks. The
/// fingerprint lets the probe compare what its dependent holds without seeing the value.
fn probe_env(ctx: &StepContext<'_>, watch: &Watch, dependent: &Dependent) -> Vec<(String, String)> {
    let mut env = vec![
        ("ENACT_DEPENDENT".to_owned(), dependent.name.clone()),
        ("ENACT_TARGET".to_owned(), ctx.action.target.to_string()),
        ("ENACT_ACCOUNT".to_owned(), ctx.action.account.clone()),
    ];
    if let Some(fingerprint) = &watch.new_fingerprint {
        env.push((
            "ENACT_CREDENTIAL_FINGERPRINT".to_owned(),
            fingerprint.to_string(),
        ));
    }
    env
}

async fn run_command(
    ctx: &StepContext<'_>,
    watch: &Watch,
    dependent: &Dependent,
    argv: &[String],
) -> Result<String, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("the probe command is empty".to_owned());
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(probe_env(ctx, watch, dependent))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let status = match tokio::time::timeout(PROBE_TIMEOUT, command.status()).await {
        Err(_) => {
            return Err(format!(
                "probe `{program}` ran longer than {PROBE_TIMEOUT:?}"
            ))
        }
        Ok(Err(error)) => return Err(format!("probe `{program}` could not run: {error}")),
        Ok(Ok(status)) => status,
    };
    if status.success() {
        Ok(format!("probe `{program}` exited 0"))
    } else {
        Err(format!("probe `{program}` exited with {status}"))
    }
}

async fn fetch(
    ctx: &StepContext<'_>,
    watch: &Watch,
    dependent: &Dependent,
    url: &str,
) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .map_err(|error| format!("probe client: {error}"))?;
    let mut request = client.get(url);
    for (name, value) in probe_env(ctx, watch, dependent) {
        let header = format!("X-{}", name.replace('_', "-"));
        request = request.header(header, value);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            Ok(format!("probe {url} answered {}", response.status()))
        }
        Ok(response) => Err(format!("probe {url} answered {}", response.status())),
        Err(error) => Err(format!("probe {url} failed: {error}")),
    }
}
