//! Damages a valid, signed evidence log or its checkpoints with a few byte edits and verifies
//! it. The verifier must never panic, and a damaged log that still verifies must be a prefix
//! of the original: its last chain hash is the original's at the same record, so no record was
//! changed, added or reordered unnoticed.

#![no_main]

mod sample;

use enact_evidence::verify;
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sample = sample::sample();
    let mut input = Unstructured::new(data);
    let Ok(damage_log) = input.arbitrary::<bool>() else {
        return;
    };
    let mut log = sample.log.clone();
    let mut checkpoints = sample.checkpoints.clone();
    let target = if damage_log {
        &mut log
    } else {
        &mut checkpoints
    };
    if sample::damage(target, &mut input).is_err() {
        return;
    }

    let dir = sample::work_dir("damaged");
    sample::write_state(&dir, &log, Some(&checkpoints));
    let Ok(report) = verify(&dir, &sample.key) else {
        return;
    };
    let records = usize::try_from(report.records).expect("a small log");
    assert!(
        records < sample.hashes.len(),
        "the damaged log verified with {records} records"
    );
    assert_eq!(
        report.last_hash, sample.hashes[records],
        "a damaged log verified with a chain the original does not have"
    );
    assert!(report.signed_through <= report.records);
    if log == sample.log && checkpoints == sample.checkpoints {
        assert_eq!(report.checkpoints, 2);
    }
});
