//! Faults between enact and its targets: fault-injecting proxies in front of PostgreSQL,
//! OpenBao and Redis add latency, reset connections part-way and black-hole them. Every action
//! must end verified, or failed, refuted or indeterminate with an evidence record, or stay
//! open in the journal for the next apply. No verdict may be falsely verified, which a direct
//! read on each server checks, and no step may be tried more often than the executor's
//! attempt limit in one apply. Applies are repeated with faults a few times, then without
//! them until every action is verified.
//!
//! The file also holds the Redis case of a target that is down during verification (the
//! action is indeterminate, never verified, and the next apply verifies it), and a policy edit
//! that would disable or delete more identities than the blast-radius limit allows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::fault_proxy::{FaultCounts, FaultProxy};
use common::{
    account, action_records, credential, identity_with, record_verdict, secret_id_credential,
    BaoWorkspace, Proxy, RedisCleanup, RedisEnv,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The share of connections that get a fault.
const FAULT_RATE: f64 = 0.10;

/// Accounts per target; each needs a create and one grant, so 36 actions in all.
const ACCOUNTS: usize = 6;

/// The executor's attempt limit per step in one apply (`ExecuteOptions::max_attempts`).
const MAX_ATTEMPTS: i64 = 4;

/// How long a black hole holds a connection before the proxy closes it.
const BLACK_HOLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(6);

/// Applies run with faults on. Observation does not retry, so an apply whose observation
/// meets a fault stops. With OpenBao's many connections per apply, convergence under faults can
/// take more applies than a test should spend.
const FAULTY_APPLIES: usize = 5;

/// Applies allowed after the faults are switched off, before every action must be verified.
const CLEAN_APPLIES: usize = 3;

/// Every Redis user that is not the test's own is left alone.
const IGNORE_ALL: &str = "{ action: report, ignore: [\"*\"] }";

/// The declared accounts, by `(target, account)`, with the entitlement each is granted.
struct Fleet {
    pg_group: String,
    bao_policy: String,
    redis_rule: String,
    /// `(target, account)` to the sink name holding its credential.
    sinks: BTreeMap<(String, String), String>,
}

struct FaultTest {
    bw: BaoWorkspace,
    redis: RedisEnv,
    _redis_cleanup: RedisCleanup,
    fleet: Fleet,
}

impl FaultTest {
    async fn new() -> FaultTest {
        let redis = RedisEnv::shared();
        let mut bw = BaoWorkspace::new();
        bw.ws.use_redis(&redis);
        let redis_cleanup = redis.cleanup_on_drop(&bw.prefix);
        let pg_group = bw.role("readers");
        bw.create_role(&pg_group, "NOLOGIN").await;
        let fleet = Fleet {
            pg_group,
            bao_policy: bw.bao_name("read"),
            redis_rule: "+@read".to_string(),
            sinks: BTreeMap::new(),
        };
        FaultTest {
            bw,
            redis,
            _redis_cleanup: redis_cleanup,
            fleet,
        }
    }

    /// Writes the policy with each target's endpoint as given, and records the sinks.
    fn write_policy(&mut self, pg: &str, bao: &str, redis: &str) {
        let bw = &self.bw;
        let mut identities = Vec::new();
        for i in 0..ACCOUNTS {
            let pg_name = format!("p{i}");
            let pg_role = bw.role(&pg_name);
            identities.push(identity_with(
                &pg_name,
                "active",
                &[account(
                    "pg-main",
                    &pg_role,
                    &format!(
                        "entitlements:\n  - member_of: {}\n{}",
                        self.fleet.pg_group,
                        credential(&bw.sink(&pg_name), "90d")
                    ),
                )],
            ));
            self.fleet
                .sinks
                .insert(("pg-main".into(), pg_role), pg_name.clone());

            let bao_name = format!("a{i}");
            let app = bw.bao_name(&bao_name);
            identities.push(identity_with(
                &bao_name,
                "active",
                &[account(
                    "bao-main",
                    &app,
                    &format!(
                        "entitlements:\n  - policy: {}\n{}",
                        self.fleet.bao_policy,
                        secret_id_credential(&bw.secret_id_sink(&bao_name), "30d")
                    ),
                )],
            ));
            self.fleet
                .sinks
                .insert(("bao-main".into(), app), bao_name.clone());

            let redis_name = format!("r{i}");
            let user = bw.role(&redis_name);
            identities.push(identity_with(
                &redis_name,
                "active",
                &[account(
                    "cache",
                    &user,
                    &format!(
                        "entitlements:\n  - rule: \"{}\"\n{}",
                        self.fleet.redis_rule,
                        credential(&bw.sink(&redis_name), "30d")
                    ),
                )],
            ));
            self.fleet
                .sinks
                .insert(("cache".into(), user), redis_name.clone());
        }
        let redis_target = self
            .redis
            .target_yaml("cache", IGNORE_ALL)
            .replace(&self.redis.endpoint(), redis);
        let text = format!(
            "version: 1\n{}{}{}identities:\n{}",
            bw.target_yaml(pg, "2s", "{ action: report }"),
            BaoWorkspace::bao_target_yaml(&format!("http://{bao}"), "2s", IGNORE_ALL),
            redis_target,
            identities.concat()
        );
        bw.write_policy_text(&text);
    }

    /// Checks directly on the server, past the proxies, that what a verified action claims
    /// holds. Returns a description of the first mismatch.
    async fn cross_check(&self, action: &Value) -> Result<(), String> {
        let target = action["target"].as_str().unwrap_or("");
        let name = action["account"].as_str().unwrap_or("").to_string();
        let kind = action["kind"]["kind"].as_str().unwrap_or("");
        let sink = self
            .fleet
            .sinks
            .get(&(target.to_string(), name.clone()))
            .ok_or_else(|| format!("`{target}/{name}` is not declared"))?;
        let bw = &self.bw;
        match (target, kind) {
            ("pg-main", "create_account") => {
                let password = bw.sink_value(sink);
                bw.pg
                    .client_as(&name, &password)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("`{name}` cannot log in with its sink's password: {e}"))
            }
            ("pg-main", "grant") => {
                let groups = bw.memberships(&name).await;
                if groups.contains(&self.fleet.pg_group) {
                    Ok(())
                } else {
                    Err(format!("`{name}` is a member of {groups:?} only"))
                }
            }
            ("bao-main", "create_account") => {
                let secret_id = bw.secret_id_value(sink);
                let (status, body) = bw.try_login(&name, &secret_id).await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!(
                        "login to `{name}` with its sink's secret ID: {status} {body}"
                    ))
                }
            }
            ("bao-main", "grant") => {
                let policies = bw.bao.role_policies(&name).await;
                if policies.contains(&self.fleet.bao_policy) {
                    Ok(())
                } else {
                    Err(format!("`{name}` has the policies {policies:?} only"))
                }
            }
            ("cache", "create_account") => {
                let password = bw.sink_value(sink);
                self.redis
                    .auth(&name, &password)
                    .await
                    .map_err(|e| format!("AUTH as `{name}` with its sink's password: {e}"))
            }
            ("cache", "grant") => {
                let user = self
                    .redis
                    .user(&name)
                    .await
                    .ok_or_else(|| format!("`{name}` does not exist"))?;
                if user.rule_tokens().contains(&self.fleet.redis_rule) {
                    Ok(())
                } else {
                    Err(format!("`{name}` has the rules {:?}", user.rule_tokens()))
                }
            }
            _ => Err(format!("unexpected action `{kind}` on `{target}/{name}`")),
        }
    }

    /// Counts the journal's step attempts per `(run, action, step)`.
    fn step_attempts(&self) -> BTreeMap<(String, String, String), i64> {
        let path = self.bw.state_dir().join("state.db");
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

/// Lists every fault counted at the three proxies, for a failure message.
fn fault_summary(proxies: &[&FaultProxy]) -> String {
    proxies
        .iter()
        .zip(["postgres", "openbao", "redis"])
        .map(|(proxy, name)| format!("{name}: {}", proxy.counts()))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_never_give_false_verified() {
    let mut test = FaultTest::new().await;
    // Fixed seeds make a failure repeatable; `ENACT_FAULT_SEED` tries others.
    let seed: u64 = std::env::var("ENACT_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    eprintln!("fault seed: {seed}");
    let pg_proxy = FaultProxy::start("postgres", test.bw.pg.address(), seed, FAULT_RATE).await;
    let bao_proxy = FaultProxy::start(
        "openbao",
        test.bw.bao.socket_address(),
        seed + 1,
        FAULT_RATE,
    )
    .await;
    let redis_proxy = FaultProxy::start("redis", test.redis.address(), seed + 2, FAULT_RATE).await;
    test.write_policy(
        &pg_proxy.address.to_string(),
        &bao_proxy.address.to_string(),
        &redis_proxy.address.to_string(),
    );
    let proxies = [&pg_proxy, &bao_proxy, &redis_proxy];
    // PostgreSQL and Redis connections time out after 5 s, while an OpenBao request waits 30 s.
    // Closing black holes after 6 s keeps the test short and still outlasts the 5 s timeouts.
    for proxy in proxies {
        proxy.set_black_hole_limit(BLACK_HOLE_LIMIT);
    }

    let mut verified: BTreeSet<String> = BTreeSet::new();
    // Every action id any apply reported, and the verdict of each action's last record.
    let mut planned: BTreeSet<String> = BTreeSet::new();
    let mut last_verdict: BTreeMap<String, String> = BTreeMap::new();
    let mut checked_records = 0usize;
    let mut converged = false;
    let mut not_verified = 0usize;
    let mut faulty_applies = 0;
    for apply in 1..=FAULTY_APPLIES + CLEAN_APPLIES {
        if apply == FAULTY_APPLIES + 1 {
            eprintln!("switching the faults off");
            for proxy in proxies {
                proxy.set_rate(0.0);
            }
        }
        if apply <= FAULTY_APPLIES {
            faulty_applies = apply;
        }
        let attempts_before = test.step_attempts();
        let outcome = test.bw.enact(&["apply", "-o", "json"]).await;
        eprintln!(
            "apply {apply}: exit {:?}; {}",
            outcome.code,
            fault_summary(&proxies)
        );

        // No step was tried more often than the attempt limit in this apply.
        for (key, count) in test.step_attempts() {
            let new = count - attempts_before.get(&key).copied().unwrap_or(0);
            assert!(
                new <= MAX_ATTEMPTS,
                "apply {apply}: step {key:?} was tried {new} times\n{outcome}"
            );
        }

        // Every action record written by this apply, verified or not, has steps within the
        // attempt limit, and each verified one holds on the server. An apply that stops at
        // its observation may have resumed and recorded actions first.
        let records = test.bw.evidence().await;
        let actions = action_records(&records);
        for record in &actions[checked_records..] {
            for step in record["steps"].as_array().into_iter().flatten() {
                let attempts = step["attempts"].as_i64().unwrap_or(0);
                assert!(
                    attempts <= MAX_ATTEMPTS,
                    "step tried {attempts} times: {record}"
                );
            }
            if record_verdict(record) == "verified" {
                if let Err(mismatch) = test.cross_check(&record["action"]).await {
                    panic!("apply {apply}: falsely verified: {mismatch}\n{record}");
                }
            }
        }
        checked_records = actions.len();
        for record in &actions {
            let id = record["action"]["id"].as_str().unwrap_or("").to_string();
            last_verdict.insert(id, record_verdict(record));
        }

        // An apply whose observation met a fault stops before any new action and prints why.
        let Ok(report) = serde_json::from_str::<Value>(&outcome.stdout) else {
            eprintln!("  stopped: {}", outcome.stderr.trim());
            assert_ne!(outcome.code, Some(0), "{outcome}");
            assert!(
                !outcome.stderr.trim().is_empty(),
                "no error given\n{outcome}"
            );
            continue;
        };
        let by_seq: BTreeMap<u64, &Value> = records
            .iter()
            .filter_map(|r| r["seq"].as_u64().map(|seq| (seq, r)))
            .collect();

        let results: Vec<&Value> = report["resumed"]
            .as_array()
            .into_iter()
            .chain(report["results"].as_array())
            .flatten()
            .collect();
        for result in &results {
            let id = result["action"]["id"].as_str().unwrap_or("").to_string();
            let status = result["status"].as_str().unwrap_or("");
            planned.insert(id.clone());
            let record = result["evidence_seq"].as_u64().and_then(|s| by_seq.get(&s));
            match status {
                "verified" => {
                    let record = record.unwrap_or_else(|| {
                        panic!("apply {apply}: verified `{id}` has no evidence record\n{result}")
                    });
                    assert_eq!(record_verdict(record), "verified", "{record}");
                    eprintln!(
                        "  verified {}/{} {}",
                        result["action"]["target"].as_str().unwrap_or(""),
                        result["action"]["account"].as_str().unwrap_or(""),
                        result["action"]["kind"]["kind"].as_str().unwrap_or("")
                    );
                    assert!(
                        verified.insert(id.clone()),
                        "apply {apply}: `{id}` was verified twice"
                    );
                }
                "failed" | "refuted" | "indeterminate" => {
                    not_verified += 1;
                    let reason = result["reason"].as_str().unwrap_or("");
                    eprintln!(
                        "  {status} {}/{} {}: {reason}",
                        result["action"]["target"].as_str().unwrap_or(""),
                        result["action"]["account"].as_str().unwrap_or(""),
                        result["action"]["kind"]["kind"].as_str().unwrap_or("")
                    );
                    // A transient failure keeps the action open for the next apply instead of
                    // closing it with a record; every other outcome has its record.
                    let resumable =
                        status == "failed" && reason.contains("the next apply resumes it");
                    assert!(
                        record.is_some() || resumable,
                        "apply {apply}: `{id}` ended {status} without evidence\n{result}"
                    );
                    if let Some(record) = record {
                        assert_eq!(record_verdict(record), status, "{record}");
                    }
                }
                other => panic!("apply {apply}: `{id}` ended `{other}`\n{result}"),
            }
        }

        if outcome.code == Some(0) {
            converged = true;
            break;
        }
    }
    eprintln!(
        "verified {} actions after {faulty_applies} applies with faults; {not_verified} outcomes were not verified on the way; {}",
        verified.len(),
        fault_summary(&proxies)
    );
    assert!(
        converged,
        "apply did not succeed within {CLEAN_APPLIES} runs after the faults stopped; {}",
        fault_summary(&proxies)
    );
    // An action that failed after its change took effect is not planned again, so it ends
    // failed with its record while the server holds the declared state, which the reads
    // below check. Every other action ended verified.
    for id in &planned {
        let verdict = last_verdict
            .get(id)
            .map(String::as_str)
            .unwrap_or("no record");
        assert!(
            verdict == "verified" || verdict == "failed" || verdict == "refuted",
            "`{id}` ended with `{verdict}`"
        );
    }
    assert!(
        verified.len() <= 6 * ACCOUNTS,
        "verified actions: {verified:?}"
    );
    let records = test.bw.evidence().await;
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    for record in action_records(&records) {
        if record_verdict(record) == "verified" {
            let id = record["action"]["id"].as_str().unwrap_or("").to_string();
            *verdicts.entry(id).or_default() += 1;
        }
    }
    let repeated: Vec<_> = verdicts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(repeated.is_empty(), "verified more than once: {repeated:?}");
    let total: FaultCounts = proxies.iter().fold(FaultCounts::default(), |sum, p| {
        let c = p.counts();
        FaultCounts {
            connections: sum.connections + c.connections,
            latency: sum.latency + c.latency,
            resets: sum.resets + c.resets,
            black_holes: sum.black_holes + c.black_holes,
        }
    });
    assert!(total.faults() > 0, "no fault was injected: {total}");

    // With the faults off, nothing is left to do, the log verifies, and every declared account
    // holds on its server.
    for proxy in proxies {
        proxy.set_rate(0.0);
    }
    test.bw.enact(&["plan"]).await.expect_code(0);
    test.bw.enact(&["evidence", "verify"]).await.expect_code(0);
    for ((target, name), _) in test.fleet.sinks.clone() {
        for kind in ["create_account", "grant"] {
            let action = serde_json::json!({
                "target": target, "account": name, "kind": { "kind": kind },
            });
            if let Err(mismatch) = test.cross_check(&action).await {
                panic!("after the faults: {mismatch}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_outage_during_verification_resumes() {
    let redis = RedisEnv::shared();
    let mut bw = BaoWorkspace::new();
    bw.ws.use_redis(&redis);
    let _cleanup = redis.cleanup_on_drop(&bw.prefix);
    let user = bw.role("svc");
    let keys = format!("~{}:*", bw.prefix);
    let write = |endpoint: &str, rules: &[&str]| {
        let mut body = String::new();
        if !rules.is_empty() {
            body.push_str("entitlements:\n");
            for rule in rules {
                body.push_str(&format!("  - rule: \"{rule}\"\n"));
            }
        }
        body.push_str(&credential(&bw.sink("svc"), "30d"));
        let target = redis
            .target_yaml("cache", IGNORE_ALL)
            .replace(&redis.endpoint(), endpoint)
            .replace("verify_window: 2s", "verify_window: 1s");
        bw.write_policy_with_targets(
            &[target],
            &[identity_with(
                "svc",
                "active",
                &[account("cache", &user, &body)],
            )],
        );
    };
    write(&redis.endpoint(), &[]);
    bw.enact(&["apply"]).await.expect_code(0);

    // Once the grant's `ACL SETUSER` has passed on the executor's connection, every new
    // connection, such as the verifier's, is closed.
    let proxy = Proxy::start_cut_after(redis.address(), "SETUSER").await;
    write(&proxy.address.to_string(), &[&keys]);
    let first = bw.enact(&["apply", "-o", "json"]).await;
    first.expect_code(4);
    let report = first.json();
    assert_eq!(
        report["results"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["results"][0]["action"]["kind"]["kind"], "grant");
    assert_eq!(report["results"][0]["status"], "indeterminate", "{report}");
    assert_eq!(report["counts"]["verified"], 0);
    let action_id = report["results"][0]["action"]["id"]
        .as_str()
        .expect("an action id")
        .to_string();
    // The grant itself went through before the outage.
    let granted = redis.user(&user).await.expect("the user exists");
    assert!(granted.rule_tokens().contains(&keys), "{granted:?}");

    proxy.allow_all();
    let second = bw.enact(&["apply"]).await;
    second.expect_code(0);
    assert!(second.stdout.contains("Resumed 1 action(s)"), "{second}");
    let records = bw.evidence().await;
    let verdicts: Vec<String> = action_records(&records)
        .into_iter()
        .filter(|r| r["action"]["id"] == action_id.as_str())
        .map(record_verdict)
        .collect();
    assert_eq!(verdicts, vec!["indeterminate", "verified"]);
    bw.enact(&["evidence", "verify"]).await.expect_code(0);

    write(&redis.endpoint(), &[&keys]);
    bw.enact(&["plan"]).await.expect_code(0);
}

/// Bad input of another kind: a policy edit that would disable or delete more identities than
/// `limits.max_destructive` allows is refused before any change, and the limit given on the
/// command line lets it through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destructive_policy_edit_is_refused() {
    let ws = common::Workspace::new();
    let names = ["b0", "b1", "b2", "b3"];
    let write = |states: [&str; 4]| {
        let identities: Vec<String> = names
            .iter()
            .zip(states)
            .map(|(name, state)| {
                common::identity(
                    name,
                    state,
                    &ws.role(name),
                    &credential(&ws.sink(name), "90d"),
                )
            })
            .collect();
        ws.write_policy_text(&format!(
            "version: 1\nlimits:\n  max_destructive: 2\n{}identities:\n{}",
            ws.target_yaml(&ws.pg.endpoint(), "2s", "{ action: report }"),
            identities.concat()
        ));
    };
    write(["active"; 4]);
    ws.enact(&["apply"]).await.expect_code(0);
    let records_before = ws.evidence().await.len();

    // Three identities disabled, then three decommissioned: both edits exceed the limit of 2.
    for (states, what) in [
        (["disabled", "disabled", "disabled", "active"], "disable"),
        (
            [
                "decommissioned",
                "decommissioned",
                "decommissioned",
                "active",
            ],
            "delete",
        ),
    ] {
        write(states);
        let refused = ws.enact(&["apply"]).await;
        refused.expect_code(1);
        assert!(refused.stderr.contains("refused"), "{what}: {refused}");
        assert!(
            refused.stderr.contains("3 destructive action"),
            "{what}: {refused}"
        );
        for name in names {
            let role = ws.role(name);
            assert_eq!(
                ws.role_login(&role).await,
                Some(true),
                "{what}: a refused edit changed `{role}`"
            );
            let password = ws.sink_value(name);
            assert!(
                ws.pg.client_as(&role, &password).await.is_ok(),
                "{what}: `{role}` can no longer log in"
            );
        }
        assert_eq!(
            ws.evidence().await.len(),
            records_before,
            "{what}: a refused edit wrote evidence"
        );
    }

    // The limit raised on the command line lets the disabling through.
    write(["disabled", "disabled", "disabled", "active"]);
    ws.enact(&["apply", "--max-destructive", "3"])
        .await
        .expect_code(0);
    for name in &names[..3] {
        assert_eq!(ws.role_login(&ws.role(name)).await, Some(false), "`{name}`");
    }
    assert_eq!(ws.role_login(&ws.role("b3")).await, Some(true));
}
