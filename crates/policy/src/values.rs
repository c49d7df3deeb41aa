//! Checks and conversions for single values: ids, names, durations, endpoints and privileges.
//! Each returns a [`Problem`] that the caller places at the value's position.

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

fn matches_id(text: &str, rest: impl Fn(char) -> bool) -> bool {
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

/// The use of an account name, which decides whether reserved names are allowed. PostgreSQL
/// rejects them for new roles but has predefined roles with such names that can be granted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameUse {
    /// The account's own name, which enact creates.
    Account,
    /// A role the account is granted or hands objects to, which already exists.
    Existing,
}

/// The kind of PostgreSQL targets, whose accounts are roles that sign in with a password.
pub(crate) const POSTGRES: &str = "postgres";
/// The kind of OpenBao targets, whose accounts are AppRole roles and whose admin signs in with a
/// token.
pub(crate) const OPENBAO: &str = "openbao";

/// Returns `a` or `an` for a kind name, as in "an `openbao` target".
pub(crate) fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Checks an account or group name for a target of `kind`. PostgreSQL and OpenBao have rules;
/// other kinds accept any non-empty name.
pub(crate) fn account_name(kind: &str, text: &str, usage: NameUse) -> Result<(), Problem> {
    if text.is_empty() {
        return Err(Problem {
            message: "role name is empty".to_owned(),
            help: None,
        });
    }
    if kind == OPENBAO {
        return approle_name(text);
    }
    if kind != POSTGRES {
        return Ok(());
    }
    let mut chars = text.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    // PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
    if !first_ok || !rest_ok || text.len() > 63 {
        return Err(Problem::new(
            format!("invalid role name `{text}` for a `postgres` target"),
            "postgres role names match `^[a-z_][a-z0-9_]{0,62}$`",
        ));
    }
    if usage == NameUse::Account && (text.starts_with("pg_") || text == "public") {
        return Err(Problem::new(
            format!("role name `{text}` is reserved by postgres"),
            "postgres reserves `public` and names starting with `pg_`; choose another name",
        ));
    }
    Ok(())
}

/// Checks an AppRole role name: lower-case letters, digits, `_`, `.` and `-`, starting with a
/// letter or digit, ending with a letter, digit or `_`, at most 128 characters. The AppRole API
/// that OpenBao forked from Vault routes `role/NAME` only for names matching `\w([\w.-]*\w)?`,
/// and stores new role names in lower case, so a declared upper-case name would never equal the
/// name read back.
fn approle_name(text: &str) -> Result<(), Problem> {
    let valid = |name: &str| {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let last_ok = name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        first_ok && last_ok && rest_ok && name.len() <= 128
    };
    if valid(text) {
        return Ok(());
    }
    let lower = text.to_ascii_lowercase();
    if valid(&lower) {
        return Err(Problem::new(
            format!("role name `{text}` for an `openbao` target is not lower case"),
            format!("openbao stores approle role names in lower case, so write `{lower}`"),
        ));
    }
    Err(Problem::new(
        format!("invalid role name `{text}` for an `openbao` target"),
        "approle role names match `^[a-z0-9][a-z0-9_.-]{0,127}$` and end with a letter, digit \
         or `_`",
    ))
}

/// Checks the endpoint of a target of `kind`: an `http://` or `https://` URL for OpenBao, and
/// `host:port` for every other kind. Without a known kind, the form the text starts with decides.
pub(crate) fn endpoint(kind: Option<&str>, text: &str) -> Result<(), Problem> {
    let is_url = text.starts_with("http://") || text.starts_with("https://");
    match kind {
        Some(OPENBAO) => url_endpoint(text),
        None if is_url => url_endpoint(text),
        _ => host_port_endpoint(text),
    }
}

