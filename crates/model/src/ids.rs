//! Newtype identifiers. Each id is a plain string on the wire and a distinct type in code.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string as this id. The caller has checked its syntax where it matters.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// The name of a non-human identity, unique within a policy.
    NhiId
);
string_id!(
    /// The name of a target (a connected system), unique within a policy.
    TargetId
);
string_id!(
    /// A stable action id: the same action on the same account gets the same id in every plan.
    ActionId
);
string_id!(
    /// The id of one plan: a digest of the policy, the observation and the actions.
    PlanId
);
