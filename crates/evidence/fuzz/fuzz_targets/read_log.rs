//! Feeds arbitrary bytes as an evidence log to the reader, the verifier and the writer's
//! open: each must return records or an error, and never panic. A log without checkpoints
//! that verifies must read back record for record.

#![no_main]

mod sample;

use enact_evidence::{read_records, verify, EvidenceLog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = sample::work_dir("read");
    sample::write_state(&dir, data, None);

    let mut read = 0u64;
    let mut clean = true;
    if let Ok(records) = read_records(&dir) {
        for record in records {
            match record {
                Ok((seq, _)) => {
                    read += 1;
                    clean &= seq == read;
                }
                Err(_) => {
                    clean = false;
                    break;
                }
            }
        }
    }
    if let Ok(report) = verify(&dir, &sample::sample().key) {
        assert!(clean, "a log that verifies did not read back");
        assert_eq!(report.records, read);
        assert_eq!(report.checkpoints, 0);
    }

    // Opening cuts a torn last line and must otherwise leave the log as it found it or fail.
    let _ = EvidenceLog::open(&dir, sample::signing_key());
});
