//! Checks of `targets`.

use super::{join, Cx, Fields, PASSWORD_SOURCES, TOKEN_SOURCES};
use crate::error::ErrorKind;
use crate::keys;
use crate::kinds::{self, AdminForm};
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

    /// Resolves [`Target::database`] from the key that the kind takes (see [`kinds::place_key`]):
    /// `database` for PostgreSQL, the AppRole mount from `auth_mount` for OpenBao (which defaults
    /// to `approle`), the base DN from `base` for LDAP (which is required), and none for Redis.
    /// The keys of the other kinds are rejected. Without a known kind, only `database` is read.
    fn database(&mut self, fields: &Fields<'_>, kind: Option<&str>) -> Option<Option<String>> {
        let used = kind.map_or(Some("database"), kinds::place_key);
        let mut others_ok = true;
        for other in kinds::PLACE_KEYS.iter().filter(|key| Some(**key) != used) {
            if let (Some(kind), Some((key, _))) = (kind, fields.entry(other)) {
                self.error(
                    key.loc,
                    ErrorKind::UnknownKey,
                    format!(
                        "`{other}` does not apply to {} `{kind}` target",
                        kinds::article(kind)
                    ),
                    Some(misplaced_place_help(other, kind).to_owned()),
                );
                others_ok = false;
            }
        }

        let value = match (used, used.and_then(|key| fields.get(key))) {
            (Some(key), Some(value)) => {
                let text = self.text(value, &fields.path_of(key))?;
                let checked = match key {
                    "auth_mount" => values::bao_path(&text, "auth mount", "approle"),
                    "base" => values::dn(&text, "base dn", "ou=services,dc=example,dc=org"),
                    _ => Ok(()),
                };
                if let Err(problem) = checked {
                    self.problem(value.loc, problem);
                    return None;
                }
                Some(text)
            }
            (Some("auth_mount"), None) => Some(DEFAULT_AUTH_MOUNT.to_owned()),
            (Some("base"), None) => {
                self.error(
                    fields.anchor,
                    ErrorKind::MissingKey,
                    format!("missing required key `base` in `{}`", fields.path),
                    Some(
                        "an `ldap` target names the dn under which its accounts live, e.g. \
                         `base: ou=services,dc=example,dc=org`"
                            .to_owned(),
                    ),
                );
                return None;
            }
            _ => None,
        };
        others_ok.then_some(value)
    }

    /// Reads `admin`: a user name and a password source for most kinds, a bind DN and a password
    /// source for LDAP, and a token source alone for OpenBao. Keys of the other forms are
    /// rejected with a pointer to the right ones.
    fn admin(
        &mut self,
        node: &Node,
        parent: &Fields<'_>,
        kind: Option<&str>,
    ) -> Option<(Option<String>, CredentialSource)> {
        let anchor = parent.entry("admin").map_or(node.loc, |(key, _)| key.loc);
        let sources = if kind.map(kinds::admin_form) == Some(AdminForm::Token) {
            TOKEN_SOURCES
        } else {
            PASSWORD_SOURCES
        };
        let fields =
            self.fields_with_sources(node, anchor, &parent.path_of("admin"), keys::ADMIN, sources)?;

        let form = match kind {
            Some(kind) => kinds::admin_form(kind),
            // Without a known kind, the keys written decide which form is checked.
            None => {
                let has_any = |names: &[&str]| names.iter().any(|name| fields.get(name).is_some());
                if has_any(&["token_env", "token_file"])
                    && !has_any(&["user", "bind_dn", "password_env", "password_file"])
                {
                    AdminForm::Token
                } else if has_any(&["bind_dn"]) && !has_any(&["user"]) {
                    AdminForm::BindDnPassword
                } else {
                    AdminForm::UserPassword
                }
            }
        };
        match form {
            AdminForm::Token => self.token_admin(&fields, kind),
            AdminForm::UserPassword => self.password_admin(&fields, kind, "user"),
            AdminForm::BindDnPassword => self.password_admin(&fields, kind, "bind_dn"),
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
            (
                "bind_dn",
                "remove `bind_dn` and set `token_env` or `token_file`",
            ),
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

    /// Reads the admin of a target that signs in with a name and a password. `name_key` is the
    /// key of the name: `user`, or `bind_dn` for LDAP, whose name is a DN.
    fn password_admin(
        &mut self,
        fields: &Fields<'_>,
        kind: Option<&str>,
        name_key: &str,
    ) -> Option<(Option<String>, CredentialSource)> {
        let other_name_key = if name_key == "bind_dn" {
            "user"
        } else {
            "bind_dn"
        };
        let write_name = format!("write `{name_key}` instead");
        let misplaced = [
            ("token_env", "write `password_env` instead"),
            ("token_file", "write `password_file` instead"),
            (other_name_key, write_name.as_str()),
        ];
        let signs_in_with = format!("`{name_key}` and a password");
        let misplaced_ok = self.misplaced_admin_keys(fields, kind, &misplaced, &signs_in_with);

        let name = match fields.get(name_key) {
            Some(value) => self.admin_name(value, &fields.path_of(name_key), name_key),
            // The key of the other name already has an error that names this one.
            None if fields.get(other_name_key).is_some() => None,
            None => {
                self.required(fields, name_key);
                None
            }
        };
        let source = self.credential_source(fields, "password", !misplaced_ok);
        if !misplaced_ok {
            return None;
        }
        Some((Some(name?), source?))
    }

    /// Reads the admin's name, and checks the DN syntax of a `bind_dn`.
    fn admin_name(&mut self, node: &Node, path: &str, name_key: &str) -> Option<String> {
        let text = self.text(node, path)?;
        if name_key == "bind_dn" {
            if let Err(problem) = values::dn(&text, "bind dn", "cn=admin,dc=example,dc=org") {
                self.problem(node.loc, problem);
                return None;
            }
        }
        Some(text)
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

/// Returns help for a place key set on a `kind` target that takes another one or none.
fn misplaced_place_help(key: &str, kind: &str) -> &'static str {
    match (key, kind) {
        ("database", kinds::OPENBAO) => {
            "an openbao target names its approle auth mount with `auth_mount`"
        }
        ("database", kinds::LDAP) => {
            "an ldap target names the dn its accounts live under with `base`"
        }
        ("database", _) => {
            "redis acl users belong to the whole server, not to one database, so remove it"
        }
        ("auth_mount", _) => {
            "`auth_mount` names the approle mount of an openbao target, so remove it"
        }
        _ => "`base` names the dn that an ldap target's accounts live under, so remove it",
    }
}
