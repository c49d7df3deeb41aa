//! Checks of `identities`, their accounts and everything an account declares.

use super::credential::CheckedCredential;
use super::target::DeclaredTarget;
use super::{join, Cx, Fields};
use crate::error::ErrorKind;
use crate::keys;
use crate::kinds::{self, EntitlementForm, OPENBAO};
use crate::values::{self, NameUse};
use crate::yaml::{Loc, Node, Value};
use enact_model::{
    Account, Duration, Entitlement, Identity, LifecycleState, NhiId, ObjectRef, OwnedObjects,
    SessionPolicy, TargetId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Accounts already declared, for the checks that span accounts and identities.
#[derive(Default)]
struct Claims {
    /// `(target, role)` to the identity that declared it first and the line of its role.
    roles: HashMap<(String, String), (String, usize)>,
}

/// The state of the `identities` check, which takes one entry at a time so that the parser can
/// drop each identity's subtree once it is checked.
pub(super) struct IdentityWalk {
    claims: Claims,
    /// Each identity id read so far, with the position of its key.
    seen: HashMap<String, Loc>,
    /// The resolved identities in source order, or `None` once one of them failed.
    resolved: Option<Vec<(NhiId, Identity)>>,
}

impl IdentityWalk {
    pub(super) fn new() -> Self {
        IdentityWalk {
            claims: Claims::default(),
            seen: HashMap::new(),
            resolved: Some(Vec::new()),
        }
    }

    /// Returns the resolved identities, or `None` when any of them failed its checks.
    pub(super) fn finish(self) -> Option<BTreeMap<NhiId, Identity>> {
        // Built from the whole list at once, the map's nodes are full. Inserted one by one in
        // ascending order, as a generated policy lists them, each node stays about half empty.
        self.resolved.map(BTreeMap::from_iter)
    }
}

impl Cx<'_> {
    pub(super) fn identities(
        &mut self,
        node: &Node,
        targets: &BTreeMap<String, DeclaredTarget>,
    ) -> Option<BTreeMap<NhiId, Identity>> {
        let mut walk = IdentityWalk::new();
        let Value::Mapping(pairs) = &node.value else {
            self.wrong_type(node, "identities", "a mapping");
            return walk.finish();
        };
        for (key, value) in pairs {
            self.identity_entry(&mut walk, key, value, targets);
        }
        walk.finish()
    }

    /// Checks one entry of `identities` and adds the identity to `walk`.
    pub(super) fn identity_entry(
        &mut self,
        walk: &mut IdentityWalk,
        key: &Node,
        value: &Node,
        targets: &BTreeMap<String, DeclaredTarget>,
    ) {
        let Some(id) = self.id_key(key, "identities", "identity", &mut walk.seen) else {
            return;
        };
        let id_ok = match values::identity_id(id) {
            Ok(()) => true,
            Err(problem) => {
                self.problem(key.loc, problem);
                false
            }
        };
        let path = join("identities", id);
        let identity = self.identity(id, key.loc, value, &path, targets, &mut walk.claims);
        match (identity, &mut walk.resolved) {
            (Some(identity), Some(identities)) if id_ok => {
                identities.push((identity.id.clone(), identity));
            }
            _ => walk.resolved = None,
        }
    }

    fn identity(
        &mut self,
        id: &str,
        anchor: Loc,
        node: &Node,
        path: &str,
        targets: &BTreeMap<String, DeclaredTarget>,
        claims: &mut Claims,
    ) -> Option<Identity> {
        let fields = self.fields(node, anchor, path, keys::IDENTITY)?;

        let owner = self
            .required(&fields, "owner")
            .and_then(|value| self.text(value, &fields.path_of("owner")));
        let purpose = self
            .required(&fields, "purpose")
            .and_then(|value| self.text(value, &fields.path_of("purpose")));
        let state = self.required(&fields, "state").and_then(|value| {
            let word = self.choice(
                value,
                &fields.path_of("state"),
                "state",
                &["active", "disabled", "decommissioned"],
            )?;
            Some(match word {
                "disabled" => LifecycleState::Disabled,
                "decommissioned" => LifecycleState::Decommissioned,
                _ => LifecycleState::Active,
            })
        });
        let accounts = self
            .required(&fields, "accounts")
            .and_then(|value| self.accounts(id, value, &fields, targets, claims));

        Some(Identity {
            id: NhiId::new(id),
            owner: owner?,
            purpose: purpose?,
            state: state?,
            accounts: accounts?,
        })
    }

    fn accounts(
        &mut self,
        identity: &str,
        node: &Node,
        parent: &Fields<'_>,
        targets: &BTreeMap<String, DeclaredTarget>,
        claims: &mut Claims,
    ) -> Option<Vec<Account>> {
        let path = parent.path_of("accounts");
        let items = self.sequence(node, &path)?;
        if items.is_empty() {
            self.error(
                node.loc,
                ErrorKind::InvalidValue,
                format!("identity `{identity}` has no accounts"),
                Some("declare at least one account with `target` and `role`".to_owned()),
            );
            return None;
        }

        // Target id to the line of the identity's first account on it.
        let mut targets_used: HashMap<String, usize> = HashMap::new();
        let mut accounts = Some(Vec::new());
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            let account = self.account(
                identity,
                item,
                &item_path,
                targets,
                claims,
                &mut targets_used,
            );
            match (account, &mut accounts) {
                (Some(account), Some(list)) => list.push(account),
                _ => accounts = None,
            }
        }
        // An account is a few hundred bytes and a new vector reserves four, so a policy of many
        // one-account identities would otherwise hold three unused accounts per identity.
        if let Some(list) = &mut accounts {
            list.shrink_to_fit();
        }
        accounts
    }

    fn account(
        &mut self,
        identity: &str,
        node: &Node,
        path: &str,
        targets: &BTreeMap<String, DeclaredTarget>,
        claims: &mut Claims,
        targets_used: &mut HashMap<String, usize>,
    ) -> Option<Account> {
        let fields = self.fields(node, node.loc, path, keys::ACCOUNT)?;

        let target = self
            .required(&fields, "target")
            .and_then(|value| self.account_target(identity, value, &fields, targets, targets_used));
        // The kind decides the naming rules; without a known kind only the common checks run.
        let kind = target
            .as_deref()
            .and_then(|id| targets.get(id))
            .and_then(|declared| declared.kind.as_deref());

        let role = self.required(&fields, "role").and_then(|value| {
            let name = self.text(value, &fields.path_of("role"))?;
            if let Some(kind) = kind {
                if let Err(problem) = values::account_name(kind, &name, NameUse::Account) {
                    self.problem(value.loc, problem);
                    return None;
                }
            }
            if let Some(target) = &target {
                self.claim_role(identity, target, &name, value.loc, claims)?;
            }
            Some(name)
        });

        let entitlements = match fields.get("entitlements") {
            Some(value) => self.entitlements(value, &fields.path_of("entitlements"), kind),
            None => Some(BTreeSet::new()),
        };
        let credential = match fields.get("credential") {
            Some(value) => self.credential(value, &fields, kind, targets).map(Some),
            None => Some(None),
        };
        let sessions = match fields.entry("sessions") {
            Some((key, value)) => match kind.zip(kind.and_then(kinds::without_sessions)) {
                Some((kind, help)) => {
                    self.not_for_kind(key, "sessions", kind, help);
                    None
                }
                None => self.sessions(value, &fields, kind).map(Some),
            },
            None => Some(None),
        };
        let owned_objects = match fields.entry("owned_objects") {
            Some((key, value)) => match kind.zip(kind.and_then(kinds::without_owned_objects)) {
                Some((kind, help)) => {
                    self.not_for_kind(key, "owned_objects", kind, help);
                    None
                }
                None => self.owned_objects(value, &fields, kind, role.as_deref()),
            },
            None => Some(OwnedObjects::Refuse),
        };

        let mut credential = credential?;
        let sessions = sessions?;
        let mut settings = if kind == Some(OPENBAO) {
            approle_settings(credential.as_ref(), sessions.as_ref())
        } else {
            BTreeMap::new()
        };
        if let Some(enact_model::RotationStrategy::Alternating { users, .. }) = credential
            .as_mut()
            .map(|credential| &mut credential.policy.strategy)
        {
            let role = role.as_deref()?;
            if users[0].is_empty() {
                *users = [format!("{role}_blue"), format!("{role}_green")];
            }
            let loc = fields
                .get("credential")
                .map(|node| node.loc)
                .unwrap_or(fields.anchor);
            for user in users.iter() {
                if let Some(kind) = kind {
                    if let Err(problem) = values::account_name(kind, user, NameUse::Account) {
                        self.problem(loc, problem);
                        return None;
                    }
                }
                if let Some(target) = &target {
                    self.claim_role(identity, target, user, loc, claims)?;
                }
            }
            settings.insert("alternating_users".to_owned(), users.join(","));
        }
        Some(Account {
            target: TargetId::new(target?),
            name: role?,
            entitlements: entitlements?,
            credential: credential.map(|credential| credential.policy),
            sessions,
            owned_objects: owned_objects?,
            settings,
        })
    }

    fn account_target(
        &mut self,
        identity: &str,
        node: &Node,
        fields: &Fields<'_>,
        targets: &BTreeMap<String, DeclaredTarget>,
        targets_used: &mut HashMap<String, usize>,
    ) -> Option<String> {
        let id = self.text(node, &fields.path_of("target"))?;
        if !targets.contains_key(&id) {
            let declared: Vec<&str> = targets.keys().map(String::as_str).collect();
            let help = values::suggestion(&id, &declared, "declared targets");
            self.error(
                node.loc,
                ErrorKind::UnknownReference,
                format!("unknown target `{id}`"),
                Some(help),
            );
            return None;
        }
        if let Some(first_line) = targets_used.get(&id) {
            self.error(
                node.loc,
                ErrorKind::Duplicate,
                format!("identity `{identity}` has a second account on target `{id}`"),
                Some(format!(
                    "an identity has one account per target, and the first is on line {first_line}"
                )),
            );
            return None;
        }
        targets_used.insert(id.clone(), node.loc.line);
        Some(id)
    }

    /// Records that `identity` owns `role` on `target`, rejecting a role another identity owns.
    fn claim_role(
        &mut self,
        identity: &str,
        target: &str,
        role: &str,
        loc: Loc,
        claims: &mut Claims,
    ) -> Option<()> {
        let key = (target.to_owned(), role.to_owned());
        if let Some((owner, line)) = claims.roles.get(&key) {
            self.error(
                loc,
                ErrorKind::Duplicate,
                format!(
                    "role `{role}` on target `{target}` is already declared by identity `{owner}`"
                ),
                Some(format!(
                    "an account belongs to one identity, and `{owner}` declares it on line {line}"
                )),
            );
            return None;
        }
        claims.roles.insert(key, (identity.to_owned(), loc.line));
        Some(())
    }

    fn entitlements(
        &mut self,
        node: &Node,
        path: &str,
        kind: Option<&str>,
    ) -> Option<BTreeSet<Entitlement>> {
        let items = self.sequence(node, path)?;
        let mut seen: HashMap<Entitlement, usize> = HashMap::new();
        let mut all_ok = true;
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            let Some(entitlement) = self.entitlement(item, &item_path, kind) else {
                all_ok = false;
                continue;
            };
            if let Some(first_line) = seen.get(&entitlement) {
                self.error(
                    item.loc,
                    ErrorKind::Duplicate,
                    format!("duplicate entitlement `{entitlement}`"),
                    Some(format!("it is first listed on line {first_line}")),
                );
                all_ok = false;
                continue;
            }
            seen.insert(entitlement, item.loc.line);
        }
        all_ok.then(|| seen.into_keys().collect())
    }

    fn entitlement(&mut self, node: &Node, path: &str, kind: Option<&str>) -> Option<Entitlement> {
        let fields = self.fields(node, node.loc, path, keys::ENTITLEMENT)?;
        // A rule that sets a password contains a credential, so the value is masked wherever the
        // source is shown, whichever target the account is on.
        if let Some(value) = fields.get("rule") {
            if value.scalar_text().is_some_and(values::is_credential_rule) {
                self.secret_values.push(value.loc);
            }
        }
        // Each form present, with the first of its keys. `on` without `privilege` is still the
        // privilege form, with `privilege` missing.
        let forms: Vec<(EntitlementForm, &Node)> = EntitlementForm::ALL
            .into_iter()
            .filter_map(|form| {
                let key = form.keys().iter().find_map(|name| fields.entry(name));
                key.map(|(key, _)| (form, key))
            })
            .collect();

        let (form, key) = match forms.as_slice() {
            [] => {
                self.missing_entitlement(node.loc, path, kind);
                return None;
            }
            [(form, key)] => (*form, *key),
            _ => {
                self.mixed_entitlement(node.loc, path, &forms);
                return None;
            }
        };
        let name = key.scalar_text().unwrap_or_default();
        self.entitlement_applies(key, name, form, kind)?;
        match form {
            EntitlementForm::Membership => {
                let value = fields.get("member_of")?;
                let group = self.text(value, &fields.path_of("member_of"))?;
                if let Some(kind) = kind {
                    if let Err(problem) = values::group_name(kind, &group) {
                        self.problem(value.loc, problem);
                        return None;
                    }
                }
                // LDAP compares these DNs without case, and the connector reports memberships
                // in lower case, so the declared DN is lowered to match.
                let group = if kind == Some(crate::kinds::LDAP) {
                    group.to_lowercase()
                } else {
                    group
                };
                Some(Entitlement::Membership { group })
            }
            EntitlementForm::Privilege => self.privilege_entitlement(&fields),
            EntitlementForm::Policy => {
                let value = fields.get("policy")?;
                let name = self.text(value, &fields.path_of("policy"))?;
                match values::policy_name(&name) {
                    Ok(()) => Some(Entitlement::Policy { policy: name }),
                    Err(problem) => {
                        self.problem(value.loc, problem);
                        None
                    }
                }
            }
            EntitlementForm::Rule => {
                let value = fields.get("rule")?;
                let text = self.text(value, &fields.path_of("rule"))?;
                match values::acl_rule(&text) {
                    Ok(rule) => Some(Entitlement::Rule { rule }),
                    Err(problem) => {
                        self.problem(value.loc, problem);
                        None
                    }
                }
            }
        }
    }

    /// Reports an entitlement that names no form, with the forms the target's kind takes.
    fn missing_entitlement(&mut self, loc: Loc, path: &str, kind: Option<&str>) {
        let forms = kind.map_or(&EntitlementForm::ALL[..], kinds::entitlement_forms);
        let names: Vec<&str> = forms.iter().map(|form| form.key()).collect();
        let syntaxes: Vec<&str> = forms.iter().map(|form| form.syntax(kind)).collect();
        let help = match syntaxes.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("write {}, or {last}", rest.join(", "))
            }
            _ => format!("write {}", syntaxes.join("")),
        };
        self.error(
            loc,
            ErrorKind::MissingKey,
            format!("missing {} in `{path}`", alternatives(&names)),
            Some(help),
        );
    }

    /// Reports an entitlement that mixes the keys of two or more forms.
    fn mixed_entitlement(&mut self, loc: Loc, path: &str, forms: &[(EntitlementForm, &Node)]) {
        let has = |wanted: EntitlementForm| forms.iter().any(|(form, _)| *form == wanted);
        let (message, help) = if has(EntitlementForm::Rule) {
            (
                format!("`{path}` mixes `rule` with `member_of`, `privilege`, `on` or `policy`"),
                "write each entitlement as a separate entry",
            )
        } else if has(EntitlementForm::Policy) {
            (
                format!("`{path}` mixes `policy` with `member_of`, `privilege` or `on`"),
                "write each entitlement as a separate entry",
            )
        } else {
            (
                format!("`{path}` mixes `member_of` with `privilege` or `on`"),
                "write a membership and a privilege as two separate entries",
            )
        };
        self.error(loc, ErrorKind::Conflict, message, Some(help.to_owned()));
    }

    /// Checks that `form`, whose key in the entry is `name`, is one that the accounts of the
    /// target's kind hold (see [`kinds::entitlement_forms`]). Without a known kind, every form is
    /// accepted.
    fn entitlement_applies(
        &mut self,
        key: &Node,
        name: &str,
        form: EntitlementForm,
        kind: Option<&str>,
    ) -> Option<()> {
        let Some(kind) = kind else {
            return Some(());
        };
        if kinds::entitlement_forms(kind).contains(&form) {
            return Some(());
        }
        let forms_help = kinds::entitlement_help(kind);
        let help = if form == EntitlementForm::Rule {
            format!("`rule` is for redis acl rules, and {forms_help}")
        } else {
            forms_help
        };
        self.error(
            key.loc,
            ErrorKind::UnknownKey,
            format!(
                "`{name}` does not apply to {} `{kind}` target",
                kinds::article(kind)
            ),
            Some(help),
        );
        None
    }

    /// Reports an account key that the target's kind does not take, with `help` saying why.
    fn not_for_kind(&mut self, key: &Node, name: &str, kind: &str, help: &str) {
        self.error(
            key.loc,
            ErrorKind::UnknownKey,
            format!(
                "`{name}` does not apply to {} `{kind}` target",
                kinds::article(kind)
            ),
            Some(help.to_owned()),
        );
    }

    /// Reads a privilege entitlement: `privilege: NAME` with `on: KIND NAME`.
    fn privilege_entitlement(&mut self, fields: &Fields<'_>) -> Option<Entitlement> {
        let privilege = self.required(fields, "privilege");
        let on = self.required(fields, "on");
        let object = on.and_then(|value| {
            let text = self.string(value, &fields.path_of("on"))?;
            match values::object(text) {
                Ok((kind, name)) => Some(ObjectRef {
                    kind: kind.to_owned(),
                    name,
                }),
                Err(problem) => {
                    self.problem(value.loc, problem);
                    None
                }
            }
        });
        let privilege = privilege.and_then(|value| {
            let text = self.string(value, &fields.path_of("privilege"))?;
            // Without a valid object the kind is unknown, so only the checks that hold
            // for every kind run.
            let checked = match &object {
                Some(object) => values::privilege(text, &object.kind),
                None => values::privilege_name(text),
            };
            match checked {
                Ok(name) => Some(name),
                Err(problem) => {
                    self.problem(value.loc, problem);
                    None
                }
            }
        });
        Some(Entitlement::Privilege {
            privilege: privilege?,
            object: Box::new(object?),
        })
    }

    fn sessions(
        &mut self,
        node: &Node,
        parent: &Fields<'_>,
        kind: Option<&str>,
    ) -> Option<SessionPolicy> {
        let anchor = key_loc(parent, "sessions", node);
        let fields = self.fields(node, anchor, &parent.path_of("sessions"), keys::SESSIONS)?;

        let max_lifetime = match fields.get("max_lifetime") {
            Some(value) => self
                .duration(value, &fields.path_of("max_lifetime"))
                .map(Some),
            None => Some(None),
        };
        let idle_limit = match fields.get("idle_limit") {
            Some(value) => self
                .duration(value, &fields.path_of("idle_limit"))
                .map(Some),
            None => Some(None),
        };
        let end_on_rotation = match fields.get("end_on_rotation") {
            Some(value) => self.boolean(value, &fields.path_of("end_on_rotation")),
            None => Some(false),
        };

        // OpenBao rejects an AppRole role whose `token_ttl` exceeds its `token_max_ttl`.
        if let (Some(OPENBAO), Some(Some(lifetime)), Some(Some(idle)), Some(idle_node)) =
            (kind, max_lifetime, idle_limit, fields.get("idle_limit"))
        {
            if idle > lifetime {
                self.error(
                    idle_node.loc,
                    ErrorKind::Conflict,
                    format!("`idle_limit` `{idle}` is longer than `max_lifetime` `{lifetime}`"),
                    Some(
                        "openbao rejects a role whose `token_ttl` is above its `token_max_ttl`, \
                         so make `idle_limit` at most `max_lifetime`"
                            .to_owned(),
                    ),
                );
                return None;
            }
        }
        Some(SessionPolicy {
            max_lifetime: max_lifetime?,
            idle_limit: idle_limit?,
            end_on_rotation: end_on_rotation?,
        })
    }

    fn owned_objects(
        &mut self,
        node: &Node,
        parent: &Fields<'_>,
        kind: Option<&str>,
        role: Option<&str>,
    ) -> Option<OwnedObjects> {
        let path = parent.path_of("owned_objects");
        let form_help = "write `owned_objects: refuse`, or `reassign_to: ROLE` under it";
        if let Value::Scalar(_) = &node.value {
            let text = self.string(node, &path)?;
            if text == "refuse" {
                return Some(OwnedObjects::Refuse);
            }
            self.error(
                node.loc,
                ErrorKind::InvalidValue,
                format!("invalid `owned_objects` value `{text}`"),
                Some(form_help.to_owned()),
            );
            return None;
        }

        let anchor = key_loc(parent, "owned_objects", node);
        let fields = self.fields(node, anchor, &path, keys::OWNED_OBJECTS)?;
        let value = self.required(&fields, "reassign_to")?;
        let name = self.text(value, &fields.path_of("reassign_to"))?;
        if name == "refuse" {
            self.error(
                value.loc,
                ErrorKind::InvalidValue,
                "`reassign_to: refuse` is ambiguous".to_owned(),
                Some(
                    "write `owned_objects: refuse` to keep objects and reject the deletion"
                        .to_owned(),
                ),
            );
            return None;
        }
        if let Some(kind) = kind {
            if let Err(problem) = values::account_name(kind, &name, NameUse::Existing) {
                self.problem(value.loc, problem);
                return None;
            }
        }
        if role == Some(name.as_str()) {
            self.error(
                value.loc,
                ErrorKind::InvalidValue,
                format!("role `{name}` cannot reassign its objects to itself"),
                Some("name the role that takes over the objects".to_owned()),
            );
            return None;
        }
        Some(OwnedObjects::ReassignTo(name))
    }
}

