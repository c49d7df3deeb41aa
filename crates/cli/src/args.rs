//! The raw command line. Every flag is defined once here, with its help.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// enact turns identity policy into completed, verified actions on non-human identities.
#[derive(Debug, Parser)]
#[command(name = "enact", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The policy file.
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "ENACT_POLICY",
        default_value = "enact.yaml"
    )]
    pub policy: PathBuf,

    /// The directory for the state database, the evidence log and the keys.
    #[arg(long, global = true, env = "ENACT_STATE_DIR", default_value = ".enact")]
    pub state_dir: PathBuf,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level filter, such as `info` or `enact_execute=debug`.
    #[arg(long, global = true, env = "ENACT_LOG", default_value = "warn")]
    pub log: String,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How results are printed on standard output.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the state directory, the evidence signing key and the fingerprint key.
    Init,
    /// Show what differs between the policy and the real systems, and the actions that fix it.
    /// Exits 0 with no changes, 2 with changes pending, 1 on error.
    Plan(PlanArgs),
    /// Execute and verify the plan. Exits 0 only if every action is verified.
    Apply(ApplyArgs),
    /// List every identity with its desired and observed state and its last verified action.
    Status(StatusArgs),
    /// Check or export the evidence log.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Print the JSON Schema of the policy file.
    Schema,
    /// Answer exposed secrets: match each finding to its managed credential, revoke and
    /// replace it, purge every copy, end its sessions and prove it. Exits 0 only if every
    /// matched finding is proven revoked.
    Respond(RespondArgs),
}

/// Options of `enact plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan to this file, for `enact apply FILE`.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Options of `enact apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `enact plan --out`. It is refused if the policy or the observed state
    /// changed since it was made. Without it, apply plans afresh.
    pub plan_file: Option<PathBuf>,

    /// Allow up to this many destructive actions (revoke, disable, delete) in this run,
    /// instead of the policy's `limits.max_destructive`.
    #[arg(long, value_name = "N", conflicts_with = "allow_destructive")]
    pub max_destructive: Option<usize>,

    /// Allow any number of destructive actions in this run.
    #[arg(long)]
    pub allow_destructive: bool,

    /// Accounts of one target worked on at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Options of `enact status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Options of `enact respond`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["finding", "stdin"])))]
pub struct RespondArgs {
    /// A secret-scanner report: gitleaks JSON, TruffleHog JSON lines or a detect-secrets
    /// baseline.
    #[arg(long, value_name = "FILE")]
    pub finding: Option<PathBuf>,

    /// Read one exposed value from standard input instead of a report.
    #[arg(long)]
    pub stdin: bool,

    /// The report's format; `auto` recognizes it from its shape.
    #[arg(long, value_enum, default_value_t = RespondFormat::Auto)]
    pub format: RespondFormat,

    /// Allow up to this many destructive actions (purges) in this response, instead of the
    /// policy's `limits.max_destructive`.
    #[arg(long, value_name = "N", conflicts_with = "allow_destructive")]
    pub max_destructive: Option<usize>,

    /// Allow any number of destructive actions in this response.
    #[arg(long)]
    pub allow_destructive: bool,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Secret-scanner report formats.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RespondFormat {
    Auto,
    Gitleaks,
    Trufflehog,
    DetectSecrets,
}

/// `enact evidence` subcommands.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Check the evidence log's hash chain and signatures offline; name the first bad record.
    Verify(EvidenceVerifyArgs),
    /// Write the evidence records to standard output.
    Export(EvidenceExportArgs),
}

/// Options of `enact evidence verify`.
#[derive(Debug, Args)]
pub struct EvidenceVerifyArgs {
    /// A file holding the Ed25519 public key, as hex, to check signatures with; defaults to
    /// the state directory's `keys/evidence.pub`.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
}

/// Options of `enact evidence export`.
#[derive(Debug, Args)]
pub struct EvidenceExportArgs {
    /// Export format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
}

/// Evidence export formats.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON record per line.
    Jsonl,
}
