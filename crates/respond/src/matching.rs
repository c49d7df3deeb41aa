//! Finding which managed credential an exposed value is.
//!
//! Every declared credential sink is read once: its current, previous and staged values and
//! the fingerprints of everything else it holds (for a KV version 2 sink, every version that
//! is not destroyed). A finding that carries the value is compared with each value in constant
//! time and with each held fingerprint; a finding that carries only a SHA-1 is compared with
//! the SHA-1 of the current, previous and staged values, the only ones a sink hands back.
//! The fingerprints the evidence recorded for earlier rotations name credentials that no sink
//! holds any more, so a value rotated away long ago is still recognized.

use crate::finding::{Exposed, Finding};
use enact_connector::SinkResolver;
use enact_model::{
    Fingerprint, FingerprintKey, LifecycleState, NhiId, Policy, Secret, SinkRef, TargetId,
};
use sha1::{Digest, Sha1};
use std::fmt;
use subtle::ConstantTimeEq;

/// One account of the policy whose credential enact delivers to a sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedCredential {
    pub identity: NhiId,
    /// The lifecycle state the policy declares for the identity.
    pub state: LifecycleState,
    pub target: TargetId,
    pub account: String,
    pub sink: SinkRef,
}

impl fmt::Display for ManagedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} (identity `{}`)",
            self.target, self.account, self.identity
        )
    }
}

/// Lists every account of `policy` that has a credential sink, in policy order.
pub fn managed_credentials(policy: &Policy) -> Vec<ManagedCredential> {
    policy
        .identities
        .values()
        .flat_map(|identity| {
            identity.accounts.iter().filter_map(move |account| {
                account
                    .credential
                    .as_ref()
                    .map(|credential| ManagedCredential {
                        identity: identity.id.clone(),
                        state: identity.state,
                        target: account.target.clone(),
                        account: account.name.clone(),
                        sink: credential.sink.clone(),
                    })
            })
        })
        .collect()
}

/// One sink's contents when it was read, or the reason it could not be read.
pub struct SinkRead {
    pub credential: ManagedCredential,
    pub contents: Result<SinkContents, String>,
}

/// The values and fingerprints a sink holds.
#[derive(Default)]
pub struct SinkContents {
    current: Option<Secret>,
    previous: Option<Secret>,
    staged: Option<Secret>,
    /// Every fingerprint the sink holds, the three values above included.
    held: Vec<Fingerprint>,
}

impl SinkContents {
    /// Contents built from values already read, for tests and for sinks read another way.
    pub fn new(
        current: Option<Secret>,
        previous: Option<Secret>,
        staged: Option<Secret>,
        held: Vec<Fingerprint>,
    ) -> Self {
        SinkContents {
            current,
            previous,
            staged,
            held,
        }
    }
}

/// Reads every sink of `credentials` through `resolver`. A sink that cannot be opened or read
/// is kept with its error, so the report can list it as not searched.
pub async fn read_sinks(
    credentials: &[ManagedCredential],
    resolver: &dyn SinkResolver,
    key: &FingerprintKey,
) -> Vec<SinkRead> {
    let mut reads = Vec::with_capacity(credentials.len());
    for credential in credentials {
        let contents = async {
            let sink = resolver
                .open(&credential.sink)
                .map_err(|error| error.to_string())?;
            let current = sink.read_current(key).await.map_err(|e| e.to_string())?;
            let previous = sink.read_previous(key).await.map_err(|e| e.to_string())?;
            let staged = sink.read_staged(key).await.map_err(|e| e.to_string())?;
            let held = sink
                .held_fingerprints(key)
                .await
                .map_err(|e| e.to_string())?;
            Ok(SinkContents {
                current,
                previous,
                staged,
                held,
            })
        }
        .await;
        if let Err(error) = &contents {
            tracing::warn!(sink = %credential.sink, %error, "sink could not be searched");
        }
        reads.push(SinkRead {
            credential: credential.clone(),
            contents,
        });
    }
    reads
}

/// A credential fingerprint that an evidence record holds for an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedCredential {
    pub target: TargetId,
    pub account: String,
    pub fingerprint: Fingerprint,
    /// The sequence number of the evidence record.
    pub seq: u64,
}

/// Where a sink holds the exposed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holding {
    /// As the value dependents read now.
    Current,
    /// As the value a rotation is about to make current.
    Staged,
    /// As the value the last rotation replaced.
    Previous,
    /// As an older value, such as a KV version that was not destroyed.
    EarlierVersion,
}

impl Holding {
    /// The holding's name: `current`, `staged`, `previous` or `earlier version`.
    pub fn name(self) -> &'static str {
        match self {
            Holding::Current => "current",
            Holding::Staged => "staged",
            Holding::Previous => "previous",
            Holding::EarlierVersion => "earlier version",
        }
    }
}

/// A managed credential that the exposed value is, now or in the past.
#[derive(Clone, Debug)]
pub struct Owner {
    pub credential: ManagedCredential,
    /// Where the account's own sink holds the value; empty when only the evidence names it.
    pub holdings: Vec<Holding>,
    /// The evidence records that name the value's fingerprint for this account.
    pub recorded_in: Vec<u64>,
}

