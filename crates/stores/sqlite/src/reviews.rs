//! Access-review decisions and the actions that carry them out.
//!
//! A decision is stored once, keyed by its id (a digest of its fields), so importing a campaign
//! again changes nothing. A revoke decision is linked to the run and action that remove the
//! entitlement; whether that removal is verified is read from the evidence, not from here.

use crate::{store_error, SqliteStore};
use enact_execute::journal::StoreError;
use enact_model::{ActionId, Timestamp};
use rusqlite::{params, OptionalExtension};

/// The table of decisions, created with the rest of the schema.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS review_decisions (
    decision_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    target TEXT NOT NULL,
    account TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    entitlement_json TEXT NOT NULL,
    decision TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    run_id TEXT,
    action_id TEXT
);
";

/// One access-review decision as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewRecord {
    pub decision_id: String,
    pub identity: String,
    pub target: String,
    pub account: String,
    /// The entitlement as enact prints it, such as `member of app_writers`.
    pub entitlement: String,
    /// The entitlement as the model's JSON, to rebuild the action.
    pub entitlement_json: String,
    /// `keep` or `revoke`.
    pub decision: String,
    pub reviewer: String,
    pub decided_at: Timestamp,
    pub imported_at: Timestamp,
    /// Where the decision was read, such as `campaign.csv:4`.
    pub source: String,
    /// The run and action that remove the entitlement, once planned.
    pub run_id: Option<String>,
    pub action_id: Option<String>,
}

impl SqliteStore {
    /// Stores a decision unless one with its id is stored already. Returns whether it was new.
    pub fn record_review(&self, record: &ReviewRecord) -> Result<bool, StoreError> {
        let inserted = self
            .lock()?
            .execute(
                "INSERT OR IGNORE INTO review_decisions (decision_id, identity, target, account, entitlement, entitlement_json, decision, reviewer, decided_at, imported_at, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    record.decision_id,
                    record.identity,
                    record.target,
                    record.account,
                    record.entitlement,
                    record.entitlement_json,
                    record.decision,
                    record.reviewer,
                    record.decided_at.0,
                    record.imported_at.0,
                    record.source,
                ],
            )
            .map_err(store_error("failed to store a review decision"))?;
        Ok(inserted == 1)
    }

    /// Links a decision to the run and action that carry it out, replacing an earlier link.
    pub fn link_review(
        &self,
        decision_id: &str,
        run_id: &str,
        action: &ActionId,
    ) -> Result<(), StoreError> {
        self.lock()?
            .execute(
                "UPDATE review_decisions SET run_id = ?2, action_id = ?3 WHERE decision_id = ?1",
                params![decision_id, run_id, action.as_str()],
            )
            .map_err(store_error("failed to link a review decision"))?;
        Ok(())
    }

    /// Reads one decision by id.
    pub fn review(&self, decision_id: &str) -> Result<Option<ReviewRecord>, StoreError> {
        self.lock()?
            .query_row(
                &format!("{SELECT} WHERE decision_id = ?1"),
                params![decision_id],
                row_to_record,
            )
            .optional()
            .map_err(store_error("failed to read a review decision"))
    }

    /// Lists every decision, oldest decision first, then in the order they were stored.
    pub fn reviews(&self) -> Result<Vec<ReviewRecord>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare(&format!("{SELECT} ORDER BY decided_at, rowid"))
            .map_err(store_error("failed to list review decisions"))?;
        let rows = statement
            .query_map([], row_to_record)
            .map_err(store_error("failed to list review decisions"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(store_error("failed to read a review decision"))
    }
}

const SELECT: &str = "SELECT decision_id, identity, target, account, entitlement, entitlement_json, decision, reviewer, decided_at, imported_at, source, run_id, action_id FROM review_decisions";

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<ReviewRecord> {
    Ok(ReviewRecord {
        decision_id: row.get(0)?,
        identity: row.get(1)?,
        target: row.get(2)?,
        account: row.get(3)?,
        entitlement: row.get(4)?,
        entitlement_json: row.get(5)?,
        decision: row.get(6)?,
        reviewer: row.get(7)?,
        decided_at: Timestamp(row.get(8)?),
        imported_at: Timestamp(row.get(9)?),
        source: row.get(10)?,
        run_id: row.get(11)?,
        action_id: row.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn record(id: &str) -> ReviewRecord {
        ReviewRecord {
            decision_id: id.to_string(),
            identity: "orders-api".into(),
            target: "pg-main".into(),
            account: "svc_orders_api".into(),
            entitlement: "member of app_writers".into(),
            entitlement_json: r#"{"membership":{"group":"app_writers"}}"#.into(),
            decision: "revoke".into(),
            reviewer: "alice".into(),
            decided_at: Timestamp(10),
            imported_at: Timestamp(20),
            source: "c.csv:2".into(),
            run_id: None,
            action_id: None,
        }
    }

    #[test]
    fn decision_is_stored_once() {
        let store = SqliteStore::in_memory().unwrap();
        assert!(store.record_review(&record("dec-1")).unwrap());
        assert!(!store.record_review(&record("dec-1")).unwrap());
        assert_eq!(store.reviews().unwrap(), vec![record("dec-1")]);
    }

    #[test]
    fn link_names_run_and_action() {
        let store = SqliteStore::in_memory().unwrap();
        store.record_review(&record("dec-2")).unwrap();
        store
            .link_review("dec-2", "review-1", &ActionId::new("act-1"))
            .unwrap();
        let stored = store.review("dec-2").unwrap().expect("stored");
        assert_eq!(stored.run_id.as_deref(), Some("review-1"));
        assert_eq!(stored.action_id.as_deref(), Some("act-1"));
        assert!(store.review("dec-3").unwrap().is_none());
    }
}
