//! OpenLDAP under network faults and outages, as `faults.rs` tests the other targets.
//!
//! A fault-injecting proxy in front of the shared slapd adds latency, resets connections
//! part-way and black-holes them. Every action must end verified, or failed, refuted or
//! indeterminate with an evidence record, or stay open in the journal for the next apply. No
//! verdict may be falsely verified, which a bind or a read on the server past the proxy
//! checks, and no step may be tried more often than the executor's attempt limit in one
//! apply. Applies are repeated with faults a few times, then without them until every action
//! is verified.
//!
//! The second test cuts the directory off between a grant and its verification: the action is
//! indeterminate, never verified, and the next apply verifies it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::fault_proxy::FaultProxy;
use common::{
    account, action_records, credential, identity_with, record_verdict, LdapCleanup, LdapEnv,
    Proxy, Workspace,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The share of connections that get a fault.
const FAULT_RATE: f64 = 0.10;

/// The fault test adds identities to its policy in rounds, so that each round's creates and
/// grants meet the faults.
const ROUNDS: usize = 3;

/// Accounts added per round. Each needs a create and one grant, so 24 actions in all.
const ACCOUNTS_PER_ROUND: usize = 4;

/// The fault seed unless `ENACT_FAULT_SEED` gives another.
const DEFAULT_SEED: u64 = 4;

/// The executor's attempt limit per step in one apply (`ExecuteOptions::max_attempts`).
const MAX_ATTEMPTS: i64 = 4;

/// How long a black hole keeps a connection before the proxy closes it. The LDAP connector
/// waits 10 s for an operation, so closing after 6 s makes a black-holed bind fail sooner.
const BLACK_HOLE_LIMIT: Duration = Duration::from_secs(6);

/// Applies per round with faults on. A round ends early once an apply exits 0.
const FAULTY_APPLIES: usize = 3;

/// Applies allowed after the faults are switched off, before every action must be verified.
const CLEAN_APPLIES: usize = 3;

/// Every directory entry that is not the test's own is left alone.
const IGNORE_ALL: &str = "{ action: report, ignore: [\"*\"] }";

/// A workspace whose policy has only the LDAP target `directory`. The accounts and groups
/// named with the workspace prefix are deleted when the test ends.
struct LdapFaultTest {
    ws: Workspace,
    ldap: LdapEnv,
    _cleanup: LdapCleanup,
    /// Account uid to the sink name of its password and the DN of its group.
    accounts: BTreeMap<String, (String, String)>,
}

impl LdapFaultTest {
    fn new() -> LdapFaultTest {
        let ldap = LdapEnv::shared();
        let mut ws = Workspace::new();
        ws.use_ldap(&ldap);
        let cleanup = ldap.cleanup_on_drop(&ws.prefix);
        LdapFaultTest {
            ws,
            ldap,
            _cleanup: cleanup,
            accounts: BTreeMap::new(),
        }
    }

    /// Renders the identity `name` with the account `uid` on `directory`, member of `groups`,
    /// its password delivered to the sink `name`.
    fn identity(&self, name: &str, uid: &str, groups: &[&str]) -> String {
        let mut body = String::new();
        if !groups.is_empty() {
            body.push_str("entitlements:\n");
            for group in groups {
                body.push_str(&format!("  - member_of: \"{group}\"\n"));
            }
        }
        body.push_str(&credential(&self.ws.sink(name), "90d"));
        identity_with(name, "active", &[account("directory", uid, &body)])
    }

    /// Writes a policy whose only target is `directory` at `endpoint`, with `identities`.
    fn write(&self, endpoint: &str, verify_window: &str, identities: &[String]) {
        let target = self
            .ldap
            .target_yaml("directory", IGNORE_ALL)
            .replace(&self.ldap.endpoint(), endpoint)
            .replace(
                "verify_window: 2s",
                &format!("verify_window: {verify_window}"),
            );
        self.ws.write_policy_text(&format!(
            "version: 1\ntargets:\n{target}identities:\n{}",
            identities.concat()
        ));
    }

    /// Checks directly on the server, past the proxy, that what a verified action claims
    /// is true. Returns a description of the first mismatch.
    async fn cross_check(&self, action: &Value) -> Result<(), String> {
        let uid = action["account"].as_str().unwrap_or("");
        let kind = action["kind"]["kind"].as_str().unwrap_or("");
        let (sink, group) = self
            .accounts
            .get(uid)
            .ok_or_else(|| format!("`{uid}` is not declared"))?;
        let dn = self.ldap.account_dn(uid);
        match kind {
            "create_account" => {
                let password = self.ws.sink_value(sink);
                match self.ldap.bind_code(&dn, &password).await {
                    0 => Ok(()),
                    code => Err(format!(
                        "`{dn}` cannot bind with its sink's password: result {code}"
                    )),
                }
            }
            "grant" => {
                let members = self.ldap.members(group).await;
                if members.contains(&dn) {
                    Ok(())
                } else {
                    Err(format!("`{group}` lists {members:?}, not `{dn}`"))
                }
            }
            _ => Err(format!("unexpected action `{kind}` on `{uid}`")),
        }
    }

    /// Counts the journal's step attempts per `(run, action, step)`.
    fn step_attempts(&self) -> BTreeMap<(String, String, String), i64> {
        let path = self.ws.state_dir().join("state.db");
        if !path.exists() {
            return BTreeMap::new();
        }
        let journal = rusqlite::Connection::open(path).expect("open the journal");
        let mut query = journal
            .prepare("SELECT run_id, action_id, step, COUNT(*) FROM steps GROUP BY 1, 2, 3")
            .expect("prepare");
        query
            .query_map([], |row| {
                Ok(((row.get(0)?, row.get(1)?, row.get(2)?), row.get(3)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }
}

/// Describes an action of a report or a record as `uid kind`, for the test's log.
fn describe(action: &Value) -> String {
    format!(
        "{} {}",
        action["account"].as_str().unwrap_or(""),
        action["kind"]["kind"].as_str().unwrap_or("")
    )
}

/// What the applies of the fault test have reported and recorded so far.
#[derive(Default)]
struct Tally {
    /// The ids of the actions reported verified.
    verified: BTreeSet<String>,
    /// Every action id an apply reported.
    planned: BTreeSet<String>,
    /// The verdict of each action's last record, by action id.
    last_verdict: BTreeMap<String, String>,
    /// How many action records of the log have been cross-checked.
    checked_records: usize,
    /// Reported outcomes other than verified.
    not_verified: usize,
}

impl LdapFaultTest {
    /// Runs `enact apply` once and checks it: no step over the attempt limit, every new
    /// verified record true on the server, and every reported result verified with its
    /// record, ended with its record, or left open for the next apply. Returns the exit code.
    async fn apply_and_check(
        &self,
        label: &str,
        proxy: &FaultProxy,
        tally: &mut Tally,
    ) -> Option<i32> {
        let attempts_before = self.step_attempts();
        let outcome = self.ws.enact(&["apply", "-o", "json"]).await;
        eprintln!("{label}: exit {:?}; {}", outcome.code, proxy.counts());

        for (key, count) in self.step_attempts() {
            let new = count - attempts_before.get(&key).copied().unwrap_or(0);
            assert!(
                new <= MAX_ATTEMPTS,
                "{label}: step {key:?} was tried {new} times\n{outcome}"
            );
        }

        // An apply that stops at its observation may have resumed and recorded actions
        // first, so every new record is checked, whatever the apply printed.
        let records = self.ws.evidence().await;
        let actions = action_records(&records);
        for record in &actions[tally.checked_records..] {
            for step in record["steps"].as_array().into_iter().flatten() {
                let attempts = step["attempts"].as_i64().unwrap_or(0);
                assert!(
                    attempts <= MAX_ATTEMPTS,
                    "{label}: step tried {attempts} times: {record}"
                );
            }
            if record_verdict(record) == "verified" {
                if let Err(mismatch) = self.cross_check(&record["action"]).await {
                    panic!("{label}: falsely verified: {mismatch}\n{record}");
                }
            }
        }
        tally.checked_records = actions.len();
        for record in &actions {
            let id = record["action"]["id"].as_str().unwrap_or("").to_string();
            tally.last_verdict.insert(id, record_verdict(record));
        }

        // An apply whose observation met a fault on every attempt stops before any new
        // action and prints why.
        let Ok(report) = serde_json::from_str::<Value>(&outcome.stdout) else {
            eprintln!("  stopped: {}", outcome.stderr.trim());
            assert_ne!(outcome.code, Some(0), "{outcome}");
            assert!(
                !outcome.stderr.trim().is_empty(),
                "{label}: no error given\n{outcome}"
            );
            return outcome.code;
        };
        let by_seq: BTreeMap<u64, &Value> = records
            .iter()
            .filter_map(|r| r["seq"].as_u64().map(|seq| (seq, r)))
            .collect();
        let results = report["resumed"]
            .as_array()
            .into_iter()
            .chain(report["results"].as_array())
            .flatten();
        for result in results {
            let id = result["action"]["id"].as_str().unwrap_or("").to_string();
            let status = result["status"].as_str().unwrap_or("");
            tally.planned.insert(id.clone());
            let record = result["evidence_seq"].as_u64().and_then(|s| by_seq.get(&s));
            match status {
                "verified" => {
                    let record = record.unwrap_or_else(|| {
                        panic!("{label}: verified `{id}` has no evidence record\n{result}")
                    });
                    assert_eq!(record_verdict(record), "verified", "{record}");
                    eprintln!("  verified {}", describe(&result["action"]));
                    assert!(
                        tally.verified.insert(id.clone()),
                        "{label}: `{id}` was verified twice"
                    );
                }
                "failed" | "refuted" | "indeterminate" => {
                    tally.not_verified += 1;
                    let reason = result["reason"].as_str().unwrap_or("");
                    eprintln!("  {status} {}: {reason}", describe(&result["action"]));
                    // A transient failure keeps the action open for the next apply instead of
                    // closing it with a record. Every other outcome has its record.
                    let resumable =
                        status == "failed" && reason.contains("the next apply resumes it");
                    assert!(
                        record.is_some() || resumable,
                        "{label}: `{id}` ended {status} without evidence\n{result}"
                    );
                    if let Some(record) = record {
                        assert_eq!(record_verdict(record), status, "{record}");
                    }
                }
                other => panic!("{label}: `{id}` ended `{other}`\n{result}"),
            }
        }
        outcome.code
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_faults_never_give_false_verified() {
    let mut test = LdapFaultTest::new();
    // A fixed seed makes a failure repeatable; `ENACT_FAULT_SEED` tries others.
    let seed: u64 = std::env::var("ENACT_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("fault seed: {seed}");
    let proxy = FaultProxy::start("openldap", test.ldap.address(), seed, FAULT_RATE).await;
    proxy.set_black_hole_limit(BLACK_HOLE_LIMIT);
    let endpoint = format!("ldap://{}", proxy.address);

    // Two groups, so grants land both on a group that still has its empty-DN placeholder and
    // on one that has real members.
    let groups = [
        test.ldap.create_group(&test.ws.role("readers"), &[]).await,
        test.ldap.create_group(&test.ws.role("writers"), &[]).await,
    ];
    let mut tally = Tally::default();
    let mut identities = Vec::new();
    for round in 0..ROUNDS {
        for i in round * ACCOUNTS_PER_ROUND..(round + 1) * ACCOUNTS_PER_ROUND {
            let name = format!("l{i}");
            let uid = test.ws.role(&name);
            let group = groups[i % groups.len()].clone();
            identities.push(test.identity(&name, &uid, &[&group]));
            test.accounts.insert(uid, (name, group));
        }
        test.write(&endpoint, "2s", &identities);
        for apply in 1..=FAULTY_APPLIES {
            let label = format!("round {}, apply {apply}", round + 1);
            if test.apply_and_check(&label, &proxy, &mut tally).await == Some(0) {
                break;
            }
        }
    }

    eprintln!("switching the faults off");
    proxy.set_rate(0.0);
    let mut converged = false;
    for apply in 1..=CLEAN_APPLIES {
        let label = format!("apply {apply} without faults");
        if test.apply_and_check(&label, &proxy, &mut tally).await == Some(0) {
            converged = true;
            break;
        }
    }
    let counts = proxy.counts();
    eprintln!(
        "verified {} actions; {} outcomes were not verified on the way; {counts}",
        tally.verified.len(),
        tally.not_verified
    );
    assert!(
        converged,
        "apply did not succeed within {CLEAN_APPLIES} runs after the faults stopped; {counts}"
    );
    assert!(counts.faults() > 0, "no fault was injected: {counts}");

    // An action that failed after its change took effect is not planned again, so it ends
    // failed with its record while the server is in the declared state, which the reads
    // below check. Every other action ended verified.
    for id in &tally.planned {
        let verdict = tally
            .last_verdict
            .get(id)
            .map(String::as_str)
            .unwrap_or("no record");
        assert!(
            verdict == "verified" || verdict == "failed" || verdict == "refuted",
            "`{id}` ended with `{verdict}`"
        );
    }
    assert!(
        tally.verified.len() <= 2 * ROUNDS * ACCOUNTS_PER_ROUND,
        "verified: {:?}",
        tally.verified
    );
    let records = test.ws.evidence().await;
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    for record in action_records(&records) {
        if record_verdict(record) == "verified" {
            let id = record["action"]["id"].as_str().unwrap_or("").to_string();
            *verdicts.entry(id).or_default() += 1;
        }
    }
    let repeated: Vec<_> = verdicts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(repeated.is_empty(), "verified more than once: {repeated:?}");

    // With the faults off, nothing is left to do, the log verifies, and every declared account
    // binds with its sink's password, has that one password only, and is in its group.
    test.ws.enact(&["plan"]).await.expect_code(0);
    test.ws.enact(&["evidence", "verify"]).await.expect_code(0);
    for uid in test.accounts.keys() {
        for kind in ["create_account", "grant"] {
            let action = serde_json::json!({ "account": uid, "kind": { "kind": kind } });
            if let Err(mismatch) = test.cross_check(&action).await {
                panic!("after the faults: {mismatch}");
            }
        }
        let dn = test.ldap.account_dn(uid);
        let entry = test
            .ldap
            .entry(&dn, &["userPassword"])
            .await
            .unwrap_or_else(|| panic!("`{dn}` does not exist"));
        assert_eq!(
            entry.get("userPassword").map(Vec::len),
            Some(1),
            "`{dn}` does not have exactly one password"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ldap_outage_during_verification_resumes() {
    let test = LdapFaultTest::new();
    let uid = test.ws.role("svc");
    let dn = test.ldap.account_dn(&uid);
    let readers = test.ldap.create_group(&test.ws.role("readers"), &[]).await;
    let writers_cn = test.ws.role("writers");
    let writers = test.ldap.create_group(&writers_cn, &[]).await;
    let direct = test.ldap.endpoint();
    test.write(&direct, "2s", &[test.identity("svc", &uid, &[&readers])]);
    test.ws.enact(&["apply"]).await.expect_code(0);

    // The executor sends its changes on one admin connection. The group's name first crosses
    // the wire in the grant's modify request, so once that has passed, every new connection,
    // such as the verifier's, is closed.
    let proxy = Proxy::start_cut_after(test.ldap.address(), &writers_cn).await;
    let granted = [test.identity("svc", &uid, &[&readers, &writers])];
    test.write(&format!("ldap://{}", proxy.address), "1s", &granted);
    let first = test.ws.enact(&["apply", "-o", "json"]).await;
    first.expect_code(4);
    let report = first.json();
    assert_eq!(
        report["results"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["results"][0]["action"]["kind"]["kind"], "grant");
    assert_eq!(report["results"][0]["status"], "indeterminate", "{report}");
    assert_eq!(report["counts"]["indeterminate"], 1);
    assert_eq!(report["counts"]["verified"], 0);
    let action_id = report["results"][0]["action"]["id"]
        .as_str()
        .expect("an action id")
        .to_string();
    // The grant itself went through before the outage.
    assert_eq!(test.ldap.members(&writers).await, vec![dn.clone()]);

    proxy.allow_all();
    let second = test.ws.enact(&["apply"]).await;
    second.expect_code(0);
    assert!(second.stdout.contains("Resumed 1 action(s)"), "{second}");
    let records = test.ws.evidence().await;
    let verdicts: Vec<String> = action_records(&records)
        .into_iter()
        .filter(|r| r["action"]["id"] == action_id.as_str())
        .map(record_verdict)
        .collect();
    assert_eq!(verdicts, vec!["indeterminate", "verified"]);
    test.ws.enact(&["evidence", "verify"]).await.expect_code(0);

    // Read straight from the server, the policy is in effect.
    test.write(&direct, "2s", &granted);
    test.ws.enact(&["plan"]).await.expect_code(0);
}
