//! The `quire` command line: subcommands and the one-line configuration errors.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::auth::Role;
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
    /// Operator tasks on the database: users and API keys.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add a user to an organisation.
    CreateUser {
        /// The user's email (unique across the installation).
        #[arg(long)]
        email: String,
        /// admin, member or viewer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Organisation id or name; may be left out when there is only one.
        #[arg(long)]
        org: Option<String>,
        /// Name shown for the user (default: the part of the email before @).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (first line); without it the user has
        /// no password and signs in with API keys only.
        #[arg(long)]
        password_stdin: bool,
        /// Mark the user as a platform superuser.
        #[arg(long)]
        superuser: bool,
    },
    /// Create an API key and print it once.
    CreateApiKey {
        /// Organisation id or name; may be left out when there is only one.
        #[arg(long)]
        org: Option<String>,
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// admin, member or viewer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
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
