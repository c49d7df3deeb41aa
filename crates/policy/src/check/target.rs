//! Checks of `targets`.

use super::{join, Cx, Fields};
use crate::error::ErrorKind;
use crate::keys;
use crate::values;
use crate::yaml::{Loc, Node};
use enact_model::policy::CredentialSource;
use enact_model::{Duration, Target, TargetId, UnmanagedAction, UnmanagedPolicy};
use std::collections::BTreeMap;

/// How long verification retries a probe when a target does not say otherwise.
const DEFAULT_VERIFY_WINDOW_SECS: i64 = 5;

/// The facts about a declared target that the account checks use, even for a target with
/// problems.
pub(crate) struct DeclaredTarget {
    /// The connector kind, when it is one of the known kinds.
    pub kind: Option<String>,
}

/// The outcome of checking `targets`.
pub(crate) struct Targets {
    /// Every target id written in the file, so accounts are checked against what the user
    /// declared and not only against the targets that passed their own checks.
    pub declared: BTreeMap<String, DeclaredTarget>,
    /// The resolved targets, when all of them passed.
    pub resolved: Option<BTreeMap<TargetId, Target>>,
}

impl Cx<'_> {
    pub(super) fn targets(&mut self, node: &Node) -> Targets {
        let mut declared = BTreeMap::new();
        let mut resolved = Some(BTreeMap::new());
        for (key, id, value) in self.id_map(node, "targets", "target") {
            let id_ok = match values::target_id(id) {
                Ok(()) => true,
                Err(problem) => {
                    self.problem(key.loc, problem);
                    false
                }
            };
            let path = join("targets", id);
            let (kind, target) = self.target(id, key.loc, value, &path);
            declared.insert(id.to_owned(), DeclaredTarget { kind });
            match (target, &mut resolved) {
                (Some(target), Some(targets)) if id_ok => {
                    targets.insert(target.id.clone(), target);
                }
                _ => resolved = None,
            }
        }
        Targets { declared, resolved }
    }

    /// Checks one target. The kind is returned on its own so that accounts on a target with
    /// other problems still get the checks of that kind.
    fn target(
        &mut self,
        id: &str,
        anchor: Loc,
        node: &Node,
        path: &str,
    ) -> (Option<String>, Option<Target>) {
        let Some(fields) = self.fields(node, anchor, path, keys::TARGET) else {
            return (None, None);
        };

        let kind = self
            .required(&fields, "kind")
            .and_then(|value| self.kind(value, &fields.path_of("kind")));
        let endpoint = self.required(&fields, "endpoint").and_then(|value| {
            let text = self.text(value, &fields.path_of("endpoint"))?;
            match values::endpoint(&text) {
                Ok(()) => Some(text),
                Err(problem) => {
                    self.problem(value.loc, problem);
                    None
                }
            }
        });
        let database = match fields.get("database") {
            Some(value) => self.text(value, &fields.path_of("database")).map(Some),
            None => Some(None),
        };
        let admin = self
            .required(&fields, "admin")
            .and_then(|value| self.admin(value, &fields));
        let verify_window = match fields.get("verify_window") {
            Some(value) => self.duration(value, &fields.path_of("verify_window")),
            None => Some(Duration::from_secs(DEFAULT_VERIFY_WINDOW_SECS)),
        };
        let unmanaged = match fields.get("unmanaged") {
            Some(value) => self.unmanaged(value, &fields),
            None => Some(UnmanagedPolicy::default()),
        };

        let target = (|| {
            let (admin_user, admin_credential) = admin?;
            Some(Target {
                id: TargetId::new(id),
                kind: kind.clone()?,
                endpoint: endpoint?,
                database: database?,
                admin_user: Some(admin_user),
                admin_credential,
                unmanaged: unmanaged?,
                verify_window: verify_window?,
            })
        })();
        (kind, target)
    }

    fn kind(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.string(node, path)?;
        let known = &self.options.known_kinds;
        if known.iter().any(|kind| kind == text) {
            return Some(text.to_owned());
        }
        let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
        let help = values::suggestion(text, &candidates, "known kinds");
        self.error(
            node.loc,
            ErrorKind::InvalidValue,
            format!("unknown target kind `{text}`"),
            Some(help),
        );
        None
    }

    fn admin(&mut self, node: &Node, parent: &Fields<'_>) -> Option<(String, CredentialSource)> {
        let anchor = parent.entry("admin").map_or(node.loc, |(key, _)| key.loc);
        let fields = self.fields(node, anchor, &parent.path_of("admin"), keys::ADMIN)?;

        let user = self
            .required(&fields, "user")
            .and_then(|value| self.text(value, &fields.path_of("user")));

        let source = match (fields.entry("password_env"), fields.entry("password_file")) {
            (Some((_, env)), None) => {
                let name = self.text(env, &fields.path_of("password_env"));
                name.and_then(|name| match values::env_var(&name) {
                    Ok(()) => Some(CredentialSource::Env(name)),
                    Err(problem) => {
                        self.problem(env.loc, problem);
                        None
                    }
                })
            }
            (None, Some((_, file))) => self
                .path(file, &fields.path_of("password_file"))
                .map(CredentialSource::File),
            (Some(_), Some((second, _))) => {
                self.error(
                    second.loc,
                    ErrorKind::Conflict,
                    format!(
                        "`{}` sets both `password_env` and `password_file`",
                        fields.path
                    ),
                    Some("keep exactly one of them".to_owned()),
                );
                None
            }
            (None, None) => {
                self.error(
                    fields.anchor,
                    ErrorKind::MissingKey,
                    format!(
                        "missing `password_env` or `password_file` in `{}`",
                        fields.path
                    ),
                    Some(
                        "the admin password is read from an environment variable \
                         (`password_env`) or a file (`password_file`)"
                            .to_owned(),
                    ),
                );
                None
            }
        };
        Some((user?, source?))
    }

    fn unmanaged(&mut self, node: &Node, parent: &Fields<'_>) -> Option<UnmanagedPolicy> {
        let anchor = parent
            .entry("unmanaged")
            .map_or(node.loc, |(key, _)| key.loc);
        let fields = self.fields(node, anchor, &parent.path_of("unmanaged"), keys::UNMANAGED)?;

        let action = match fields.get("action") {
            Some(value) => self
                .choice(
                    value,
                    &fields.path_of("action"),
                    "unmanaged action",
                    &["report", "disable"],
                )
                .map(|word| match word {
                    "disable" => UnmanagedAction::Disable,
                    _ => UnmanagedAction::Report,
                }),
            None => Some(UnmanagedAction::Report),
        };

        let ignore = match fields.get("ignore") {
            Some(value) => self.globs(value, &fields.path_of("ignore")),
            None => Some(Vec::new()),
        };
        Some(UnmanagedPolicy {
            action: action?,
            ignore: ignore?,
        })
    }

    fn globs(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let items = self.sequence(node, path)?;
        let mut patterns = Some(Vec::new());
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            let pattern = self
                .string(item, &item_path)
                .and_then(|text| match values::glob(text) {
                    Ok(()) => Some(text.to_owned()),
                    Err(problem) => {
                        self.problem(item.loc, problem);
                        None
                    }
                });
            match (pattern, &mut patterns) {
                (Some(pattern), Some(list)) => list.push(pattern),
                _ => patterns = None,
            }
        }
        patterns
    }
}