/// Checks an endpoint of the form `host:port`, with IPv6 hosts in brackets.
fn host_port_endpoint(text: &str) -> Result<(), Problem> {
    if host_port_ok(text) {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid endpoint `{text}`"),
            "write `host:port`, e.g. `127.0.0.1:5432` or `[::1]:5432`",
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

/// Checks an OpenBao policy name against `^[a-z0-9][a-z0-9_.-]*$`. The `root` policy is
/// rejected, because it grants every capability on the server.
pub(crate) fn policy_name(text: &str) -> Result<(), Problem> {
    if text == "root" {
        return Err(Problem::new(
            "policy `root` is not allowed",
            "`root` grants every capability on the server, so attach policies that allow only \
             what the account needs (least privilege)",
        ));
    }
    if matches_id(text, |c| matches!(c, '_' | '.' | '-')) {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid policy name `{text}`"),
            "policy names start with a lowercase letter or digit, followed by lowercase \
             letters, digits, `_`, `.` or `-`, e.g. `billing-read`",
        ))
    }
}

/// Checks a relative OpenBao path such as a mount (`secret`) or a secret's path below its mount
/// (`apps/billing/secret-id`): segments of letters, digits, `_`, `.` and `-`, joined by single
/// `/`, with no leading `/` and no `.` or `..` segment. `noun` names the value in messages.
pub(crate) fn bao_path(text: &str, noun: &str, example: &str) -> Result<(), Problem> {
    if text.starts_with('/') {
        return Err(Problem::new(
            format!("{noun} `{text}` starts with `/`"),
            format!("write it relative, without the leading `/`, e.g. `{example}`"),
        ));
    }
    let segments: Vec<&str> = text.split('/').collect();
    if segments
        .iter()
        .any(|segment| matches!(*segment, "." | ".."))
    {
        return Err(Problem::new(
            format!("{noun} `{text}` contains a `.` or `..` segment"),
            format!("name every segment of the path, e.g. `{example}`"),
        ));
    }
    let segments_ok = segments.iter().all(|segment| {
        !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    });
    if segments_ok {
        Ok(())
    } else {
        Err(Problem::new(
            format!("invalid {noun} `{text}`"),
            format!(
                "join segments of letters, digits, `_`, `.` and `-` with single `/`, e.g. \
                 `{example}`"
            ),
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

/// The object kinds a privilege can apply to, with the privileges valid on each.
pub(crate) const OBJECT_KINDS: &[(&str, &[&str])] = &[
    ("database", &["CONNECT", "CREATE", "TEMPORARY"]),
    ("schema", &["USAGE", "CREATE"]),
    (
        "table",
        &[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "TRUNCATE",
            "REFERENCES",
            "TRIGGER",
        ],
    ),
    ("sequence", &["USAGE", "SELECT", "UPDATE"]),
];

/// Checks a privilege when its object kind is unknown: rejects `ALL` and names valid on no kind.
pub(crate) fn privilege_name(text: &str) -> Result<String, Problem> {
    let upper = text.trim().to_uppercase();
    if upper == "ALL" || upper == "ALL PRIVILEGES" {
        return Err(Problem::new(
            format!("privilege `{text}` is not allowed"),
            "list only the privileges the account needs (least privilege)",
        ));
    }
    let mut every: Vec<&str> = OBJECT_KINDS
        .iter()
        .flat_map(|(_, privileges)| privileges.iter().copied())
        .collect();
    every.sort_unstable();
    every.dedup();
    if every.contains(&upper.as_str()) {
        return Ok(upper);
    }
    let help = match closest(&upper, &every) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("privileges: {}", list(&every)),
    };
    Err(Problem::new(format!("unknown privilege `{text}`"), help))
}

fn object_kind_names() -> Vec<&'static str> {
    OBJECT_KINDS.iter().map(|(kind, _)| *kind).collect()
}

/// Looks up the privileges valid on an object kind.
pub(crate) fn privileges_of(kind: &str) -> Option<&'static [&'static str]> {
    OBJECT_KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, privileges)| *privileges)
}

