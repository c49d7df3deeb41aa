//! Change operations, run on the connector's one admin connection.
//!
//! Each lookup and each transaction locks the admin connection while it runs, so the notices
//! read after a transaction belong to it. Operations may interleave between those steps, and
//! every operation stays correct when they do: each change is one transaction.

use crate::connect::{db_error, NoticedClient};
use crate::read::{self, CREDENTIAL_SET_AT};
use crate::sql::{check_name, ident, literal, ObjectKind};
use crate::PostgresConnector;
use enact_connector::{ConnectorError, ErrorKind};
use enact_model::{
    Entitlement, ObjectRef, ObservedSession, OwnedObjects, Secret, SessionSelector, Timestamp,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Oid;

/// How long `pg_terminate_backend` waits for each backend to exit, in milliseconds.
const TERMINATE_WAIT_MILLIS: i64 = 5000;

/// Whether a change grants or revokes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Grant,
    Revoke,
}

impl PostgresConnector {
    /// Runs `statements` in one transaction on the admin connection and returns the notices
    /// they raised. A broken connection is dropped so the next operation opens a new one.
    pub(crate) async fn run_in_transaction(
        &self,
        doing: &str,
        statements: &[String],
    ) -> Result<Vec<tokio_postgres::error::DbError>, ConnectorError> {
        let mut slot = self.admin.lock().await;
        let session = self.admin_session(&mut slot).await?;
        session.clear_notices();
        let result = async {
            let transaction = session.client.transaction().await?;
            for statement in statements {
                transaction.batch_execute(statement).await?;
            }
            transaction.commit().await
        }
        .await;
        match result {
            Ok(()) => Ok(session.take_notices()),
            Err(error) => {
                if error.is_closed() {
                    *slot = None;
                }
                Err(db_error(doing, error))
            }
        }
    }

    /// Reads something on the admin connection, dropping it when it broke.
    pub(crate) async fn admin_read<T>(
        &self,
        doing: &str,
        read: impl for<'c> FnOnce(
            &'c tokio_postgres::Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
        >,
    ) -> Result<T, ConnectorError> {
        let mut slot = self.admin.lock().await;
        let session = self.admin_session(&mut slot).await?;
        match read(&session.client).await {
            Ok(value) => Ok(value),
            Err(error) => {
                if error.is_closed() {
                    *slot = None;
                }
                Err(db_error(doing, error))
            }
        }
    }

    /// Lists one role's sessions on the admin connection, for the record of a change.
    pub(crate) async fn sessions_on_admin(
        &self,
        account: &str,
    ) -> Result<Vec<enact_model::ObservedSession>, ConnectorError> {
        let mut slot = self.admin.lock().await;
        let session = self.admin_session(&mut slot).await?;
        let client = &session.client;
        let Some(oid) = crate::read::role_oid(client, account).await? else {
            return Ok(Vec::new());
        };
        let mut sessions = crate::read::read_sessions(client, &[oid]).await?;
        Ok(sessions.remove(&oid).unwrap_or_default())
    }

