//! ACL users as Redis 7.0 describes them, and the rule tokens that are their entitlements.
//!
//! Redis keeps no list of the rules written to a user. `ACL LIST` and `ACL GETUSER` describe
//! the user's permission bitmaps again on every call, so command rules are rebuilt from the
//! bitmap: `+get +@read` reads back as `+@read`, and `-@dangerous` on top of `+@all` as a
//! dozen other rules. Command names are lower-cased, `%RW~k` reads back as `~k`, `allkeys`
//! as `~*`, `allchannels` as `&*`, and `allcommands` as `+@all`. The connector therefore takes
//! Redis's own description as the truth: an entitlement is one token of it, in the spelling
//! Redis prints, except the `-@all` that starts every description without `+@all` and the
//! `resetchannels` that precedes every channel list without `&*`.

use enact_connector::{ConnectorError, ErrorKind};
use enact_model::Entitlement;
use std::collections::BTreeSet;

/// One ACL user as Redis describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AclUser {
    pub(crate) name: String,
    /// The `on` flag: whether the user may authenticate at all.
    pub(crate) enabled: bool,
    /// The `nopass` flag: any password authenticates.
    pub(crate) nopass: bool,
    /// The SHA-256 hashes of the user's passwords, as lower-case hex.
    pub(crate) password_hashes: Vec<String>,
    pub(crate) rules: Rules,
}

/// A user's rules in the order Redis prints them. The order of command rules matters, because
/// Redis applies them left to right; the order of patterns does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Key patterns: `~k`, `%R~k`, `%W~k`.
    pub(crate) keys: Vec<String>,
    /// Channel patterns: `&c`.
    pub(crate) channels: Vec<String>,
    /// Command rules, without the leading `-@all`: `+@all`, `+@read`, `-get`, `+config|get`.
    pub(crate) commands: Vec<String>,
    /// Selectors, each one token in parentheses: `(~x resetchannels -@all +get)`.
    pub(crate) selectors: Vec<String>,
    /// Tokens this parser does not recognise, kept so they still show as entitlements.
    pub(crate) other: Vec<String>,
}

impl Rules {
    /// Every rule as an entitlement token.
    pub(crate) fn tokens(&self) -> impl Iterator<Item = &String> {
        self.keys
            .iter()
            .chain(&self.channels)
            .chain(&self.commands)
            .chain(&self.selectors)
            .chain(&self.other)
    }

    /// The rules as the set of entitlements an account reads back.
    pub(crate) fn entitlements(&self) -> BTreeSet<Entitlement> {
        self.tokens()
            .map(|rule| Entitlement::Rule { rule: rule.clone() })
            .collect()
    }

    /// Whether `token` is one of the rules.
    pub(crate) fn contains(&self, token: &str) -> bool {
        self.tokens().any(|held| held == token)
    }

    /// The rules with `token` removed, keeping the order of the rest.
    pub(crate) fn without(&self, token: &str) -> Rules {
        let keep = |list: &Vec<String>| -> Vec<String> {
            list.iter().filter(|held| *held != token).cloned().collect()
        };
        Rules {
            keys: keep(&self.keys),
            channels: keep(&self.channels),
            commands: keep(&self.commands),
            selectors: keep(&self.selectors),
            other: keep(&self.other),
        }
    }

    /// The `ACL SETUSER` arguments that replace a user's rules with exactly these, leaving its
    /// flags and passwords alone. `ACL SETUSER` applies all of them or none.
    pub(crate) fn replacement_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["resetkeys", "resetchannels", "-@all", "clearselectors"]
            .iter()
            .map(|word| word.to_string())
            .collect();
        args.extend(self.keys.iter().cloned());
        args.extend(self.channels.iter().cloned());
        args.extend(self.commands.iter().cloned());
        args.extend(self.selectors.iter().cloned());
        args.extend(self.other.iter().cloned());
        args
    }

    /// The rules as one line, for messages.
    pub(crate) fn describe(&self) -> String {
        let tokens: Vec<&str> = self.tokens().map(String::as_str).collect();
        if tokens.is_empty() {
            "no rules".to_string()
        } else {
            tokens.join(" ")
        }
    }
}

