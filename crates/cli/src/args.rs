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
#[command(next_help_heading = "Global options")]
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
    /// Summarize the evidence log per control of a framework, or write an HTML audit report.
    Report(ReportArgs),
    /// Answer exposed secrets: match each finding to its managed credential, revoke and
    /// replace it, purge every copy, end its sessions and prove it. Exits 0 only if every
    /// matched finding is proven revoked.
    Respond(RespondArgs),
    /// Carry out an access-review campaign's decisions and show which removals are verified.
    #[command(subcommand)]
    Review(ReviewCommand),
}

/// Options of `enact plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan to this file, for `enact apply FILE`.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Rotate this identity's credentials now, whatever their age. Repeatable.
    #[arg(long, value_name = "IDENTITY")]
    pub rotate: Vec<String>,

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

    /// Rotate this identity's credentials now, whatever their age. Repeatable.
    #[arg(long, value_name = "IDENTITY", conflicts_with = "plan_file")]
    pub rotate: Vec<String>,

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

/// `enact review` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Store a campaign's decisions (CSV or JSON) and revoke what the reviewers revoked.
    /// Exits 0 only if every revoke is verified.
    Import(ReviewImportArgs),
    /// Show each decision and whether its removal is verified. Exits 0 when none is pending,
    /// 2 otherwise.
    Status(ReviewStatusArgs),
}

/// Options of `enact review import`.
#[derive(Debug, Args)]
pub struct ReviewImportArgs {
    /// The decisions: CSV with a header row, or JSON. Fields: identity, target, entitlement,
    /// decision (`keep` or `revoke`), reviewer, decided_at (RFC 3339, UTC).
    pub file: PathBuf,

    /// Store the decisions and show the planned revokes without running them; exits 2 when
    /// revokes are pending.
    #[arg(long)]
    pub plan_only: bool,

    /// Allow up to this many revokes in this run, instead of the policy's
    /// `limits.max_destructive`.
    #[arg(long, value_name = "N", conflicts_with = "allow_destructive")]
    pub max_destructive: Option<usize>,

    /// Allow any number of revokes in this run.
    #[arg(long)]
    pub allow_destructive: bool,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Options of `enact review status`.
#[derive(Debug, Args)]
pub struct ReviewStatusArgs {
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
    /// Print an inclusion proof of an action's evidence record against the last signed tree
    /// head, for `enact evidence verify --proof`.
    Prove(EvidenceProveArgs),
}

/// Options of `enact evidence prove`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("record").required(true).args(["action_id", "seq"])))]
pub struct EvidenceProveArgs {
    /// The action whose record to prove, such as `act-0123456789abcdef`. With several records
    /// (an action verified again by a later run), the latest is proved.
    pub action_id: Option<String>,

    /// Prove the record with this sequence number instead.
    #[arg(long, value_name = "N")]
    pub seq: Option<u64>,
}

/// Options of `enact report`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("kind").required(true).multiple(true).args(["framework", "html"])))]
pub struct ReportArgs {
    /// List, per control of this framework, the action records verified, refuted, failed and
    /// indeterminate, and the identities out of policy.
    #[arg(long, value_enum)]
    pub framework: Option<FrameworkArg>,

    /// Write a self-contained HTML audit report to this file.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,

    /// Output format of the framework table.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// The frameworks `enact report --framework` knows.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum FrameworkArg {
    /// OWASP Non-Human Identities Top 10 (2025).
    #[value(name = "owasp-nhi")]
    OwaspNhi,
    /// NIST Cybersecurity Framework 2.0 subcategories.
    #[value(name = "csf2")]
    Csf2,
    /// NIST SP 800-207 zero trust tenets.
    #[value(name = "sp800-207")]
    Sp800207,
}

/// Options of `enact evidence verify`.
#[derive(Debug, Args)]
pub struct EvidenceVerifyArgs {
    /// A file holding the Ed25519 public key, as hex, to check signatures with; defaults to
    /// the state directory's `keys/evidence.pub`.
    #[arg(long)]
    pub public_key: Option<PathBuf>,

    /// Also check that the log extends this earlier checkpoint: a file holding a line of
    /// `checkpoints.jsonl` kept from an earlier audit, or the line itself. Prints the
    /// consistency proof.
    #[arg(long, value_name = "CHECKPOINT")]
    pub since: Option<String>,

    /// Check only this proof file from `enact evidence prove` or `--since`, offline with the
    /// public key; the log is not read.
    #[arg(long, value_name = "FILE", conflicts_with = "since")]
    pub proof: Option<PathBuf>,
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
    /// One OCSF 1.6.0 event per action record, one JSON object per line.
    Ocsf,
}
