//! Writes the sample evidence log into a state directory, creating its keys first:
//!
//!     cargo run -p enact-report --example sample_log -- STATE_DIR [RUNS] [ACTIONS_PER_RUN]
//!
//! Then `enact --state-dir STATE_DIR report --html report.html` renders it.

use enact_evidence::Keys;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(state_dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: sample_log STATE_DIR [RUNS] [ACTIONS_PER_RUN]");
        return ExitCode::from(64);
    };
    let runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(8);
    let per_run = args.next().and_then(|n| n.parse().ok()).unwrap_or(25);
    let result = Keys::init(&state_dir)
        .and_then(|_| Keys::load(&state_dir))
        .and_then(|keys| {
            let (signing, _, _) = keys.into_parts();
            enact_report::sample::write_sample_log(&state_dir, signing, runs, per_run)
        });
    match result {
        Ok(records) => {
            println!("wrote {records} record(s) to `{}`", state_dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
