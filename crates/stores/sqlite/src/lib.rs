//! The embedded state store: the journal of runs, actions and steps in one SQLite file.
//!
//! The database runs in WAL mode with `synchronous=NORMAL`: a committed transaction survives
//! the process being killed at any point, which is what resuming after a crash needs. A power
//! loss may lose the last transactions; a fresh observation on the next run then re-plans
//! whatever they recorded.

use enact_execute::journal::{
    ActionStatus, JournaledStep, LastVerified, OpenAction, ResumableAction, StateStore, StepResult,
    StoreError,
};
use enact_model::{Action, ActionId, Plan, PlanId, TargetId, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

mod hygiene;
mod reviews;
pub use hygiene::HeldKey;
pub use reviews::ReviewRecord;

/// The SQLite state store.
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    action_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    account TEXT NOT NULL,
    summary TEXT NOT NULL,
    action_json TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, action_id)
);
CREATE INDEX IF NOT EXISTS actions_by_status ON actions(status);
CREATE INDEX IF NOT EXISTS actions_by_account ON actions(target, account, status, updated_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    intent_json TEXT NOT NULL,
    ended_at INTEGER,
    result_json TEXT,
    PRIMARY KEY (run_id, action_id, step, attempt)
);
";

fn store_error(context: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError::new(format!("{context}: {error}"), error)
}

fn json_error(context: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |error| StoreError::new(format!("{context}: {error}"), error)
}

impl SqliteStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection =
            Connection::open(path).map_err(store_error("failed to open the state database"))?;
        Self::init(connection)
    }

    /// An in-memory store, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let connection = Connection::open_in_memory()
            .map_err(store_error("failed to open the state database"))?;
        Self::init(connection)
    }

    fn init(connection: Connection) -> Result<Self, StoreError> {
        connection
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;")
            .map_err(store_error("failed to configure the state database"))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(store_error("failed to create the state schema"))?;
        connection
            .execute_batch(reviews::SCHEMA)
            .map_err(store_error("failed to create the review schema"))?;
        connection
            .execute_batch(hygiene::SCHEMA)
            .map_err(store_error("failed to create the hygiene schema"))?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.connection.lock().map_err(|_| StoreError {
            message: "the state database lock is poisoned".to_string(),
            source: None,
        })
    }
}

/// An action that is running or indeterminate, with its run.
struct OpenRow {
    run_id: String,
    plan_id: String,
    policy_digest: String,
    action: Action,
    status: ActionStatus,
    reason: Option<String>,
    updated_at: Timestamp,
}

/// Reads the actions that are running or indeterminate, oldest run first.
fn open_rows(connection: &Connection) -> Result<Vec<OpenRow>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT a.run_id, r.plan_id, r.policy_digest, a.action_json, a.status, a.reason, a.updated_at
             FROM actions a JOIN runs r ON r.run_id = a.run_id
             WHERE a.status IN ('running', 'indeterminate') ORDER BY r.started_at, a.position",
        )
        .map_err(store_error("failed to read open actions"))?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })
        .map_err(store_error("failed to read open actions"))?;
    let mut open = Vec::new();
    for row in rows {
        let (run_id, plan_id, policy_digest, json, status, reason, updated_at) =
            row.map_err(store_error("failed to read open actions"))?;
        open.push(OpenRow {
            run_id,
            plan_id,
            policy_digest,
            action: serde_json::from_str(&json)
                .map_err(json_error("corrupt action in the journal"))?,
            status: ActionStatus::parse(&status).unwrap_or(ActionStatus::Running),
            reason,
            updated_at: Timestamp(updated_at),
        });
    }
    Ok(open)
}

