//! The `quire` command line: subcommands and the one-line configuration errors.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::auth::Role;
use crate::client::{
    AskArgs, ClientArgs, ClientCommand, CompareArgs, ResultsArgs, SummarizeArgs, TemplatesCommand,
    UploadArgs, WorkspaceCommand,
};
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
    #[command(flatten)]
    Client(ClientSubcommand),
    /// Read a PDF for financial statements on this machine (no server, no network) and
    /// print each statement with its periods, scale and checks.
    Extract(crate::statements::cli::ExtractArgs),
    /// Measure parts of Quire on this machine (diagnostics; built with `--features bench`).
    #[cfg(feature = "bench")]
    #[command(hide = true, subcommand)]
    Bench(BenchTarget),
    /// Print the settings reference (used to generate README.md and .env.example).
    #[command(hide = true)]
    Settings {
        #[arg(long, value_enum, default_value = "markdown")]
        format: SettingsFormat,
    },
}

/// The client subcommands: they talk to a running server over HTTP and take only
/// client options (`--url`, `--api-key`, `--data-dir` for the saved admin key).
#[derive(Debug, Subcommand)]
pub enum ClientSubcommand {
    /// Create or list workspaces on a running Quire (client).
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Upload a bundle into a workspace and print the per-entry report (client).
    Upload(UploadArgs),
    /// Run a question set against a workspace and print the scored results (client).
    /// Exits 1 when the pass rate is under the threshold.
    Ask(AskArgs),
    /// Print or export a run's results (client).
    Results(ResultsArgs),
    /// Compare two runs question by question (client). Exits 1 on any pass → fail.
    Compare(CompareArgs),
    /// Summarise a document and print the summary (client); extractive without a model.
    Summarize(SummarizeArgs),
    /// List, show or create prompt templates (client).
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
}

impl ClientSubcommand {
    const NAMES: [&'static str; 7] = [
        "workspace",
        "upload",
        "ask",
        "results",
        "compare",
        "summarize",
        "templates",
    ];

    pub fn into_command(self) -> ClientCommand {
        match self {
            Self::Workspace { command, client } => ClientCommand::Workspace(client, command),
            Self::Upload(a) => ClientCommand::Upload(a),
            Self::Ask(a) => ClientCommand::Ask(a),
            Self::Results(a) => ClientCommand::Results(a),
            Self::Compare(a) => ClientCommand::Compare(a),
            Self::Summarize(a) => ClientCommand::Summarize(a),
            Self::Templates { command, client } => ClientCommand::Templates(client, command),
        }
    }
}

/// `quire <client subcommand> …` parsed on its own, without the server's settings: its
/// `--help` shows only client options, and a server variable in the environment that
/// would not validate (`PORT=abc`) cannot stop it.
#[derive(Debug, Parser)]
#[command(name = "quire", version)]
pub struct ClientCli {
    #[command(subcommand)]
    pub command: ClientSubcommand,
    /// Where the server keeps its data; the default API key is the first-start admin
    /// key it saved there (`admin-api-key`).
    #[arg(long, env = "QUIRE_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: std::path::PathBuf,
}

/// The client command line when the first argument names a client subcommand; clap's
/// own message (and exit code 2) for a mistake in it, which is a usage error, not a
/// configuration error.
pub fn parse_client() -> Option<ClientCli> {
    let first = std::env::args_os().nth(1)?;
    if !ClientSubcommand::NAMES.iter().any(|n| first == *n) {
        return None;
    }
    Some(ClientCli::parse())
}

impl Command {
    /// The client subcommands talk to a running server over HTTP and need none of the
    /// server's settings; this takes them out of the command.
    // Parsed once per process: boxing the large variants would only move the bytes.
    #[allow(clippy::result_large_err)]
    pub fn into_client(self) -> Result<ClientCommand, Self> {
        match self {
            Self::Client(c) => Ok(c.into_command()),
            other => Err(other),
        }
    }

    /// Serving and working run jobs, which need the tools the settings name.
    pub fn runs_jobs(&self) -> bool {
        #[cfg(feature = "bench")]
        if matches!(self, Self::Bench(_)) {
            return true;
        }
        matches!(self, Self::Serve | Self::Worker)
    }

