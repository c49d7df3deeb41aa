//! The OCSF export validated against the OCSF 1.6.0 class schemas vendored in
//! `schemas/ocsf-1.6.0` (see `SOURCE.md` there).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use enact_report::sample::write_sample_log;
use enact_report::{export_ocsf, load, Status, OCSF_VERSION};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn schema(class: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/ocsf-1.6.0")
        .join(format!("{class}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn exported_events() -> (Vec<enact_report::ActionEntry>, Vec<Value>) {
    let state = tempfile::tempdir().unwrap();
    write_sample_log(state.path(), SigningKey::from_bytes(&[3; 32]), 4, 30).unwrap();
    let entries = load(state.path()).unwrap();
    let mut out = Vec::new();
    let count = export_ocsf(&entries, &mut out).unwrap();
    assert_eq!(count as usize, entries.len());
    let events = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (entries, events)
}

#[test]
fn every_event_matches_its_class_schema() {
    let validators: BTreeMap<u64, jsonschema::Validator> = [
        (3001, schema("account_change")),
        (3002, schema("authentication")),
        (3005, schema("user_access")),
    ]
    .into_iter()
    .collect();
    let (_, events) = exported_events();
    assert_eq!(events.len(), 120);

    let mut classes = BTreeMap::new();
    for event in &events {
        let class = event["class_uid"].as_u64().unwrap();
        *classes.entry(class).or_insert(0) += 1;
        let validator = validators
            .get(&class)
            .unwrap_or_else(|| panic!("unexpected class {class}"));
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{event}\n{errors:#?}");
    }
    // The sample has every action kind, so every class appears.
    assert_eq!(
        classes.keys().copied().collect::<Vec<_>>(),
        [3001, 3002, 3005]
    );
}

#[test]
fn schema_rejects_invalid_event() {
    // The check can fail: an event without its user or with an unknown status is rejected.
    let validator = schema("account_change");
    let (_, events) = exported_events();
    let event = events
        .iter()
        .find(|event| event["class_uid"] == 3001)
        .unwrap();
    let mut missing_user = event.clone();
    missing_user.as_object_mut().unwrap().remove("user");
    assert!(!validator.is_valid(&missing_user));
    let mut bad_status = event.clone();
    bad_status["status_id"] = 7.into();
    assert!(!validator.is_valid(&bad_status));
}

#[test]
fn status_and_user_follow_verdict() {
    let (entries, events) = exported_events();
    for (entry, event) in entries.iter().zip(&events) {
        assert_eq!(event["metadata"]["version"], OCSF_VERSION);
        assert_eq!(event["user"]["type_id"], 4, "service identity");
        assert_eq!(event["user"]["type"], "Service");
        let expected = match entry.status {
            Status::Verified => 1,
            Status::Refuted | Status::Failed => 2,
            Status::Indeterminate => 0,
        };
        assert_eq!(event["status_id"], expected, "{event}");
        assert_eq!(event["unmapped"]["enact"]["seq"], entry.seq);
    }
    for status in [
        Status::Verified,
        Status::Refuted,
        Status::Failed,
        Status::Indeterminate,
    ] {
        assert!(
            entries.iter().any(|entry| entry.status == status),
            "the sample has no {} record",
            status.name()
        );
    }
}
