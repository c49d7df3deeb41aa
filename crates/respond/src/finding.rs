//! One exposed secret, as a scanner reported it or a person passed it in.

use enact_model::{Fingerprint, Secret};
use std::fmt;

/// What a finding tells about the exposed value.
#[derive(Clone, Debug)]
pub enum Exposed {
    /// The value itself, from a gitleaks or TruffleHog report or from standard input.
    Value(Secret),
    /// The SHA-1 of the value as 20 bytes, from a detect-secrets baseline, which keeps no value.
    Sha1([u8; 20]),
}

/// One exposed secret and where it was reported.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Where the finding is in its report: `FILE#/JSON/pointer`, `FILE:LINE` for a JSON lines
    /// report, or `stdin`.
    pub location: String,
    pub exposed: Exposed,
    /// The scanner's rule or detector that reported it, such as `generic-api-key`.
    pub detector: Option<String>,
    /// Where the scanner found the value, such as `config/app.env:12`.
    pub found_in: Option<String>,
}

impl Finding {
    /// The keyed fingerprint of the exposed value, when the finding carries the value.
    pub fn fingerprint(&self) -> Option<&Fingerprint> {
        match &self.exposed {
            Exposed::Value(secret) => Some(secret.fingerprint()),
            Exposed::Sha1(_) => None,
        }
    }
}

impl fmt::Display for Finding {
    /// Formats the finding for a person: its location, detector and place, never the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location)?;
        let mut details = Vec::new();
        if let Some(detector) = &self.detector {
            details.push(format!("detector `{detector}`"));
        }
        if let Some(found_in) = &self.found_in {
            details.push(format!("found in `{found_in}`"));
        }
        match &self.exposed {
            Exposed::Value(secret) => details.push(format!(
                "value fingerprint {}",
                secret.fingerprint().short()
            )),
            Exposed::Sha1(hash) => details.push(format!("sha1 {}", hex::encode(hash))),
        }
        write!(f, " ({})", details.join(", "))
    }
}