impl SqliteStore {
    /// Finds the run that applied the plan `plan_id` and verified every action of it, if one did.
    pub fn verified_run_of_plan(&self, plan_id: &str) -> Result<Option<String>, StoreError> {
        let connection = self.lock()?;
        connection
            .query_row(
                "SELECT run_id FROM runs WHERE plan_id = ?1 AND status = 'verified' ORDER BY started_at DESC LIMIT 1",
                params![plan_id],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(store_error("failed to read the runs of a plan"))
    }
}

impl StateStore for SqliteStore {
    fn begin_run(
        &self,
        run_id: &str,
        plan: &Plan,
        started_at: Timestamp,
    ) -> Result<(), StoreError> {
        let plan_json =
            serde_json::to_string(plan).map_err(json_error("failed to encode the plan"))?;
        let mut connection = self.lock()?;
        let transaction = connection
            .transaction()
            .map_err(store_error("failed to begin a run"))?;
        transaction
            .execute(
                "INSERT INTO runs (run_id, plan_id, policy_digest, plan_json, started_at, status) VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
                params![run_id, plan.id.as_str(), plan.policy_digest, plan_json, started_at.0],
            )
            .map_err(store_error("failed to record the run"))?;
        {
            let mut insert = transaction
                .prepare("INSERT INTO actions (run_id, action_id, position, target, account, summary, action_json, status, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)")
                .map_err(store_error("failed to record actions"))?;
            for (position, action) in plan.actions.iter().enumerate() {
                let json = serde_json::to_string(action)
                    .map_err(json_error("failed to encode an action"))?;
                insert
                    .execute(params![
                        run_id,
                        action.id.as_str(),
                        position as i64,
                        action.target.as_str(),
                        action.account,
                        action.kind.to_string(),
                        json,
                        started_at.0
                    ])
                    .map_err(store_error("failed to record an action"))?;
            }
        }
        transaction
            .commit()
            .map_err(store_error("failed to commit the run"))
    }

    fn finish_run(
        &self,
        run_id: &str,
        status: &str,
        ended_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock()?
            .execute(
                "UPDATE runs SET status = ?2, ended_at = ?3 WHERE run_id = ?1",
                params![run_id, status, ended_at.0],
            )
            .map_err(store_error("failed to finish the run"))?;
        Ok(())
    }

    fn set_status(
        &self,
        run_id: &str,
        action: &ActionId,
        status: ActionStatus,
        reason: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock()?
            .execute(
                "UPDATE actions SET status = ?3, reason = ?4, updated_at = ?5 WHERE run_id = ?1 AND action_id = ?2",
                params![run_id, action.as_str(), status.as_str(), reason, at.0],
            )
            .map_err(store_error("failed to update an action"))?;
        Ok(())
    }

    fn step_intent(
        &self,
        run_id: &str,
        action: &ActionId,
        step: &str,
        attempt: u32,
        at: Timestamp,
        intent: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.lock()?
            .execute(
                "INSERT INTO steps (run_id, action_id, step, attempt, started_at, intent_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run_id, action.as_str(), step, attempt, at.0, intent.to_string()],
            )
            .map_err(store_error("failed to journal a step intent"))?;
        Ok(())
    }

