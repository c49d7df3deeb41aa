//! The evidence as OCSF events, one JSON object per line, for a SIEM or data lake.
//!
//! Each action record becomes one event of OCSF version [`OCSF_VERSION`], in the Identity &
//! Access Management category (3):
//!
//! | action | class | activity |
//! | --- | --- | --- |
//! | create, enable, rotate, disable, delete | Account Change (3001) | Create, Enable, Password Change, Disable, Delete |
//! | configure, purge | Account Change (3001) | Other, named `Configure` or `Purge Credential` |
//! | grant, revoke | User Access Management (3005) | Assign Privileges, Revoke Privileges |
//! | end-sessions | Authentication (3002) | Logoff |
//!
//! The account is the event's `user`, of type Service (4), which OCSF has since 1.6.0. The
//! verdict sets `status_id`: verified is Success (1), refuted and failed are Failure (2), and
//! indeterminate is Unknown (0), because the target's state was not established. enact's own
//! fields (sequence number, verdict, probes) go under `unmapped.enact`.

use crate::entries::{ActionEntry, Status};
use serde_json::{json, Value};
use std::io::{self, Write};

/// The OCSF schema version the events follow; every event carries it in
/// `metadata.version`.
pub const OCSF_VERSION: &str = "1.6.0";

/// An OCSF class and activity for an action.
struct Activity {
    class_uid: u32,
    class_name: &'static str,
    activity_id: u32,
    activity_name: &'static str,
    /// The activity's caption in the schema, which `type_name` uses; it differs from
    /// `activity_name` for enact's own activities under Other (99).
    caption: &'static str,
}

const ACCOUNT_CHANGE: (u32, &str) = (3001, "Account Change");
const AUTHENTICATION: (u32, &str) = (3002, "Authentication");
const USER_ACCESS: (u32, &str) = (3005, "User Access Management");

fn activity_of(verb: &str) -> Activity {
    let ((class_uid, class_name), activity_id, activity_name, caption) = match verb {
        "create" => (ACCOUNT_CHANGE, 1, "Create", "Create"),
        "enable" => (ACCOUNT_CHANGE, 2, "Enable", "Enable"),
        "rotate" => (ACCOUNT_CHANGE, 3, "Password Change", "Password Change"),
        "disable" => (ACCOUNT_CHANGE, 5, "Disable", "Disable"),
        "delete" => (ACCOUNT_CHANGE, 6, "Delete", "Delete"),
        "configure" => (ACCOUNT_CHANGE, 99, "Configure", "Other"),
        "purge" => (ACCOUNT_CHANGE, 99, "Purge Credential", "Other"),
        "grant" => (USER_ACCESS, 1, "Assign Privileges", "Assign Privileges"),
        "revoke" => (USER_ACCESS, 2, "Revoke Privileges", "Revoke Privileges"),
        "end-sessions" => (AUTHENTICATION, 2, "Logoff", "Logoff"),
        _ => (ACCOUNT_CHANGE, 99, "Other", "Other"),
    };
    Activity {
        class_uid,
        class_name,
        activity_id,
        activity_name,
        caption,
    }
}

/// Converts microseconds since the epoch to OCSF's timestamp: milliseconds since the epoch.
fn millis(micros: i64) -> i64 {
    micros.div_euclid(1000)
}

/// Builds the OCSF event of one action record.
pub fn ocsf_event(entry: &ActionEntry) -> Value {
    let activity = activity_of(&entry.verb);
    let (status_id, status, severity_id, severity) = match entry.status {
        Status::Verified => (1, "Success", 1, "Informational"),
        Status::Refuted | Status::Failed => (2, "Failure", 3, "Medium"),
        Status::Indeterminate => (0, "Unknown", 2, "Low"),
    };
    let probes: Vec<Value> = entry
        .probes
        .iter()
        .map(|probe| json!({"name": probe.name, "outcome": probe.outcome}))
        .collect();
    let mut event = json!({
        "activity_id": activity.activity_id,
        "activity_name": activity.activity_name,
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "class_uid": activity.class_uid,
        "class_name": activity.class_name,
        "type_uid": activity.class_uid * 100 + activity.activity_id,
        "type_name": format!("{}: {}", activity.class_name, activity.caption),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "time": millis(entry.recorded_at),
        "start_time": millis(entry.started_at),
        "end_time": millis(entry.recorded_at),
        "message": format!("{} {}/{}: {}", entry.verb, entry.target, entry.account, entry.reason),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "enact",
                "vendor_name": "enact",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "uid": format!("{}#{}", entry.action_id, entry.seq),
            "correlation_uid": entry.run_id,
            "sequence": entry.seq,
            "log_name": "enact evidence",
        },
        "user": {
            "name": entry.account,
            "uid": format!("{}/{}", entry.target, entry.account),
            "type_id": 4,
            "type": "Service",
        },
        "unmapped": {
            "enact": {
                "seq": entry.seq,
                "action_id": entry.action_id,
                "identity": entry.identity,
                "target": entry.target,
                "verdict": entry.status.name(),
                "probes": probes,
            }
        },
    });
    let Some(fields) = event.as_object_mut() else {
        return event;
    };
    if let Some(detail) = &entry.detail {
        fields.insert("status_detail".to_string(), json!(detail));
    }
    match activity.class_uid {
        // User Access Management requires the privileges that changed.
        3005 => {
            let privilege = entry.entitlement.clone().unwrap_or_default();
            fields.insert("privileges".to_string(), json!([privilege]));
        }
        // Authentication requires the service or endpoint the session was on.
        3002 => {
            fields.insert("service".to_string(), json!({"name": entry.target}));
        }
        _ => {}
    }
    event
}

/// Writes one OCSF event per action record to `out`, one JSON object per line. Returns the
/// number of events.
pub fn export_ocsf(entries: &[ActionEntry], mut out: impl Write) -> io::Result<u64> {
    let mut count = 0;
    for entry in entries {
        serde_json::to_writer(&mut out, &ocsf_event(entry))?;
        out.write_all(b"\n")?;
        count += 1;
    }
    out.flush()?;
    Ok(count)
}
