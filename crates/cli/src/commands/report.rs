//! `enact report`: the evidence per framework control, and the HTML audit report.

use crate::args::{FrameworkArg, GlobalArgs, OutputFormat, ReportArgs};
use crate::commands::exit;
use anyhow::{Context as _, Result};
use enact_report::{framework_report, render_html, Framework, ReportContext};

/// Runs `enact report`. It reads the log without changing it; the HTML report includes the
/// result of verifying the log when the public key is at hand.
pub fn run(global: &GlobalArgs, args: &ReportArgs) -> Result<u8> {
    let entries = enact_report::load(&global.state_dir)?;

    if let Some(framework) = args.framework {
        let framework = match framework {
            FrameworkArg::OwaspNhi => Framework::OwaspNhi,
            FrameworkArg::Csf2 => Framework::Csf2,
            FrameworkArg::Sp800207 => Framework::Sp800207,
        };
        let report = framework_report(framework, &entries);
        match args.output {
            OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
            OutputFormat::Text => {
                outln!("{} ({} action record(s))", report.title, entries.len());
                outln!(
                    "{:<10} {:>8} {:>7} {:>6} {:>13}  {}",
                    "control",
                    "verified",
                    "refuted",
                    "failed",
                    "indeterminate",
                    "identities out of policy"
                );
                for control in &report.controls {
                    let out_of_policy = if control.out_of_policy.is_empty() {
                        "-".to_string()
                    } else {
                        control.out_of_policy.join(", ")
                    };
                    outln!(
                        "{:<10} {:>8} {:>7} {:>6} {:>13}  {}",
                        control.id,
                        control.verified,
                        control.refuted,
                        control.failed,
                        control.indeterminate,
                        out_of_policy
                    );
                }
            }
        }
    }

    if let Some(out) = &args.html {
        let context = ReportContext {
            integrity: integrity(global),
            tree_head: enact_evidence::read_checkpoints(&global.state_dir)?
                .iter()
                .rev()
                .find_map(|checkpoint| {
                    checkpoint
                        .root
                        .as_ref()
                        .map(|root| (checkpoint.seq, root.clone()))
                }),
            generated_at: enact_model::Clock::now(&enact_model::SystemClock).to_rfc3339(),
        };
        let page = render_html(&entries, &context);
        std::fs::write(out, page)
            .with_context(|| format!("cannot write the report to `{}`", out.display()))?;
        if args.framework.is_none() || args.output == OutputFormat::Text {
            eprintln!("wrote the audit report to `{}`", out.display());
        }
    }
    Ok(exit::OK)
}

/// Verifies the log with the installation's public key and describes the result in one line.
fn integrity(global: &GlobalArgs) -> String {
    let key_path = global.state_dir.join("keys").join("evidence.pub");
    let key = match enact_evidence::read_verifying_key(&key_path) {
        Ok(key) => key,
        Err(error) => return format!("evidence log not verified: {error}"),
    };
    match enact_evidence::verify(&global.state_dir, &key) {
        Ok(report) => format!(
            "Evidence log intact: {} record(s), signed through record {}, Merkle root {}",
            report.records, report.signed_through, report.tree_root
        ),
        Err(error) => format!("Evidence log is NOT intact: {error}"),
    }
}