    fn step_result(
        &self,
        run_id: &str,
        action: &ActionId,
        step: &str,
        attempt: u32,
        at: Timestamp,
        result: &StepResult,
    ) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(result).map_err(json_error("failed to encode a step result"))?;
        let changed = self
            .lock()?
            .execute(
                "UPDATE steps SET ended_at = ?5, result_json = ?6 WHERE run_id = ?1 AND action_id = ?2 AND step = ?3 AND attempt = ?4",
                params![run_id, action.as_str(), step, attempt, at.0, json],
            )
            .map_err(store_error("failed to journal a step result"))?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError {
                message: format!(
                    "no intent journaled for step `{step}` attempt {attempt} of action `{action}`"
                ),
                source: None,
            })
        }
    }

    fn steps(&self, run_id: &str, action: &ActionId) -> Result<Vec<JournaledStep>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare("SELECT step, attempt, started_at, intent_json, ended_at, result_json FROM steps WHERE run_id = ?1 AND action_id = ?2 ORDER BY started_at, attempt")
            .map_err(store_error("failed to read steps"))?;
        let rows = statement
            .query_map(params![run_id, action.as_str()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(store_error("failed to read steps"))?;
        let mut steps = Vec::new();
        for row in rows {
            let (name, attempt, started_at, intent, ended_at, result) =
                row.map_err(store_error("failed to read steps"))?;
            let intent = serde_json::from_str(&intent)
                .map_err(json_error("corrupt step intent in the journal"))?;
            let result = match result {
                Some(json) => Some(
                    serde_json::from_str(&json)
                        .map_err(json_error("corrupt step result in the journal"))?,
                ),
                None => None,
            };
            steps.push(JournaledStep {
                name,
                attempt,
                started_at: Timestamp(started_at),
                intent,
                ended_at: ended_at.map(Timestamp),
                result,
            });
        }
        Ok(steps)
    }

    fn take_resumable(&self, at: Timestamp) -> Result<Vec<ResumableAction>, StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection
            .transaction()
            .map_err(store_error("failed to read resumable actions"))?;
        transaction
            .execute(
                "UPDATE actions SET status = 'superseded', reason = 'the run stopped before this action started; a fresh plan replaces it', updated_at = ?1
                 WHERE status = 'pending' AND run_id IN (SELECT run_id FROM runs WHERE status = 'running')",
                params![at.0],
            )
            .map_err(store_error("failed to supersede pending actions"))?;
        transaction
            .execute(
                "UPDATE runs SET status = 'stopped', ended_at = ?1 WHERE status = 'running'",
                params![at.0],
            )
            .map_err(store_error("failed to close stopped runs"))?;
        let items = open_rows(&transaction)?
            .into_iter()
            .map(|row| ResumableAction {
                run_id: row.run_id,
                plan_id: PlanId::new(row.plan_id),
                policy_digest: row.policy_digest,
                action: row.action,
                status: row.status,
            })
            .collect();
        transaction
            .commit()
            .map_err(store_error("failed to read resumable actions"))?;
        Ok(items)
    }

    fn open_actions(&self) -> Result<Vec<OpenAction>, StoreError> {
        let connection = self.lock()?;
        Ok(open_rows(&connection)?
            .into_iter()
            .map(|row| OpenAction {
                run_id: row.run_id,
                action: row.action,
                status: row.status,
                reason: row.reason,
                updated_at: row.updated_at,
            })
            .collect())
    }

    fn last_verified(&self) -> Result<Vec<LastVerified>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare(
                "SELECT target, account, action_id, summary, MAX(updated_at) FROM actions WHERE status = 'verified' GROUP BY target, account ORDER BY target, account",
            )
            .map_err(store_error("failed to read verified actions"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(LastVerified {
                    target: TargetId::new(row.get::<_, String>(0)?),
                    account: row.get(1)?,
                    action_id: ActionId::new(row.get::<_, String>(2)?),
                    summary: row.get(3)?,
                    verified_at: Timestamp(row.get(4)?),
                })
            })
            .map_err(store_error("failed to read verified actions"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(store_error("failed to read verified actions"))
    }
}

