//! Hygiene rules: the policy's `rules:` section. Each rule is a CEL expression over an
//! account's observed attributes and the action to take where it holds.
//!
//! ```yaml
//! rules:
//!   - name: stale-credentials
//!     when: age_days > 90
//!     action: rotate
//!   - name: orphans
//!     when: unmanaged && !login_enabled
//!     action: delete
//!     grace_period: 14d
//! ```
//!
//! Every expression is compiled when the policy is read, so a rule that does not compile, or
//! that names an attribute enact does not provide, is an error at its line and column.

use crate::error::{ErrorKind, PolicyError, PolicyErrors};
use crate::yaml::{self, Loc, Node, Value};
use crate::ParseOptions;
use enact_model::Duration;
use miette::NamedSource;
use std::sync::Arc;

/// The attributes a rule may read, with what each is. Where a target does not record an
/// attribute, it is unknown for that account; see [`HygieneRule`] for how unknown is judged.
pub const ATTRIBUTES: &[(&str, &str)] = &[
    ("age_days", "whole days since the credential was set; unknown where the target does not record the set time"),
    ("last_used_days", "whole days since the account last logged in; unknown on every target this build supports, because none records last use"),
    ("owner_missing", "true for an account no identity declares, or whose identity has an empty owner"),
    ("unmanaged", "true for an account no identity declares"),
    ("login_enabled", "whether the account may log in"),
    ("sessions", "how many sessions the account has open"),
    ("target", "the target's name"),
    ("account", "the account's name on the target"),
    ("identity", "the declaring identity's name, or an empty string for an unmanaged account"),
];

/// The action a rule takes on an account where its expression holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// List the account in the plan; change nothing.
    Report,
    /// Rotate the account's credential.
    Rotate,
    /// Disable the account's login and end its sessions.
    Disable,
    /// Disable the account now and delete it once the rule has held for the grace period.
    Delete,
}

impl RuleAction {
    /// The action's name in the policy: `report`, `rotate`, `disable` or `delete`.
    pub fn name(self) -> &'static str {
        match self {
            RuleAction::Report => "report",
            RuleAction::Rotate => "rotate",
            RuleAction::Disable => "disable",
            RuleAction::Delete => "delete",
        }
    }

    /// Whether the action changes the account. An unknown attribute never satisfies a rule
    /// with such an action.
    pub fn changes_account(self) -> bool {
        self != RuleAction::Report
    }
}

/// One checked hygiene rule.
///
/// Rules are judged with three values: satisfied, not satisfied, and unknown when the
/// expression reads an attribute the target does not record. An unknown result never
/// satisfies a rule whose action changes the account; a `report` rule lists it as unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HygieneRule {
    pub name: String,
    /// The CEL expression, which compiled when the policy was read.
    pub expression: String,
    pub action: RuleAction,
    /// For `delete`: how long the rule must hold before the account is deleted.
    pub grace_period: Option<Duration>,
    /// The attributes the expression reads.
    pub attributes: Vec<String>,
}

const RULE_KEYS: &[&str] = &["name", "when", "action", "grace_period"];

/// Drops each entry of `identities` as the parser reads it, because the rules never look
/// there and a large policy's tree would be nearly all identities.
struct SkipIdentities;

impl yaml::EntrySink for SkipIdentities {
    fn key(&self) -> Option<&'static str> {
        Some("identities")
    }

    fn start(&mut self, _before: &[(Node, Node)]) -> bool {
        true
    }

    fn entry(&mut self, _key: Node, _value: Node) {}
}

/// Reads and checks the `rules:` section of a policy; a policy without one has no rules. The
/// rest of the policy is checked by [`crate::parse_policy`].
///
/// # Errors
///
/// Returns every problem in the section: a missing or unknown key, an unknown action, a CEL
/// expression that does not compile (located at the expression), an unknown attribute, and a
/// `delete` rule without a `grace_period`.
pub fn parse_rules(source: &str, options: &ParseOptions) -> Result<Vec<HygieneRule>, PolicyErrors> {
    let mut problems: Vec<(Loc, ErrorKind, String, Option<String>)> = Vec::new();
    let root = match yaml::parse_with(source, &mut SkipIdentities) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(Vec::new()),
        Err(error) => {
            problems.push((error.loc, ErrorKind::Syntax, error.message, None));
            return Err(errors(source, options, problems));
        }
    };
    let Value::Mapping(entries) = &root.value else {
        return Ok(Vec::new());
    };
    let Some((_, section)) = entries
        .iter()
        .find(|(key, _)| key.scalar_text() == Some("rules"))
    else {
        return Ok(Vec::new());
    };
    let Value::Sequence(items) = &section.value else {
        problems.push((
            section.loc,
            ErrorKind::Type,
            format!("`rules` must be a sequence, found {}", section.type_name()),
            None,
        ));
        return Err(errors(source, options, problems));
    };

    let mut rules = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if let Some(rule) = check_rule(item, index, &mut problems) {
            rules.push(rule);
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(errors(source, options, problems))
    }
}

