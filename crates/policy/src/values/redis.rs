//! Redis ACL users: their names and the rule tokens that make up their entitlements.
//!
//! An account lists its rules one token per entitlement, and they are compared with the target as
//! a set. Only rules that grant or deny commands, keys and channels are accepted. Rules that set
//! a password or the login state are rejected, because enact manages both, and so are rules that
//! reset the user or grant everything of a kind. The token grammar and keywords follow the
//! `ACL SETUSER` reference of Redis 7.

use super::Problem;

/// The rule forms accepted, as help lists them.
const RULE_FORMS: &str = "write one acl rule token: `+command`, `-command`, \
                          `+command|subcommand`, `+@category`, `-@category`, `~pattern`, \
                          `%R~pattern`, `%W~pattern`, `%RW~pattern` or `&pattern`";

/// Help for a rule that would set or clear a credential.
const CREDENTIAL_HELP: &str = "enact manages the user's password through `credential` and \
                               never takes one from a rule, so remove this rule";

/// Checks a Redis ACL user name against `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`. The `default`
/// user is rejected, because every connection that does not authenticate signs in as it.
pub(crate) fn user_name(text: &str) -> Result<(), Problem> {
    if text == "default" {
        return Err(Problem::new(
            "acl user `default` is reserved by redis",
            "every connection that does not authenticate signs in as `default`, so choose \
             another name for an account that enact manages",
        ));
    }
    let mut chars = text.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if first_ok && rest_ok && text.len() <= 128 {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid acl user name `{text}` for a `redis` target"),
        "redis acl user names match `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`",
    ))
}

/// Tests whether a rule sets or removes a password or password hash (`>`, `<`, `#`, `!`). The
/// text after the prefix is a credential, so the caller masks the value wherever the source is
/// shown.
pub(crate) fn is_credential_rule(text: &str) -> bool {
    text.trim_start().starts_with(['>', '<', '#', '!'])
}

/// Checks one ACL rule token and returns it as it is stored. Command and category rules are
/// stored in lower case, because Redis matches those names without regard to case. Key and
/// channel patterns are stored as written, because Redis matches them with case.
///
/// Accepted: `+name`, `-name`, `+name|subcommand`, `-name|subcommand`, `+@category`,
/// `-@category`, `~pattern`, `%R~pattern`, `%W~pattern`, `%RW~pattern` and `&pattern`. The
/// messages never contain the value of a credential rule.
pub(crate) fn acl_rule(text: &str) -> Result<String, Problem> {
    if let Some(problem) = managed_by_enact(text) {
        return Err(problem);
    }
    if let Some(problem) = grants_everything(text) {
        return Err(problem);
    }
    if text.chars().any(char::is_whitespace) {
        return Err(Problem::new(
            format!("acl rule `{text}` contains whitespace"),
            "write one rule token per entry, e.g. `+get` and `~billing:*` as two entries",
        ));
    }

    let invalid = || Problem::new(format!("invalid acl rule `{text}`"), RULE_FORMS);
    let Some(first) = text.chars().next() else {
        return Err(invalid());
    };
    let rest = &text[first.len_utf8()..];
    match first {
        '+' | '-' => command_rule(first, rest).ok_or_else(invalid),
        '~' => pattern(text, rest, "key").map(|()| text.to_owned()),
        '&' => pattern(text, rest, "channel").map(|()| text.to_owned()),
        '%' => {
            let Some((permissions, keys)) = rest.split_once('~') else {
                return Err(invalid());
            };
            if !matches!(permissions, "R" | "W" | "RW") {
                return Err(Problem::new(
                    format!("invalid key permissions `%{permissions}~` in acl rule `{text}`"),
                    "write `%R~` for read, `%W~` for write or `%RW~` for both",
                ));
            }
            // Redis prints a read-write key pattern as `~pattern`, so that is how it is kept;
            // otherwise the read-back would never equal the declared rule.
            pattern(text, keys, "key").map(|()| {
                if permissions == "RW" {
                    format!("~{keys}")
                } else {
                    text.to_owned()
                }
            })
        }
        '(' => Err(Problem::new(
            format!("acl rule `{text}` is a selector"),
            "selectors are not supported, so list each rule as its own entry",
        )),
        _ => Err(invalid()),
    }
}

/// Rejects the rules that set a password, the login state or reset the user: enact manages the
/// first two, and the listed rules are already the user's whole rule set.
fn managed_by_enact(text: &str) -> Option<Problem> {
    let trimmed = text.trim_start();
    let credential = |message: &str| Some(Problem::new(message, CREDENTIAL_HELP));
    match trimmed.chars().next() {
        Some('>') => return credential("acl rule `>***` sets a password"),
        Some('<') => return credential("acl rule `<***` removes a password"),
        Some('#') => return credential("acl rule `#***` sets a password hash"),
        Some('!') => return credential("acl rule `!***` removes a password hash"),
        _ => {}
    }
    let keyword = text.to_ascii_lowercase();
    match keyword.as_str() {
        "nopass" => credential("acl rule `nopass` lets the user sign in with any password"),
        "resetpass" => credential("acl rule `resetpass` clears the user's passwords"),
        "on" | "off" => Some(Problem::new(
            format!("acl rule `{text}` sets the user's login state"),
            "enact manages the login state from the identity's `state` and never takes it from \
             a rule, so remove this rule",
        )),
        "reset" | "resetkeys" | "resetchannels" | "clearselectors" => Some(Problem::new(
            format!("acl rule `{text}` resets the user"),
            "the rules listed are the user's exact set and nothing needs resetting, so remove \
             this rule",
        )),
        _ => None,
    }
}

