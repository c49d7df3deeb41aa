//! Searches for accounts and their group memberships, and what an account looks like to the
//! engine.

use crate::conn::{code, ldap_error, result_code, OPERATION_TIMEOUT};
use crate::dn;
use crate::time::parse_generalized_time;
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{Entitlement, ObservedAccount, Timestamp};
use ldap3::{ldap_escape, Ldap, Scope, SearchEntry};
use std::collections::{BTreeMap, BTreeSet};

/// The attribute that contains an account's password hashes.
pub(crate) const PASSWORD: &str = "userPassword";

/// The ppolicy operational attribute with the time the password was last changed.
pub(crate) const CHANGED_TIME: &str = "pwdChangedTime";

/// The ppolicy operational attribute whose presence locks an account.
pub(crate) const LOCKED_TIME: &str = "pwdAccountLockedTime";

/// The attributes read for each account. Operational attributes are returned only when named.
const ACCOUNT_ATTRIBUTES: [&str; 3] = [PASSWORD, CHANGED_TIME, LOCKED_TIME];

/// The object class of the groups whose `member` values are entitlements.
pub(crate) const GROUP_CLASS: &str = "groupOfNames";

/// The member attribute of [`GROUP_CLASS`].
pub(crate) const MEMBER: &str = "member";

/// An account entry as read, before it becomes an [`ObservedAccount`].
#[derive(Clone, Debug)]
pub(crate) struct AccountEntry {
    /// The `userPassword` values: hashes, or cleartext where the server stores it so.
    pub(crate) passwords: Vec<String>,
    /// `pwdChangedTime`, absent until the password is first changed with the ppolicy overlay
    /// loaded.
    pub(crate) changed_at: Option<Timestamp>,
    /// The `pwdAccountLockedTime` values; any value locks the account.
    pub(crate) locked: Vec<String>,
}

impl AccountEntry {
    fn from_search(name: &str, entry: &SearchEntry) -> Result<Self, ConnectorError> {
        let changed_at = match values(entry, CHANGED_TIME).first() {
            None => None,
            Some(text) => Some(parse_generalized_time(text).ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Other,
                    format!("account `{name}` has an invalid {CHANGED_TIME} `{text}`"),
                )
            })?),
        };
        Ok(AccountEntry {
            passwords: values(entry, PASSWORD),
            changed_at,
            locked: values(entry, LOCKED_TIME),
        })
    }

    /// Converts the entry to the engine's model of an account with memberships in `groups`.
    pub(crate) fn observed(&self, name: &str, groups: BTreeSet<String>) -> ObservedAccount {
        ObservedAccount {
            name: name.to_string(),
            login_enabled: self.locked.is_empty(),
            entitlements: groups
                .into_iter()
                // DNs compare without case (the attribute types and the `cn`, `ou` and `dc`
                // values of these entries all match case-insensitively), so a membership is
                // reported in normalized form, as the policy parser writes it too.
                .map(|group| Entitlement::Membership {
                    group: crate::dn::normalize(&group),
                })
                .collect(),
            credential_set_at: self.changed_at,
            // A simple bind leaves no session that the server lists per account.
            sessions: Vec::new(),
            // Directory entries own nothing that a deletion would have to hand over.
            owned_objects: 0,
            extra_credentials: u32::try_from(self.passwords.len().saturating_sub(1))
                .unwrap_or(u32::MAX),
            settings: BTreeMap::new(),
        }
    }
}

/// Returns the values of `attribute` in `entry`, matching its name without regard to case. Values
/// that are not UTF-8 are converted lossily.
fn values(entry: &SearchEntry, attribute: &str) -> Vec<String> {
    let text = entry
        .attrs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter().cloned());
    let binary = entry
        .bin_attrs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| {
            values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
    text.chain(binary).collect()
}

/// Runs a search and returns its entries. Every failure is an error, including a result cut
/// short by the server's size limit.
async fn search(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[&str],
    doing: &str,
) -> Result<Vec<SearchEntry>, ldap3::LdapError> {
    let (entries, _) = ldap
        .with_timeout(OPERATION_TIMEOUT)
        .search(base, scope, filter, attributes.to_vec())
        .await?
        .success()?;
    tracing::trace!(base, filter, entries = entries.len(), doing, "searched");
    Ok(entries.into_iter().map(SearchEntry::construct).collect())
}