/// Parses one line of `ACL LIST`: `user <name> <flags> <#hashes> <keys> <channels> <commands>
/// <selectors>`. Returns `None` for a line that does not start with `user <name>`.
///
/// NOTE: Redis prints patterns without quoting, so a pattern that contains a space (possible
/// only when set outside enact) reads back as two tokens. The connector never writes one.
pub(crate) fn parse_acl_list_line(line: &str) -> Option<AclUser> {
    let mut words = line.split_ascii_whitespace();
    if words.next() != Some("user") {
        return None;
    }
    let name = words.next()?.to_string();
    let mut user = AclUser {
        name,
        ..AclUser::default()
    };
    let mut selector: Option<String> = None;
    for word in words {
        if let Some(open) = selector.as_mut() {
            open.push(' ');
            open.push_str(word);
            if word.ends_with(')') {
                user.rules.selectors.extend(selector.take());
            }
            continue;
        }
        match word {
            "on" => user.enabled = true,
            "off" => user.enabled = false,
            "nopass" => user.nopass = true,
            // Whether RESTORE payloads are checked is not a right a policy declares.
            "sanitize-payload" | "skip-sanitize-payload" => {}
            // Printed before every channel list that is not `&*`; the list follows it.
            "resetchannels" => {}
            // The base of every description without `+@all`.
            "-@all" if user.rules.commands.is_empty() => {}
            _ => {
                if let Some(hash) = word.strip_prefix('#') {
                    user.password_hashes.push(hash.to_string());
                } else if word.starts_with('~') || word.starts_with('%') {
                    user.rules.keys.push(word.to_string());
                } else if word.starts_with('&') {
                    user.rules.channels.push(word.to_string());
                } else if word.starts_with('+') || word.starts_with('-') {
                    user.rules.commands.push(word.to_string());
                } else if word.starts_with('(') {
                    if word.ends_with(')') {
                        user.rules.selectors.push(word.to_string());
                    } else {
                        selector = Some(word.to_string());
                    }
                } else {
                    user.rules.other.push(word.to_string());
                }
            }
        }
    }
    // An unterminated selector is still a right the user holds.
    user.rules.selectors.extend(selector);
    Some(user)
}

/// The fields of one `ACL GETUSER` reply (Redis 7.0), as strings.
#[derive(Debug, Default)]
pub(crate) struct GetUserReply {
    pub(crate) flags: Vec<String>,
    pub(crate) passwords: Vec<String>,
    pub(crate) commands: String,
    pub(crate) keys: String,
    pub(crate) channels: String,
    /// Each selector's `commands`, `keys` and `channels`.
    pub(crate) selectors: Vec<(String, String, String)>,
}

impl GetUserReply {
    /// Rebuilds the `ACL LIST` line Redis would print for this user, so both replies go
    /// through one parser and read back alike.
    pub(crate) fn to_acl_list_line(&self, name: &str) -> String {
        let mut parts = vec!["user".to_string(), name.to_string()];
        parts.extend(self.flags.iter().cloned());
        parts.extend(self.passwords.iter().map(|hash| format!("#{hash}")));
        parts.push(describe_selector(
            &self.keys,
            &self.channels,
            &self.commands,
        ));
        for (commands, keys, channels) in &self.selectors {
            parts.push(format!("({})", describe_selector(keys, channels, commands)));
        }
        parts.join(" ")
    }
}

/// Describes one selector as `ACL LIST` does: keys, channels, then command rules.
fn describe_selector(keys: &str, channels: &str, commands: &str) -> String {
    let mut parts = Vec::new();
    if !keys.is_empty() {
        parts.push(keys.to_string());
    }
    if channels != "&*" {
        parts.push("resetchannels".to_string());
    }
    if !channels.is_empty() {
        parts.push(channels.to_string());
    }
    if !commands.is_empty() {
        parts.push(commands.to_string());
    }
    parts.join(" ")
}

