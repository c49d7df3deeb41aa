//! Audit reports on the evidence log, for people who check enact's work.
//!
//! - [`mapping`] is the framework table: which OWASP Non-Human Identities Top 10 risks, NIST
//!   CSF 2.0 subcategories and NIST SP 800-207 tenets each action kind and probe bears on.
//! - [`frameworks`] summarizes the log per control of one framework.
//! - [`ocsf`] exports the action records as OCSF 1.6.0 events.
//! - [`html`] renders a self-contained HTML report with charts.
//!
//! The crate reads the log through `enact-evidence` and does not verify it; callers run
//! `enact_evidence::verify` first and pass its result to the report.

mod charts;
pub mod entries;
pub mod frameworks;
pub mod html;
pub mod mapping;
pub mod ocsf;
pub mod sample;

pub use entries::{load, ActionEntry, ProbeEntry, Status};
pub use frameworks::{framework_report, ControlSummary, FrameworkReport};
pub use html::{render_html, ReportContext};
pub use mapping::{controls_for, Control, Framework, Mapping, Subject, MAPPINGS};
pub use ocsf::{export_ocsf, ocsf_event, OCSF_VERSION};

/// A failure to read the evidence for a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The log could not be read.
    #[error(transparent)]
    Evidence(#[from] enact_evidence::EvidenceError),

    /// An action record does not have the fields the report reads.
    #[error("evidence record {seq} is not a readable action record: {reason}")]
    Record { seq: u64, reason: String },
}
