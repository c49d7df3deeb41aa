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

/// Client libraries that may log what they send. tokio-postgres logs each statement at debug,
/// and `ALTER ROLE ... PASSWORD` carries a SCRAM verifier, which allows an offline guessing
/// attack. Their logs stay at `info` whatever the `--log` value.
const QUIET_LIBRARIES: [&str; 3] = ["tokio_postgres", "redis", "ldap3"];

/// The levels a directive without `=` may name.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Builds the log filter from `--log`: comma-separated levels or `target=level` directives.
fn log_filter(text: &str) -> Result<EnvFilter, String> {
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let target = directive.split('=').next().unwrap_or_default();
        if !directive.contains('=') && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "invalid value `{text}` for `--log`: `{directive}` is not a level; use one of {}, or `TARGET=LEVEL`",
                LEVELS.join(", ")
            ));
        }
        if let Some(library) = QUIET_LIBRARIES
            .iter()
            .find(|library| target.starts_with(*library))
        {
            return Err(format!(
                "invalid value `{text}` for `--log`: `{library}` logs stay at `info`, because its debug lines contain credential material"
            ));
        }
    }
    let quiet = QUIET_LIBRARIES.map(|library| format!("{library}=info"));
    let full = std::iter::once(text.to_string())
        .chain(quiet)
        .filter(|part| !part.trim().is_empty())
        .collect::<Vec<_>>()
        .join(",");
    EnvFilter::try_new(&full)
        .map_err(|error| format!("invalid value `{text}` for `--log`: {error}"))
}

/// Joins an error and its causes with `: `, leaving out a cause whose text the message before it
/// already contains, as a connector's message contains the driver's error it wraps.
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn init_logging(format: LogFormat, filter: EnvFilter) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
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
    match log_filter(&cli.global.log) {
        Ok(filter) => init_logging(cli.global.log_format, filter),
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(exit::USAGE);
        }
    }
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
                eprintln!("error: {}", error_chain(&error));
            }
            if error.downcast_ref::<commands::UsageError>().is_some() {
                return ExitCode::from(exit::USAGE);
            }
            ExitCode::from(exit::ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{error_chain, log_filter};

    #[test]
    fn error_chain_skips_repeated_causes() {
        let error = anyhow::anyhow!("db error: FATAL: password authentication failed")
            .context("connecting to 127.0.0.1:5432 failed: db error: FATAL: password authentication failed")
            .context("failed to observe target `pg`");
        assert_eq!(
            error_chain(&error),
            "failed to observe target `pg`: connecting to 127.0.0.1:5432 failed: db error: FATAL: password authentication failed"
        );
    }

    #[test]
    fn log_filter_accepts_levels_and_targets() {
        for text in ["warn", "info", "enact_execute=debug,warn", "DEBUG", ""] {
            assert!(log_filter(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn log_filter_rejects_unknown_words() {
        for text in ["verbose", "info,loud", "nonsense[["] {
            let error = log_filter(text).err().unwrap_or_default();
            assert!(error.contains("for `--log`"), "{text}: {error}");
        }
    }

    #[test]
    fn log_filter_keeps_client_libraries_quiet() {
        for text in [
            "tokio_postgres=debug",
            "info,redis=trace",
            "ldap3::conn=debug",
        ] {
            let error = log_filter(text).err().unwrap_or_default();
            assert!(error.contains("stay at `info`"), "{text}: {error}");
        }
    }
}
