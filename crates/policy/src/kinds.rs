//! The target kinds whose rules the parser knows.

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
