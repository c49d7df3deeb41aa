//! Reading accounts: roles, memberships, privileges, credential set times, owned objects and
//! sessions.
//!
//! Every fact is read with one set-based query for the whole scope, inside one read-only
//! REPEATABLE READ transaction, so a scope of thousands of roles costs a handful of queries and
//! all catalog facts come from one snapshot. `pg_stat_activity` is not transactional: sessions
//! are as of the moment that query ran.

use crate::connect::db_error;
use enact_connector::ConnectorError;
use enact_model::{
    Entitlement, ObjectRef, ObservedAccount, ObservedSession, Timestamp, SESSION_USER,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio_postgres::types::Oid;
use tokio_postgres::{Client, GenericClient, IsolationLevel};

/// The per-role setting in which the connector records when it last set the role's password,
/// as microseconds since the Unix epoch.
pub const CREDENTIAL_SET_AT: &str = "enact.credential_set_at";

/// The per-role setting that marks a login role as one of the two alternating users of a group
/// role; its value is the group's name.
pub const ALTERNATE_OF: &str = "enact.alternate_of";

/// The account setting that names an alternating-users account's two login roles, comma
/// separated.
pub const ALTERNATING_USERS: &str = "alternating_users";

/// Which roles a read covers.
pub(crate) enum Scope<'a> {
    /// Every login role except `pg_*` roles, the bootstrap superuser and the connected admin,
    /// plus each of these names that exists, whether it can log in or not.
    Observe { declared: &'a [String] },
    /// One role, whatever its kind.
    One(&'a str),
}

/// Accounts read in one snapshot, and the server's clock at that snapshot.
pub(crate) struct Snapshot {
    pub(crate) observed_at: Timestamp,
    pub(crate) accounts: BTreeMap<String, ObservedAccount>,
}

/// One role in scope before its facts are attached.
struct Role {
    oid: Oid,
    name: String,
    login: bool,
}

/// Reads every account in `scope`.
pub(crate) async fn read_accounts(
    client: &mut Client,
    scope: Scope<'_>,
) -> Result<Snapshot, ConnectorError> {
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| db_error("starting a read-only transaction", e))?;

    let now_row = transaction
        .query_one(
            "SELECT (extract(epoch FROM statement_timestamp()) * 1000000)::int8",
            &[],
        )
        .await
        .map_err(|e| db_error("reading the server clock", e))?;
    let observed_at = Timestamp(now_row.get(0));

    let mut roles = read_roles(&transaction, &scope).await?;
    let alternates = read_alternates(&transaction).await?;
    // The alternating users of a group in scope are read with it, and folded into it below.
    let in_scope: HashMap<String, Oid> = roles.iter().map(|r| (r.name.clone(), r.oid)).collect();
    let missing: Vec<Oid> = alternates
        .iter()
        .filter(|(oid, group)| {
            in_scope.contains_key(group.as_str()) && !roles.iter().any(|r| r.oid == **oid)
        })
        .map(|(oid, _)| *oid)
        .collect();
    if !missing.is_empty() {
        roles.extend(read_roles_by_oid(&transaction, &missing).await?);
    }
    let oids: Vec<Oid> = roles.iter().map(|role| role.oid).collect();

    let mut entitlements = read_memberships(&transaction, &oids).await?;
    for (oid, privilege) in read_privileges(&transaction, &oids).await? {
        entitlements.entry(oid).or_default().insert(privilege);
    }
    let set_times = read_credential_set_times(&transaction, &oids).await?;
    let owned = read_owned_counts(&transaction, &oids).await?;
    let mut sessions = read_sessions(&transaction, &oids).await?;

    transaction
        .commit()
        .await
        .map_err(|e| db_error("ending the read-only transaction", e))?;

    let mut accounts: BTreeMap<String, ObservedAccount> = BTreeMap::new();
    let mut folded: Vec<(String, ObservedAccount)> = Vec::new();
    for role in roles {
        let account = ObservedAccount {
            name: role.name.clone(),
            login_enabled: role.login,
            entitlements: entitlements.remove(&role.oid).unwrap_or_default(),
            credential_set_at: set_times.get(&role.oid).copied(),
            sessions: sessions.remove(&role.oid).unwrap_or_default(),
            owned_objects: owned.get(&role.oid).copied().unwrap_or(0),
            extra_credentials: 0,
            settings: Default::default(),
        };
        match alternates.get(&role.oid) {
            Some(group) if in_scope.contains_key(group.as_str()) => {
                folded.push((group.clone(), account))
            }
            _ => {
                accounts.insert(role.name, account);
            }
        }
    }
    fold_alternates(&mut accounts, folded);
    Ok(Snapshot {
        observed_at,
        accounts,
    })
}

async fn read_roles(
    client: &impl GenericClient,
    scope: &Scope<'_>,
) -> Result<Vec<Role>, ConnectorError> {
    let rows = match scope {
        // Oid 10 is the bootstrap superuser that initdb creates, whatever its name.
        Scope::Observe { declared } => {
            client
                .query(
                    "SELECT oid, rolname::text, rolcanlogin FROM pg_roles \
                 WHERE (rolcanlogin AND rolname !~ '^pg_' AND oid <> 10 \
                        AND rolname <> session_user) \
                    OR rolname = ANY($1::text[])",
                    &[declared],
                )
                .await
        }
        Scope::One(name) => {
            client
                .query(
                    "SELECT oid, rolname::text, rolcanlogin FROM pg_roles WHERE rolname = $1",
                    &[name],
                )
                .await
        }
    }
    .map_err(|e| db_error("reading roles", e))?;
    Ok(rows
        .iter()
        .map(|row| Role {
            oid: row.get(0),
            name: row.get(1),
            login: row.get(2),
        })
        .collect())
}

/// Reads which login roles are alternating users, and of which group.
async fn read_alternates(
    client: &impl GenericClient,
) -> Result<HashMap<Oid, String>, ConnectorError> {
    let prefix = format!("{ALTERNATE_OF}=");
    let rows = client
        .query(
            "SELECT s.setrole, substr(c.setting, length($1) + 1) \
             FROM pg_db_role_setting s, unnest(s.setconfig) AS c(setting) \
             WHERE s.setdatabase = 0 AND starts_with(c.setting, $1)",
            &[&prefix],
        )
        .await
        .map_err(|e| db_error("reading alternating users", e))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

async fn read_roles_by_oid(
    client: &impl GenericClient,
    oids: &[Oid],
) -> Result<Vec<Role>, ConnectorError> {
    let rows = client
        .query(
            "SELECT oid, rolname::text, rolcanlogin FROM pg_roles WHERE oid = ANY($1::oid[])",
            &[&oids],
        )
        .await
        .map_err(|e| db_error("reading roles", e))?;
    Ok(rows
        .iter()
        .map(|row| Role {
            oid: row.get(0),
            name: row.get(1),
            login: row.get(2),
        })
        .collect())
}

/// Folds each alternating user into its group: the group is the account, its login is enabled
/// when every user's is, its credential was set when the newest user password was, and its
/// sessions are the users'. `alternating_users` lists the users; a user holding any right
/// besides membership in the group is named there too, so the plan configures it away.
fn fold_alternates(
    accounts: &mut BTreeMap<String, ObservedAccount>,
    folded: Vec<(String, ObservedAccount)>,
) {
    let mut by_group: BTreeMap<String, Vec<ObservedAccount>> = BTreeMap::new();
    for (group, user) in folded {
        by_group.entry(group).or_default().push(user);
    }
    for (group, mut users) in by_group {
        let Some(account) = accounts.get_mut(&group) else {
            continue;
        };
        users.sort_by(|a, b| a.name.cmp(&b.name));
        let expected = BTreeSet::from([Entitlement::Membership {
            group: group.clone(),
        }]);
        let names: Vec<String> = users.iter().map(|user| user.name.clone()).collect();
        let mut value = names.join(",");
        let extra: Vec<&str> = users
            .iter()
            .filter(|user| user.entitlements != expected)
            .map(|user| user.name.as_str())
            .collect();
        if !extra.is_empty() {
            value.push_str(&format!(
                " ({} not exactly a member of {group})",
                extra.join(", ")
            ));
        }
        account.login_enabled = users.iter().all(|user| user.login_enabled);
        account.credential_set_at = users.iter().filter_map(|u| u.credential_set_at).max();
        account.owned_objects += users.iter().map(|user| user.owned_objects).sum::<u64>();
        account
            .sessions
            .extend(users.iter_mut().flat_map(|user| user.sessions.drain(..)));
        account
            .sessions
            .sort_by(|a, b| (a.started_at, a.id.as_str()).cmp(&(b.started_at, b.id.as_str())));
        account.settings.insert(ALTERNATING_USERS.to_owned(), value);
    }
}

async fn read_memberships(
    client: &impl GenericClient,
    oids: &[Oid],
) -> Result<HashMap<Oid, BTreeSet<Entitlement>>, ConnectorError> {
    let rows = client
        .query(
            "SELECT m.member, g.rolname::text FROM pg_auth_members m \
             JOIN pg_roles g ON g.oid = m.roleid \
             WHERE m.member = ANY($1::oid[])",
            &[&oids],
        )
        .await
        .map_err(|e| db_error("reading role memberships", e))?;
    let mut memberships: HashMap<Oid, BTreeSet<Entitlement>> = HashMap::new();
    for row in rows {
        memberships
            .entry(row.get(0))
            .or_default()
            .insert(Entitlement::Membership { group: row.get(1) });
    }
    Ok(memberships)
}

/// Reads the privileges granted directly to the roles: on the current database, on schemas
/// other than `pg_*` and `information_schema`, and on the tables, views and sequences in them.
///
/// Privileges granted to PUBLIC are left out, and so are an object owner's entries in the
/// object's own ACL: those are the owner's implicit rights, written out once any grant is made,
/// not grants to revoke. Tables and sequences are named `schema.name`, each part quoted only
/// where SQL needs it (`quote_ident`), so the name can be parsed back.
async fn read_privileges(
    client: &impl GenericClient,
    oids: &[Oid],
) -> Result<Vec<(Oid, Entitlement)>, ConnectorError> {
    let rows = client
        .query(
            "SELECT acl.grantee, acl.kind, acl.name, acl.privilege_type FROM ( \
               SELECT 'database' AS kind, d.datname::text AS name, d.datdba AS owner, e.* \
                 FROM pg_database d, aclexplode(d.datacl) e \
                 WHERE d.datname = current_database() \
               UNION ALL \
               SELECT 'schema', n.nspname::text, n.nspowner, e.* \
                 FROM pg_namespace n, aclexplode(n.nspacl) e \
                 WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' \
               UNION ALL \
               SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END, \
                      quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relowner, e.* \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, \
                      aclexplode(c.relacl) e \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
                   AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' \
             ) acl \
             WHERE acl.grantee = ANY($1::oid[]) AND acl.grantee <> acl.owner",
            &[&oids],
        )
        .await
        .map_err(|e| db_error("reading privileges", e))?;
    Ok(rows
        .iter()
        .map(|row| {
            let entitlement = Entitlement::Privilege {
                privilege: row.get(3),
                object: Box::new(ObjectRef {
                    kind: row.get(1),
                    name: row.get(2),
                }),
            };
            (row.get(0), entitlement)
        })
        .collect())
}

/// Reads the set times the connector recorded. A record that is not a number is reported as
/// unknown, with a warning, rather than trusted.
async fn read_credential_set_times(
    client: &impl GenericClient,
    oids: &[Oid],
) -> Result<HashMap<Oid, Timestamp>, ConnectorError> {
    let prefix = format!("{CREDENTIAL_SET_AT}=");
    let rows = client
        .query(
            "SELECT s.setrole, substr(c.setting, length($2) + 1) \
             FROM pg_db_role_setting s, unnest(s.setconfig) AS c(setting) \
             WHERE s.setdatabase = 0 AND s.setrole = ANY($1::oid[]) \
               AND starts_with(c.setting, $2)",
            &[&oids, &prefix],
        )
        .await
        .map_err(|e| db_error("reading credential set times", e))?;
    let mut times = HashMap::new();
    for row in rows {
        let oid: Oid = row.get(0);
        let value: String = row.get(1);
        match value.parse::<i64>() {
            Ok(micros) => {
                times.insert(oid, Timestamp(micros));
            }
            Err(_) => tracing::warn!(
                role_oid = oid,
                value = %value,
                "ignoring a credential set time that is not a number"
            ),
        }
    }
    Ok(times)
}

/// Counts the objects each role owns in every database of the cluster, from the shared
/// dependency catalog. Objects owned by roles that initdb creates are not recorded there.
async fn read_owned_counts(
    client: &impl GenericClient,
    oids: &[Oid],
) -> Result<HashMap<Oid, u64>, ConnectorError> {
    let rows = client
        .query(
            "SELECT refobjid, count(*) FROM pg_shdepend \
             WHERE deptype = 'o' AND refclassid = 'pg_authid'::regclass \
               AND refobjid = ANY($1::oid[]) \
             GROUP BY refobjid",
            &[&oids],
        )
        .await
        .map_err(|e| db_error("counting owned objects", e))?;
    Ok(rows
        .iter()
        .map(|row| {
            let count: i64 = row.get(1);
            (row.get(0), u64::try_from(count).unwrap_or(0))
        })
        .collect())
}

/// Reads the open client sessions of the roles, leaving out the reading connection itself.
pub(crate) async fn read_sessions(
    client: &impl GenericClient,
    oids: &[Oid],
) -> Result<HashMap<Oid, Vec<ObservedSession>>, ConnectorError> {
    query_sessions(client, oids)
        .await
        .map_err(|e| db_error("reading sessions", e))
}

/// Reads the open client sessions of the roles, keeping the client error so the caller can
/// tell a broken connection.
pub(crate) async fn query_sessions(
    client: &impl GenericClient,
    oids: &[Oid],
) -> Result<HashMap<Oid, Vec<ObservedSession>>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT usesysid, pid, \
                    (extract(epoch FROM backend_start) * 1000000)::int8, \
                    CASE WHEN state LIKE 'idle%' \
                         THEN (extract(epoch FROM state_change) * 1000000)::int8 END, \
                    coalesce(application_name, ''), host(client_addr), usename::text \
             FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND usesysid = ANY($1::oid[]) \
               AND pid <> pg_backend_pid() \
             ORDER BY backend_start, pid",
            &[&oids],
        )
        .await?;
    let mut sessions: HashMap<Oid, Vec<ObservedSession>> = HashMap::new();
    for row in rows {
        let pid: i32 = row.get(1);
        let idle_since: Option<i64> = row.get(3);
        sessions
            .entry(row.get(0))
            .or_default()
            .push(ObservedSession {
                id: pid.to_string(),
                started_at: Timestamp(row.get(2)),
                idle_since: idle_since.map(Timestamp),
                application_name: row.get(4),
                client_addr: row.get(5),
                // The login role, which tells an alternating-users account's sessions apart.
                metadata: row
                    .get::<_, Option<String>>(6)
                    .map(|user| BTreeMap::from([(SESSION_USER.to_owned(), user)]))
                    .unwrap_or_default(),
            });
    }
    Ok(sessions)
}

/// Looks up a role's oid; `None` when no such role exists.
pub(crate) async fn role_oid(
    client: &impl GenericClient,
    name: &str,
) -> Result<Option<Oid>, ConnectorError> {
    let row = client
        .query_opt("SELECT oid FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .map_err(|e| db_error("looking up the role", e))?;
    Ok(row.map(|row| row.get(0)))
}

/// The oids whose sessions are the account's: its own role and its alternating users.
pub(crate) async fn session_oids(
    client: &impl GenericClient,
    name: &str,
) -> Result<Vec<Oid>, ConnectorError> {
    let marker = format!("{ALTERNATE_OF}={name}");
    let rows = client
        .query(
            "SELECT oid FROM pg_roles WHERE rolname = $1 \
             UNION ALL \
             SELECT s.setrole FROM pg_db_role_setting s \
             WHERE s.setdatabase = 0 AND $2 = ANY(s.setconfig)",
            &[&name, &marker],
        )
        .await
        .map_err(|e| db_error("looking up the role", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
