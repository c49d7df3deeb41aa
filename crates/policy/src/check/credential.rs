//! Checks of an account's `credential`: its kind, rotation age, use count and the store that
//! each new value is delivered to.

use super::identity::key_loc;
use super::target::DeclaredTarget;
use super::{Cx, Fields};
use crate::error::ErrorKind;
use crate::keys;
use crate::kinds::{self, OPENBAO};
use crate::values;
use crate::yaml::Node;
use enact_model::policy::CredentialKind;
use enact_model::{CredentialPolicy, RotationStrategy, SinkRef, TargetId};
use std::collections::BTreeMap;

/// The KV version 2 mount of a vault sink that does not set `mount`, which is the mount an
/// OpenBao dev server enables.
const DEFAULT_KV_MOUNT: &str = "secret";

/// The rotation strategies a target kind supports. Kinds whose accounts accept two
/// credentials at once support `dual`; PostgreSQL, with one password per role, supports
/// `alternating`, which keeps two login roles.
fn strategies_of(kind: &str) -> &'static [&'static str] {
    match kind {
        OPENBAO | "redis" => &["dual", "single"],
        "postgres" => &["alternating", "single"],
        _ => &["single"],
    }
}

/// How long dependents have to move to a new credential when the policy does not say.
const DEFAULT_GRACE_SECS: i64 = 30;

/// A checked `credential`, with the settings that have no place in [`CredentialPolicy`].
pub(crate) struct CheckedCredential {
    pub policy: CredentialPolicy,
    /// How many logins a secret ID allows (0 for no limit), for OpenBao accounts.
    pub max_uses: Option<u32>,
}

