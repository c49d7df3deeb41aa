//! The evidence log: a hash-chained, signed record of what enact intended, did and proved.
//! Depends on the model only.

pub mod record;

pub use record::{ActionRecord, CredentialFingerprint, Outcome, SessionNote, StepRecord};
