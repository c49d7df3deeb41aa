//! Client connections, read from `CLIENT LIST`, as sessions.

use enact_model::{ObservedSession, Timestamp};
use std::collections::HashMap;

/// One line of `CLIENT LIST`, with the fields the connector uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientEntry {
    pub(crate) id: u64,
    pub(crate) addr: String,
    pub(crate) name: String,
    /// Seconds since the connection was accepted, counted in whole seconds of the server clock.
    pub(crate) age: i64,
    /// Seconds since the connection last ran a command, counted the same way.
    pub(crate) idle: i64,
    pub(crate) user: String,
}

/// Parses one `CLIENT LIST` line of `key=value` fields. Client names cannot contain spaces,
/// so splitting on spaces is exact. Returns `None` for a line without an id or a user.
pub(crate) fn parse_client_line(line: &str) -> Option<ClientEntry> {
    let fields: HashMap<&str, &str> = line
        .split_ascii_whitespace()
        .filter_map(|field| field.split_once('='))
        .collect();
    Some(ClientEntry {
        id: fields.get("id")?.parse().ok()?,
        addr: fields.get("addr").copied().unwrap_or_default().to_string(),
        name: fields.get("name").copied().unwrap_or_default().to_string(),
        age: fields.get("age").and_then(|v| v.parse().ok()).unwrap_or(0),
        idle: fields.get("idle").and_then(|v| v.parse().ok()).unwrap_or(0),
        user: fields.get("user")?.to_string(),
    })
}

/// Parses a whole `CLIENT LIST` reply.
pub(crate) fn parse_client_list(text: &str) -> Vec<ClientEntry> {
    text.lines().filter_map(parse_client_line).collect()
}

impl ClientEntry {
    /// The session this connection is, with times relative to `server_now`, the server clock
    /// read just before `CLIENT LIST` ran.
    ///
    /// Redis counts `age` and `idle` in whole seconds of a clock that itself has whole
    /// seconds, so a connection accepted at any instant of second `S - age` reports `age`.
    /// `started_at` is the start of that second, the earliest instant the connection can have
    /// been opened. So a session opened before a rotation is never taken for one opened after
    /// it. The cost is that a session opened after a rotation, in the same second, counts as
    /// opened before it. `idle_since` is computed the same way and is `None` while `idle` is 0.
    pub(crate) fn to_session(&self, server_now: Timestamp) -> ObservedSession {
        let second = server_now.0.div_euclid(1_000_000);
        let at = |seconds_ago: i64| Timestamp(second.saturating_sub(seconds_ago) * 1_000_000);
        ObservedSession {
            id: self.id.to_string(),
            started_at: at(self.age),
            idle_since: (self.idle > 0).then(|| at(self.idle)),
            application_name: self.name.clone(),
            client_addr: (!self.addr.is_empty()).then(|| self.addr.clone()),
            metadata: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "id=34 addr=127.0.0.1:57254 laddr=127.0.0.1:56999 fd=7 name=worker age=12 idle=3 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=37658 events=r cmd=client|list user=app redir=-1 resp=2";

    #[test]
    fn client_line_parses_fields() {
        let entry = parse_client_line(LINE).unwrap();
        assert_eq!(entry.id, 34);
        assert_eq!(entry.addr, "127.0.0.1:57254");
        assert_eq!(entry.name, "worker");
        assert_eq!(entry.age, 12);
        assert_eq!(entry.idle, 3);
        assert_eq!(entry.user, "app");
    }

    #[test]
    fn session_times_count_back_whole_seconds() {
        let entry = parse_client_line(LINE).unwrap();
        let session = entry.to_session(Timestamp(1_000_000_750_000));
        assert_eq!(session.id, "34");
        assert_eq!(session.started_at, Timestamp(999_988_000_000));
        assert_eq!(session.idle_since, Some(Timestamp(999_997_000_000)));
        assert_eq!(session.application_name, "worker");
        assert_eq!(session.client_addr.as_deref(), Some("127.0.0.1:57254"));
    }

    #[test]
    fn active_session_has_no_idle_time() {
        let entry = ClientEntry {
            idle: 0,
            ..parse_client_line(LINE).unwrap()
        };
        assert_eq!(entry.to_session(Timestamp(5_000_000)).idle_since, None);
    }

    #[test]
    fn lines_without_user_are_skipped() {
        assert!(parse_client_line("id=3 addr=x age=1").is_none());
        assert_eq!(parse_client_list(&format!("{LINE}\n\n")).len(), 1);
    }
}