impl SqliteStore {
    /// The status of one action in one run, for tests and the CLI.
    pub fn status_of(
        &self,
        run_id: &str,
        action: &ActionId,
    ) -> Result<Option<ActionStatus>, StoreError> {
        let status: Option<String> = self
            .lock()?
            .query_row(
                "SELECT status FROM actions WHERE run_id = ?1 AND action_id = ?2",
                params![run_id, action.as_str()],
                |row| row.get(0),
            )
            .optional()
            .map_err(store_error("failed to read an action"))?;
        Ok(status.as_deref().and_then(ActionStatus::parse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enact_model::{ActionKind, Entitlement};

    fn plan() -> Plan {
        let kind = ActionKind::Grant {
            entitlement: Entitlement::Membership {
                group: "readers".into(),
            },
        };
        let target = TargetId::new("pg");
        let action = Action {
            id: Action::stable_id(&target, "app", &kind),
            target,
            identity: None,
            account: "app".into(),
            kind,
            reason: "declared".into(),
            depends_on: vec![],
        };
        Plan {
            id: PlanId::new("plan-1"),
            created_at: Timestamp(1),
            policy_digest: "p".into(),
            observation_digest: "o".into(),
            actions: vec![action],
            unmanaged: vec![],
        }
    }

    #[test]
    fn interrupted_action_is_resumable() {
        let store = SqliteStore::in_memory().expect("store");
        let plan = plan();
        let id = &plan.actions[0].id;
        store
            .begin_run("run-1", &plan, Timestamp(1))
            .expect("begin");
        store
            .set_status("run-1", id, ActionStatus::Running, None, Timestamp(2))
            .expect("status");
        store
            .step_intent(
                "run-1",
                id,
                "grant",
                1,
                Timestamp(3),
                &serde_json::json!({}),
            )
            .expect("intent");

        let resumable = store.take_resumable(Timestamp(4)).expect("resumable");
        assert_eq!(resumable.len(), 1);
        assert_eq!(&resumable[0].action.id, id);
        let steps = store.steps("run-1", id).expect("steps");
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].result, None);
    }

    #[test]
    fn open_actions_are_read_without_change() {
        let store = SqliteStore::in_memory().expect("store");
        let plan = plan();
        let id = &plan.actions[0].id;
        store
            .begin_run("run-1", &plan, Timestamp(1))
            .expect("begin");
        assert!(store.open_actions().expect("open").is_empty());

        let reason = "step `wait-for-dependents` failed; the next apply resumes it";
        store
            .set_status(
                "run-1",
                id,
                ActionStatus::Running,
                Some(reason),
                Timestamp(3),
            )
            .expect("status");
        for _ in 0..2 {
            let open = store.open_actions().expect("open");
            assert_eq!(open.len(), 1);
            assert_eq!(&open[0].action.id, id);
            assert_eq!(open[0].status, ActionStatus::Running);
            assert_eq!(open[0].reason.as_deref(), Some(reason));
            assert_eq!(open[0].updated_at, Timestamp(3));
        }
        assert_eq!(
            store.status_of("run-1", id).expect("status"),
            Some(ActionStatus::Running)
        );
    }

    #[test]
    fn pending_action_of_stopped_run_is_superseded() {
        let store = SqliteStore::in_memory().expect("store");
        let plan = plan();
        store
            .begin_run("run-1", &plan, Timestamp(1))
            .expect("begin");
        assert!(store
            .take_resumable(Timestamp(2))
            .expect("resumable")
            .is_empty());
        assert_eq!(
            store
                .status_of("run-1", &plan.actions[0].id)
                .expect("status"),
            Some(ActionStatus::Superseded)
        );
    }

    #[test]
    fn result_without_intent_is_rejected() {
        let store = SqliteStore::in_memory().expect("store");
        let plan = plan();
        store
            .begin_run("run-1", &plan, Timestamp(1))
            .expect("begin");
        let result = StepResult::Ok {
            detail: serde_json::json!({}),
        };
        assert!(store
            .step_result(
                "run-1",
                &plan.actions[0].id,
                "grant",
                1,
                Timestamp(2),
                &result
            )
            .is_err());
    }

    #[test]
    fn last_verified_returns_latest_per_account() {
        let store = SqliteStore::in_memory().expect("store");
        let plan = plan();
        let id = &plan.actions[0].id;
        store
            .begin_run("run-1", &plan, Timestamp(1))
            .expect("begin");
        store
            .set_status("run-1", id, ActionStatus::Verified, None, Timestamp(5))
            .expect("status");
        let last = store.last_verified().expect("last");
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].account, "app");
        assert_eq!(last[0].verified_at, Timestamp(5));
    }
}
