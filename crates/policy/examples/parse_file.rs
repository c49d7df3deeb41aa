//! Parses one policy file and prints how long it took and the process's peak resident memory.
//!
//! ```sh
//! cargo run --release -p enact-policy --example parse_file -- enact.yaml
//! ```
//!
//! It measures the parser alone, without the CLI's other work, and reads a `rules` section in a
//! second pass as the CLI does. The peak is the kernel's
//! `VmHWM` from `/proc/self/status`, so it is printed on Linux only.

use enact_policy::{parse_policy, parse_rules, ParseOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: parse_file POLICY");
        return ExitCode::from(2);
    };
    let source = match std::fs::read_to_string(&path) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("failed to read `{}`: {error}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let options = ParseOptions {
        origin: path.clone(),
        base_dir: path.parent().map(PathBuf::from).unwrap_or_default(),
        known_kinds: ["postgres", "redis", "ldap", "openbao"]
            .iter()
            .map(|kind| (*kind).to_owned())
            .collect(),
    };

    let started = Instant::now();
    let parsed = parse_policy(&source, &options);
    let elapsed = started.elapsed();
    match &parsed {
        Ok(policy) => println!(
            "parsed {} identities and {} targets in {:.3} s",
            policy.identities.len(),
            policy.targets.len(),
            elapsed.as_secs_f64()
        ),
        Err(errors) => println!(
            "found {} problems in {:.3} s",
            errors.len(),
            elapsed.as_secs_f64()
        ),
    }
    // As in the CLI, the rules are read in a second pass when the policy has a `rules` section.
    if source.lines().any(|line| line.starts_with("rules:")) {
        let started = Instant::now();
        match parse_rules(&source, &options) {
            Ok(rules) => println!(
                "parsed {} rules in {:.3} s",
                rules.len(),
                started.elapsed().as_secs_f64()
            ),
            Err(errors) => println!("found {} problems in the rules", errors.len()),
        }
    }
    println!("source: {:.1} MB", source.len() as f64 / 1e6);
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS: {:.1} MB", kib as f64 / 1024.0),
        None => println!("peak RSS: unknown (no /proc/self/status)"),
    }
    ExitCode::SUCCESS
}

/// Reads the peak resident set size in KiB (`VmHWM`) from `/proc/self/status`.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