/// The places searched for a finding, which the report lists for an unmatched one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Searched {
    /// The sinks read, by their display form.
    pub sinks: Vec<String>,
    /// Sinks that could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
    /// How many credential fingerprints of the evidence were compared.
    pub recorded: usize,
}

/// One finding with what it matched.
#[derive(Clone, Debug)]
pub struct Exposure {
    pub finding: Finding,
    /// The exposed value: from the finding, or for a SHA-1 finding the sink value it matched.
    value: Option<Secret>,
    pub owners: Vec<Owner>,
    pub searched: Searched,
}

impl Exposure {
    /// The exposed value, when the finding carries it or a sink value matched its hash.
    pub fn value(&self) -> Option<&Secret> {
        self.value.as_ref()
    }

    /// The fingerprint of the exposed value, when it is known.
    pub fn fingerprint(&self) -> Option<&Fingerprint> {
        self.value.as_ref().map(Secret::fingerprint)
    }
}

/// Matches one finding against the sinks read and the fingerprints the evidence recorded.
pub fn match_finding(
    finding: Finding,
    sinks: &[SinkRead],
    recorded: &[RecordedCredential],
) -> Exposure {
    let mut searched = Searched {
        recorded: recorded.len(),
        ..Searched::default()
    };
    let mut value = match &finding.exposed {
        Exposed::Value(secret) => Some(secret.clone()),
        Exposed::Sha1(_) => None,
    };
    let mut owners: Vec<Owner> = Vec::new();

    for read in sinks {
        let name = read.credential.sink.to_string();
        let contents = match &read.contents {
            Ok(contents) => contents,
            Err(error) => {
                searched.unreadable.push((name, error.clone()));
                continue;
            }
        };
        searched.sinks.push(name);
        let holdings = match &finding.exposed {
            Exposed::Value(secret) => holdings_of_value(contents, secret),
            Exposed::Sha1(hash) => {
                let (holdings, matched) = holdings_of_sha1(contents, hash);
                if value.is_none() {
                    value = matched;
                }
                holdings
            }
        };
        if !holdings.is_empty() {
            owners.push(Owner {
                credential: read.credential.clone(),
                holdings,
                recorded_in: Vec::new(),
            });
        }
    }

    if let Some(fingerprint) = value.as_ref().map(Secret::fingerprint) {
        for entry in recorded {
            if !fingerprints_equal(&entry.fingerprint, fingerprint) {
                continue;
            }
            let known = owners.iter_mut().find(|owner| {
                owner.credential.target == entry.target && owner.credential.account == entry.account
            });
            match known {
                Some(owner) => owner.recorded_in.push(entry.seq),
                None => {
                    // The account must still be in the policy for enact to act on it.
                    let credential = sinks
                        .iter()
                        .map(|read| &read.credential)
                        .find(|c| c.target == entry.target && c.account == entry.account);
                    if let Some(credential) = credential {
                        owners.push(Owner {
                            credential: credential.clone(),
                            holdings: Vec::new(),
                            recorded_in: vec![entry.seq],
                        });
                    }
                }
            }
        }
    }

    Exposure {
        finding,
        value,
        owners,
        searched,
    }
}

fn holdings_of_value(contents: &SinkContents, exposed: &Secret) -> Vec<Holding> {
    let mut holdings = Vec::new();
    for (holding, held) in [
        (Holding::Current, &contents.current),
        (Holding::Staged, &contents.staged),
        (Holding::Previous, &contents.previous),
    ] {
        if held.as_ref().is_some_and(|held| held.ct_eq(exposed)) {
            holdings.push(holding);
        }
    }
    let in_named = |fingerprint: &Fingerprint| {
        [&contents.current, &contents.staged, &contents.previous]
            .into_iter()
            .flatten()
            .any(|held| fingerprints_equal(held.fingerprint(), fingerprint))
    };
    let earlier = contents
        .held
        .iter()
        .any(|held| fingerprints_equal(held, exposed.fingerprint()) && !in_named(held));
    if earlier {
        holdings.push(Holding::EarlierVersion);
    }
    holdings
}

/// Finds the holdings whose SHA-1 is `hash`, and returns them with the first value that matched.
fn holdings_of_sha1(contents: &SinkContents, hash: &[u8; 20]) -> (Vec<Holding>, Option<Secret>) {
    let mut holdings = Vec::new();
    let mut matched = None;
    for (holding, held) in [
        (Holding::Current, &contents.current),
        (Holding::Staged, &contents.staged),
        (Holding::Previous, &contents.previous),
    ] {
        let Some(held) = held else { continue };
        // The value is hashed to compare it with the hash the scanner recorded.
        let digest = Sha1::digest(held.expose().as_bytes());
        if bool::from(digest.as_slice().ct_eq(hash.as_slice())) {
            holdings.push(holding);
            matched.get_or_insert_with(|| held.clone());
        }
    }
    (holdings, matched)
}

/// Compares two fingerprints in constant time.
fn fingerprints_equal(a: &Fingerprint, b: &Fingerprint) -> bool {
    a.as_str().as_bytes().ct_eq(b.as_str().as_bytes()).into()
}

#[cfg(test)]
mod tests;
