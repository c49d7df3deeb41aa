//! `enact evidence verify`, `enact evidence export` and `enact evidence prove`.

use crate::args::{
    EvidenceExportArgs, EvidenceProveArgs, EvidenceVerifyArgs, ExportFormat, GlobalArgs,
};
use crate::commands::exit;
use anyhow::{Context as _, Result};
use enact_evidence::{
    read_verifying_key, Checkpoint, ConsistencyProof, InclusionProof, ProofError, VerifyingKey,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Returns the public key path: `--public-key`, or the state directory's `keys/evidence.pub`.
fn key_path(global: &GlobalArgs, args: &EvidenceVerifyArgs) -> Result<PathBuf> {
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
    Ok(key_path)
}

/// Runs `enact evidence verify`. Works offline, from the files and the public key alone.
pub fn verify(global: &GlobalArgs, args: &EvidenceVerifyArgs) -> Result<u8> {
    let key = read_verifying_key(&key_path(global, args)?)?;
    if let Some(proof) = &args.proof {
        return verify_proof_file(proof, &key);
    }
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
            outln!(
                "merkle tree: root {} over {} record(s); {} signed tree head(s), {} chain-only checkpoint(s) (format v1)",
                report.tree_root,
                report.records,
                report.tree_heads,
                report.chain_only_checkpoints
            );
            for warning in report.warnings() {
                outln!("warning: {warning}");
            }
        }
        Err(error) => {
            outln!("evidence log is NOT intact: {error}");
            return Ok(exit::NOT_VERIFIED);
        }
    }

    let Some(since) = &args.since else {
        return Ok(exit::OK);
    };
    let old = read_checkpoint_argument(since)?;
    let proof = match enact_evidence::prove_consistency(&global.state_dir, &old) {
        Ok(proof) => proof,
        Err(error @ ProofError::Evidence(_)) => return Err(error.into()),
        Err(error) => {
            outln!("consistency NOT proven: {error}");
            return Ok(exit::NOT_VERIFIED);
        }
    };
    match proof.verify(&key) {
        Ok(()) => {
            outln!(
                "consistent: the log signed at record {} extends the checkpoint at record {}",
                proof.new.seq,
                proof.old.seq
            );
            outln!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(exit::OK)
        }
        Err(error) => {
            outln!(
                "consistency NOT proven from record {} to record {}: {error}",
                proof.old.seq,
                proof.new.seq
            );
            Ok(exit::NOT_VERIFIED)
        }
    }
}

/// Reads the `--since` argument: a file holding checkpoint lines (the last one is used), or
/// one checkpoint line itself.
fn read_checkpoint_argument(since: &str) -> Result<Checkpoint> {
    let path = Path::new(since);
    let text = if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read checkpoint file `{}`", path.display()))?;
        text.lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default()
            .to_string()
    } else {
        since.to_string()
    };
    Checkpoint::from_json(&text).map_err(|reason| {
        anyhow::anyhow!(
            "`--since` is not a checkpoint ({reason}); pass a file holding a line of `checkpoints.jsonl`, or the line itself"
        )
    })
}

/// Checks a proof file offline: an inclusion or a consistency proof, told apart by `format`.
fn verify_proof_file(path: &Path, key: &VerifyingKey) -> Result<u8> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read proof file `{}`", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("proof file `{}` is not JSON", path.display()))?;
    let format = value
        .get("format")
        .and_then(|format| format.as_str())
        .unwrap_or_default()
        .to_string();
    let result = match format.as_str() {
        enact_evidence::proof::INCLUSION_FORMAT => {
            let proof: InclusionProof = serde_json::from_str(&text)
                .with_context(|| format!("proof file `{}` is malformed", path.display()))?;
            proof.verify(key).map(|()| {
                format!(
                    "inclusion proven: record {} is in the log of {} record(s) signed at {}",
                    proof.seq, proof.tree_size, proof.checkpoint.signed_at
                )
            })
        }
        enact_evidence::proof::CONSISTENCY_FORMAT => {
            let proof: ConsistencyProof = serde_json::from_str(&text)
                .with_context(|| format!("proof file `{}` is malformed", path.display()))?;
            proof.verify(key).map(|()| {
                format!(
                    "consistent: the log signed at record {} extends the checkpoint at record {}",
                    proof.new.seq, proof.old.seq
                )
            })
        }
        other => anyhow::bail!(
            "proof file `{}` has format `{other}`; expected `{}` or `{}`",
            path.display(),
            enact_evidence::proof::INCLUSION_FORMAT,
            enact_evidence::proof::CONSISTENCY_FORMAT
        ),
    };
    match result {
        Ok(line) => {
            outln!("{line}");
            Ok(exit::OK)
        }
        Err(error) => {
            outln!("proof NOT valid: {error}");
            Ok(exit::NOT_VERIFIED)
        }
    }
}

/// Runs `enact evidence prove`: prints the inclusion proof of one record as JSON.
pub fn prove(global: &GlobalArgs, args: &EvidenceProveArgs) -> Result<u8> {
    let seq = match (&args.action_id, args.seq) {
        (_, Some(seq)) => seq,
        (Some(action_id), None) => {
            let records = enact_evidence::find_action_records(&global.state_dir, action_id)?;
            let Some(seq) = records.last() else {
                anyhow::bail!(
                    "no evidence record for action `{action_id}`; `enact evidence export` lists the recorded actions"
                );
            };
            *seq
        }
        (None, None) => anyhow::bail!("pass an action id or `--seq N`"),
    };
    let proof = enact_evidence::prove_inclusion(&global.state_dir, seq)?;
    outln!("{}", serde_json::to_string_pretty(&proof)?);
    Ok(exit::OK)
}

/// Runs `enact evidence export`. A reader that stops early, such as `head`, ends the export
/// quietly, as it ends any other command-line tool's output.
pub fn export(global: &GlobalArgs, args: &EvidenceExportArgs) -> Result<u8> {
    match write_export(global, args) {
        Err(error) if reader_went_away(&error) => Ok(exit::OK),
        other => other,
    }
}

fn write_export(global: &GlobalArgs, args: &EvidenceExportArgs) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match args.format {
        ExportFormat::Jsonl => {
            enact_evidence::export_jsonl(&global.state_dir, &mut lock)?;
        }
        ExportFormat::Ocsf => {
            let entries = enact_report::load(&global.state_dir)?;
            enact_report::export_ocsf(&entries, &mut lock)
                .context("failed to write to standard output")?;
        }
    }
    lock.flush().context("failed to write to standard output")?;
    Ok(exit::OK)
}

/// Whether `error` comes from writing to a pipe whose reader closed it.
fn reader_went_away(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.to_string().contains("Broken pipe")
    })
}
