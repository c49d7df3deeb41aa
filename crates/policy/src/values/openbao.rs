//! OpenBao policy names and paths.

use super::{matches_id, Problem};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