    pub fn is_client(&self) -> bool {
        matches!(self, Self::Client(_))
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SettingsFormat {
    Markdown,
    EnvExample,
    /// This process's values and where each came from (flag, environment, preset,
    /// default); secrets only as set or unset.
    Values,
}

/// The settings reference, generated from the same definitions `--help` uses, so the
/// README table and `.env.example` cannot drift from the code (a test compares them).
pub fn settings_reference(format: SettingsFormat) -> String {
    let command = Cli::command();
    let mut out = String::new();
    if matches!(format, SettingsFormat::Markdown) {
        out.push_str("| variable | default | meaning |\n|---|---|---|\n");
    } else {
        out.push_str(
            "# Quire settings. Every line is optional: the defaults run Quire on one machine.\n",
        );
        out.push_str("# Generated by `quire settings --format env-example`.\n");
    }
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        if arg.is_hide_set() {
            continue;
        }
        let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = default.join(",");
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        let possible = if possible.is_empty() || possible == ["true", "false"] {
            String::new()
        } else {
            // The help ends as a sentence, so "One of: …" reads as its own.
            if !help.is_empty() && !help.ends_with(['.', '!', '?']) {
                help.push('.');
            }
            format!(" One of: {}.", possible.join(", "))
        };
        match format {
            SettingsFormat::Markdown => {
                let default = if default.is_empty() {
                    "—".to_owned()
                } else {
                    format!("`{default}`")
                };
                out.push_str(&format!("| `{env}` | {default} | {help}{possible} |\n"));
            }
            SettingsFormat::EnvExample => {
                out.push_str(&format!("\n# {help}{possible}\n# {env}={default}\n"));
            }
            // Needs the parsed values: `settings_values`.
            SettingsFormat::Values => {}
        }
    }
    out
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
    /// Set a user's password, read from standard input (first line). The first-start
    /// admin (admin@quire.local) has none until this is run.
    SetPassword {
        /// The user's email.
        #[arg(long)]
        email: String,
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

#[cfg(feature = "bench")]
#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Job queue throughput and wake-up latency on SQLite (and PostgreSQL with --postgres-url).
    Jobs(crate::bench::jobs::JobsBenchArgs),
    /// Question runs against the in-process AnythingLLM double: throughput with results
    /// persisted, a latency-bound run, peak RSS.
    Questions(crate::bench::questions::QuestionsBenchArgs),
    /// Bulk summaries against the in-process fake LLM: throughput with rows persisted, a
    /// latency-bound run under a provider limit, the extractive summariser, peak RSS.
    Summaries(crate::bench::summaries::SummariesBenchArgs),
    /// The cache: an answer-cache hit against a call to the AnythingLLM double, and
    /// get_many of 1,000 keys, in memory and (with --redis-url) on Redis.
    Cache(crate::bench::cache::CacheBenchArgs),
}

/// Was the setting with this environment variable given by a flag or the environment
/// (`.env` included), rather than left to its default?
fn is_explicit(matches: &ArgMatches, variable: &str) -> bool {
    Cli::command()
        .get_arguments()
        .find(|arg| arg.get_env().is_some_and(|e| e == variable))
        .and_then(|arg| matches.value_source(arg.get_id().as_str()))
        .is_some_and(|source| source != ValueSource::DefaultValue)
}

/// `quire settings --format values`: each setting's value and where it came from.
fn settings_values(matches: &ArgMatches, settings: &crate::config::Settings) -> String {
    let preset = settings.environment.preset();
    let mut out = String::new();
    for arg in Cli::command().get_arguments() {
        let Some(env) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        if arg.is_hide_set() {
            continue;
        }
        let id = arg.get_id().as_str();
        let raw: Vec<String> = matches
            .get_raw(id)
            .into_iter()
            .flatten()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        // Variables a preset may set show the value in force, whatever set it.
        let value = settings
            .preset_variable(&env)
            .unwrap_or_else(|| raw.join(","));
        let origin = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) => "environment".to_owned(),
            _ if preset.iter().any(|(v, _)| *v == env) => {
                format!("ENVIRONMENT={}", settings.environment.as_str())
            }
            _ => "default".to_owned(),
        };
        let value = if arg.is_hide_env_values_set() {
            if value.is_empty() { "(unset)" } else { "(set)" }.to_owned()
        } else {
            value
        };
        out.push_str(&format!("{env}={value}  # {origin}\n"));
    }
    out
}

/// Parses the command line and environment, then applies the `ENVIRONMENT` preset to
/// the settings not given. A bad value ends the process with one line naming the
/// environment variable, e.g. `PORT: 'abc' is not a port number (0-65535)`.
pub fn parse() -> Cli {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (matches, cli)));
    let parsed = parsed.map(|(matches, mut cli)| {
        if let Err(e) = cli
            .settings
            .apply_preset(|variable| is_explicit(&matches, variable))
        {
            exit_with_config_error(&e.to_string());
        }
        (matches, cli)
    });
    let parsed = parsed.map(|(matches, cli)| {
        if let Command::Settings {
            format: SettingsFormat::Values,
        } = cli.command
        {
            if let Err(e) = cli.settings.validate() {
                exit_with_config_error(&e.to_string());
            }
            print!("{}", settings_values(&matches, &cli.settings));
            std::process::exit(0);
        }
        cli
    });
    match parsed {
        // Client subcommands use only the data directory (for the admin key): a server
        // setting that would not validate must not stop them.
        Ok(cli) if cli.command.is_client() => cli,
        Ok(cli) => match cli.settings.validate().and_then(|()| {
            if cli.command.runs_jobs() {
                cli.settings.check_tools()
            } else {
                Ok(())
            }
        }) {
            Ok(()) => cli,
            Err(e) => exit_with_config_error(&e.to_string()),
        },
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            // Usage mistakes get clap's own message, which lists what is missing.
            | ErrorKind::MissingRequiredArgument
            | ErrorKind::MissingSubcommand => e.exit(),
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
