//! `enact evidence verify` and `enact evidence export`.

use crate::args::{EvidenceExportArgs, EvidenceVerifyArgs, ExportFormat, GlobalArgs};
use crate::commands::exit;
use anyhow::{Context as _, Result};
use enact_evidence::read_verifying_key;
use std::io::Write;

/// Runs `enact evidence verify`. Works offline, from the files and the public key alone.
pub fn verify(global: &GlobalArgs, args: &EvidenceVerifyArgs) -> Result<u8> {
    let key_path = args
        .public_key
        .clone()
        .unwrap_or_else(|| global.state_dir.join("keys").join("evidence.pub"));
    if !key_path.exists() {
        anyhow::bail!(
            "public key file `{}` not found; pass `--public-key FILE`, or `--state-dir DIR` for the installation whose evidence you verify",
            key_path.display()
        );
    }
    let key = read_verifying_key(&key_path)?;
    let log = global.state_dir.join("evidence").join("log.jsonl");
    if !log.exists() {
        outln!(
            "no evidence recorded yet: `{}` does not exist (0 records)",
            log.display()
        );
        return Ok(exit::OK);
    }
    match enact_evidence::verify(&global.state_dir, &key) {
        Ok(report) => {
            outln!(
                "evidence log intact: {} record(s), {} signed checkpoint(s), signed through record {}{}",
                report.records,
                report.checkpoints,
                report.signed_through,
                report
                    .last_signed_at
                    .map(|at| format!(", last signed at {at}"))
                    .unwrap_or_default()
            );
            for warning in report.warnings() {
                outln!("warning: {warning}");
            }
            Ok(exit::OK)
        }
        Err(error) => {
            outln!("evidence log is NOT intact: {error}");
            Ok(exit::NOT_VERIFIED)
        }
    }
}

/// Runs `enact evidence export`.
pub fn export(global: &GlobalArgs, args: &EvidenceExportArgs) -> Result<u8> {
    match args.format {
        ExportFormat::Jsonl => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            enact_evidence::export_jsonl(&global.state_dir, &mut lock)?;
            lock.flush().context("failed to write to standard output")?;
        }
    }
    Ok(exit::OK)
}
