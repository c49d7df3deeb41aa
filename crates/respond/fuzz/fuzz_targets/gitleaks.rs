//! Feeds arbitrary bytes to the gitleaks importer: it must return findings or a located
//! error, and never panic.

#![no_main]

use enact_model::FingerprintKey;
use enact_respond::{import_report, ReportFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = FingerprintKey::from_bytes([7; 32]);
    if let Err(error) = import_report(data, "fuzz", ReportFormat::Gitleaks, &key) {
        assert!(error.location().starts_with("fuzz"));
    }
});
