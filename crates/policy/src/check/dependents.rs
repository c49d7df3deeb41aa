//! Checks of a credential's `dependents`: the processes a rotation waits for, each with one way
//! to observe it.

use super::{Cx, Fields};
use crate::error::ErrorKind;
use crate::keys;
use crate::kinds::{self, OPENBAO};
use crate::yaml::Node;
use enact_model::{Dependent, DependentCheck};
use std::collections::BTreeSet;

/// The keys that say how a dependent is observed; each dependent sets exactly one.
const CHECKS: [&str; 5] = [
    "application_name",
    "client_addr",
    "metadata",
    "command",
    "http",
];

impl Cx<'_> {
    /// Reads `dependents`, a list of named dependents.
    pub(super) fn dependents(
        &mut self,
        node: &Node,
        path: &str,
        kind: Option<&str>,
    ) -> Option<Vec<Dependent>> {
        let items = self.sequence(node, path)?;
        let mut names = BTreeSet::new();
        let mut dependents = Vec::new();
        let mut failed = false;
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            match self.dependent(item, &item_path, kind) {
                Some(dependent) => {
                    if !names.insert(dependent.name.clone()) {
                        self.error(
                            item.loc,
                            ErrorKind::Duplicate,
                            format!("dependent `{}` is declared twice", dependent.name),
                            Some("give each dependent of a credential its own name".to_owned()),
                        );
                        failed = true;
                    }
                    dependents.push(dependent);
                }
                None => failed = true,
            }
        }
        (!failed).then_some(dependents)
    }

    fn dependent(&mut self, node: &Node, path: &str, kind: Option<&str>) -> Option<Dependent> {
        let fields = self.fields(node, node.loc, path, keys::DEPENDENT)?;
        let name = self
            .required(&fields, "name")
            .and_then(|value| self.text(value, &fields.path_of("name")));
        let set: Vec<&str> = CHECKS
            .iter()
            .copied()
            .filter(|key| fields.get(key).is_some())
            .collect();
        let check = match set.as_slice() {
            [one] => self.dependent_check(&fields, one, kind),
            [] => {
                self.error(
                    fields.anchor,
                    ErrorKind::MissingKey,
                    format!("`{path}` says not how to observe the dependent"),
                    Some(format!(
                        "set one of {}",
                        CHECKS.map(|k| format!("`{k}`")).join(", ")
                    )),
                );
                None
            }
            [_, second, ..] => {
                let loc = fields.entry(second).map(|(key, _)| key.loc);
                self.error(
                    loc.unwrap_or(fields.anchor),
                    ErrorKind::Conflict,
                    format!("`{path}` sets both `{}` and `{second}`", set[0]),
                    Some("a dependent is observed one way, so keep one of them".to_owned()),
                );
                None
            }
        };
        Some(Dependent {
            name: name?,
            check: check?,
        })
    }

    fn dependent_check(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        kind: Option<&str>,
    ) -> Option<DependentCheck> {
        let (key_node, value) = fields.entry(key)?;
        let path = fields.path_of(key);
        let by_sessions = matches!(key, "application_name" | "client_addr" | "metadata");
        if let Some(kind) = kind {
            if by_sessions && kinds::without_sessions(kind).is_some() {
                self.error(
                    key_node.loc,
                    ErrorKind::InvalidValue,
                    format!(
                        "{} `{kind}` target records no sessions, so `{key}` cannot observe a dependent",
                        kinds::article(kind)
                    ),
                    Some("observe it with `command` or `http` instead".to_owned()),
                );
                return None;
            }
            let fits = match key {
                "metadata" => kind == OPENBAO,
                "client_addr" => kind != OPENBAO,
                _ => true,
            };
            if !fits {
                self.error(
                    key_node.loc,
                    ErrorKind::InvalidValue,
                    format!(
                        "`{key}` does not apply to {} `{kind}` target",
                        kinds::article(kind)
                    ),
                    Some(
                        "`metadata` matches openbao token metadata, and `client_addr` matches \
                         postgres and redis client addresses"
                            .to_owned(),
                    ),
                );
                return None;
            }
        }
        match key {
            "application_name" => self.text(value, &path).map(DependentCheck::ApplicationName),
            "client_addr" => self.text(value, &path).map(DependentCheck::ClientAddr),
            "metadata" => {
                let text = self.text(value, &path)?;
                match text.split_once('=') {
                    Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                        Some(DependentCheck::Metadata {
                            key: k.to_owned(),
                            value: v.to_owned(),
                        })
                    }
                    _ => {
                        self.error(
                            value.loc,
                            ErrorKind::InvalidValue,
                            format!("invalid metadata `{text}` for `{path}`"),
                            Some("write `KEY=VALUE`, e.g. `service=billing-api`".to_owned()),
                        );
                        None
                    }
                }
            }
            "command" => self.dependent_command(value, &path),
            _ => {
                let url = self.text(value, &path)?;
                if url.starts_with("http://") || url.starts_with("https://") {
                    Some(DependentCheck::Http(url))
                } else {
                    self.error(
                        value.loc,
                        ErrorKind::InvalidValue,
                        format!("invalid url `{url}` for `{path}`"),
                        Some("write an `http://` or `https://` url".to_owned()),
                    );
                    None
                }
            }
        }
    }

    /// Reads a command as a list of words; a relative program path with a `/` is resolved
    /// against the policy's directory, like every other path in the policy.
    fn dependent_command(&mut self, node: &Node, path: &str) -> Option<DependentCheck> {
        let items = self.sequence(node, path)?;
        let words: Vec<String> = items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| self.text(item, &format!("{path}[{index}]")))
            .collect();
        if words.len() != items.len() {
            return None;
        }
        let Some(program) = words.first() else {
            self.error(
                node.loc,
                ErrorKind::InvalidValue,
                format!("`{path}` is empty"),
                Some("write the program and its arguments, e.g. `[./check-login.sh]`".to_owned()),
            );
            return None;
        };
        let mut argv = words.clone();
        if program.contains('/') {
            if let Some(first) = items.first() {
                let resolved = self.path(first, &format!("{path}[0]"))?;
                argv[0] = resolved.to_string_lossy().into_owned();
            }
        }
        Some(DependentCheck::Command(argv))
    }
}