/// Finds the naming context (the suffix of the server's database) that contains `base` in
/// the root DSE. Groups are searched for in all of it.
pub(crate) async fn naming_context(ldap: &mut Ldap, base: &str) -> Result<String, ConnectorError> {
    let doing = "reading the naming contexts of the root DSE";
    let entries = search(
        ldap,
        "",
        Scope::Base,
        "(objectClass=*)",
        &["namingContexts"],
        doing,
    )
    .await
    .map_err(|e| ldap_error(doing, e))?;
    let contexts: Vec<String> = entries
        .iter()
        .flat_map(|entry| values(entry, "namingContexts"))
        .collect();
    // The longest matching context is the right one where one database is nested below
    // another.
    contexts
        .iter()
        .filter(|context| dn::is_within(base, context))
        .max_by_key(|context| context.len())
        .cloned()
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Invalid,
                format!(
                    "no naming context of the server contains the accounts base `{base}` (the root DSE lists {contexts:?})"
                ),
            )
        })
}

/// Reads the account entry at `account_dn`; `Ok(None)` when it does not exist.
pub(crate) async fn read_account(
    ldap: &mut Ldap,
    name: &str,
    account_dn: &str,
) -> Result<Option<AccountEntry>, ConnectorError> {
    let doing = format!("reading account `{name}`");
    match search(
        ldap,
        account_dn,
        Scope::Base,
        "(objectClass=*)",
        &ACCOUNT_ATTRIBUTES,
        &doing,
    )
    .await
    {
        Ok(entries) => match entries.first() {
            Some(entry) => Ok(Some(AccountEntry::from_search(name, entry)?)),
            None => Ok(None),
        },
        Err(error) if result_code(&error) == Some(code::NO_SUCH_OBJECT) => Ok(None),
        Err(error) => Err(ldap_error(&doing, error)),
    }
}

/// Reads every account directly below `base`: each entry whose RDN is `uid=<name>`.
pub(crate) async fn read_accounts(
    ldap: &mut Ldap,
    base: &str,
) -> Result<BTreeMap<String, AccountEntry>, ConnectorError> {
    let doing = format!("listing the accounts below `{base}`");
    let filter = format!("({}=*)", dn::NAME_ATTRIBUTE);
    let entries = search(
        ldap,
        base,
        Scope::OneLevel,
        &filter,
        &ACCOUNT_ATTRIBUTES,
        &doing,
    )
    .await
    .map_err(|e| ldap_error(&doing, e))?;
    let mut accounts = BTreeMap::new();
    for entry in &entries {
        match dn::account_name(&entry.dn) {
            Some(name) => {
                let account = AccountEntry::from_search(&name, entry)?;
                accounts.insert(name, account);
            }
            None => {
                tracing::debug!(dn = %entry.dn, "entry below the accounts base is not named by uid, so it is not an account")
            }
        }
    }
    Ok(accounts)
}

/// The DNs of the groups below `suffix` that list `account_dn` as a member, as the server
/// returns them.
pub(crate) async fn groups_of(
    ldap: &mut Ldap,
    suffix: &str,
    account_dn: &str,
) -> Result<BTreeSet<String>, ConnectorError> {
    let doing = format!("searching the groups of `{account_dn}`");
    let filter = format!(
        "(&(objectClass={GROUP_CLASS})({MEMBER}={}))",
        ldap_escape(account_dn)
    );
    // `1.1` requests no attributes, because the DNs are all that is needed.
    let entries = search(ldap, suffix, Scope::Subtree, &filter, &["1.1"], &doing)
        .await
        .map_err(|e| ldap_error(&doing, e))?;
    Ok(entries.into_iter().map(|entry| entry.dn).collect())
}

/// Every group below `suffix` with its members, as the server returns them.
///
/// NOTE: this reads every group in the naming context, members included, so an observation
/// of a large directory transfers every membership, not only those of the accounts below the
/// base.
pub(crate) async fn all_groups(
    ldap: &mut Ldap,
    suffix: &str,
) -> Result<Vec<(String, Vec<String>)>, ConnectorError> {
    let doing = format!("listing the groups below `{suffix}`");
    let filter = format!("(&(objectClass={GROUP_CLASS})({MEMBER}=*))");
    let entries = search(ldap, suffix, Scope::Subtree, &filter, &[MEMBER], &doing)
        .await
        .map_err(|e| ldap_error(&doing, e))?;
    Ok(entries
        .into_iter()
        .map(|entry| {
            let members = values(&entry, MEMBER);
            (entry.dn, members)
        })
        .collect())
}
