//! The enact domain model.
//!
//! Everything the pipeline passes between its stages is defined here: the resolved policy
//! ([`policy`]), what a connector observed ([`observed`]), the actions a plan contains
//! ([`action`]), the probes that verify them and the verdict they lead to ([`verdict`]), and the
//! wrapper for secret material ([`secret`]). This crate performs no I/O.

pub mod action;
pub mod digest;
pub mod glob;
pub mod ids;
pub mod observed;
pub mod policy;
pub mod secret;
pub mod time;
pub mod verdict;

pub use action::{Action, ActionKind, Plan, SessionSelector, UnmanagedFinding};
pub use ids::{ActionId, NhiId, PlanId, TargetId};
pub use observed::{
    Observation, ObservedAccount, ObservedSession, SinkState, TargetObservation, SESSION_USER,
};
pub use policy::{
    alternating_value, split_alternating_value, Account, CredentialPolicy, Dependent,
    DependentCheck, Entitlement, Identity, LifecycleState, ObjectRef, OwnedObjects, Policy,
    RotationStrategy, SessionPolicy, SinkRef, Target, UnmanagedAction, UnmanagedPolicy,
};
pub use secret::{Fingerprint, FingerprintKey, Secret};
pub use time::{Clock, Duration, SystemClock, Timestamp};
pub use verdict::{judge, Probe, ProbeOutcome, Verdict, Verified};
