//! The `quire` command line: subcommands and the one-line configuration errors.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "quire",
    version,
    about = "Quire: self-hosted document intelligence.",
    long_about = "Quire ingests document bundles, manages LLM workspaces and runs scored question sets.\n\
                  Every setting below can also be given as the environment variable shown, or in a .env file."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and in-process background workers.
    Serve,
    /// Run background workers only (no HTTP API).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Measure parts of Quire on this machine (diagnostics).
    #[command(hide = true, subcommand)]
    Bench(BenchTarget),
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Job queue throughput and wake-up latency on SQLite (and PostgreSQL with --postgres-url).
    Jobs(crate::jobs::bench::JobsBenchArgs),
}

/// Parses the command line and environment. A bad value ends the process with one line
/// naming the environment variable, e.g. `PORT: 'abc' is not a port number (0-65535)`.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => match cli.settings.validate() {
            Ok(()) => cli,
            Err(e) => exit_with_config_error(&e.to_string()),
        },
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => exit_with_config_error(&one_line(&e)),
        },
    }
}

pub fn exit_with_config_error(message: &str) -> ! {
    eprintln!("configuration error: {message}");
    std::process::exit(2)
}

fn one_line(e: &clap::Error) -> String {
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let name = arg.as_deref().map(env_name_for_flag);
    let full = e.to_string();
    // clap's own explanation is on the first line after "error: ".
    let reason = full
        .lines()
        .next()
        .unwrap_or("invalid value")
        .trim_start_matches("error: ")
        .to_owned();
    match (name, value, e.kind()) {
        (Some(name), Some(value), ErrorKind::ValueValidation) => {
            let detail = full
                .lines()
                .next()
                .and_then(|l| l.rsplit_once("': ").map(|(_, d)| d.to_owned()))
                .unwrap_or(reason);
            format!("{name}: invalid value '{value}': {detail}")
        }
        (Some(name), Some(value), ErrorKind::InvalidValue) => {
            let possible = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(v)) => format!(" (expected one of: {})", v.join(", ")),
                _ => String::new(),
            };
            format!("{name}: invalid value '{value}'{possible}")
        }
        _ => reason,
    }
}

/// `--max-file-size <MAX_FILE_SIZE>` → `MAX_FILE_SIZE`, the name operators set.
fn env_name_for_flag(flag: &str) -> String {
    let long = flag
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or_default();
    Cli::command()
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .unwrap_or_else(|| flag.to_owned())
}
