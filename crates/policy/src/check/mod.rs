//! Turns the located YAML tree into the resolved model, collecting every problem on the way.
//!
//! Each check returns `None` for a value it could not accept and records why, then the walk goes
//! on, so one run reports every problem. A [`Policy`] is built only when nothing was recorded.

mod credential;
mod dependents;
mod identity;
mod target;

use crate::error::ErrorKind;
use crate::keys;
use crate::values::{self, Problem};
use crate::yaml::{EntrySink, Loc, Node, ScalarKind, Value};
use crate::ParseOptions;
use enact_model::policy::Limits;
use enact_model::{Duration, Policy};
use identity::IdentityWalk;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use target::Targets;

/// A problem found by the checks, placed in the source.
#[derive(Debug)]
pub(crate) struct Diag {
    pub loc: Loc,
    pub kind: ErrorKind,
    pub message: String,
    pub help: Option<String>,
}

/// The outcome of checking a document.
pub(crate) struct Checked {
    pub policy: Option<Policy>,
    pub diags: Vec<Diag>,
    /// Positions of values under secret-looking keys, masked in the source shown with errors.
    pub secret_values: Vec<Loc>,
}

/// Checks a policy while the parser reads it.
///
/// It is the parser's [`EntrySink`] for `identities`: when `targets` comes before `identities`
/// in the file, `targets` is checked first and then each identity as soon as it is read, so the
/// tree contains one identity at a time. Otherwise the whole tree is built and checked at
/// the end. Both ways record the same problems.
pub(crate) struct Checker<'o> {
    cx: Cx<'o>,
    /// `targets`, when it was checked before the first identity.
    targets: Option<Targets>,
    /// The identities checked as the parser read them.
    identities: Option<IdentityWalk>,
}

impl<'o> Checker<'o> {
    /// Creates a checker that has recorded nothing yet.
    pub fn new(options: &'o ParseOptions) -> Self {
        Checker {
            cx: Cx {
                options,
                diags: Vec::new(),
                secret_values: Vec::new(),
            },
            targets: None,
            identities: None,
        }
    }

    /// Checks the rest of `root`, the document's top node, and returns every finding.
    pub fn finish(mut self, root: &Node, digest: String) -> Checked {
        let policy = self
            .cx
            .policy(root, digest, self.targets.take(), self.identities.take());
        let policy = if self.cx.diags.is_empty() {
            policy
        } else {
            None
        };
        Checked {
            policy,
            diags: self.cx.diags,
            secret_values: self.cx.secret_values,
        }
    }
}

impl EntrySink for Checker<'_> {
    fn key(&self) -> Option<&'static str> {
        Some("identities")
    }

    fn start(&mut self, before: &[(Node, Node)]) -> bool {
        // The root check reads the first `targets` entry, so this is the one checked early.
        let Some((_, targets)) = before
            .iter()
            .find(|(key, _)| key.scalar_text() == Some("targets"))
        else {
            return false;
        };
        self.targets = Some(self.cx.targets(targets));
        self.identities = Some(IdentityWalk::new());
        true
    }

    fn entry(&mut self, key: Node, value: Node) {
        let (Some(walk), Some(targets)) = (&mut self.identities, &self.targets) else {
            return;
        };
        self.cx
            .identity_entry(walk, &key, &value, &targets.declared);
    }
}

/// The checking context: the caller's options and what has been recorded so far.
pub(crate) struct Cx<'o> {
    options: &'o ParseOptions,
    diags: Vec<Diag>,
    secret_values: Vec<Loc>,
}

/// The entries of a mapping whose keys have been checked against the allowed set.
pub(crate) struct Fields<'n> {
    path: String,
    /// The position where a missing key is reported: the key whose value is this mapping, or the
    /// mapping itself.
    anchor: Loc,
    entries: Vec<(&'static str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// Returns the value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|(_, value)| value)
    }

    /// Returns the key node and value of `name`, if present.
    pub fn entry(&self, name: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries
            .iter()
            .find(|(key, _, _)| *key == name)
            .map(|(_, key, value)| (*key, *value))
    }

    /// Returns the path of `name` below this mapping, as messages show it.
    pub fn path_of(&self, name: &str) -> String {
        join(&self.path, name)
    }
}