    /// Returns the open admin connection in `slot`, opening one when there is none or the last
    /// one closed.
    async fn admin_session<'s>(
        &self,
        slot: &'s mut Option<NoticedClient>,
    ) -> Result<&'s mut NoticedClient, ConnectorError> {
        if let Some(session) = slot.as_ref() {
            // The connection task closes the client as soon as the server ends the backend or
            // the socket, so a terminated backend or a restart is seen here.
            if session.client.is_closed() {
                tracing::debug!(target = %self.target, "admin connection closed; reconnecting");
                *slot = None;
            }
        }
        if slot.is_none() {
            // The admin password is needed to authenticate the admin connection.
            let password = self.admin_password.expose();
            let session = self
                .endpoint
                .connect_with_notices(&self.admin_user, password)
                .await
                .map_err(|e| {
                    e.into_connector_error(&format!(
                        "to {} as admin `{}`",
                        self.endpoint, self.admin_user
                    ))
                })?;
            *slot = Some(session);
        }
        slot.as_mut().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Other,
                "admin connection missing after connecting",
            )
        })
    }

    /// Looks up a role's oid and login flag on the admin connection.
    pub(crate) async fn lookup_role(
        &self,
        name: &str,
    ) -> Result<Option<(Oid, bool)>, ConnectorError> {
        let name = name.to_string();
        self.admin_read("looking up the role", move |client| {
            Box::pin(async move {
                let row = client
                    .query_opt(
                        "SELECT oid, rolcanlogin FROM pg_roles WHERE rolname = $1",
                        &[&name],
                    )
                    .await?;
                Ok(row.map(|row| (row.get(0), row.get(1))))
            })
        })
        .await
    }

    pub(crate) async fn require_role(&self, name: &str) -> Result<Oid, ConnectorError> {
        match self.lookup_role(name).await? {
            Some((oid, _)) => Ok(oid),
            None => Err(ConnectorError::new(
                ErrorKind::Invalid,
                format!("role `{name}` does not exist"),
            )),
        }
    }

    pub(crate) async fn create_account_impl(
        &self,
        account: &str,
        login: bool,
        credential: Option<&Secret>,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        check_name("role", account)?;
        let login_keyword = if login { "LOGIN" } else { "NOLOGIN" };
        let password = match credential {
            Some(secret) => format!(" PASSWORD {}", scram_verifier(secret)?),
            None => String::new(),
        };
        let record = credential.map(|_| record_set_time(account, now));

        // A concurrent create can win the race between the lookup and CREATE ROLE; the second
        // attempt then finds the role and alters it.
        for attempt in 0..2 {
            let exists = self.lookup_role(account).await?.is_some();
            let verb = if exists { "ALTER" } else { "CREATE" };
            let mut statements = vec![format!(
                "{verb} ROLE {} {login_keyword}{password}",
                ident(account)
            )];
            statements.extend(record.clone());
            match self
                .run_in_transaction("creating the role", &statements)
                .await
            {
                Ok(_) => {
                    tracing::debug!(target = %self.target, account, existed = exists, login, "account created");
                    return Ok(());
                }
                Err(error) if !exists && attempt == 0 && is_duplicate(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(ConnectorError::new(
            ErrorKind::Conflict,
            format!("role `{account}` was created and dropped concurrently; try again"),
        ))
    }

    pub(crate) async fn set_credential_impl(
        &self,
        account: &str,
        credential: &Secret,
        now: Timestamp,
    ) -> Result<(), ConnectorError> {
        check_name("role", account)?;
        // No lookup first: ALTER ROLE on a missing role fails with SQLSTATE 42704, which is
        // reported as invalid, and skipping the lookup keeps the shared admin connection free
        // for one round trip less per rotation.
        let statements = [
            format!(
                "ALTER ROLE {} PASSWORD {}",
                ident(account),
                scram_verifier(credential)?
            ),
            record_set_time(account, now),
        ];
        self.run_in_transaction("setting the password", &statements)
            .await?;
        tracing::debug!(
            target = %self.target,
            account,
            credential = %credential.fingerprint().short(),
            "credential set"
        );
        Ok(())
    }

    pub(crate) async fn set_login_impl(
        &self,
        account: &str,
        enabled: bool,
    ) -> Result<(), ConnectorError> {
        check_name("role", account)?;
        self.require_role(account).await?;
        let keyword = if enabled { "LOGIN" } else { "NOLOGIN" };
        self.run_in_transaction(
            "changing the login flag",
            &[format!("ALTER ROLE {} {keyword}", ident(account))],
        )
        .await?;
        tracing::debug!(target = %self.target, account, enabled, "login flag set");
        Ok(())
    }

    pub(crate) async fn grant_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        check_name("role", account)?;
        self.require_role(account).await?;
        self.change_entitlement(account, entitlement, Direction::Grant)
            .await
    }

    pub(crate) async fn revoke_impl(
        &self,
        account: &str,
        entitlement: &Entitlement,
    ) -> Result<(), ConnectorError> {
        check_name("role", account)?;
        if self.lookup_role(account).await?.is_none() {
            tracing::debug!(target = %self.target, account, "revoke skipped: role does not exist");
            return Ok(());
        }
        self.change_entitlement(account, entitlement, Direction::Revoke)
            .await
    }

    async fn change_entitlement(
        &self,
        account: &str,
        entitlement: &Entitlement,
        direction: Direction,
    ) -> Result<(), ConnectorError> {
        let statement = match entitlement {
            Entitlement::Membership { group } => {
                check_name("role", group)?;
                if self.lookup_role(group).await?.is_none() {
                    if direction == Direction::Revoke {
                        return Ok(());
                    }
                    return Err(ConnectorError::new(
                        ErrorKind::Invalid,
                        format!("group role `{group}` does not exist"),
                    ));
                }
                // Granting a membership held, or revoking one not held, raises only a notice.
                match direction {
                    Direction::Grant => format!("GRANT {} TO {}", ident(group), ident(account)),
                    Direction::Revoke => format!("REVOKE {} FROM {}", ident(group), ident(account)),
                }
            }
            Entitlement::Privilege { privilege, object } => {
                let kind = ObjectKind::parse(&object.kind)?;
                let keyword = kind.check_privilege(privilege)?;
                let Some(target) = self.resolve_object(kind, object, direction).await? else {
                    return Ok(());
                };
                match direction {
                    Direction::Grant => format!(
                        "GRANT {keyword} ON {} {target} TO {}",
                        kind.keyword(),
                        ident(account)
                    ),
                    Direction::Revoke => format!(
                        "REVOKE {keyword} ON {} {target} FROM {}",
                        kind.keyword(),
                        ident(account)
                    ),
                }
            }
            Entitlement::Rule { rule } => {
                return Err(ConnectorError::new(
                    ErrorKind::Invalid,
                    format!("PostgreSQL has no rule entitlements; `{rule}` cannot be applied"),
                ))
            }
            Entitlement::Policy { policy } => {
                return Err(ConnectorError::new(
                    ErrorKind::Invalid,
                    format!("PostgreSQL has no policy entitlements; `{policy}` cannot be applied"),
                ))
            }
        };

        let doing = match direction {
            Direction::Grant => "granting",
            Direction::Revoke => "revoking",
        };
        let notices = self.run_in_transaction(doing, &[statement]).await?;
        // A grantor without the grant option gets a warning, not an error, and nothing changes:
        // 01007 (privilege not granted) and 01006 (privilege not revoked).
        if let Some(notice) = notices.iter().find(|notice| {
            *notice.code() == SqlState::WARNING_PRIVILEGE_NOT_GRANTED
                || *notice.code() == SqlState::WARNING_PRIVILEGE_NOT_REVOKED
        }) {
            return Err(ConnectorError::new(
                ErrorKind::Denied,
                format!(
                    "{doing} {entitlement} for `{account}` had no effect: {} (admin `{}` lacks the grant option)",
                    notice.message(),
                    self.admin_user
                ),
            ));
        }
        tracing::debug!(target = %self.target, account, entitlement = %entitlement, "{doing} done");
        Ok(())
    }

    /// Returns the SQL name of the object a privilege applies to. For a revoke, `None` means
    /// the object does not exist, so no privilege on it can be held.
    async fn resolve_object(
        &self,
        kind: ObjectKind,
        object: &ObjectRef,
        direction: Direction,
    ) -> Result<Option<String>, ConnectorError> {
        let name = object.name.clone();
        let missing = || {
            if direction == Direction::Revoke {
                Ok(None)
            } else {
                Err(ConnectorError::new(
                    ErrorKind::Invalid,
                    format!(
                        "{kind_name} `{}` does not exist",
                        object.name,
                        kind_name = object.kind
                    ),
                ))
            }
        };
        match kind {
            ObjectKind::Database => {
                if object.name != self.endpoint.database {
                    return Err(ConnectorError::new(
                        ErrorKind::Invalid,
                        format!(
                            "database `{}` is not the connector's database `{}`; only its privileges are managed",
                            object.name, self.endpoint.database
                        ),
                    ));
                }
                Ok(Some(ident(&object.name)))
            }
            ObjectKind::Schema => {
                check_name("schema", &object.name)?;
                let found = self
                    .admin_read("looking up the schema", move |client| {
                        Box::pin(async move {
                            let row = client
                                .query_opt(
                                    "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                                    &[&name],
                                )
                                .await?;
                            Ok(row.is_some())
                        })
                    })
                    .await?;
                if found {
                    Ok(Some(ident(&object.name)))
                } else {
                    missing()
                }
            }
            ObjectKind::Table | ObjectKind::Sequence => {
                // The server parses the name, so quoting follows SQL's rules exactly.
                let found = self
                    .admin_read("looking up the relation", move |client| {
                        Box::pin(async move {
                            let row = client
                                .query_opt(
                                    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
                                            c.relkind::text \
                                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                                     WHERE c.oid = to_regclass($1)",
                                    &[&name],
                                )
                                .await?;
                            Ok(row.map(|row| (row.get::<_, String>(0), row.get::<_, String>(1))))
                        })
                    })
                    .await?;
                let Some((canonical, relkind)) = found else {
                    return missing();
                };
                let is_sequence = relkind == "S";
                if is_sequence != (kind == ObjectKind::Sequence) {
                    return Err(ConnectorError::new(
                        ErrorKind::Invalid,
                        format!(
                            "`{}` is {}, not a {}",
                            object.name,
                            if is_sequence {
                                "a sequence"
                            } else {
                                "a table or view"
                            },
                            object.kind
                        ),
                    ));
                }
                // Observations name relations in this canonical form; a policy written another
                // way would never compare equal and would be planned again on every run.
                if canonical != object.name {
                    return Err(ConnectorError::new(
                        ErrorKind::Invalid,
                        format!(
                            "{} `{}` must be written `{canonical}`, schema-qualified and quoted as SQL prints it",
                            object.kind, object.name
                        ),
                    ));
                }
                Ok(Some(canonical))
            }
        }
    }

    pub(crate) async fn end_sessions_impl(
        &self,
        account: &str,
        selector: &SessionSelector,
        now: Timestamp,
    ) -> Result<Vec<ObservedSession>, ConnectorError> {
        check_name("role", account)?;
        let Some((oid, _)) = self.lookup_role(account).await? else {
            return Ok(Vec::new());
        };
        let sessions = self
            .admin_read("reading sessions", move |client| {
                Box::pin(read_role_sessions(client, oid))
            })
            .await?;
        let chosen: Vec<ObservedSession> = sessions
            .into_iter()
            .filter(|session| selector.matches(session.started_at, session.idle_since, now))
            .collect();
        if chosen.is_empty() {
            return Ok(chosen);
        }

        let pids: Vec<i32> = chosen
            .iter()
            .filter_map(|session| session.id.parse::<i32>().ok())
            .collect();
        // pg_terminate_backend with a timeout waits for each backend to exit. A backend that
        // exited on its own meanwhile only raises a warning.
        self.admin_read("ending sessions", move |client| {
            Box::pin(async move {
                client
                    .execute(
                        "SELECT pg_terminate_backend(pid, $2) FROM unnest($1::int4[]) AS pid",
                        &[&pids, &TERMINATE_WAIT_MILLIS],
                    )
                    .await
            })
        })
        .await?;

        let remaining = self
            .admin_read("reading sessions", move |client| {
                Box::pin(read_role_sessions(client, oid))
            })
            .await?;
        let still_open: Vec<&str> = chosen
            .iter()
            .filter(|ended| {
                remaining
                    .iter()
                    .any(|open| open.id == ended.id && open.started_at == ended.started_at)
            })
            .map(|session| session.id.as_str())
            .collect();
        if !still_open.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                format!(
                    "sessions {} of `{account}` did not end within {} ms",
                    still_open.join(", "),
                    TERMINATE_WAIT_MILLIS
                ),
            ));
        }
        tracing::debug!(target = %self.target, account, ended = chosen.len(), "sessions ended");
        Ok(chosen)
    }

    pub(crate) async fn delete_account_impl(
        &self,
        account: &str,
        owned: &OwnedObjects,
    ) -> Result<(), ConnectorError> {
        check_name("role", account)?;
        let Some((oid, _)) = self.lookup_role(account).await? else {
            tracing::debug!(target = %self.target, account, "delete skipped: role does not exist");
            return Ok(());
        };
        // REASSIGN OWNED and DROP OWNED need membership in the roles involved, which a
        // CREATEROLE admin may grant itself. Every statement runs in one transaction, so the
        // temporary memberships end with it: dropping the role removes the one in it, and the
        // one in the new owner is revoked at the end.
        let admin = ident(&self.admin_user);
        let mut statements = Vec::new();
        if !self.admin_is_member_of(account).await? {
            statements.push(format!("GRANT {} TO {admin}", ident(account)));
        }
        if let OwnedObjects::ReassignTo(new_owner) = owned {
            check_name("role", new_owner)?;
            if new_owner == account {
                return Err(ConnectorError::new(
                    ErrorKind::Invalid,
                    format!("role `{account}` cannot hand its objects to itself"),
                ));
            }
            self.require_role(new_owner).await?;
            let admin_is_member = self.admin_is_member_of(new_owner).await?;
            if !admin_is_member {
                statements.push(format!("GRANT {} TO {admin}", ident(new_owner)));
            }
            statements.push(format!(
                "REASSIGN OWNED BY {} TO {}",
                ident(account),
                ident(new_owner)
            ));
            if !admin_is_member {
                statements.push(format!("REVOKE {} FROM {admin}", ident(new_owner)));
            }
        }
        // DROP OWNED drops what is left and revokes the role's privileges in this database,
        // which DROP ROLE requires. Objects and privileges in other databases still block it.
        statements.push(format!("DROP OWNED BY {}", ident(account)));
        statements.push(format!("DROP ROLE {}", ident(account)));

        let refuse = *owned == OwnedObjects::Refuse;
        let count = self.drop_in_transaction(oid, refuse, &statements).await?;
        if let Err(count) = count {
            return Err(ConnectorError::new(
                ErrorKind::Conflict,
                format!(
                    "role `{account}` owns {count} object(s); set `owned_objects: {{ reassign_to: ROLE }}` on its account in the policy to hand them to another role, or drop them first"
                ),
            ));
        }
        tracing::debug!(target = %self.target, account, "account deleted");
        Ok(())
    }

    /// Runs the statements that drop role `oid` in one transaction, after counting the objects
    /// it owns in that same transaction. Returns `Err(count)` without changing anything when
    /// `refuse` is set and the role owns objects, because DROP OWNED would drop them.
    ///
    /// NOTE: the count and DROP OWNED still run at READ COMMITTED, so an object the role
    /// creates in between would be dropped. The executor ends the role's sessions first.
    async fn drop_in_transaction(
        &self,
        oid: Oid,
        refuse: bool,
        statements: &[String],
    ) -> Result<Result<(), i64>, ConnectorError> {
        let mut slot = self.admin.lock().await;
        let session = self.admin_session(&mut slot).await?;
        let result = async {
            let transaction = session.client.transaction().await?;
            let row = transaction
                .query_one(
                    "SELECT count(*) FROM pg_shdepend \
                     WHERE deptype = 'o' AND refclassid = 'pg_authid'::regclass \
                       AND refobjid = $1",
                    &[&oid],
                )
                .await?;
            let count: i64 = row.get(0);
            if refuse && count > 0 {
                // Dropping the transaction rolls it back.
                return Ok(Err(count));
            }
            for statement in statements {
                transaction.batch_execute(statement).await?;
            }
            transaction.commit().await?;
            Ok(Ok(()))
        }
        .await;
        result.map_err(|error: tokio_postgres::Error| {
            if error.is_closed() {
                *slot = None;
            }
            db_error("deleting the role", error)
        })
    }

    async fn admin_is_member_of(&self, role: &str) -> Result<bool, ConnectorError> {
        let role = role.to_string();
        self.admin_read("checking the admin's memberships", move |client| {
            Box::pin(async move {
                let row = client
                    .query_one(
                        "SELECT pg_has_role(session_user, $1::text, 'MEMBER')",
                        &[&role],
                    )
                    .await?;
                Ok(row.get::<_, bool>(0))
            })
        })
        .await
    }
}

