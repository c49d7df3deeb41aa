//! A small valid evidence log that the targets damage, built once per process, and the
//! damage itself: byte edits that the fuzzer's input describes.

#![allow(dead_code, reason = "each target uses some of the helpers")]

use ed25519_dalek::{SigningKey, VerifyingKey};
use enact_evidence::EvidenceLog;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The sample log: its state directory, its files' bytes, the chain hash after each record
/// (index 0 is the empty log) and the key its checkpoints verify under.
pub struct Sample {
    pub state_dir: PathBuf,
    pub log: Vec<u8>,
    pub checkpoints: Vec<u8>,
    pub hashes: Vec<String>,
    pub key: VerifyingKey,
}

/// Returns the signing key every target uses.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// Returns a directory of this process for the targets' files.
pub fn work_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("enact-evidence-fuzz-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the work directory");
    dir
}

/// Builds the sample once: six records in two commits, so that it has two checkpoints.
pub fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let state_dir = work_dir("sample");
        let _ = std::fs::remove_dir_all(state_dir.join("evidence"));
        let mut log = EvidenceLog::open(&state_dir, signing_key()).expect("open the sample log");
        for batch in 0..2 {
            for n in 0..3 {
                let body = serde_json::json!({
                    "type": "action",
                    "batch": batch,
                    "n": n,
                    "note": "ünïcode ✓",
                });
                log.append(&body).expect("append a record");
            }
            log.commit().expect("commit");
        }
        drop(log);
        let evidence = state_dir.join("evidence");
        let log = std::fs::read(evidence.join("log.jsonl")).expect("read the log");
        let checkpoints =
            std::fs::read(evidence.join("checkpoints.jsonl")).expect("read the checkpoints");
        let mut hashes = vec!["0".repeat(64)];
        for line in log.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let value: serde_json::Value = serde_json::from_slice(line).expect("a JSON line");
            hashes.push(value["hash"].as_str().expect("a hash").to_string());
        }
        Sample {
            state_dir,
            log,
            checkpoints,
            hashes,
            key: signing_key().verifying_key(),
        }
    })
}

/// Applies up to eight byte edits that `input` describes to `bytes`: overwrite, delete or
/// insert one byte, or cut the rest.
pub fn damage(bytes: &mut Vec<u8>, input: &mut Unstructured<'_>) -> Result<()> {
    let edits = input.int_in_range(1..=8u8)?;
    for _ in 0..edits {
        if bytes.is_empty() {
            break;
        }
        let at = input.choose_index(bytes.len())?;
        match input.int_in_range(0..=3u8)? {
            0 => bytes[at] = input.arbitrary()?,
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, input.arbitrary()?),
            _ => bytes.truncate(at),
        }
    }
    Ok(())
}

/// Writes `log` and `checkpoints` as the evidence files of the state directory `dir`, which
/// holds nothing else.
pub fn write_state(dir: &Path, log: &[u8], checkpoints: Option<&[u8]>) {
    let evidence = dir.join("evidence");
    let _ = std::fs::remove_dir_all(&evidence);
    std::fs::create_dir_all(&evidence).expect("create the evidence directory");
    std::fs::write(evidence.join("log.jsonl"), log).expect("write the log");
    if let Some(checkpoints) = checkpoints {
        std::fs::write(evidence.join("checkpoints.jsonl"), checkpoints)
            .expect("write the checkpoints");
    }
}
