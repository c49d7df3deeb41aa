//! PostgreSQL privileges and the objects they apply to.

use super::{closest, list, Problem};

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
}