/// Checks that `rule` is one rule in the spelling Redis prints it, so that a granted rule
/// reads back as the same token. Returns the reason it is not.
pub(crate) fn check_rule(rule: &str) -> Result<(), ConnectorError> {
    let invalid = |why: String| {
        ConnectorError::new(
            ErrorKind::Invalid,
            format!("invalid Redis ACL rule `{rule}`: {why}"),
        )
    };
    if rule.is_empty() {
        return Err(invalid("it is empty".to_string()));
    }
    if rule.chars().any(|c| c.is_whitespace() || c.is_control()) && !rule.starts_with('(') {
        return Err(invalid(
            "it contains whitespace; give each rule as its own entitlement".to_string(),
        ));
    }
    if rule.chars().any(char::is_control) {
        return Err(invalid("it contains a control character".to_string()));
    }
    let spelled = |canonical: &str| invalid(format!("Redis reads it back as `{canonical}`"));
    match rule {
        "allkeys" => return Err(spelled("~*")),
        "allchannels" => return Err(spelled("&*")),
        "allcommands" => return Err(spelled("+@all")),
        "-@all" | "nocommands" => return Err(invalid(
            "it is the base every user starts from; revoke the rules that allow commands instead"
                .to_string(),
        )),
        "on"
        | "off"
        | "nopass"
        | "resetpass"
        | "reset"
        | "resetkeys"
        | "resetchannels"
        | "clearselectors"
        | "sanitize-payload"
        | "skip-sanitize-payload" => return Err(invalid(
            "it is a flag or a reset, not a right; login and credentials have their own actions"
                .to_string(),
        )),
        _ => {}
    }
    let first = rule.chars().next().unwrap_or(' ');
    match first {
        '>' | '<' | '#' | '!' => Err(invalid(
            "passwords are credentials, not entitlements".to_string(),
        )),
        '+' | '-' => {
            let lower = rule.to_lowercase();
            if lower != rule {
                Err(spelled(&lower))
            } else if rule.len() == 1 {
                Err(invalid("it names no command or category".to_string()))
            } else {
                Ok(())
            }
        }
        '~' => Ok(()),
        '%' => {
            let Some((permissions, pattern)) =
                rule.strip_prefix('%').and_then(|rest| rest.split_once('~'))
            else {
                return Err(invalid(
                    "a key permission is written `%R~pattern`, `%W~pattern` or `~pattern`"
                        .to_string(),
                ));
            };
            let upper = permissions.to_uppercase();
            match (permissions, upper.as_str()) {
                ("R" | "W", _) => Ok(()),
                (_, "R" | "W") => Err(spelled(&format!("%{upper}~{pattern}"))),
                (_, "RW" | "WR") => Err(spelled(&format!("~{pattern}"))),
                _ => Err(invalid(
                    "a key permission is `%R~`, `%W~` or `~`".to_string(),
                )),
            }
        }
        '&' => Ok(()),
        '(' if rule.ends_with(')') => Ok(()),
        _ => Err(invalid(
            "expected a command rule (`+get`, `-@dangerous`), a key pattern (`~k`, `%R~k`, `%W~k`), a channel pattern (`&c`) or a selector (`(...)`)"
                .to_string(),
        )),
    }
}

