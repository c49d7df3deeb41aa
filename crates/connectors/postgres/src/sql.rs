//! SQL text building: identifier and literal quoting, and the privileges each object kind takes.
//!
//! Role names, object names and values reach SQL text only through [`ident`] and [`literal`].
//! Privilege keywords reach it only after [`ObjectKind::check_privilege`] has matched them
//! against a fixed list, because a keyword cannot be quoted.

use enact_connector::{ConnectorError, ErrorKind};

/// Quotes `name` as an SQL identifier, doubling any embedded double quote.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes `value` as an SQL string literal. The `E''` form escapes backslashes too, so the
/// result means the same whatever `standard_conforming_strings` is set to.
pub(crate) fn literal(value: &str) -> String {
    format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Checks that `name` can be a PostgreSQL role or object name: not empty, no NUL byte, and at
/// most 63 bytes, since the server would silently truncate a longer name.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ConnectorError> {
    if name.is_empty() {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("{what} name is empty"),
        ));
    }
    if name.contains('\0') {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("{what} name `{}` contains a NUL byte", name.escape_debug()),
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("{what} name `{name}` is longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The maximum identifier length PostgreSQL keeps, in bytes (NAMEDATALEN - 1 in a default build).
const MAX_NAME_BYTES: usize = 63;

/// The kinds of object whose privileges the connector reads and changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    Database,
    Schema,
    Table,
    Sequence,
}

impl ObjectKind {
    /// Parses the `kind` of an [`enact_model::ObjectRef`].
    pub(crate) fn parse(kind: &str) -> Result<Self, ConnectorError> {
        match kind {
            "database" => Ok(ObjectKind::Database),
            "schema" => Ok(ObjectKind::Schema),
            "table" => Ok(ObjectKind::Table),
            "sequence" => Ok(ObjectKind::Sequence),
            other => Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!(
                    "unknown object kind `{other}`: expected `database`, `schema`, `table` or `sequence`"
                ),
            )),
        }
    }

    /// The keyword that names this kind in GRANT and REVOKE.
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            ObjectKind::Database => "DATABASE",
            ObjectKind::Schema => "SCHEMA",
            ObjectKind::Table => "TABLE",
            ObjectKind::Sequence => "SEQUENCE",
        }
    }

    /// The privileges PostgreSQL 15 defines for this kind, as `aclexplode` names them.
    fn privileges(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Database => &["CONNECT", "CREATE", "TEMPORARY"],
            ObjectKind::Schema => &["USAGE", "CREATE"],
            ObjectKind::Table => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "TRUNCATE",
                "REFERENCES",
                "TRIGGER",
            ],
            ObjectKind::Sequence => &["USAGE", "SELECT", "UPDATE"],
        }
    }

    /// Returns `privilege` as a keyword that is safe to put in SQL text, or an error when this
    /// kind has no such privilege. Names are matched exactly: observations report them in
    /// upper case, and a policy must use the same spelling to compare equal.
    pub(crate) fn check_privilege(self, privilege: &str) -> Result<&'static str, ConnectorError> {
        self.privileges()
            .iter()
            .find(|known| **known == privilege)
            .copied()
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Invalid,
                    format!(
                        "privilege `{privilege}` does not apply to a {}: expected one of {}",
                        self.keyword().to_lowercase(),
                        self.privileges().join(", ")
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ident_doubles_quotes() {
        assert_eq!(ident("plain"), "\"plain\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("x\"; DROP ROLE y; --"), "\"x\"\"; DROP ROLE y; --\"");
    }

    #[test]
    fn literal_escapes_quotes_and_backslashes() {
        assert_eq!(literal("123"), "E'123'");
        assert_eq!(literal("it's"), "E'it''s'");
        assert_eq!(literal("a\\'b"), "E'a\\\\''b'");
    }

    #[test]
    fn check_name_rejects_bad_names() {
        assert!(check_name("role", "svc_orders").is_ok());
        assert!(check_name("role", "").is_err());
        assert!(check_name("role", "a\0b").is_err());
        assert!(check_name("role", &"r".repeat(64)).is_err());
        assert!(check_name("role", &"r".repeat(63)).is_ok());
    }

    #[test]
    fn privileges_match_kind_exactly() {
        assert_eq!(
            ObjectKind::Table.check_privilege("SELECT").ok(),
            Some("SELECT")
        );
        assert!(ObjectKind::Table.check_privilege("select").is_err());
        assert!(ObjectKind::Table.check_privilege("USAGE").is_err());
        assert!(ObjectKind::Schema.check_privilege("SELECT; DROP").is_err());
        assert_eq!(
            ObjectKind::Database.check_privilege("TEMPORARY").ok(),
            Some("TEMPORARY")
        );
    }

    #[test]
    fn unknown_kind_is_invalid() {
        let error = ObjectKind::parse("function").err();
        assert_eq!(error.map(|e| e.kind), Some(ErrorKind::Invalid));
    }
}
