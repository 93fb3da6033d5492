//! `quire` as a client of a running Quire: workspaces, uploads, question runs, results
//! and comparisons over the REST API.
//!
//! Exit codes: `0` done; `1` done, but the outcome is bad (a pass rate under the
//! threshold, a regression, a failed job); `2` the work could not be done (the server
//! refused, cannot be reached, or the command line is unusable).

mod http;
mod output;
mod runs;
mod summaries;
mod upload;
mod workspace;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

pub use http::{ApiClient, ClientError, ClientResult};

use crate::config::Secret;

/// Where the server is and who we are; every client subcommand takes these.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of the Quire server.
    #[arg(
        long,
        env = "QUIRE_URL",
        default_value = "http://127.0.0.1:8000",
        global = true
    )]
    pub url: String,
    /// API key to authenticate with. Default: the admin key the server saved on its first
    /// start in <QUIRE_DATA_DIR>/admin-api-key.
    #[arg(long, env = "QUIRE_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<Secret>,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace, or reuse the one of that name.
    Create {
        /// The workspace's name (unique in the organisation).
        name: String,
        /// Where documents are indexed and questions answered.
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// What the workspace is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the organisation's workspaces.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    Embedded,
    Anythingllm,
}

impl BackendArg {
    fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Anythingllm => "anythingllm",
        }
    }
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// A ZIP bundle, or a single PDF, JSON or CSV file.
    pub bundle: PathBuf,
    /// Workspace id or name; a name that does not exist yet is created.
    #[arg(long, short = 'w')]
    pub workspace: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// Workspace id or name.
    #[arg(long, short = 'w')]
    pub workspace: String,
    /// The question set: .json, .csv, or promptfoo-style .yaml/.yml.
    #[arg(long, short = 'q')]
    pub questions: PathBuf,
    /// Confidence a question needs to pass (0–1); the run fails (exit 1) when its pass
    /// rate is under it too. Default: the server's.
    #[arg(long, value_parser = unit_interval)]
    pub threshold: Option<f64>,
    /// Questions asked at once (1–50). Default: the server's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub concurrency: Option<u32>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultsFormat {
    Table,
    Csv,
    Json,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// The run's job id, or `last` for the latest run started from here.
    pub job: String,
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: ResultsFormat,
    /// Write to this file instead of standard output (required for xlsx).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The earlier run's job id.
    pub before: String,
    /// The later run's job id, or `last`.
    pub after: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormatArg {
    Markdown,
    Text,
    Json,
}

impl SummaryFormatArg {
    fn as_str(self) -> &'static str {
        match self {
            Self::Markdown => "markdown",
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// The document's id, or its title (or part of it, when that names one document).
    pub document: String,
    /// A template's name or id (default: the organisation's default summary template).
    #[arg(long, short = 't')]
    pub template: Option<String>,
    #[arg(long, short = 'f', value_enum, default_value = "markdown")]
    pub format: SummaryFormatArg,
    /// The template's `language` variable.
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List the organisation's templates and the global ones.
    List,
    /// Print one template (id or name).
    Show { template: String },
    /// Create a template from a MiniJinja file.
    Create {
        file: PathBuf,
        /// Default: the file's name without extension.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Make it the organisation's default summary template.
        #[arg(long)]
        default: bool,
    },
}

fn unit_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// A client subcommand, ready to run.
#[derive(Debug)]
pub enum ClientCommand {
    Workspace(ClientArgs, WorkspaceCommand),
    Upload(UploadArgs),
    Ask(AskArgs),
    Results(ResultsArgs),
    Compare(CompareArgs),
    Summarize(SummarizeArgs),
    Templates(ClientArgs, TemplatesCommand),
}

impl ClientCommand {
    fn client_args(&self) -> &ClientArgs {
        match self {
            Self::Workspace(args, _) => args,
            Self::Upload(a) => &a.client,
            Self::Ask(a) => &a.client,
            Self::Results(a) => &a.client,
            Self::Compare(a) => &a.client,
            Self::Summarize(a) => &a.client,
            Self::Templates(args, _) => args,
        }
    }
}

/// Where the client keeps what it needs between commands: the data directory of the
/// local server (its admin key) and the id of the last run started from here.
pub struct Context {
    pub api: ApiClient,
    pub data_dir: PathBuf,
}

/// Runs a client subcommand and returns the process exit code. Errors are printed here,
/// on one line of standard error.
pub async fn run(data_dir: &Path, command: ClientCommand) -> i32 {
    match run_inner(data_dir, command).await {
        Ok(code) => code,
        Err(e) => {
            match &e {
                ClientError::Server { .. } | ClientError::Unreachable { .. } => {
                    eprintln!("{e}")
                }
                _ => eprintln!("error: {e}"),
            }
            2
        }
    }
}

async fn run_inner(data_dir: &Path, command: ClientCommand) -> ClientResult<i32> {
    let args = command.client_args();
    let key = match &args.api_key {
        Some(key) => key.clone(),
        None => read_admin_key(data_dir)?,
    };
    let ctx = Context {
        api: ApiClient::new(&args.url, Some(key))?,
        data_dir: data_dir.to_path_buf(),
    };
    match command {
        ClientCommand::Workspace(
            _,
            WorkspaceCommand::Create {
                name,
                backend,
                description,
            },
        ) => workspace::create(&ctx, &name, backend, description.as_deref()).await,
        ClientCommand::Workspace(_, WorkspaceCommand::List) => workspace::list(&ctx).await,
        ClientCommand::Upload(a) => upload::run(&ctx, &a.bundle, &a.workspace).await,
        ClientCommand::Ask(a) => runs::ask(&ctx, &a).await,
        ClientCommand::Results(a) => runs::results(&ctx, &a).await,
        ClientCommand::Compare(a) => runs::compare(&ctx, &a.before, &a.after).await,
        ClientCommand::Summarize(a) => summaries::summarize(&ctx, &a).await,
        ClientCommand::Templates(_, c) => summaries::templates(&ctx, &c).await,
    }
}

/// The admin key `quire serve` saved on its first start.
fn read_admin_key(data_dir: &Path) -> ClientResult<Secret> {
    let path = data_dir.join(crate::auth::bootstrap::ADMIN_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(Secret::new(text.trim())),
        Ok(_) => Err(ClientError::Usage(format!(
            "{} is empty: pass --api-key or set QUIRE_API_KEY",
            path.display()
        ))),
        Err(_) => Err(ClientError::Usage(format!(
            "no API key: pass --api-key or set QUIRE_API_KEY (the server's first start saves one in {}; \
             set QUIRE_DATA_DIR to its data directory)",
            path.display()
        ))),
    }
}
