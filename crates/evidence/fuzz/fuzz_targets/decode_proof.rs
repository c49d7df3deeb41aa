//! Damages a valid inclusion proof and a valid consistency proof of the sample log with a few
//! byte edits, decodes them and checks them offline. Nothing may panic, and a damaged proof
//! that still verifies must prove what the original proved: the same record in the same
//! signed tree head, or the same two tree heads.

#![no_main]

mod sample;

use enact_evidence::{
    prove_consistency, prove_inclusion, read_checkpoints, Checkpoint, ConsistencyProof,
    InclusionProof,
};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The original proofs, serialized: record 2 in the last tree head, and the first tree head
/// in the last.
fn proofs() -> &'static (Vec<u8>, Vec<u8>) {
    static PROOFS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    PROOFS.get_or_init(|| {
        let sample = sample::sample();
        let inclusion = prove_inclusion(&sample.state_dir, 2).expect("prove record 2");
        let first = read_checkpoints(&sample.state_dir)
            .expect("read the checkpoints")
            .into_iter()
            .next()
            .expect("a first checkpoint");
        let consistency = prove_consistency(&sample.state_dir, &first).expect("prove consistency");
        (
            serde_json::to_vec(&inclusion).expect("serialize"),
            serde_json::to_vec(&consistency).expect("serialize"),
        )
    })
}

/// The fields of a checkpoint that its signature covers, with the signature. The `key` field
/// is not signed and proof verification does not compare it, so it is left out.
fn signed(checkpoint: &Checkpoint) -> (u64, &str, Option<&str>, i64, &str) {
    (
        checkpoint.seq,
        &checkpoint.hash,
        checkpoint.root.as_deref(),
        checkpoint.signed_at.0,
        &checkpoint.signature,
    )
}

fuzz_target!(|data: &[u8]| {
    let key = sample::sample().key;
    let (inclusion, consistency) = proofs();
    let mut input = Unstructured::new(data);
    let Ok(which) = input.arbitrary::<bool>() else {
        return;
    };
    if which {
        let mut bytes = inclusion.clone();
        if sample::damage(&mut bytes, &mut input).is_err() {
            return;
        }
        let Ok(proof) = serde_json::from_slice::<InclusionProof>(&bytes) else {
            return;
        };
        if proof.verify(&key).is_ok() {
            let original: InclusionProof = serde_json::from_slice(inclusion).expect("decode");
            assert_eq!(proof.seq, original.seq);
            assert_eq!(proof.record.get(), original.record.get());
            assert_eq!(signed(&proof.checkpoint), signed(&original.checkpoint));
        }
    } else {
        let mut bytes = consistency.clone();
        if sample::damage(&mut bytes, &mut input).is_err() {
            return;
        }
        let Ok(proof) = serde_json::from_slice::<ConsistencyProof>(&bytes) else {
            return;
        };
        if proof.verify(&key).is_ok() {
            let original: ConsistencyProof = serde_json::from_slice(consistency).expect("decode");
            assert_eq!(signed(&proof.old), signed(&original.old));
            assert_eq!(signed(&proof.new), signed(&original.new));
        }
    }
});
