//! Access-review outcomes: a campaign's decisions, read from CSV or JSON, and the revoke
//! actions they lead to.
//!
//! Each decision names an identity, a target, an entitlement, `keep` or `revoke`, the reviewer
//! and when it was decided. A revoke decision becomes a [`ActionKind::Revoke`] on the
//! identity's account on that target, which the executor runs and the verifier proves like any
//! other revoke.

use crate::import::ImportError;
use enact_model::digest::json_sha256;
use enact_model::{Action, ActionKind, Entitlement, NhiId, ObjectRef, Policy, TargetId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// What a reviewer decided about one entitlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The identity keeps the entitlement; nothing changes.
    Keep,
    /// The entitlement must be removed.
    Revoke,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Keep => "keep",
            Verdict::Revoke => "revoke",
        })
    }
}

/// One decision of an access-review campaign, checked against the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// A digest of the decision's fields, so importing the same campaign twice stores it once.
    pub id: String,
    pub identity: NhiId,
    pub target: TargetId,
    /// The identity's account on the target, from the policy.
    pub account: String,
    pub entitlement: Entitlement,
    pub verdict: Verdict,
    pub reviewer: String,
    pub decided_at: Timestamp,
    /// Where the decision is in its file, such as `campaign.csv:4`.
    pub location: String,
}

impl Decision {
    /// The revoke action a revoke decision leads to; `None` for a keep decision.
    pub fn action(&self) -> Option<Action> {
        if self.verdict != Verdict::Revoke {
            return None;
        }
        let kind = ActionKind::Revoke {
            entitlement: self.entitlement.clone(),
        };
        Some(Action {
            id: Action::stable_id(&self.target, &self.account, &kind),
            target: self.target.clone(),
            identity: Some(self.identity.clone()),
            account: self.account.clone(),
            kind,
            reason: format!(
                "access review: `{}` decided to revoke on {} ({})",
                self.reviewer, self.decided_at, self.location
            ),
            depends_on: Vec::new(),
        })
    }

    /// Whether the policy still declares the entitlement, so that the next apply would grant
    /// it again.
    pub fn still_declared(&self, policy: &Policy) -> bool {
        policy
            .identities
            .get(&self.identity)
            .into_iter()
            .flat_map(|identity| identity.accounts.iter())
            .any(|account| {
                account.target == self.target && account.entitlements.contains(&self.entitlement)
            })
    }
}

/// The fields of one decision as read, before they are checked.
struct RawDecision {
    location: String,
    identity: String,
    target: String,
    entitlement: String,
    decision: String,
    reviewer: String,
    decided_at: String,
}

/// Reads a campaign's decisions from CSV (with a header row) or JSON (an array of objects, or
/// an object with a `decisions` array). The columns or fields are `identity`, `target`,
/// `entitlement`, `decision` (`keep` or `revoke`), `reviewer` and `decided_at` (RFC 3339 in
/// UTC, such as `2026-03-01T12:00:00Z`). Every decision is checked against `policy`; the first
/// problem is returned with its place.
pub fn import_decisions(
    bytes: &[u8],
    origin: &str,
    policy: &Policy,
) -> Result<Vec<Decision>, ImportError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ImportError::at(origin, "the file is not valid UTF-8"))?;
    let trimmed = text.trim_start();
    let raw = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        read_json(text, origin)?
    } else {
        read_csv(text, origin)?
    };
    raw.into_iter().map(|raw| check(raw, policy)).collect()
}

const COLUMNS: [&str; 6] = [
    "identity",
    "target",
    "entitlement",
    "decision",
    "reviewer",
    "decided_at",
];

fn read_csv(text: &str, origin: &str) -> Result<Vec<RawDecision>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| csv_error(origin, &error))?
        .clone();
    let mut index = [0usize; 6];
    for (slot, column) in index.iter_mut().zip(COLUMNS) {
        *slot = headers
            .iter()
            .position(|header| header.eq_ignore_ascii_case(column))
            .ok_or_else(|| {
                ImportError::at(
                    format!("{origin}:1"),
                    format!("missing column `{column}`; expected {}", COLUMNS.join(", ")),
                )
            })?;
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| csv_error(origin, &error))?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |i: usize| {
            index
                .get(i)
                .and_then(|column| record.get(*column))
                .unwrap_or_default()
                .to_string()
        };
        out.push(RawDecision {
            location: format!("{origin}:{line}"),
            identity: field(0),
            target: field(1),
            entitlement: field(2),
            decision: field(3),
            reviewer: field(4),
            decided_at: field(5),
        });
    }
    Ok(out)
}

fn csv_error(origin: &str, error: &csv::Error) -> ImportError {
    let line = error.position().map_or(0, csv::Position::line);
    let problem = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
        _ => "invalid CSV".to_string(),
    };
    ImportError::at(format!("{origin}:{line}"), problem)
}

