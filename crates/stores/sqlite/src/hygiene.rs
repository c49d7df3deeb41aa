//! When each hygiene rule was first seen to hold for an account, so that a `delete` rule can
//! wait out its grace period across runs.

use crate::{store_error, SqliteStore};
use enact_execute::journal::StoreError;
use enact_model::Timestamp;
use rusqlite::params;
use std::collections::BTreeMap;

/// The table of first sightings, created with the rest of the schema.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hygiene_held (
    target TEXT NOT NULL,
    account TEXT NOT NULL,
    rule TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    PRIMARY KEY (target, account, rule)
);
";

/// The key of one sighting: target, account and rule name.
pub type HeldKey = (String, String, String);

impl SqliteStore {
    /// Reads every recorded sighting.
    pub fn rules_held(&self) -> Result<BTreeMap<HeldKey, Timestamp>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare("SELECT target, account, rule, first_at FROM hygiene_held")
            .map_err(store_error("failed to read hygiene sightings"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    (row.get(0)?, row.get(1)?, row.get(2)?),
                    Timestamp(row.get(3)?),
                ))
            })
            .map_err(store_error("failed to read hygiene sightings"))?;
        rows.collect::<Result<_, _>>()
            .map_err(store_error("failed to read hygiene sightings"))
    }

    /// Makes the recorded sightings exactly `holding`: a pair seen for the first time gets
    /// `now`, a pair seen before keeps its first time, and a pair no longer holding is
    /// forgotten, so its grace period starts again if it holds again.
    pub fn record_rules_held(&self, holding: &[HeldKey], now: Timestamp) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection
            .transaction()
            .map_err(store_error("failed to record hygiene sightings"))?;
        transaction
            .execute(
                "CREATE TEMP TABLE IF NOT EXISTS holding (target TEXT, account TEXT, rule TEXT)",
                [],
            )
            .and_then(|_| transaction.execute("DELETE FROM holding", []))
            .map_err(store_error("failed to record hygiene sightings"))?;
        for (target, account, rule) in holding {
            transaction
                .execute(
                    "INSERT INTO holding VALUES (?1, ?2, ?3)",
                    params![target, account, rule],
                )
                .and_then(|_| {
                    transaction.execute(
                        "INSERT OR IGNORE INTO hygiene_held VALUES (?1, ?2, ?3, ?4)",
                        params![target, account, rule, now.0],
                    )
                })
                .map_err(store_error("failed to record hygiene sightings"))?;
        }
        transaction
            .execute(
                "DELETE FROM hygiene_held WHERE NOT EXISTS (SELECT 1 FROM holding h \
                 WHERE h.target = hygiene_held.target AND h.account = hygiene_held.account \
                 AND h.rule = hygiene_held.rule)",
                [],
            )
            .map_err(store_error("failed to record hygiene sightings"))?;
        transaction
            .commit()
            .map_err(store_error("failed to record hygiene sightings"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: &str) -> HeldKey {
        ("pg".to_owned(), account.to_owned(), "stale".to_owned())
    }

    #[test]
    fn first_sighting_is_kept_until_the_rule_stops_holding() {
        let store = SqliteStore::in_memory().unwrap();
        store.record_rules_held(&[key("a")], Timestamp(10)).unwrap();
        store
            .record_rules_held(&[key("a"), key("b")], Timestamp(20))
            .unwrap();
        let held = store.rules_held().unwrap();
        assert_eq!(held[&key("a")], Timestamp(10));
        assert_eq!(held[&key("b")], Timestamp(20));

        store.record_rules_held(&[key("b")], Timestamp(30)).unwrap();
        let held = store.rules_held().unwrap();
        assert!(!held.contains_key(&key("a")));
        assert_eq!(held[&key("b")], Timestamp(20));
    }
}
