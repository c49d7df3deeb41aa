//! Feeds arbitrary text to the hygiene-rule parser, which also compiles each rule's CEL
//! condition: it must return rules or located diagnostics that render, and never panic.

#![no_main]

mod check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = enact_policy::parse_rules(source, &check::options()) {
        check::check_errors(source, &errors);
    }
});