/// Parses an object reference `<kind> <name>`, such as `table public.invoices`.
pub(crate) fn object(text: &str) -> Result<(&'static str, String), Problem> {
    let kinds = object_kind_names();
    let format_help = format!(
        "write `<kind> <name>` with kind {}, e.g. `table public.invoices`",
        list(&kinds)
    );
    let words: Vec<&str> = text.split_whitespace().collect();
    let (kind_word, name) = match words.as_slice() {
        [kind, name] => (*kind, *name),
        _ => {
            return Err(Problem::new(
                format!("invalid object `{text}`"),
                format_help,
            ))
        }
    };
    let Some(kind) = kinds.iter().copied().find(|kind| *kind == kind_word) else {
        let help = match closest(kind_word, &kinds) {
            Some(near) => format!("did you mean `{near}`? {format_help}"),
            None => format_help,
        };
        return Err(Problem::new(
            format!("invalid object kind `{kind_word}` in `{text}`"),
            help,
        ));
    };
    // NOTE: quoted identifiers (names with dots or capitals inside quotes) are not supported;
    // a dot always separates the schema from the object name.
    let parts: Vec<&str> = name.split('.').collect();
    let qualified =
        matches!(parts.as_slice(), [schema, object] if !schema.is_empty() && !object.is_empty());
    match kind {
        "table" | "sequence" if !qualified => {
            let example = match parts.last() {
                Some(last) if !last.is_empty() && parts.len() == 1 => format!("public.{last}"),
                _ => "public.invoices".to_owned(),
            };
            Err(Problem::new(
                format!("{kind} name `{name}` is not schema-qualified"),
                format!("qualify it, e.g. `{example}`"),
            ))
        }
        "database" | "schema" if parts.len() != 1 => Err(Problem::new(
            format!("invalid {kind} name `{name}`"),
            format!("a {kind} name has no `.`"),
        )),
        _ => Ok((kind, name.to_owned())),
    }
}