impl Cx<'_> {
    pub(super) fn credential(
        &mut self,
        node: &Node,
        parent: &Fields<'_>,
        kind: Option<&str>,
        targets: &BTreeMap<String, DeclaredTarget>,
    ) -> Option<CheckedCredential> {
        let anchor = key_loc(parent, "credential", node);
        let fields = self.fields(
            node,
            anchor,
            &parent.path_of("credential"),
            keys::CREDENTIAL,
        )?;

        let credential_kind = self
            .required(&fields, "kind")
            .and_then(|value| self.credential_kind(value, &fields.path_of("kind"), kind));
        let max_age = match fields.get("max_age") {
            Some(value) => self.duration(value, &fields.path_of("max_age")).map(Some),
            None => Some(None),
        };
        let max_uses = match (fields.entry("max_uses"), kind) {
            (None, _) => Some(None),
            (Some((key, _)), Some(kind)) if kind != OPENBAO => {
                self.error(
                    key.loc,
                    ErrorKind::UnknownKey,
                    format!(
                        "`max_uses` does not apply to {} `{kind}` target",
                        kinds::article(kind)
                    ),
                    Some(
                        "only openbao secret ids have a use count, so remove `max_uses`".to_owned(),
                    ),
                );
                None
            }
            (Some((_, value)), _) => self.max_uses(value, &fields.path_of("max_uses")).map(Some),
        };
        let sink = self
            .required(&fields, "deliver_to")
            .and_then(|value| self.sink(value, &fields, targets));
        let strategy = self.strategy(&fields, kind);
        let dependents = match fields.entry("dependents") {
            None => Some(Vec::new()),
            Some((key, value)) => {
                let listed = self.dependents(value, &fields.path_of("dependents"), kind);
                if strategy.as_ref() == Some(&RotationStrategy::Single) {
                    self.error(
                        key.loc,
                        ErrorKind::Conflict,
                        "`dependents` needs `strategy: dual` or `alternating`".to_owned(),
                        Some(
                            "a single-strategy rotation replaces the credential at once, so \
                             there is no grace period in which to wait for dependents"
                                .to_owned(),
                        ),
                    );
                    None
                } else {
                    listed
                }
            }
        };

        Some(CheckedCredential {
            policy: CredentialPolicy {
                kind: credential_kind?,
                max_age: max_age?,
                sink: sink?,
                strategy: strategy?,
                dependents: dependents?,
            },
            max_uses: max_uses?,
        })
    }

    /// Reads `strategy`, `grace_period` and `users`. Each kind supports its own strategies
    /// (see [`strategies_of`]). `single` leaves a window in which dependents fail, so where it
    /// is the only choice, or where `alternating` is the other, the policy must name it; kinds
    /// that take two credentials at once default to `dual`. An alternating strategy whose users
    /// are not given gets empty names, which the account check fills in from the role.
    fn strategy(&mut self, fields: &Fields<'_>, kind: Option<&str>) -> Option<RotationStrategy> {
        let supported = kind.map(strategies_of);
        let word = match fields.get("strategy") {
            Some(value) => self.choice(
                value,
                &fields.path_of("strategy"),
                "rotation strategy",
                &["single", "dual", "alternating"],
            )?,
            None => match (kind, supported) {
                (Some(kind), Some(supported)) if !supported.contains(&"dual") => {
                    let choices = supported
                        .iter()
                        .map(|word| format!("`strategy: {word}`"))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    self.error(
                        fields.anchor,
                        ErrorKind::MissingKey,
                        format!("missing `strategy` in `{}`", fields.path),
                        Some(format!(
                            "{} `{kind}` account holds one credential at a time; write {choices}. \
                             `single` leaves a window in which dependents holding the old value \
                             fail, so it must be chosen explicitly",
                            kinds::article(kind)
                        )),
                    );
                    return None;
                }
                _ => "dual",
            },
        };
        if let (Some(kind), Some(supported)) = (kind, supported) {
            if !supported.contains(&word) {
                if let Some((key, _)) = fields.entry("strategy") {
                    self.error(
                        key.loc,
                        ErrorKind::InvalidValue,
                        format!(
                            "{} `{kind}` account cannot rotate with `strategy: {word}`",
                            kinds::article(kind)
                        ),
                        Some(format!(
                            "{} `{kind}` account supports {}",
                            kinds::article(kind),
                            supported
                                .iter()
                                .map(|w| format!("`{w}`"))
                                .collect::<Vec<_>>()
                                .join(" and ")
                        )),
                    );
                }
                return None;
            }
        }
        let grace = match fields.entry("grace_period") {
            None => Some(None),
            Some((key, _)) if word == "single" => {
                self.error(
                    key.loc,
                    ErrorKind::Conflict,
                    "`grace_period` does not apply to `strategy: single`".to_owned(),
                    Some(
                        "remove `grace_period`, or set `strategy: dual` or `alternating`"
                            .to_owned(),
                    ),
                );
                None
            }
            // Zero is a valid grace period: retire the old credential as soon as the declared
            // dependents have moved, or at once when none are declared.
            Some((_, value)) if value.scalar_text() == Some("0s") => {
                Some(Some(enact_model::Duration::from_secs(0)))
            }
            Some((_, value)) => self
                .duration(value, &fields.path_of("grace_period"))
                .map(Some),
        };
        let users = match fields.entry("users") {
            None => Some(None),
            Some((key, _)) if word != "alternating" => {
                self.error(
                    key.loc,
                    ErrorKind::Conflict,
                    "`users` applies only to `strategy: alternating`".to_owned(),
                    Some("remove `users`, or set `strategy: alternating`".to_owned()),
                );
                None
            }
            Some((_, value)) => self
                .alternating_users(value, &fields.path_of("users"))
                .map(Some),
        };
        let grace = grace?.unwrap_or(enact_model::Duration::from_secs(DEFAULT_GRACE_SECS));
        match word {
            "single" => Some(RotationStrategy::Single),
            "dual" => Some(RotationStrategy::Dual { grace }),
            _ => Some(RotationStrategy::Alternating {
                users: users?.unwrap_or_default(),
                grace,
            }),
        }
    }

    /// Reads the two login users of an alternating strategy.
    fn alternating_users(&mut self, node: &Node, path: &str) -> Option<[String; 2]> {
        let items = self.sequence(node, path)?;
        let names: Vec<String> = items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| self.text(item, &format!("{path}[{index}]")))
            .collect();
        if names.len() != items.len() {
            return None;
        }
        match <[String; 2]>::try_from(names) {
            Ok(pair) if pair[0] != pair[1] => Some(pair),
            _ => {
                self.error(
                    node.loc,
                    ErrorKind::InvalidValue,
                    format!("`{path}` must list two different role names"),
                    Some("write `users: [app_blue, app_green]`, or leave `users` out for `<role>_blue` and `<role>_green`".to_owned()),
                );
                None
            }
        }
    }

    /// Reads the credential kind and checks it against the target's kind (see
    /// [`kinds::credential_kind`]): an OpenBao account's credential is a secret ID, and every
    /// other kind's is a password.
    fn credential_kind(
        &mut self,
        node: &Node,
        path: &str,
        kind: Option<&str>,
    ) -> Option<CredentialKind> {
        let word = self.choice(node, path, "credential kind", &["password", "secret_id"])?;
        let credential_kind = match word {
            "secret_id" => CredentialKind::SecretId,
            _ => CredentialKind::Password,
        };
        let Some(kind) = kind else {
            return Some(credential_kind);
        };
        let (expected, what) = kinds::credential_kind(kind);
        if word == expected {
            return Some(credential_kind);
        }
        let article = kinds::article(kind);
        self.error(
            node.loc,
            ErrorKind::InvalidValue,
            format!("credential kind `{word}` does not apply to {article} `{kind}` target"),
            Some(format!(
                "{article} `{kind}` account's credential is {what}, so write `kind: {expected}`"
            )),
        );
        None
    }

    fn max_uses(&mut self, node: &Node, path: &str) -> Option<u32> {
        let number = self.integer(node, path)?;
        match u32::try_from(number) {
            Ok(uses) => Some(uses),
            Err(_) => {
                self.error(
                    node.loc,
                    ErrorKind::InvalidValue,
                    format!("invalid value `{number}` for `{path}`"),
                    Some(format!(
                        "use a whole number from 0 to {}, where 0 allows any number of logins",
                        u32::MAX
                    )),
                );
                None
            }
        }
    }

    /// Reads `deliver_to`, which names exactly one store: `file` or `vault`.
    fn sink(
        &mut self,
        node: &Node,
        parent: &Fields<'_>,
        targets: &BTreeMap<String, DeclaredTarget>,
    ) -> Option<SinkRef> {
        let anchor = key_loc(parent, "deliver_to", node);
        let fields = self.fields(
            node,
            anchor,
            &parent.path_of("deliver_to"),
            keys::DELIVER_TO,
        )?;

        match (fields.entry("file"), fields.entry("vault")) {
            (Some((_, file)), None) => {
                let path = self.path(file, &fields.path_of("file"))?;
                Some(SinkRef::File { path })
            }
            (None, Some((_, vault))) => self.vault_sink(vault, &fields, targets),
            (Some((file_key, _)), Some((vault_key, _))) => {
                let second = if file_key.loc.start > vault_key.loc.start {
                    file_key
                } else {
                    vault_key
                };
                self.error(
                    second.loc,
                    ErrorKind::Conflict,
                    format!("`{}` sets both `file` and `vault`", fields.path),
                    Some("a credential is delivered to one store, so keep one of them".to_owned()),
                );
                None
            }
            (None, None) => {
                self.error(
                    fields.anchor,
                    ErrorKind::MissingKey,
                    format!("missing `file` or `vault` in `{}`", fields.path),
                    Some(
                        "write `file: PATH`, or `vault:` with `target`, `path` and optionally \
                         `mount`"
                            .to_owned(),
                    ),
                );
                None
            }
        }
    }

    /// Reads a vault sink: a KV version 2 secret on a declared OpenBao target.
    fn vault_sink(
        &mut self,
        node: &Node,
        parent: &Fields<'_>,
        targets: &BTreeMap<String, DeclaredTarget>,
    ) -> Option<SinkRef> {
        let anchor = key_loc(parent, "vault", node);
        let fields = self.fields(node, anchor, &parent.path_of("vault"), keys::VAULT_SINK)?;

        let target = self
            .required(&fields, "target")
            .and_then(|value| self.sink_target(value, &fields.path_of("target"), targets));
        let mount = match fields.get("mount") {
            Some(value) => self.bao_path(value, &fields.path_of("mount"), "vault mount", "secret"),
            None => Some(DEFAULT_KV_MOUNT.to_owned()),
        };
        let path = self.required(&fields, "path").and_then(|value| {
            self.bao_path(
                value,
                &fields.path_of("path"),
                "vault path",
                "apps/billing/secret-id",
            )
        });

        Some(SinkRef::Vault {
            target: TargetId::new(target?),
            mount: mount?,
            path: path?,
        })
    }

    /// Reads the target of a vault sink, which must be a declared OpenBao target.
    fn sink_target(
        &mut self,
        node: &Node,
        path: &str,
        targets: &BTreeMap<String, DeclaredTarget>,
    ) -> Option<String> {
        let id = self.text(node, path)?;
        let Some(declared) = targets.get(&id) else {
            let openbao: Vec<&str> = targets
                .iter()
                .filter(|(_, target)| target.kind.as_deref() == Some(OPENBAO))
                .map(|(id, _)| id.as_str())
                .collect();
            let help = match values::closest(&id, &openbao) {
                Some(near) => format!("did you mean `{near}`?"),
                None if openbao.is_empty() => {
                    "declare a target with `kind: openbao` to deliver to".to_owned()
                }
                None => format!("declared openbao targets: {}", values::list(&openbao)),
            };
            self.error(
                node.loc,
                ErrorKind::UnknownReference,
                format!("unknown target `{id}`"),
                Some(help),
            );
            return None;
        };
        // A target whose kind is unknown already has an error of its own.
        match declared.kind.as_deref() {
            Some(kind) if kind != OPENBAO => {
                self.error(
                    node.loc,
                    ErrorKind::InvalidValue,
                    format!("vault sink target `{id}` is not an `openbao` target"),
                    Some(format!(
                        "`{id}` is {} `{kind}` target, and a vault sink writes to the kv \
                         version 2 engine of a target with `kind: openbao`",
                        kinds::article(kind)
                    )),
                );
                None
            }
            _ => Some(id),
        }
    }

    /// Reads a relative OpenBao path, such as a mount or a secret's path below its mount.
    fn bao_path(&mut self, node: &Node, path: &str, noun: &str, example: &str) -> Option<String> {
        let text = self.text(node, path)?;
        match values::bao_path(&text, noun, example) {
            Ok(()) => Some(text),
            Err(problem) => {
                self.problem(node.loc, problem);
                None
            }
        }
    }
}