fn read_json(text: &str, origin: &str) -> Result<Vec<RawDecision>, ImportError> {
    let document: Value = serde_json::from_str(text).map_err(|error| {
        ImportError::at(
            format!("{origin}:{}:{}", error.line(), error.column()),
            "invalid JSON",
        )
    })?;
    let (entries, prefix) = match &document {
        Value::Array(entries) => (entries, String::new()),
        Value::Object(object) => match object.get("decisions") {
            Some(Value::Array(entries)) => (entries, "/decisions".to_string()),
            _ => {
                return Err(ImportError::at(
                    format!("{origin}#"),
                    "expected an array of decisions, or an object with a `decisions` array",
                ))
            }
        },
        _ => {
            return Err(ImportError::at(
                format!("{origin}#"),
                "expected an array of decisions",
            ))
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("{origin}#{prefix}/{index}");
        let Value::Object(object) = entry else {
            return Err(ImportError::at(at, "expected a decision as an object"));
        };
        let field = |name: &str| -> Result<String, ImportError> {
            match object.get(name) {
                Some(Value::String(text)) => Ok(text.trim().to_string()),
                Some(_) => Err(ImportError::at(format!("{at}/{name}"), "expected a string")),
                None => Err(ImportError::at(
                    at.clone(),
                    format!("missing field `{name}`"),
                )),
            }
        };
        out.push(RawDecision {
            location: at.clone(),
            identity: field("identity")?,
            target: field("target")?,
            entitlement: field("entitlement")?,
            decision: field("decision")?,
            reviewer: field("reviewer")?,
            decided_at: field("decided_at")?,
        });
    }
    Ok(out)
}

fn check(raw: RawDecision, policy: &Policy) -> Result<Decision, ImportError> {
    let at = |problem: String| ImportError::at(raw.location.clone(), problem);
    let verdict = match raw.decision.to_ascii_lowercase().as_str() {
        "keep" => Verdict::Keep,
        "revoke" => Verdict::Revoke,
        other => {
            return Err(at(format!(
                "decision `{other}` is invalid; expected `keep` or `revoke`"
            )))
        }
    };
    let identity_id = NhiId::new(raw.identity.as_str());
    let identity = policy
        .identities
        .get(&identity_id)
        .ok_or_else(|| at(format!("identity `{}` is not in the policy", raw.identity)))?;
    let target = TargetId::new(raw.target.as_str());
    let account = identity
        .accounts
        .iter()
        .find(|account| account.target == target)
        .ok_or_else(|| {
            at(format!(
                "identity `{}` has no account on target `{}`",
                raw.identity, raw.target
            ))
        })?;
    let entitlement = parse_entitlement(&raw.entitlement).ok_or_else(|| {
        at(format!(
            "entitlement `{}` is invalid; expected `member_of: GROUP`, `policy: NAME`, `rule: TEXT` or `PRIVILEGE on KIND NAME`",
            raw.entitlement
        ))
    })?;
    let decided_at = parse_rfc3339(&raw.decided_at).ok_or_else(|| {
        at(format!(
            "`decided_at` `{}` is invalid; expected RFC 3339 in UTC, such as `2026-03-01T12:00:00Z`",
            raw.decided_at
        ))
    })?;
    if raw.reviewer.is_empty() {
        return Err(at("`reviewer` is empty".to_string()));
    }
    let id = format!(
        "dec-{}",
        json_sha256(&(
            &identity_id,
            &target,
            &entitlement,
            verdict,
            &raw.reviewer,
            decided_at
        ))
        .get(..16)
        .unwrap_or_default()
    );
    Ok(Decision {
        id,
        identity: identity_id,
        target,
        account: account.name.clone(),
        entitlement,
        verdict,
        reviewer: raw.reviewer,
        decided_at,
        location: raw.location,
    })
}

/// Parses an entitlement in the policy's form (`member_of: GROUP`, `policy: NAME`,
/// `rule: TEXT`) or as enact prints it (`member of GROUP`, `policy NAME`, `rule TEXT`,
/// `SELECT on table billing.invoices`).
pub fn parse_entitlement(text: &str) -> Option<Entitlement> {
    let text = text.trim();
    let prefixed = |prefixes: &[&str]| {
        prefixes.iter().find_map(|prefix| {
            text.strip_prefix(prefix)
                .map(str::trim)
                .filter(|rest| !rest.is_empty())
                .map(str::to_string)
        })
    };
    if let Some(group) = prefixed(&["member_of:", "member of "]) {
        return Some(Entitlement::Membership { group });
    }
    if let Some(policy) = prefixed(&["policy:", "policy "]) {
        return Some(Entitlement::Policy { policy });
    }
    if let Some(rule) = prefixed(&["rule:", "rule "]) {
        return Some(Entitlement::Rule { rule });
    }
    let (privilege, object) = text.split_once(" on ")?;
    let (kind, name) = object.trim().split_once(' ')?;
    let privilege = privilege.trim();
    if privilege.is_empty() || privilege.contains(' ') || name.trim().is_empty() {
        return None;
    }
    Some(Entitlement::Privilege {
        privilege: privilege.to_ascii_uppercase(),
        object: Box::new(ObjectRef {
            kind: kind.to_ascii_lowercase(),
            name: name.trim().to_string(),
        }),
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ`, with optional fractional seconds, as UTC.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let body = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = body.split_once(['T', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || !(0..=9999).contains(&year)
    {
        return None;
    }
    let micros = match fraction {
        Some(digits) if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) => {
            let padded: String = digits.chars().chain("000000".chars()).take(6).collect();
            padded.parse::<i64>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(Timestamp(seconds * 1_000_000 + micros))
}

/// Counts days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests;