/// Derives an AppRole role's settings from the account's credential and session policies. The
/// keys are OpenBao's role parameters, and each duration is written in whole seconds. Only what
/// the policy sets becomes a key.
fn approle_settings(
    credential: Option<&CheckedCredential>,
    sessions: Option<&SessionPolicy>,
) -> BTreeMap<String, String> {
    let seconds = |duration: Duration| duration.as_secs().to_string();
    let mut settings = BTreeMap::new();
    if let Some(credential) = credential {
        if let Some(max_age) = credential.policy.max_age {
            settings.insert("secret_id_ttl".to_owned(), seconds(max_age));
        }
        if let Some(max_uses) = credential.max_uses {
            settings.insert("secret_id_num_uses".to_owned(), max_uses.to_string());
        }
    }
    if let Some(sessions) = sessions {
        if let Some(max_lifetime) = sessions.max_lifetime {
            settings.insert("token_max_ttl".to_owned(), seconds(max_lifetime));
        }
        if let Some(idle_limit) = sessions.idle_limit {
            settings.insert("token_ttl".to_owned(), seconds(idle_limit));
        }
    }
    settings
}

/// Returns the position of `name`'s key in `parent`, or of `value` when the key is not found.
pub(super) fn key_loc(parent: &Fields<'_>, name: &str, value: &Node) -> Loc {
    parent.entry(name).map_or(value.loc, |(key, _)| key.loc)
}

/// Formats keys as alternatives for a message: `` `a`, `b` or `c` ``.
fn alternatives(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}
