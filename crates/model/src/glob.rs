//! Matching of account names against the `unmanaged.ignore` patterns.

/// Tests whether `name` matches `pattern`, where `*` matches any run of characters (including none)
/// and `?` matches exactly one character. Every other character matches itself.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // The position of the last `*` and the name position it has consumed up to. On a mismatch
    // the star takes one more character and matching resumes after it.
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match (pattern.get(p), name.get(n)) {
            (Some('*'), _) => {
                backtrack = Some((p, n));
                p += 1;
            }
            (Some('?'), _) => {
                p += 1;
                n += 1;
            }
            (Some(expected), Some(actual)) if expected == actual => {
                p += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((star, consumed)) => {
                    p = star + 1;
                    n = consumed + 1;
                    backtrack = Some((star, consumed + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn star_matches_any_run() {
        assert!(glob_matches("legacy_*", "legacy_"));
        assert!(glob_matches("legacy_*", "legacy_app"));
        assert!(glob_matches("*_ro", "report_ro"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("legacy_*", "legac"));
        assert!(!glob_matches("a*b", "acbd"));
    }

    #[test]
    fn question_matches_one_character() {
        assert!(glob_matches("tmp_??", "tmp_01"));
        assert!(!glob_matches("tmp_??", "tmp_1"));
        assert!(!glob_matches("tmp_??", "tmp_123"));
    }

    #[test]
    fn literal_characters_match_exactly() {
        assert!(glob_matches("postgres", "postgres"));
        assert!(!glob_matches("postgres", "Postgres"));
        assert!(!glob_matches("", "x"));
        assert!(glob_matches("", ""));
    }
}