/// Rejects the rules that grant every command, key or channel.
fn grants_everything(text: &str) -> Option<Problem> {
    let lower = text.to_ascii_lowercase();
    let every_key = lower == "allkeys"
        || ["~", "%r~", "%w~", "%rw~"]
            .iter()
            .any(|prefix| lower.strip_prefix(prefix) == Some("*"));
    let (what, example) = if lower == "allcommands" || lower == "+@all" {
        ("command", "`+@read` or `+get`")
    } else if every_key {
        ("key", "`~billing:*`")
    } else if lower == "allchannels" || lower == "&*" {
        ("channel", "`&billing-events`")
    } else {
        return None;
    };
    Some(Problem::new(
        format!("acl rule `{text}` is not allowed"),
        format!(
            "`{text}` grants every {what}, so list only the {what}s the account needs (least \
             privilege), e.g. {example}"
        ),
    ))
}

/// Checks the part of a command rule after its `+` or `-` and returns the whole rule in lower
/// case.
fn command_rule(sign: char, rest: &str) -> Option<String> {
    let lower = rest.to_ascii_lowercase();
    let name_ok = |name: &str| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    let valid = match lower.strip_prefix('@') {
        Some(category) => name_ok(category),
        None => match lower.split_once('|') {
            Some((command, subcommand)) => name_ok(command) && name_ok(subcommand),
            None => name_ok(&lower),
        },
    };
    valid.then(|| format!("{sign}{lower}"))
}

/// Checks the pattern of a key or channel rule, which must not be empty.
fn pattern(text: &str, pattern: &str, noun: &str) -> Result<(), Problem> {
    if pattern.is_empty() {
        return Err(Problem::new(
            format!("acl rule `{text}` has no {noun} pattern"),
            format!("write the {noun} pattern after the prefix, e.g. `{text}billing:*`"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Option<String> {
        acl_rule(text).err().map(|problem| problem.message)
    }

    #[test]
    fn rule_forms_are_accepted() {
        for (text, stored) in [
            ("+@read", "+@read"),
            ("-@DANGEROUS", "-@dangerous"),
            ("+GET", "+get"),
            ("-flushdb", "-flushdb"),
            ("+config|get", "+config|get"),
            ("-CONFIG|SET", "-config|set"),
            ("+json.get", "+json.get"),
            ("~billing:*", "~billing:*"),
            ("%R~Billing:*", "%R~Billing:*"),
            ("%W~out:*", "%W~out:*"),
            ("%RW~tmp:?", "~tmp:?"),
            ("&billing-events", "&billing-events"),
            ("-@all", "-@all"),
        ] {
            assert_eq!(acl_rule(text), Ok(stored.to_owned()), "`{text}`");
        }
    }

    #[test]
    fn broad_grants_are_rejected() {
        for text in [
            "+@all",
            "+@ALL",
            "allcommands",
            "allkeys",
            "AllKeys",
            "~*",
            "%R~*",
            "%RW~*",
            "allchannels",
            "&*",
        ] {
            assert_eq!(
                message(text),
                Some(format!("acl rule `{text}` is not allowed")),
                "`{text}`"
            );
        }
    }

    #[test]
    fn state_rules_are_rejected() {
        for text in [
            "on",
            "OFF",
            "nopass",
            "resetpass",
            "reset",
            "resetkeys",
            "resetchannels",
            "clearselectors",
        ] {
            assert!(acl_rule(text).is_err(), "`{text}` was accepted");
        }
    }

    #[test]
    fn credential_rules_hide_their_value() {
        for text in [">s3cr3t", "<s3cr3t", "#s3cr3t", "!s3cr3t", " >s3cr3t"] {
            assert!(is_credential_rule(text), "`{text}`");
            let problem = acl_rule(text).err();
            let output = problem
                .map(|problem| format!("{} {}", problem.message, problem.help.unwrap_or_default()))
                .unwrap_or_default();
            assert!(output.contains("***"), "{output}");
            assert!(!output.contains("s3cr3t"), "{output}");
        }
        assert!(!is_credential_rule("+get"));
    }

    #[test]
    fn malformed_rules_are_rejected() {
        for text in [
            "get",
            "+",
            "+@",
            "+get|",
            "+|x",
            "+a|b|c",
            "~",
            "&",
            "%X~a",
            "%WR~a",
            "%R",
            "+get ~x",
            "(+get ~x)",
            "nocommands",
        ] {
            assert!(acl_rule(text).is_err(), "`{text}` was accepted");
        }
    }

    #[test]
    fn user_names_are_checked() {
        assert!(user_name("billing-worker").is_ok());
        assert!(user_name("Billing:Worker.2_x").is_ok());
        assert!(user_name(&"a".repeat(128)).is_ok());
        assert!(user_name(&"a".repeat(129)).is_err());
        assert!(user_name("-x").is_err());
        assert!(user_name("billing worker").is_err());
        assert!(user_name("billing@x").is_err());
        let reserved = user_name("default").err().map(|problem| problem.message);
        assert_eq!(
            reserved.as_deref(),
            Some("acl user `default` is reserved by redis")
        );
    }
}
