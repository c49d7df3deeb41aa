//! Checks of `targets`.

use super::{join, Cx, Fields, PASSWORD_SOURCES, TOKEN_SOURCES};
use crate::error::ErrorKind;
use crate::keys;
use crate::kinds;
use crate::values;
use crate::yaml::{Loc, Node};
use enact_model::policy::CredentialSource;
use enact_model::{Duration, Target, TargetId, UnmanagedAction, UnmanagedPolicy};
use std::collections::BTreeMap;

/// How long verification retries a probe when a target does not say otherwise.
const DEFAULT_VERIFY_WINDOW_SECS: i64 = 5;
/// The AppRole auth mount of an OpenBao target that does not set `auth_mount`, which is the
/// path `bao auth enable approle` uses.
const DEFAULT_AUTH_MOUNT: &str = "approle";

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
            match values::endpoint(kind.as_deref(), &text) {
                Ok(()) => Some(text),
                Err(problem) => {
                    self.problem(value.loc, problem);
                    None
                }
            }
        });
        let database = self.database(&fields, kind.as_deref());
        let admin = self
            .required(&fields, "admin")
            .and_then(|value| self.admin(value, &fields, kind.as_deref()));
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
                admin_user,
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

    /// Resolves [`Target::database`]: the `database` key, or for OpenBao the AppRole mount from
    /// `auth_mount`, which defaults to `approle`. The key of the other kind is rejected.
    fn database(&mut self, fields: &Fields<'_>, kind: Option<&str>) -> Option<Option<String>> {
        let openbao = kind == Some(kinds::OPENBAO);
        let (used, other) = if openbao {
            ("auth_mount", "database")
        } else {
            ("database", "auth_mount")
        };
        let mut other_ok = true;
        if let (Some(kind), Some((key, _))) = (kind, fields.entry(other)) {
            let help = if openbao {
                "an openbao target names its approle auth mount with `auth_mount`"
            } else {
                "`auth_mount` names the approle mount of an openbao target, so remove it"
            };
            self.error(
                key.loc,
                ErrorKind::UnknownKey,
                format!(
                    "`{other}` does not apply to {} `{kind}` target",
                    kinds::article(kind)
                ),
                Some(help.to_owned()),
            );
            other_ok = false;
        }

        let value = match fields.get(used) {
            Some(value) => {
                let text = self.text(value, &fields.path_of(used))?;
                if openbao {
                    if let Err(problem) = values::bao_path(&text, "auth mount", "approle") {
                        self.problem(value.loc, problem);
                        return None;
                    }
                }
                Some(text)
            }
            None if openbao => Some(DEFAULT_AUTH_MOUNT.to_owned()),
            None => None,
        };
        other_ok.then_some(value)
    }

    /// Reads `admin`: a user name and a password source for most kinds, and a token source alone
    /// for OpenBao. Keys of the other form are rejected with a pointer to the right ones.
    fn admin(
        &mut self,
        node: &Node,
        parent: &Fields<'_>,
        kind: Option<&str>,
    ) -> Option<(Option<String>, CredentialSource)> {
        let anchor = parent.entry("admin").map_or(node.loc, |(key, _)| key.loc);
        let sources = if kind == Some(kinds::OPENBAO) {
            TOKEN_SOURCES
        } else {
            PASSWORD_SOURCES
        };
        let fields =
            self.fields_with_sources(node, anchor, &parent.path_of("admin"), keys::ADMIN, sources)?;

        let token_form = match kind {
            Some(kind) => kind == kinds::OPENBAO,
            // Without a known kind, the keys written decide which form is checked.
            None => {
                let has_any = |names: &[&str]| names.iter().any(|name| fields.get(name).is_some());
                has_any(&["token_env", "token_file"])
                    && !has_any(&["user", "password_env", "password_file"])
            }
        };
        if token_form {
            self.token_admin(&fields, kind)
        } else {
            self.password_admin(&fields, kind)
        }
    }

    /// Reads the admin of a target that signs in with a token.
    fn token_admin(
        &mut self,
        fields: &Fields<'_>,
        kind: Option<&str>,
    ) -> Option<(Option<String>, CredentialSource)> {
        let misplaced = [
            ("user", "remove `user` and set `token_env` or `token_file`"),
            ("password_env", "write `token_env` instead"),
            ("password_file", "write `token_file` instead"),
        ];
        let misplaced_ok = self.misplaced_admin_keys(fields, kind, &misplaced, "a token alone");
        let source = self.credential_source(fields, "token", !misplaced_ok);
        if !misplaced_ok {
            return None;
        }
        Some((None, source?))
    }

    /// Reads the admin of a target that signs in with a user name and a password.
    fn password_admin(
        &mut self,
        fields: &Fields<'_>,
        kind: Option<&str>,
    ) -> Option<(Option<String>, CredentialSource)> {
        let misplaced = [
            ("token_env", "write `password_env` instead"),
            ("token_file", "write `password_file` instead"),
        ];
        let misplaced_ok =
            self.misplaced_admin_keys(fields, kind, &misplaced, "`user` and a password");
        let user = self
            .required(fields, "user")
            .and_then(|value| self.text(value, &fields.path_of("user")));
        let source = self.credential_source(fields, "password", !misplaced_ok);
        if !misplaced_ok {
            return None;
        }
        Some((Some(user?), source?))
    }

    /// Reports each key of `misplaced` that is set, as a key that does not apply to `kind`.
    /// Returns whether none is set. Each entry pairs a key with the fix, and `signs_in_with`
    /// says what the kind's admin signs in with.
    fn misplaced_admin_keys(
        &mut self,
        fields: &Fields<'_>,
        kind: Option<&str>,
        misplaced: &[(&str, &str)],
        signs_in_with: &str,
    ) -> bool {
        let mut none_set = true;
        for (name, fix) in misplaced {
            let Some((key, _)) = fields.entry(name) else {
                continue;
            };
            none_set = false;
            // Without a known kind the target already has an error, and the form was chosen
            // from the keys, so there is nothing to point to.
            let Some(kind) = kind else {
                continue;
            };
            self.error(
                key.loc,
                ErrorKind::UnknownKey,
                format!(
                    "`{name}` does not apply to {} `{kind}` target",
                    kinds::article(kind)
                ),
                Some(format!(
                    "{} `{kind}` admin signs in with {signs_in_with}, so {fix}",
                    kinds::article(kind)
                )),
            );
        }
        none_set
    }

    /// Reads the source of the admin credential from exactly one of `NOUN_env` and `NOUN_file`.
    /// A missing source is not reported when `quiet_missing` is set, because a key of the other
    /// form already has an error that names the right key.
    fn credential_source(
        &mut self,
        fields: &Fields<'_>,
        noun: &str,
        quiet_missing: bool,
    ) -> Option<CredentialSource> {
        let env_key = format!("{noun}_env");
        let file_key = format!("{noun}_file");
        match (fields.entry(&env_key), fields.entry(&file_key)) {
            (Some((_, env)), None) => {
                let name = self.text(env, &fields.path_of(&env_key));
                name.and_then(|name| match values::env_var(&name) {
                    Ok(()) => Some(CredentialSource::Env(name)),
                    Err(problem) => {
                        self.problem(env.loc, problem);
                        None
                    }
                })
            }
            (None, Some((_, file))) => self
                .path(file, &fields.path_of(&file_key))
                .map(CredentialSource::File),
            (Some(_), Some((second, _))) => {
                self.error(
                    second.loc,
                    ErrorKind::Conflict,
                    format!("`{}` sets both `{env_key}` and `{file_key}`", fields.path),
                    Some("keep exactly one of them".to_owned()),
                );
                None
            }
            (None, None) if quiet_missing => None,
            (None, None) => {
                self.error(
                    fields.anchor,
                    ErrorKind::MissingKey,
                    format!("missing `{env_key}` or `{file_key}` in `{}`", fields.path),
                    Some(format!(
                        "the admin {noun} is read from an environment variable (`{env_key}`) \
                         or a file (`{file_key}`)"
                    )),
                );
                None
            }
        }
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