/// Reads one role's sessions.
async fn read_role_sessions(
    client: &tokio_postgres::Client,
    oid: Oid,
) -> Result<Vec<ObservedSession>, tokio_postgres::Error> {
    let mut sessions = read::query_sessions(client, &[oid]).await?;
    Ok(sessions.remove(&oid).unwrap_or_default())
}

/// Builds the statement that records `now` as the time the role's credential was set.
pub(crate) fn record_set_time(account: &str, now: Timestamp) -> String {
    format!(
        "ALTER ROLE {} SET {CREDENTIAL_SET_AT} = {}",
        ident(account),
        literal(&now.0.to_string())
    )
}

/// Computes the SCRAM-SHA-256 verifier of `secret` as an SQL literal, so the cleartext never
/// appears in SQL text, the server log or `pg_stat_activity`.
pub(crate) fn scram_verifier(secret: &Secret) -> Result<String, ConnectorError> {
    // The cleartext is needed once, to derive the verifier the server stores.
    let value = secret.expose();
    if value.is_empty() {
        return Err(ConnectorError::new(
            ErrorKind::Invalid,
            "an empty password cannot be set",
        ));
    }
    let verifier = postgres_protocol::password::scram_sha_256(value.as_bytes());
    Ok(literal(&verifier))
}

/// Whether `error` reports that the role already exists.
fn is_duplicate(error: &ConnectorError) -> bool {
    let code = error
        .source
        .as_ref()
        .and_then(|source| source.downcast_ref::<tokio_postgres::Error>())
        .and_then(|source| source.code());
    code == Some(&SqlState::DUPLICATE_OBJECT) || code == Some(&SqlState::UNIQUE_VIOLATION)
}
