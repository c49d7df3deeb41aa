//! Measures the evidence log: appending with durable group commit, verifying, and inclusion
//! proofs. It is a benchmark, not a test; `bench/evidence.sh` runs it in release mode.
//!
//!     evidence_bench DIR [RECORDS] [GROUP]
//!
//! It writes RECORDS records (default 1,000,000) of about 660 bytes a line to a new log in DIR,
//! committing every GROUP records (default 1,000): each commit writes the buffered records,
//! fsyncs the log, signs a tree head and fsyncs the checkpoint file. Then it verifies the
//! whole log and times inclusion proofs at the full size. If DIR already holds a log that
//! this benchmark wrote, it skips the append and measures verify and proofs on that log.

use ed25519_dalek::SigningKey;
use enact_evidence::{audit_path, prove_inclusion, verify, EvidenceLog, VerifyingKey};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A body shaped like an action record: nested objects, strings, a list and numbers.
#[derive(Serialize)]
struct Body<'a> {
    r#type: &'a str,
    run_id: &'a str,
    action: Action<'a>,
    steps: [Step<'a>; 2],
    outcome: &'a str,
    recorded_at: i64,
}

#[derive(Serialize)]
struct Action<'a> {
    id: String,
    target: &'a str,
    identity: String,
    account: String,
    kind: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Step<'a> {
    name: &'a str,
    started_at: i64,
    ended_at: i64,
    attempts: u32,
    result: &'a str,
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Returns the CPU time this process has used, all threads, user and system, from
/// `/proc/self/stat`; zero where that file cannot be read. On a machine shared with other
/// work, CPU time shows what a phase costs apart from waiting for the disk or for a core.
fn cpu_time() -> Duration {
    // Linux counts these fields in clock ticks of 1/100 s on every common configuration
    // (`getconf CLK_TCK`).
    const TICKS_PER_SECOND: u64 = 100;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name in field 2 may contain spaces, so count fields after its `)`.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 1000 / TICKS_PER_SECOND)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: evidence_bench DIR [RECORDS] [GROUP]");
        return ExitCode::from(64);
    };
    let records: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let group: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000);
    match run(&dir, records.max(1), group.max(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn body(n: u64) -> Body<'static> {
    let at = 1_796_428_800_000_000 + n as i64 * 1_000;
    Body {
        r#type: "action",
        run_id: "run-bench",
        action: Action {
            id: format!("act-{n:016x}"),
            target: "pg-main",
            identity: format!("service-{}", n % 5_000),
            account: format!("svc_{}", n % 5_000),
            kind: "rotate_credential",
            reason: "credential older than max_age 90d",
        },
        steps: [
            Step {
                name: "stage",
                started_at: at,
                ended_at: at + 300,
                attempts: 1,
                result: "ok",
            },
            Step {
                name: "set-password",
                started_at: at + 300,
                ended_at: at + 900,
                attempts: 1,
                result: "ok",
            },
        ],
        outcome: "verified",
        recorded_at: at + 1_000,
    }
}

fn run(dir: &Path, records: u64, group: u64) -> Result<(), Box<dyn std::error::Error>> {
    let key = SigningKey::from_bytes(&[7; 32]);
    let verifying = key.verifying_key();
    if dir.join("evidence").exists() {
        // A log this benchmark wrote before: measure reading it again, without appending.
        println!("append: skipped, `{}` already holds a log", dir.display());
        // Opening the log completes its derived files, such as those of an older version.
        drop(EvidenceLog::open(dir, key)?);
        let records = verify(dir, &verifying)?.records;
        return measure_reads(dir, &verifying, records);
    }
    let mut log = EvidenceLog::open(dir, key)?;

    let started = Instant::now();
    let cpu_started = cpu_time();
    let mut commits = 0u64;
    for n in 1..=records {
        log.append(&body(n))?;
        if n % group == 0 || n == records {
            log.commit()?;
            commits += 1;
        }
    }
    let append = started.elapsed();
    let append_cpu = cpu_time().saturating_sub(cpu_started);
    drop(log);
    let log_bytes = std::fs::metadata(dir.join("evidence/log.jsonl"))?.len();
    println!(
        "append: {records} records in {:.2} s = {:.0} records/s ({commits} group commits of {group}, each fsync + signed tree head); CPU {:.2} s; log {:.1} MB",
        append.as_secs_f64(),
        per_second(records, append),
        append_cpu.as_secs_f64(),
        log_bytes as f64 / 1e6
    );

    measure_reads(dir, &verifying, records)
}

/// Measures verify and inclusion proofs on the log of `records` records in `dir`.
fn measure_reads(
    dir: &Path,
    verifying: &VerifyingKey,
    records: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let cpu_started = cpu_time();
    let report = verify(dir, verifying)?;
    let verify_time = started.elapsed();
    let verify_cpu = cpu_time().saturating_sub(cpu_started);
    println!(
        "verify: {} records in {:.2} s = {:.0} records/s (chain, canonical bodies, Merkle root, {} signatures); CPU {:.2} s on {} threads",
        report.records,
        verify_time.as_secs_f64(),
        per_second(report.records, verify_time),
        report.checkpoints,
        verify_cpu.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    // The audit path from the stored tree, for leaves spread over the log.
    let samples = 1_000u64;
    let started = Instant::now();
    let mut hashes = 0usize;
    for i in 0..samples {
        let seq = 1 + (i * 7_919 * 104_729) % records;
        hashes += audit_path(dir, seq, records)?.len();
    }
    let path_time = started.elapsed();
    println!(
        "inclusion proof (audit path from tree.bin, file opened each time): {:.1} µs mean over {samples} leaves at {records} records, {} hashes each",
        path_time.as_secs_f64() * 1e6 / samples as f64,
        hashes / samples as usize
    );

    // The whole command: find the signed tree head, read the record, build and check the proof.
    // The first call opens the files cold; the mean of later ones is the steady cost.
    let started = Instant::now();
    let proof = prove_inclusion(dir, records.div_ceil(2))?;
    let full = started.elapsed();
    let started = Instant::now();
    for i in 0..samples {
        let seq = 1 + (i * 7_919 * 104_729) % records;
        prove_inclusion(dir, seq)?;
    }
    let full_mean = started.elapsed();
    proof.verify(verifying)?;
    println!(
        "prove_inclusion of record {} (reads the last checkpoint, the record through offsets.bin, the path from tree.bin, and checks the proof): {:.3} ms",
        records.div_ceil(2),
        full.as_secs_f64() * 1e3
    );
    println!(
        "prove_inclusion: {:.1} µs mean over {samples} leaves at {records} records",
        full_mean.as_secs_f64() * 1e6 / samples as f64
    );
    let started = Instant::now();
    for _ in 0..samples {
        proof.verify(verifying)?;
    }
    println!(
        "offline check of one inclusion proof (signature + path): {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6 / samples as f64
    );
    Ok(())
}