fn check_rule(
    item: &Node,
    index: usize,
    problems: &mut Vec<(Loc, ErrorKind, String, Option<String>)>,
) -> Option<HygieneRule> {
    let path = format!("rules[{index}]");
    let Value::Mapping(entries) = &item.value else {
        problems.push((
            item.loc,
            ErrorKind::Type,
            format!("`{path}` must be a mapping, found {}", item.type_name()),
            None,
        ));
        return None;
    };
    for (key, _) in entries {
        let name = key.scalar_text().unwrap_or_default();
        if !RULE_KEYS.contains(&name) {
            problems.push((
                key.loc,
                ErrorKind::UnknownKey,
                format!("unknown key `{name}` in `{path}`"),
                Some(format!("expected one of {}", RULE_KEYS.join(", "))),
            ));
        }
    }
    let field = |name: &str| {
        entries
            .iter()
            .find(|(key, _)| key.scalar_text() == Some(name))
            .map(|(_, value)| value)
    };
    let text = |name: &str, problems: &mut Vec<_>| -> Option<(String, Loc)> {
        match field(name) {
            Some(node) => match node.scalar_text() {
                Some(text) if !text.trim().is_empty() => Some((text.to_string(), node.loc)),
                _ => {
                    problems.push((
                        node.loc,
                        ErrorKind::Type,
                        format!("`{path}.{name}` must be a non-empty string"),
                        None,
                    ));
                    None
                }
            },
            None => {
                problems.push((
                    item.loc,
                    ErrorKind::MissingKey,
                    format!("`{path}` is missing `{name}`"),
                    None,
                ));
                None
            }
        }
    };
    let name = text("name", problems);
    let when = text("when", problems);
    let action = text("action", problems).and_then(|(action, loc)| match action.as_str() {
        "report" => Some(RuleAction::Report),
        "rotate" => Some(RuleAction::Rotate),
        "disable" => Some(RuleAction::Disable),
        "delete" => Some(RuleAction::Delete),
        other => {
            problems.push((
                loc,
                ErrorKind::InvalidValue,
                format!("`{path}.action` is `{other}`, which is not an action"),
                Some("expected report, rotate, disable or delete".to_string()),
            ));
            None
        }
    });
    let grace_period = match field("grace_period") {
        None => None,
        Some(node) => match node.scalar_text().and_then(parse_duration) {
            Some(duration) => Some(duration),
            None => {
                problems.push((
                    node.loc,
                    ErrorKind::InvalidValue,
                    format!("`{path}.grace_period` is not a duration"),
                    Some("write a positive number with s, m, h or d, such as `14d`".to_string()),
                ));
                return None;
            }
        },
    };
    if action == Some(RuleAction::Delete) && grace_period.is_none() {
        problems.push((
            item.loc,
            ErrorKind::MissingKey,
            format!("`{path}` deletes accounts but has no `grace_period`"),
            Some("add `grace_period: 14d` or another duration".to_string()),
        ));
    }
    let (expression, loc) = when?;
    let attributes = compile(&expression, loc, &path, problems)?;
    Some(HygieneRule {
        name: name?.0,
        expression,
        action: action?,
        grace_period,
        attributes,
    })
}

