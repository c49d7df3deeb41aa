//! Checks and conversions for single values: ids, names, durations, endpoints, privileges,
//! paths, ACL rules and DNs. Each returns a [`Problem`] that the caller places at the value's
//! position. The checks of one target kind or one concept live in the submodules.

mod endpoint;
mod ldap;
mod names;
mod openbao;
mod privilege;
mod redis;

pub(crate) use endpoint::endpoint;
pub(crate) use ldap::dn;
pub(crate) use names::{account_name, group_name, NameUse};
pub(crate) use openbao::{bao_path, policy_name};
pub(crate) use privilege::{object, privilege, privilege_name};
pub(crate) use redis::{acl_rule, is_credential_rule};

use enact_model::Duration;

/// A value's error message and help, before the caller gives it a position.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

/// Formats names as a list for a message: `` `a`, `b` and `c` ``.
pub(crate) fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Finds the candidate closest to `input`, if it is close enough to be a likely typo.
pub(crate) fn closest<'c>(input: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let input = input.to_lowercase();
    candidates
        .iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&input, &candidate.to_lowercase());
            (distance, *candidate)
        })
        .filter(|(distance, candidate)| {
            let longer = input.chars().count().max(candidate.chars().count());
            *distance <= (longer / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Help that suggests the closest candidate, or lists them all when none is close.
pub(crate) fn suggestion(input: &str, candidates: &[&str], noun: &str) -> String {
    match closest(input, candidates) {
        Some(near) => format!("did you mean `{near}`?"),
        None if candidates.is_empty() => format!("no {noun} is declared"),
        None => format!("{noun}: {}", list(candidates)),
    }
}

pub(super) fn matches_id(text: &str, rest: impl Fn(char) -> bool) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || rest(c))
}

/// Checks a target id against `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn target_id(text: &str) -> Result<(), Problem> {
    if matches_id(text, |c| c == '_' || c == '-') {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid target id `{text}`"),
            "target ids start with a lowercase letter or digit, followed by lowercase letters, \
             digits, `_` or `-`, e.g. `pg-main`",
        ))
    }
}

/// Checks an identity id against `[a-z0-9][a-z0-9_.-]*`.
pub(crate) fn identity_id(text: &str) -> Result<(), Problem> {
    if matches_id(text, |c| c == '_' || c == '-' || c == '.') {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid identity id `{text}`"),
            "identity ids start with a lowercase letter or digit, followed by lowercase \
             letters, digits, `_`, `.` or `-`, e.g. `billing-worker`",
        ))
    }
}

/// Checks an environment variable name against `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn env_var(text: &str) -> Result<(), Problem> {
    let mut chars = text.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid environment variable name `{text}`"),
            "use letters, digits and `_`, not starting with a digit, e.g. `ENACT_PG_ADMIN_PASSWORD`",
        ))
    }
}

/// Checks a glob pattern for account names, which may use `*` and `?` only.
pub(crate) fn glob(text: &str) -> Result<(), Problem> {
    let help = "patterns match account names with `*` (any run of characters) and `?` (one \
                character) only";
    if text.is_empty() {
        return Err(Problem::new("empty glob pattern", help));
    }
    match text
        .chars()
        .find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\'))
    {
        Some(c) => Err(Problem::new(
            format!("invalid glob `{text}`: `{c}` is not supported"),
            help,
        )),
        None => Ok(()),
    }
}

const DURATION_HELP: &str = "write one or more `<integer><unit>` parts, largest unit first, with \
                             units `d`, `h`, `m` and `s`, e.g. `90d` or `1h30m`";

/// Parses a duration such as `90d` or `1h30m`. Units are days, hours, minutes and seconds; each
/// appears at most once, largest first, and the total must be positive.
pub(crate) fn duration(text: &str) -> Result<Duration, Problem> {
    let invalid = || Problem::new(format!("invalid duration `{text}`"), DURATION_HELP);
    if text.starts_with('-') {
        return Err(Problem::new(
            format!("duration `{text}` must be positive"),
            DURATION_HELP,
        ));
    }
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Err(Problem::new(
            format!("duration `{text}` has no unit"),
            DURATION_HELP,
        ));
    }

    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    // Units seen so far must be strictly decreasing in size.
    let mut last_unit_secs = i64::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit_secs = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        if digits.is_empty() || unit_secs >= last_unit_secs {
            return Err(invalid());
        }
        let count: i64 = digits.parse().map_err(|_| invalid())?;
        total = count
            .checked_mul(unit_secs)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| Problem::new(format!("duration `{text}` is too long"), DURATION_HELP))?;
        digits.clear();
        last_unit_secs = unit_secs;
        parts += 1;
    }
    if parts == 0 || !digits.is_empty() {
        return Err(invalid());
    }
    if total == 0 {
        return Err(Problem::new(
            format!("duration `{text}` must be positive"),
            DURATION_HELP,
        ));
    }
    // The model counts microseconds in an i64, so keep the seconds well inside that range.
    if total > i64::MAX / 1_000_000 {
        return Err(Problem::new(
            format!("duration `{text}` is too long"),
            DURATION_HELP,
        ));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_compound_units() {
        assert_eq!(duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("1d2h3m4s"), Ok(Duration::from_secs(93_784)));
    }

    #[test]
    fn durations_reject_bad_forms() {
        for text in [
            "", "d", "90", "90x", "1m1h", "1h1h", "1h30", "1.5h", " 5s", "5 s",
        ] {
            assert!(duration(text).is_err(), "`{text}` was accepted");
        }
    }

    #[test]
    fn durations_must_be_positive() {
        let zero = duration("0s").err().map(|problem| problem.message);
        assert_eq!(zero.as_deref(), Some("duration `0s` must be positive"));
        let negative = duration("-5m").err().map(|problem| problem.message);
        assert_eq!(negative.as_deref(), Some("duration `-5m` must be positive"));
    }

    #[test]
    fn durations_reject_overflow() {
        assert!(duration("99999999999999999999d").is_err());
        assert!(duration("9999999999999d").is_err());
    }

    #[test]
    fn ids_follow_their_patterns() {
        assert!(target_id("pg-main").is_ok());
        assert!(target_id("0db_2").is_ok());
        assert!(target_id("pg.main").is_err());
        assert!(target_id("-pg").is_err());
        assert!(target_id("PG").is_err());
        assert!(identity_id("billing.worker-2").is_ok());
        assert!(identity_id(".x").is_err());
        assert!(identity_id("").is_err());
    }

    #[test]
    fn env_var_names_are_checked() {
        assert!(env_var("ENACT_PG_ADMIN_PASSWORD").is_ok());
        assert!(env_var("1X").is_err());
        assert!(env_var("A-B").is_err());
    }

    #[test]
    fn globs_allow_star_and_question() {
        assert!(glob("legacy_*").is_ok());
        assert!(glob("tmp_??").is_ok());
        assert!(glob("").is_err());
        assert!(glob("legacy_[ab]").is_err());
        assert!(glob("{a,b}").is_err());
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("max_agee", &["kind", "max_age"]), Some("max_age"));
        assert_eq!(closest("postgress", &["postgres"]), Some("postgres"));
        assert_eq!(closest("zzzz", &["postgres"]), None);
    }

    #[test]
    fn list_joins_with_and() {
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
