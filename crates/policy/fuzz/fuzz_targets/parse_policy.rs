//! Feeds arbitrary text to the policy parser: it must return a policy or located diagnostics
//! that render, and never panic.

#![no_main]

mod check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = enact_policy::parse_policy(source, &check::options()) {
        check::check_errors(source, &errors);
    }
});