/// Joins a key to a path: `targets` + `pg-main` gives `targets.pg-main`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Formats a path for a message.
fn describe(path: &str) -> String {
    if path.is_empty() {
        "the policy".to_owned()
    } else {
        format!("`{path}`")
    }
}

/// The keys that a password is read from, named by the help for an inline secret.
pub(crate) const PASSWORD_SOURCES: &str = "`password_env` or `password_file`";
/// The keys that a token is read from, named by the help for an inline secret.
pub(crate) const TOKEN_SOURCES: &str = "`token_env` or `token_file`";

/// Tests whether a key name suggests a secret value, which a policy must not contain.
fn looks_secret(key: &str) -> bool {
    let key = key.to_lowercase();
    [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "private_key",
        "api_key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

impl Cx<'_> {
    /// Records a problem.
    pub fn error(&mut self, loc: Loc, kind: ErrorKind, message: String, help: Option<String>) {
        self.diags.push(Diag {
            loc,
            kind,
            message,
            help,
        });
    }

    /// Records a value problem at `loc`.
    pub fn problem(&mut self, loc: Loc, problem: Problem) {
        self.error(loc, ErrorKind::InvalidValue, problem.message, problem.help);
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let help = match &node.value {
            Value::Scalar(scalar)
                if expected == "a string"
                    && matches!(
                        scalar.kind,
                        ScalarKind::Int | ScalarKind::Float | ScalarKind::Bool
                    ) =>
            {
                Some(format!(
                    "quote it to make it a string: `\"{}\"`",
                    scalar.text
                ))
            }
            _ => None,
        };
        self.error(
            node.loc,
            ErrorKind::Type,
            format!(
                "invalid type for {}: expected {expected}, found {}",
                describe(path),
                node.type_name()
            ),
            help,
        );
    }

    /// Reads a mapping whose keys must come from `allowed`, reporting unknown and duplicate keys.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        anchor: Loc,
        path: &str,
        allowed: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        self.fields_with_sources(node, anchor, path, allowed, PASSWORD_SOURCES)
    }

    /// Reads a mapping like [`Cx::fields`]. `sources` names the keys that the help for an inline
    /// secret points to, such as `` `token_env` or `token_file` ``.
    pub fn fields_with_sources<'n>(
        &mut self,
        node: &'n Node,
        anchor: Loc,
        path: &str,
        allowed: &'static [&'static str],
        sources: &str,
    ) -> Option<Fields<'n>> {
        let Value::Mapping(pairs) = &node.value else {
            self.wrong_type(node, path, "a mapping");
            return None;
        };
        let mut fields = Fields {
            path: path.to_owned(),
            anchor,
            entries: Vec::new(),
        };
        for (key, value) in pairs {
            let Some(name) = self.key_text(key, path) else {
                continue;
            };
            match allowed.iter().find(|candidate| **candidate == name) {
                Some(known) => {
                    if let Some((first, _)) = fields.entry(known) {
                        self.duplicate_key(key, first, path);
                    } else {
                        fields.entries.push((known, key, value));
                    }
                }
                None => self.unknown_key(key, value, name, path, allowed, sources),
            }
        }
        Some(fields)
    }

    /// Reads a mapping from ids to entries (`targets`), reporting duplicate ids.
    pub fn id_map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        noun: &str,
    ) -> Vec<(&'n Node, &'n str, &'n Node)> {
        let Value::Mapping(pairs) = &node.value else {
            self.wrong_type(node, path, "a mapping");
            return Vec::new();
        };
        let mut seen = HashMap::new();
        let mut entries = Vec::new();
        for (key, value) in pairs {
            if let Some(id) = self.id_key(key, path, noun, &mut seen) {
                entries.push((key, id, value));
            }
        }
        entries
    }

    /// Reads the key of one entry of a mapping from ids to entries, reporting a key that is not
    /// a string and an id already in `seen`. A new id is added to `seen`.
    pub fn id_key<'n>(
        &mut self,
        key: &'n Node,
        path: &str,
        noun: &str,
        seen: &mut HashMap<String, Loc>,
    ) -> Option<&'n str> {
        let id = self.key_text(key, path)?;
        if let Some(first) = seen.get(id) {
            self.error(
                key.loc,
                ErrorKind::Duplicate,
                format!("duplicate {noun} `{id}`"),
                Some(format!("`{id}` is first declared on line {}", first.line)),
            );
            return None;
        }
        seen.insert(id.to_owned(), key.loc);
        Some(id)
    }

    fn key_text<'n>(&mut self, key: &'n Node, path: &str) -> Option<&'n str> {
        match &key.value {
            Value::Scalar(scalar) if scalar.kind != ScalarKind::Null => Some(&scalar.text),
            _ => {
                self.error(
                    key.loc,
                    ErrorKind::Type,
                    format!(
                        "invalid key in {}: expected a string, found {}",
                        describe(path),
                        key.type_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn duplicate_key(&mut self, key: &Node, first: &Node, path: &str) {
        let name = key.scalar_text().unwrap_or_default();
        self.error(
            key.loc,
            ErrorKind::Duplicate,
            format!("duplicate key `{name}` in {}", describe(path)),
            Some(format!("`{name}` is first set on line {}", first.loc.line)),
        );
    }

    fn unknown_key(
        &mut self,
        key: &Node,
        value: &Node,
        name: &str,
        path: &str,
        allowed: &[&str],
        sources: &str,
    ) {
        let help = if looks_secret(name) {
            // The value itself must not be echoed anywhere, including the rendered snippet.
            self.secret_values.push(value.loc);
            format!(
                "credentials are read from the environment or a file, never inline, so use \
                 {sources}"
            )
        } else if name == "<<" {
            "write the keys out, since merge keys are not supported".to_owned()
        } else {
            match values::closest(name, allowed) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("valid keys here: {}", values::list(allowed)),
            }
        };
        self.error(
            key.loc,
            ErrorKind::UnknownKey,
            format!("unknown key `{name}` in {}", describe(path)),
            Some(help),
        );
    }

    /// Returns the value of a required key, or reports it missing at the mapping's anchor.
    pub fn required<'n>(&mut self, fields: &Fields<'n>, name: &str) -> Option<&'n Node> {
        let value = fields.get(name);
        if value.is_none() {
            self.error(
                fields.anchor,
                ErrorKind::MissingKey,
                format!(
                    "missing required key `{name}` in {}",
                    describe(&fields.path)
                ),
                None,
            );
        }
        value
    }

    /// Reads a string scalar.
    pub fn string<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match &node.value {
            Value::Scalar(scalar) if scalar.kind == ScalarKind::Str => Some(&scalar.text),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// Reads a string scalar that is not blank.
    pub fn text(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        if text.trim().is_empty() {
            self.error(
                node.loc,
                ErrorKind::InvalidValue,
                format!("{} is empty", describe(path)),
                None,
            );
            return None;
        }
        Some(text.to_owned())
    }

    /// Reads an integer scalar.
    pub fn integer(&mut self, node: &Node, path: &str) -> Option<i64> {
        let text = match &node.value {
            Value::Scalar(scalar) if scalar.kind == ScalarKind::Int => scalar.text.as_str(),
            _ => {
                self.wrong_type(node, path, "an integer");
                return None;
            }
        };
        let parsed = if let Some(octal) = text.strip_prefix("0o") {
            i64::from_str_radix(octal, 8)
        } else if let Some(hex) = text.strip_prefix("0x") {
            i64::from_str_radix(hex, 16)
        } else {
            text.parse()
        };
        match parsed {
            Ok(number) => Some(number),
            Err(_) => {
                self.error(
                    node.loc,
                    ErrorKind::InvalidValue,
                    format!("integer `{text}` in {} is out of range", describe(path)),
                    None,
                );
                None
            }
        }
    }

    /// Reads a boolean scalar.
    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar(scalar) if scalar.kind == ScalarKind::Bool => {
                Some(scalar.text.eq_ignore_ascii_case("true"))
            }
            _ => {
                self.wrong_type(node, path, "a boolean (`true` or `false`)");
                None
            }
        }
    }

    /// A sequence.
    pub fn sequence<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Sequence(items) => Some(items),
            _ => {
                self.wrong_type(node, path, "a sequence");
                None
            }
        }
    }

    /// Reads one of a fixed set of words, such as a lifecycle state.
    pub fn choice(
        &mut self,
        node: &Node,
        path: &str,
        noun: &str,
        valid: &[&'static str],
    ) -> Option<&'static str> {
        let text = self.string(node, path)?;
        if let Some(known) = valid.iter().find(|candidate| **candidate == text) {
            return Some(known);
        }
        let expected = format!("expected one of {}", values::list(valid));
        let help = match values::closest(text, valid) {
            Some(near) => format!("did you mean `{near}`? {expected}"),
            None => expected,
        };
        self.error(
            node.loc,
            ErrorKind::InvalidValue,
            format!("invalid {noun} `{text}`"),
            Some(help),
        );
        None
    }

    /// Reads a duration such as `90d` or `1h30m`. An unquoted number is read as text so that the
    /// error message reports the missing unit.
    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = match &node.value {
            Value::Scalar(scalar) if matches!(scalar.kind, ScalarKind::Str | ScalarKind::Int) => {
                scalar.text.as_str()
            }
            _ => {
                self.wrong_type(node, path, "a duration such as `90d`");
                return None;
            }
        };
        match values::duration(text) {
            Ok(duration) => Some(duration),
            Err(problem) => {
                self.problem(node.loc, problem);
                None
            }
        }
    }

    /// Reads a file path and resolves a relative one against the base directory.
    pub fn path(&mut self, node: &Node, path: &str) -> Option<PathBuf> {
        let text = self.text(node, path)?;
        let file = PathBuf::from(text);
        Some(if file.is_relative() {
            self.options.base_dir.join(file)
        } else {
            file
        })
    }

    /// Checks the document. `early_targets` and `streamed` are the results of the checks that
    /// ran while the parser read the file; the `identities` mapping in `root` is empty then.
    fn policy(
        &mut self,
        root: &Node,
        digest: String,
        early_targets: Option<Targets>,
        streamed: Option<IdentityWalk>,
    ) -> Option<Policy> {
        let fields = self.fields(root, root.loc, "", keys::POLICY)?;

        let version = self.required(&fields, "version");
        let version_ok = version.is_some_and(|node| self.version(node));
        let limits = match fields.get("limits") {
            Some(node) => self.limits(node, &fields),
            None => Some(Limits::default()),
        };
        let targets = self
            .required(&fields, "targets")
            .map(|node| early_targets.unwrap_or_else(|| self.targets(node)));
        let identities = match (self.required(&fields, "identities"), &targets, streamed) {
            (Some(_), _, Some(walk)) => Some(walk.finish()),
            (Some(node), Some(targets), None) => Some(self.identities(node, &targets.declared)),
            (Some(node), None, None) => Some(self.identities(node, &BTreeMap::new())),
            _ => None,
        };

        let targets = targets?.resolved?;
        let identities = identities??;
        if !version_ok {
            return None;
        }
        Some(Policy {
            digest,
            targets,
            identities,
            limits: limits?,
        })
    }

    fn version(&mut self, node: &Node) -> bool {
        let Some(version) = self.integer(node, "version") else {
            return false;
        };
        if version == 1 {
            return true;
        }
        self.error(
            node.loc,
            ErrorKind::InvalidValue,
            format!("unsupported policy version `{version}`"),
            Some("this version of enact reads `version: 1`".to_owned()),
        );
        false
    }

    fn limits(&mut self, node: &Node, parent: &Fields<'_>) -> Option<Limits> {
        let anchor = parent.entry("limits").map_or(node.loc, |(key, _)| key.loc);
        let fields = self.fields(node, anchor, "limits", keys::LIMITS)?;
        let mut limits = Limits::default();
        if let Some(value) = fields.get("max_destructive") {
            let path = fields.path_of("max_destructive");
            let number = self.integer(value, &path)?;
            match u32::try_from(number) {
                Ok(max) => limits.max_destructive = max,
                Err(_) => {
                    self.error(
                        value.loc,
                        ErrorKind::InvalidValue,
                        format!("invalid value `{number}` for `{path}`"),
                        Some(format!("use a whole number from 0 to {}", u32::MAX)),
                    );
                    return None;
                }
            }
        }
        Some(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn secret_looking_keys_are_recognized() {
        for key in [
            "password",
            "db_password",
            "Secret",
            "api_token",
            "private_key",
            "pwd",
        ] {
            assert!(looks_secret(key), "`{key}` not recognized");
        }
        assert!(!looks_secret("user"));
        assert!(!looks_secret("endpoint"));
    }
}
