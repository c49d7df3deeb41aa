//! The `enact` command line.

/// Prints a line on standard output. A closed pipe (as with `enact status | head`) ends the
/// output quietly instead of aborting.
macro_rules! outln {
    () => {
        $crate::output::line("")
    };
    ($($arg:tt)*) => {
        $crate::output::line(&format!($($arg)*))
    };
}

/// Prints text on standard output without a newline, as [`outln!`] does.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::text(&format!($($arg)*))
    };
}

mod args;
mod commands;
mod context;
mod output;
mod render;

use args::{Cli, Command, EvidenceCommand, LogFormat, ReviewCommand};
use clap::Parser;
use commands::exit;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Renders policy diagnostics for a terminal with colour and wrapping, and for a pipe or a file
/// without either, so each message stays on one line for `grep`.
fn init_diagnostics() {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        let _ = miette::set_hook(Box::new(|_| {
            Box::new(
                miette::MietteHandlerOpts::new()
                    .wrap_lines(false)
                    .color(false)
                    .unicode(false)
                    .build(),
            )
        }));
    }
}

/// mimalloc returns freed memory to reuse across threads better than the system allocator, which
/// keeps the peak memory of a plan over 100,000 accounts lower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.global.log_format, &cli.global.log);
    init_diagnostics();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let global = &cli.global;
    let outcome = runtime.block_on(async {
        match &cli.command {
            Command::Init => commands::init(global),
            Command::Plan(args) => commands::plan::run(global, args).await,
            Command::Apply(args) => commands::apply::run(global, args).await,
            Command::Status(args) => commands::status::run(global, args).await,
            Command::Evidence(EvidenceCommand::Verify(args)) => {
                commands::evidence::verify(global, args)
            }
            Command::Evidence(EvidenceCommand::Export(args)) => {
                commands::evidence::export(global, args)
            }
            Command::Evidence(EvidenceCommand::Prove(args)) => {
                commands::evidence::prove(global, args)
            }
            Command::Report(args) => commands::report::run(global, args),
            Command::Schema => commands::schema(),
            Command::Respond(args) => commands::respond::run(global, args).await,
            Command::Review(ReviewCommand::Import(args)) => {
                commands::review::import(global, args).await
            }
            Command::Review(ReviewCommand::Status(args)) => commands::review::status(global, args),
        }
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            if error.downcast_ref::<context::PolicyInvalid>().is_some() {
                eprintln!("error: {error}");
            } else {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(exit::ERROR)
        }
    }
}