/// Compiles `expression` and returns the attributes it reads, or records why it cannot be
/// used at its position in the policy.
fn compile(
    expression: &str,
    loc: Loc,
    path: &str,
    problems: &mut Vec<(Loc, ErrorKind, String, Option<String>)>,
) -> Option<Vec<String>> {
    let program = match std::panic::catch_unwind(|| cel_interpreter::Program::compile(expression)) {
        Ok(Ok(program)) => program,
        Ok(Err(errors)) => {
            let first = errors.errors.first();
            let message = first.map_or_else(|| "invalid expression".to_string(), |e| e.msg.clone());
            // The parser counts lines and columns from 1 within the expression; for an
            // expression on one line, the column lands inside the policy line.
            let (line, column) = first.map_or((1, 1), |e| (e.pos.0.max(1), e.pos.1.max(0)));
            let mut at = loc;
            if line == 1 {
                at.column = loc.column + usize::try_from(column).unwrap_or(0);
            }
            problems.push((
                at,
                ErrorKind::InvalidValue,
                format!("`{path}.when` does not compile as CEL: {message}"),
                Some(format!(
                    "the attributes are {}",
                    ATTRIBUTES
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ));
            return None;
        }
        Err(_) => {
            problems.push((
                loc,
                ErrorKind::InvalidValue,
                format!("`{path}.when` does not compile as CEL"),
                None,
            ));
            return None;
        }
    };
    let attributes: Vec<String> = program
        .references()
        .variables()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut ok = true;
    for attribute in &attributes {
        if !ATTRIBUTES.iter().any(|(name, _)| name == attribute) {
            let suggestion = ATTRIBUTES.iter().map(|(name, _)| *name).max_by(|a, b| {
                strsim::jaro_winkler(a, attribute).total_cmp(&strsim::jaro_winkler(b, attribute))
            });
            problems.push((
                loc,
                ErrorKind::InvalidValue,
                format!("`{path}.when` reads `{attribute}`, which is not an attribute"),
                suggestion.map(|name| format!("did you mean `{name}`?")),
            ));
            ok = false;
        }
    }
    ok.then_some(attributes)
}

/// Parses `90d`, `12h`, `30m` or `45s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: i64 = text.get(..text.len() - 1)?.parse().ok()?;
    let seconds = match unit {
        's' => number,
        'm' => number.checked_mul(60)?,
        'h' => number.checked_mul(3600)?,
        'd' => number.checked_mul(86_400)?,
        _ => return None,
    };
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

fn errors(
    source: &str,
    options: &ParseOptions,
    mut problems: Vec<(Loc, ErrorKind, String, Option<String>)>,
) -> PolicyErrors {
    problems.sort_by_key(|(loc, ..)| (loc.line, loc.column));
    let named = Arc::new(
        NamedSource::new(options.origin.display().to_string(), source.to_string())
            .with_language("yaml"),
    );
    let errors = problems
        .into_iter()
        .map(|(loc, kind, message, help)| PolicyError {
            kind,
            file: options.origin.clone(),
            line: loc.line,
            column: loc.column,
            span: loc.start..loc.end.max(loc.start),
            message,
            help,
            code: Arc::clone(&named),
        })
        .collect();
    PolicyErrors::new(options.origin.clone(), errors)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse(text: &str) -> Result<Vec<HygieneRule>, PolicyErrors> {
        parse_rules(text, &ParseOptions::default())
    }

    #[test]
    fn rules_parse_with_attributes() {
        let rules = parse(
            "version: 1\nrules:\n  - name: stale\n    when: age_days > 90\n    action: rotate\n  - name: orphans\n    when: unmanaged && !login_enabled\n    action: delete\n    grace_period: 14d\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].attributes, vec!["age_days".to_string()]);
        assert_eq!(rules[1].action, RuleAction::Delete);
        assert_eq!(
            rules[1].grace_period,
            Some(Duration::from_secs(14 * 86_400))
        );
    }

    #[test]
    fn bad_expression_is_located() {
        let errors =
            parse("rules:\n  - name: broken\n    when: age_days > > 3\n    action: report\n")
                .unwrap_err();
        let first = &errors.errors()[0];
        assert_eq!(first.line, 3);
        assert!(first.column >= 11, "column {}", first.column);
        assert!(
            first.message.contains("does not compile as CEL"),
            "{}",
            first.message
        );
    }

    #[test]
    fn unknown_attribute_suggests_one() {
        let errors = parse("rules:\n  - name: typo\n    when: age_dayz > 3\n    action: report\n")
            .unwrap_err();
        let first = &errors.errors()[0];
        assert!(first.message.contains("`age_dayz`"), "{}", first.message);
        assert_eq!(first.help.as_deref(), Some("did you mean `age_days`?"));
    }

    #[test]
    fn delete_needs_grace_period() {
        let errors =
            parse("rules:\n  - name: d\n    when: unmanaged\n    action: delete\n").unwrap_err();
        assert!(errors.errors()[0].message.contains("grace_period"));
        let errors =
            parse("rules:\n  - name: d\n    when: unmanaged\n    action: purge\n").unwrap_err();
        assert!(errors.errors()[0].message.contains("`purge`"));
    }

    #[test]
    fn rules_beside_identities_are_read() {
        let rules = "rules:\n  - name: stale\n    when: age_days > 90\n    action: rotate\n";
        let identities = "identities:\n  a: {owner: x}\n  b: {owner: y}\n";
        for text in [
            format!("version: 1\ntargets: {{}}\n{identities}{rules}"),
            format!("version: 1\n{rules}targets: {{}}\n{identities}"),
        ] {
            let parsed = parse(&text).unwrap();
            assert_eq!(parsed.len(), 1, "{text}");
            assert_eq!(parsed[0].name, "stale");
        }
    }

    #[test]
    fn policy_without_rules_has_none() {
        assert!(parse("version: 1\ntargets: {}\n").unwrap().is_empty());
    }
}