/// Normalizes a privilege to uppercase and checks it is valid on `kind`. `ALL` is rejected so
/// that every entitlement names what it grants.
pub(crate) fn privilege(text: &str, kind: &str) -> Result<String, Problem> {
    let upper = text.trim().to_uppercase();
    let valid = privileges_of(kind).unwrap_or(&[]);
    if upper == "ALL" || upper == "ALL PRIVILEGES" {
        return Err(Problem::new(
            format!("privilege `{text}` is not allowed"),
            format!(
                "list only the privileges the account needs (least privilege): {} on a {kind}",
                list(valid)
            ),
        ));
    }
    if valid.contains(&upper.as_str()) {
        return Ok(upper);
    }
    let known_elsewhere = OBJECT_KINDS
        .iter()
        .any(|(_, privileges)| privileges.contains(&upper.as_str()));
    let message = if known_elsewhere {
        format!("privilege `{text}` does not apply to a {kind}")
    } else {
        format!("unknown privilege `{text}`")
    };
    let help = match closest(&upper, valid) {
        Some(near) if !known_elsewhere => format!("did you mean `{near}`?"),
        _ => format!("privileges on a {kind}: {}", list(valid)),
    };
    Err(Problem::new(message, help))
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
    fn postgres_role_names_are_checked() {
        assert!(account_name("postgres", "billing_worker", NameUse::Account).is_ok());
        assert!(account_name("postgres", "_x", NameUse::Account).is_ok());
        assert!(account_name("postgres", "Billing", NameUse::Account).is_err());
        assert!(account_name("postgres", "1x", NameUse::Account).is_err());
        assert!(account_name("postgres", &"a".repeat(64), NameUse::Account).is_err());
        assert!(account_name("postgres", &"a".repeat(63), NameUse::Account).is_ok());
        assert!(account_name("postgres", "pg_monitor", NameUse::Account).is_err());
        assert!(account_name("postgres", "pg_monitor", NameUse::Existing).is_ok());
        assert!(account_name("other", "Any-Name", NameUse::Account).is_ok());
    }

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
    fn unknown_kind_endpoint_takes_either_form() {
        assert!(endpoint(None, "127.0.0.1:5432").is_ok());
        assert!(endpoint(None, "http://127.0.0.1:8200").is_ok());
        assert!(endpoint(None, "http://127.0.0.1").is_err());
        assert!(endpoint(None, "127.0.0.1").is_err());
    }

    #[test]
    fn approle_role_names_are_checked() {
        assert!(account_name(OPENBAO, "billing-worker", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, "billing.worker_2", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, "b", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, "billing_", NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, &"a".repeat(128), NameUse::Account).is_ok());
        assert!(account_name(OPENBAO, &"a".repeat(129), NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "-billing", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "_billing", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing-", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing.", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing worker", NameUse::Account).is_err());
        assert!(account_name(OPENBAO, "billing/worker", NameUse::Account).is_err());
    }

    #[test]
    fn approle_upper_case_suggests_lower() {
        let problem = account_name(OPENBAO, "Billing.Worker", NameUse::Account).err();
        assert_eq!(
            problem.as_ref().map(|problem| problem.message.as_str()),
            Some("role name `Billing.Worker` for an `openbao` target is not lower case")
        );
        assert_eq!(
            problem.and_then(|problem| problem.help).as_deref(),
            Some("openbao stores approle role names in lower case, so write `billing.worker`")
        );
    }

    #[test]
    fn policy_names_are_checked() {
        assert!(policy_name("billing-read").is_ok());
        assert!(policy_name("0.kv_read").is_ok());
        assert!(policy_name("default").is_ok());
        assert!(policy_name("Billing").is_err());
        assert!(policy_name("-x").is_err());
        assert!(policy_name("a/b").is_err());
        let root = policy_name("root").err().map(|problem| problem.message);
        assert_eq!(root.as_deref(), Some("policy `root` is not allowed"));
    }

    #[test]
    fn bao_paths_are_relative_segments() {
        let check = |text: &str| bao_path(text, "vault path", "apps/x");
        assert!(check("secret").is_ok());
        assert!(check("apps/billing/secret-id").is_ok());
        assert!(check("a.b/c_d/E-1").is_ok());
        for text in [
            "/apps/x",
            "apps/../x",
            "..",
            "./x",
            "apps//x",
            "apps/x/",
            "apps/x y",
            "apps\\x",
        ] {
            assert!(check(text).is_err(), "`{text}` was accepted");
        }
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
    fn objects_parse_kind_and_name() {
        assert_eq!(
            object("table public.invoices"),
            Ok(("table", "public.invoices".to_owned()))
        );
        assert_eq!(
            object("database appdb"),
            Ok(("database", "appdb".to_owned()))
        );
        assert!(object("table invoices").is_err());
        assert!(object("view public.v").is_err());
        assert!(object("schema a.b").is_err());
        assert!(object("table").is_err());
    }

    #[test]
    fn unqualified_table_help_names_public() {
        let problem = object("table invoices").err();
        assert_eq!(
            problem.and_then(|problem| problem.help).as_deref(),
            Some("qualify it, e.g. `public.invoices`")
        );
    }

    #[test]
    fn privileges_normalize_and_check_kind() {
        assert_eq!(privilege("select", "table"), Ok("SELECT".to_owned()));
        assert_eq!(privilege("Usage", "schema"), Ok("USAGE".to_owned()));
        assert!(privilege("USAGE", "table").is_err());
        assert!(privilege("all", "table").is_err());
        assert!(privilege("ALL PRIVILEGES", "database").is_err());
    }

    #[test]
    fn privilege_typo_gets_suggestion() {
        let help = privilege("SELEKT", "table")
            .err()
            .and_then(|problem| problem.help);
        assert_eq!(help.as_deref(), Some("did you mean `SELECT`?"));
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