/// The rule text of an entitlement this connector manages.
pub(crate) fn rule_of(entitlement: &Entitlement) -> Result<&str, ConnectorError> {
    match entitlement {
        Entitlement::Rule { rule } => Ok(rule),
        other => Err(ConnectorError::new(
            ErrorKind::Invalid,
            format!("Redis users hold only ACL rule entitlements; `{other}` cannot be applied"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(tokens: &[&str]) -> BTreeSet<Entitlement> {
        tokens
            .iter()
            .map(|rule| Entitlement::Rule {
                rule: rule.to_string(),
            })
            .collect()
    }

    #[test]
    fn acl_list_line_parses_every_kind() {
        let user = parse_acl_list_line(
            "user app on #c592df4a ~cache:* %R~x:* %W~y:* resetchannels &events -@all +@read -get (~x resetchannels -@all +get)",
        )
        .unwrap();
        assert_eq!(user.name, "app");
        assert!(user.enabled);
        assert!(!user.nopass);
        assert_eq!(user.password_hashes, vec!["c592df4a"]);
        assert_eq!(
            user.rules.entitlements(),
            rules(&[
                "~cache:*",
                "%R~x:*",
                "%W~y:*",
                "&events",
                "+@read",
                "-get",
                "(~x resetchannels -@all +get)"
            ])
        );
        assert_eq!(user.rules.commands, vec!["+@read", "-get"]);
    }

    #[test]
    fn full_access_keeps_all_tokens() {
        let user = parse_acl_list_line("user default on nopass ~* &* +@all").unwrap();
        assert!(user.nopass);
        assert_eq!(user.rules.entitlements(), rules(&["~*", "&*", "+@all"]));
    }

    #[test]
    fn empty_user_has_no_rules() {
        let user = parse_acl_list_line("user b off resetchannels -@all").unwrap();
        assert!(!user.enabled);
        assert!(user.rules.entitlements().is_empty());
        assert!(parse_acl_list_line("").is_none());
        assert!(parse_acl_list_line("nonsense").is_none());
    }

    #[test]
    fn getuser_rebuilds_the_list_line() {
        let reply = GetUserReply {
            flags: vec!["on".into()],
            passwords: vec!["ab".into()],
            commands: "-@all +@read -get".into(),
            keys: "~q".into(),
            channels: "&ch".into(),
            selectors: vec![("-@all +get".into(), "~x".into(), String::new())],
        };
        assert_eq!(
            reply.to_acl_list_line("a"),
            "user a on #ab ~q resetchannels &ch -@all +@read -get (~x resetchannels -@all +get)"
        );
        let all = GetUserReply {
            flags: vec!["off".into()],
            commands: "+@all".into(),
            keys: "~*".into(),
            channels: "&*".into(),
            ..GetUserReply::default()
        };
        assert_eq!(all.to_acl_list_line("c"), "user c off ~* &* +@all");
    }

    #[test]
    fn replacement_keeps_command_order() {
        let user =
            parse_acl_list_line("user l off ~k resetchannels +@all -@admin +client|list -flushall")
                .unwrap();
        let without = user.rules.without("-@admin");
        assert_eq!(
            without.replacement_args(),
            vec![
                "resetkeys",
                "resetchannels",
                "-@all",
                "clearselectors",
                "~k",
                "+@all",
                "+client|list",
                "-flushall"
            ]
        );
    }

    #[test]
    fn canonical_rules_pass_the_check() {
        for rule in [
            "+get",
            "-@dangerous",
            "+@read",
            "+config|get",
            "~cache:*",
            "~Mixed:Case",
            "%R~x:*",
            "%W~y:*",
            "&events",
            "~*",
            "&*",
            "+@all",
            "(~x resetchannels -@all +get)",
        ] {
            assert!(check_rule(rule).is_ok(), "{rule}");
        }
    }

    #[test]
    fn rewritten_spellings_are_rejected() {
        for (rule, hint) in [
            ("+GET", "`+get`"),
            ("allkeys", "`~*`"),
            ("allchannels", "`&*`"),
            ("allcommands", "`+@all`"),
            ("%RW~k", "`~k`"),
            ("%r~k", "`%R~k`"),
        ] {
            let message = check_rule(rule).unwrap_err().message;
            assert!(message.contains(hint), "{rule}: {message}");
        }
        for rule in [
            "", "on", "off", "nopass", ">secret", "#abcd", "reset", "-@all", "+", "get", "~a b",
            "%X~k",
        ] {
            assert_eq!(
                check_rule(rule).map_err(|e| e.kind).err(),
                Some(ErrorKind::Invalid),
                "{rule}"
            );
        }
    }
}
