//! Controls decided outside enact, carried out by it: exposure response (from a secret-scanner
//! finding to a revoked, replaced and purged credential) and access-review outcomes.
//!
//! - [`import`] reads gitleaks JSON reports, TruffleHog JSON lines and detect-secrets
//!   baselines into [`Finding`]s, or one value from standard input. A malformed report is an
//!   [`ImportError`] with its place, and yields no finding.
//! - [`matching`] finds which managed credential each finding is: by the value's keyed
//!   fingerprint, or by the baseline's SHA-1 against the values the sinks hold, and by the
//!   fingerprints the evidence recorded.
//! - [`response`] probes each owner with the exposed value and builds a plan of existing
//!   actions, which the executor runs, journals, verifies and records like any other.
//! - [`review`] reads an access-review campaign's decisions from CSV or JSON and turns each
//!   revoke decision into a revoke action.
//!
//! Secret values are wrapped in [`enact_model::Secret`] as soon as they are read, and only
//! fingerprints appear in messages.

pub mod finding;
pub mod import;
pub mod matching;
pub mod response;
pub mod review;

pub use finding::{Exposed, Finding};
pub use import::{import_report, import_value, ImportError, ReportFormat};
pub use matching::{
    managed_credentials, match_finding, read_sinks, Exposure, Holding, ManagedCredential, Owner,
    RecordedCredential, Searched, SinkContents, SinkRead,
};
pub use response::{
    assess, owner_action, probe_exposed, probe_no_copy, recorded_credentials, response_plan,
    Assessment,
};
