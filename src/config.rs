//! One typed configuration, read from flags, the environment and `.env`.
//!
//! Every field has a flag and an environment variable named as in the seed, and a
//! default that works on one machine with nothing installed. Cross-field rules that
//! clap cannot express live in [`Settings::validate`], and every failure is reported
//! as one line that names the environment variable.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// A value that must never reach a log line or a `Debug` dump.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Self(s.to_owned()))
    }
}

/// Where the relational data lives. Only these two are supported: one file for a
/// single machine, one server for many instances.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    pub fn sqlite_file(path: &Path) -> Self {
        Self(format!("sqlite://{}?mode=rwc", path.display()))
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = ["sqlite://", "sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| s.starts_with(scheme));
        if !ok {
            return Err("must start with sqlite:// or postgres://".into());
        }
        Ok(Self(s.to_owned()))
    }
}

/// A connection URL may carry a password; `Debug` shows everything but it.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url_password(&self.0))
    }
}

pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}://{}:[redacted]{}",
            &url[..scheme_end],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_owned(),
    }
}

/// Which preset fills the settings that are not given (see [`Settings::apply_preset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }

    /// The value this environment gives each variable not set explicitly (flag,
    /// environment or `.env`). Settings not listed keep their defaults.
    pub fn preset(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Development => &[("LOG_FORMAT", "text")],
            Self::Production => &[
                ("JWT_EXPIRE_MINUTES", "15"),
                ("RATE_LIMIT_REQUESTS", "1000"),
                ("RATE_LIMIT_WINDOW", "3600"),
                ("LOG_FORMAT", "json"),
                ("LOG_LEVEL", "info"),
                ("HOST", "127.0.0.1"),
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StorageType {
    Local,
    S3,
}

/// Which program turns PDFs into text (all run confined, one process per PDF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PdfTextEngine {
    /// The fastest installed engine that passes the quality tests: MuPDF's `mutool` when
    /// it is on `PATH`, else Poppler's `pdftotext`, else the built-in engine.
    Auto,
    /// MuPDF's `mutool` (Debian `mupdf-tools`; AGPL, run as a separate program, never
    /// linked); `serve` and `worker` refuse to start when it is missing.
    Mupdf,
    /// Poppler's `pdftotext` (Debian `poppler-utils`); `serve` and `worker` refuse to start
    /// when it is missing.
    Pdftotext,
    /// pdf-extract (on lopdf), inside this binary: nothing to install.
    Builtin,
}

/// Whether statement extraction OCRs pages that have no text layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatementsOcr {
    /// Tesseract (Debian `tesseract-ocr`, `tesseract-ocr-eng`) and Poppler's `pdftoppm`
    /// when both are on `PATH`, each run confined like the PDF engines; without them a
    /// scanned page is reported as `needs_ocr`.
    Auto,
    /// Never: a scanned page is reported as `needs_ocr`.
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
}

/// A size in bytes: a plain number, or a number with a `KB`/`MB`/`GB` (powers of 1024)
/// suffix, so `MAX_FILE_SIZE=500MB` reads as an operator means it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        let (digits, factor) = [
            ("GIB", 1u64 << 30),
            ("GB", 1 << 30),
            ("G", 1 << 30),
            ("MIB", 1 << 20),
            ("MB", 1 << 20),
            ("M", 1 << 20),
            ("KIB", 1 << 10),
            ("KB", 1 << 10),
            ("K", 1 << 10),
            ("B", 1),
        ]
        .iter()
        .find_map(|(suffix, f)| {
            upper
                .strip_suffix(suffix)
                .map(|d| (d.trim().to_owned(), *f))
        })
        .unwrap_or((upper.clone(), 1));
        let n: u64 = digits.parse().map_err(|_| {
            format!("'{t}' is not a positive size in bytes (e.g. 104857600 or 100MB)")
        })?;
        if n == 0 {
            return Err("must be greater than zero".into());
        }
        n.checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("'{t}' is too large"))
    }
}

fn positive_u32(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("must be greater than zero".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a positive whole number")),
    }
}

fn port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .map_err(|_| format!("'{s}' is not a port number (0-65535)"))
}

/// A comma-separated list such as `pdf,json,csv`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommaList(pub Vec<String>);

impl FromStr for CommaList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(
            s.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        ))
    }
}

fn header_name(s: &str) -> Result<String, String> {
    http::HeaderName::from_str(s)
        .map(|h| h.as_str().to_owned())
        .map_err(|_| format!("'{s}' is not a valid HTTP header name"))
}

fn log_level(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    match lower.as_str() {
        "trace" | "debug" | "info" | "warn" | "warning" | "error" => {
            Ok(lower.replace("warning", "warn"))
        }
        // Anything else must be a valid EnvFilter directive such as `quire=debug,sqlx=warn`.
        _ => tracing_subscriber::EnvFilter::try_new(&lower)
            .map(|_| lower.clone())
            .map_err(|e| format!("'{s}' is not a log level or filter: {e}")),
    }
}

/// Every setting of the service. Flags and environment variables have the same
/// meaning; `.env` in the working directory is read first and never overrides the
/// real environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// development (defaults as listed, text logs) or production (JWT_EXPIRE_MINUTES=15,
    /// 1000 requests per hour, JSON logs at info; SECRET_KEY required, local storage only
    /// with ALLOW_LOCAL_STORAGE). A variable set explicitly beats its preset.
    #[arg(
        long,
        env = "ENVIRONMENT",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub environment: Environment,

    /// With ENVIRONMENT=production, accept STORAGE_TYPE=local (one machine, one disk).
    #[arg(long, env = "ALLOW_LOCAL_STORAGE", default_value = "false", action = clap::ArgAction::Set, global = true)]
    pub allow_local_storage: bool,

    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value = "8000", value_parser = port, global = true)]
    pub port: u16,

    /// Directory for everything Quire keeps on this machine (SQLite file, files, generated secret).
    #[arg(long, env = "QUIRE_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// sqlite://PATH or postgres://USER@HOST/DB. Default: sqlite file <data>/quire.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Largest number of pooled database connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value = "10", value_parser = positive_u32, global = true)]
    pub database_max_connections: u32,

    /// Connections kept open even when idle.
    #[arg(
        long,
        env = "DATABASE_MIN_CONNECTIONS",
        default_value = "0",
        global = true
    )]
    pub database_min_connections: u32,

    /// redis://HOST:PORT for shared rate limits, cross-instance events and the shared cache (optional; without it the cache is in memory).
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<Secret>,

    /// Seconds a question run's answer is kept in the answer cache (used by runs started with cache: true; a change to the workspace's documents makes older answers unreachable at once).
    #[arg(long, env = "ANSWER_CACHE_SECONDS", default_value = "604800", value_parser = positive_u32, global = true)]
    pub answer_cache_seconds: u32,

    /// Base URL of an AnythingLLM instance, e.g. http://localhost:3001 (optional).
    #[arg(long, env = "ANYTHINGLLM_URL", global = true)]
    pub anythingllm_url: Option<String>,

    /// API key of that AnythingLLM instance.
    #[arg(
        long,
        env = "ANYTHINGLLM_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub anythingllm_api_key: Option<Secret>,

    /// Seconds before a call to AnythingLLM is abandoned.
    #[arg(long, env = "ANYTHINGLLM_TIMEOUT", default_value = "30", value_parser = positive_u32, global = true)]
    pub anythingllm_timeout: u32,

    /// Questions asked at once of one backend (AnythingLLM, embedded), shared by every question run of this process.
    #[arg(long, env = "BACKEND_MAX_CONCURRENCY", default_value = "8", value_parser = positive_u32, global = true)]
    pub backend_max_concurrency: u32,

    /// Characters per chunk of the embedded engine.
    #[arg(long, env = "CHUNK_SIZE", default_value = "1000", value_parser = positive_u32, global = true)]
    pub chunk_size: u32,

    /// Characters shared by consecutive chunks.
    #[arg(long, env = "CHUNK_OVERLAP", default_value = "150", global = true)]
    pub chunk_overlap: u32,

    /// Default LLM for the embedded engine: openai (also ollama, vllm, llamacpp) or anthropic. Unset: extractive answers.
    #[arg(long, env = "LLM_PROVIDER", global = true)]
    pub llm_provider: Option<String>,

    /// Base URL of that LLM API, e.g. http://localhost:11434 for Ollama.
    #[arg(long, env = "LLM_BASE_URL", global = true)]
    pub llm_base_url: Option<String>,

    /// Model name for that LLM API.
    #[arg(long, env = "LLM_MODEL", global = true)]
    pub llm_model: Option<String>,

    /// API key for that LLM API (local servers need none).
    #[arg(long, env = "LLM_API_KEY", hide_env_values = true, global = true)]
    pub llm_api_key: Option<Secret>,

    /// Consecutive failed calls that open the circuit breaker of one LLM endpoint (summaries): calls then fail at once and their jobs retry later.
    #[arg(long, env = "LLM_BREAKER_THRESHOLD", default_value = "5", value_parser = positive_u32, global = true)]
    pub llm_breaker_threshold: u32,

    /// Seconds an LLM endpoint's breaker stays open before one trial call (half-open).
    #[arg(long, env = "LLM_BREAKER_COOLDOWN", default_value = "60", value_parser = positive_u32, global = true)]
    pub llm_breaker_cooldown: u32,

    /// Attempts per AnythingLLM call on transient failures (1 = no retry).
    #[arg(long, env = "ANYTHINGLLM_MAX_ATTEMPTS", default_value = "4", value_parser = positive_u32, global = true)]
    pub anythingllm_max_attempts: u32,

    /// First retry delay in milliseconds; doubles per attempt, with jitter, up to 8 s.
    #[arg(long, env = "ANYTHINGLLM_RETRY_BASE_MS", default_value = "250", value_parser = positive_u32, global = true)]
    pub anythingllm_retry_base_ms: u32,

    /// Consecutive failures that open the circuit breaker of the AnythingLLM instance.
    #[arg(long, env = "ANYTHINGLLM_BREAKER_THRESHOLD", default_value = "5", value_parser = positive_u32, global = true)]
    pub anythingllm_breaker_threshold: u32,

    /// Seconds the breaker stays open before one trial call (half-open).
    #[arg(long, env = "ANYTHINGLLM_BREAKER_COOLDOWN", default_value = "60", value_parser = positive_u32, global = true)]
    pub anythingllm_breaker_cooldown: u32,

    /// Where originals are kept: local directory or S3.
    #[arg(
        long,
        env = "STORAGE_TYPE",
        value_enum,
        default_value = "local",
        global = true
    )]
    pub storage_type: StorageType,

    /// Directory for STORAGE_TYPE=local. Default: <data>/files.
    #[arg(long, env = "STORAGE_PATH", global = true)]
    pub storage_path: Option<PathBuf>,

    /// Bucket for STORAGE_TYPE=s3.
    #[arg(long, env = "S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,

    /// Region for STORAGE_TYPE=s3.
    #[arg(long, env = "S3_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,

    /// Endpoint of an S3-compatible store (MinIO, moto...); path-style requests are used.
    #[arg(long, env = "S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// Access key for STORAGE_TYPE=s3 (default: AWS_ACCESS_KEY_ID and the usual AWS chain).
    #[arg(long, env = "S3_ACCESS_KEY_ID", hide_env_values = true, global = true)]
    pub s3_access_key_id: Option<Secret>,

    /// Secret key for STORAGE_TYPE=s3 (default: AWS_SECRET_ACCESS_KEY).
    #[arg(
        long,
        env = "S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub s3_secret_access_key: Option<Secret>,

    /// Executable that extracts PDF text in a confined child process (default: this binary).
    #[arg(long, env = "QUIRE_PDF_EXTRACTOR", hide = true, global = true)]
    pub pdf_extractor: Option<PathBuf>,

    /// PDF text engine: auto (mutool, else pdftotext, else builtin: the first on PATH), mupdf, pdftotext or builtin
    #[arg(
        long,
        env = "PDF_TEXT_ENGINE",
        value_enum,
        default_value = "auto",
        global = true
    )]
    pub pdf_text_engine: PdfTextEngine,

    /// PDFs one upload extracts at once, each in its own confined process; 0 = one per CPU core
    #[arg(long, env = "PDF_WORKERS", default_value = "0", global = true)]
    pub pdf_workers: u16,

    /// OCR of statement pages with no text layer (scans): auto (Tesseract and pdftoppm when both are on PATH; else such pages are marked needs_ocr) or off
    #[arg(
        long,
        env = "STATEMENTS_OCR",
        value_enum,
        default_value = "auto",
        global = true
    )]
    pub statements_ocr: StatementsOcr,

    /// Largest upload accepted, in bytes (suffixes KB, MB, GB allowed).
    #[arg(long, env = "MAX_FILE_SIZE", default_value = "100MB", global = true)]
    pub max_file_size: ByteSize,

    /// Document types accepted inside a bundle.
    #[arg(
        long,
        env = "ALLOWED_FILE_TYPES",
        default_value = "pdf,json,csv",
        global = true
    )]
    pub allowed_file_types: CommaList,

    /// Key for signing tokens. Required with PostgreSQL; generated into <data>/secret-key with SQLite.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true, global = true)]
    pub secret_key: Option<Secret>,

    /// Signing algorithm of access tokens.
    #[arg(
        long,
        env = "JWT_ALGORITHM",
        value_enum,
        default_value = "HS256",
        global = true
    )]
    pub jwt_algorithm: JwtAlgorithm,

    /// Lifetime of an access token in minutes.
    #[arg(long, env = "JWT_EXPIRE_MINUTES", default_value = "60", value_parser = positive_u32, global = true)]
    pub jwt_expire_minutes: u32,

    /// Lifetime of a refresh token in days.
    #[arg(long, env = "JWT_REFRESH_EXPIRE_DAYS", default_value = "14", value_parser = positive_u32, global = true)]
    pub jwt_refresh_expire_days: u32,

    /// Header that carries an API key (Authorization: Bearer is always accepted too).
    #[arg(long, env = "API_KEY_HEADER", default_value = "X-API-Key", value_parser = header_name, global = true)]
    pub api_key_header: String,

    /// Let anyone create an organisation through POST /api/v1/auth/register.
    #[arg(long, env = "ALLOW_REGISTRATION", default_value = "true", action = clap::ArgAction::Set, global = true)]
    pub allow_registration: bool,

    /// Seconds an authenticated API key or login session is kept in memory before it is
    /// read from the database again (0 = read it on every request). Revocations,
    /// deactivations and role changes clear the cache at once, on every instance that
    /// shares the PostgreSQL database (LISTEN/NOTIFY); this is only a backstop.
    #[arg(long, env = "AUTH_CACHE_SECONDS", default_value = "30", global = true)]
    pub auth_cache_seconds: u64,

    /// Seconds live events are kept in the shared event log (GET /api/v1/ws): a client
    /// that reconnects with an older `last_event_id` is told to `resync`.
    #[arg(long, env = "EVENT_RETENTION_SECONDS", default_value = "600", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub event_retention_seconds: u64,

    /// Open WebSocket connections allowed per organisation on this instance; past it the
    /// handshake is refused with 429.
    #[arg(long, env = "WS_MAX_CONNECTIONS_PER_ORG", default_value = "1000", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub ws_max_connections_per_org: u32,

    /// Shortest password accepted.
    #[arg(long, env = "PASSWORD_MIN_LENGTH", default_value = "8", value_parser = positive_u32, global = true)]
    pub password_min_length: u32,

    /// Bearer token that `/api/v1/metrics` requires (`Authorization: Bearer <token>`;
    /// an admin's API key or session works too). Unset: the metrics are public, for a
    /// scraper on a private network.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<Secret>,

    /// Turn per-principal rate limiting on or off.
    #[arg(long, env = "RATE_LIMIT_ENABLED", default_value = "true", action = clap::ArgAction::Set, global = true)]
    pub rate_limit_enabled: bool,

    /// Requests allowed per principal (or IP when anonymous) in one window.
    #[arg(long, env = "RATE_LIMIT_REQUESTS", default_value = "1000", value_parser = positive_u32, global = true)]
    pub rate_limit_requests: u32,

    /// Length of the rate-limit window in seconds.
    #[arg(long, env = "RATE_LIMIT_WINDOW", default_value = "3600", value_parser = positive_u32, global = true)]
    pub rate_limit_window: u32,

    /// Login attempts allowed per email and IP in one window.
    #[arg(long, env = "RATE_LIMIT_LOGIN_REQUESTS", default_value = "10", value_parser = positive_u32, global = true)]
    pub rate_limit_login_requests: u32,

    /// Prefix of rate-limit keys in Redis; instances sharing a budget use the same one.
    #[arg(
        long,
        env = "RATE_LIMIT_REDIS_PREFIX",
        default_value = "quire:ratelimit:",
        global = true
    )]
    pub rate_limit_redis_prefix: String,

    /// trace, debug, info, warn, error, or an EnvFilter directive.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log_level, global = true)]
    pub log_level: String,

    /// json (one object per line) or text.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "json",
        global = true
    )]
    pub log_format: LogFormat,

    /// Replace values of fields named like password/secret/token/api_key in logs.
    #[arg(long, env = "LOG_SANITIZE_SENSITIVE", default_value = "true", action = clap::ArgAction::Set, global = true)]
    pub log_sanitize_sensitive: bool,

    /// Finished jobs older than this many days are removed by the periodic cleanup.
    #[arg(long, env = "JOB_CLEANUP_DAYS", default_value = "7", value_parser = positive_u32, global = true)]
    pub job_cleanup_days: u32,

    /// Jobs run at once by this process's workers.
    #[arg(long, env = "MAX_CONCURRENT_JOBS", default_value = "5", value_parser = positive_u32, global = true)]
    pub max_concurrent_jobs: u32,

    /// Seconds a worker holds a claimed job before another worker may take it over. The
    /// lease is renewed every third of this while the handler runs, so only a worker that
    /// died (or hung for a whole lease) loses its job.
    #[arg(long, env = "JOB_LEASE_SECONDS", default_value = "30", value_parser = positive_u32, global = true)]
    pub job_lease_seconds: u32,

    /// Milliseconds between checks for due jobs when nothing woke the workers (SQLite; PostgreSQL
    /// wakes them with LISTEN/NOTIFY and polls five times less often as a fallback).
    #[arg(long, env = "JOB_POLL_INTERVAL_MS", default_value = "200", value_parser = positive_u32, global = true)]
    pub job_poll_interval_ms: u32,

    /// Attempts a job gets (first run included) before it ends `failed`, unless it sets its own.
    #[arg(long, env = "JOB_MAX_ATTEMPTS", default_value = "3", value_parser = positive_u32, global = true)]
    pub job_max_attempts: u32,

    /// Delay before the first retry of a failed job, in milliseconds; it doubles with each
    /// further attempt (plus up to 25% jitter), up to 15 minutes.
    #[arg(long, env = "JOB_RETRY_BACKOFF_MS", default_value = "1000", value_parser = positive_u32, global = true)]
    pub job_retry_backoff_ms: u32,

    /// Diagnostics: register the `test.*` job types (noop, sleep, steps, fail, panic, record)
    /// used by the test suite and benchmarks. Never needed in production.
    #[arg(long, env = "QUIRE_ENABLE_TEST_JOBS", default_value = "false", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", hide = true, global = true)]
    pub enable_test_jobs: bool,

    /// Origins allowed by CORS, comma separated (empty: no cross-origin access).
    #[arg(long, env = "ALLOWED_ORIGINS", default_value = "", global = true)]
    pub allowed_origins: CommaList,

    /// Largest request body outside uploads, in bytes.
    #[arg(
        long,
        env = "MAX_REQUEST_BODY_SIZE",
        default_value = "2MB",
        global = true
    )]
    pub max_request_body_size: ByteSize,

    /// Seconds a request may take before it is answered 504.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30", value_parser = positive_u32, global = true)]
    pub request_timeout: u32,

    /// Seconds an upload request may take (uploads are exempt from REQUEST_TIMEOUT).
    #[arg(long, env = "UPLOAD_TIMEOUT", default_value = "3600", value_parser = positive_u32, global = true)]
    pub upload_timeout: u32,

    /// Requests handled at once; past this the service answers 503 with Retry-After.
    #[arg(long, env = "MAX_IN_FLIGHT_REQUESTS", default_value = "1024", value_parser = positive_u32, global = true)]
    pub max_in_flight_requests: u32,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "20", value_parser = positive_u32, global = true)]
    pub shutdown_timeout: u32,
}

/// A configuration error: the variable it concerns and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

impl Settings {
    /// The server-default LLM, the lowest layer of `quire_llm::LlmResolver`:
    /// `LLM_PROVIDER` and `LLM_BASE_URL` together, else none (extractive
    /// answers unless a workspace names a model). Temperature, tokens and
    /// timeout are the crate's defaults.
    pub fn llm_default(&self) -> Result<Option<quire_llm::LlmSettings>, ConfigError> {
        let (Some(provider), Some(base)) = (&self.llm_provider, &self.llm_base_url) else {
            return Ok(None);
        };
        let provider: quire_llm::Provider = provider
            .parse()
            .map_err(|e: quire_llm::SettingsError| ConfigError::new("LLM_PROVIDER", e.reason()))?;
        let mut settings = quire_llm::LlmSettings::new(
            provider,
            base.clone(),
            self.llm_model.clone().unwrap_or_default(),
        );
        settings.api_key = self
            .llm_api_key
            .as_ref()
            .map(|k| quire_llm::ApiKey::new(k.expose()));
        Ok(Some(settings))
    }

    /// Gives every setting of the environment's preset that was not set explicitly
    /// (`is_explicit(variable)`: a flag, the environment or `.env`) the preset's value.
    pub fn apply_preset(&mut self, is_explicit: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
        for &(variable, value) in self.environment.preset() {
            if is_explicit(variable) {
                continue;
            }
            let bad =
                |e: String| ConfigError::new("ENVIRONMENT", format!("preset {variable}: {e}"));
            match variable {
                "JWT_EXPIRE_MINUTES" => {
                    self.jwt_expire_minutes = positive_u32(value).map_err(bad)?
                }
                "RATE_LIMIT_REQUESTS" => {
                    self.rate_limit_requests = positive_u32(value).map_err(bad)?
                }
                "RATE_LIMIT_WINDOW" => self.rate_limit_window = positive_u32(value).map_err(bad)?,
                "LOG_FORMAT" => self.log_format = LogFormat::from_str(value, true).map_err(bad)?,
                "LOG_LEVEL" => self.log_level = log_level(value).map_err(bad)?,
                "HOST" => {
                    self.host = value
                        .parse()
                        .map_err(|e: std::net::AddrParseError| bad(e.to_string()))?
                }
                _ => return Err(bad("has no field".into())),
            }
        }
        Ok(())
    }

    /// The value in force of a variable a preset may set, as `quire settings --format
    /// values` shows it.
    pub fn preset_variable(&self, variable: &str) -> Option<String> {
        Some(match variable {
            "JWT_EXPIRE_MINUTES" => self.jwt_expire_minutes.to_string(),
            "RATE_LIMIT_REQUESTS" => self.rate_limit_requests.to_string(),
            "RATE_LIMIT_WINDOW" => self.rate_limit_window.to_string(),
            "LOG_FORMAT" => format!("{:?}", self.log_format).to_lowercase(),
            "LOG_LEVEL" => self.log_level.clone(),
            "HOST" => self.host.to_string(),
            _ => return None,
        })
    }

    /// Rules spanning several fields, checked once at start.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.environment == Environment::Production {
            if self.secret_key.is_none() {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    "is required with ENVIRONMENT=production (at least 32 characters)",
                ));
            }
            if self.storage_type == StorageType::Local && !self.allow_local_storage {
                return Err(ConfigError::new(
                    "STORAGE_TYPE",
                    "is local, which ENVIRONMENT=production refuses unless ALLOW_LOCAL_STORAGE=true",
                ));
            }
        }
        if self.database_url().is_postgres() && self.secret_key.is_none() {
            return Err(ConfigError::new(
                "SECRET_KEY",
                "is required with PostgreSQL: instances sharing one database must sign tokens with the same key",
            ));
        }
        if let Some(key) = &self.secret_key
            && key.expose().len() < 32
        {
            return Err(ConfigError::new(
                "SECRET_KEY",
                "must be at least 32 characters",
            ));
        }
        if self.storage_type == StorageType::S3 && self.s3_bucket.is_none() {
            return Err(ConfigError::new(
                "S3_BUCKET",
                "is required when STORAGE_TYPE=s3",
            ));
        }
        if self.anythingllm_url.is_some() && self.anythingllm_api_key.is_none() {
            return Err(ConfigError::new(
                "ANYTHINGLLM_API_KEY",
                "is required when ANYTHINGLLM_URL is set",
            ));
        }
        if let Some(url) = &self.anythingllm_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "ANYTHINGLLM_URL",
                "must start with http:// or https://",
            ));
        }
        if let Some(url) = &self.redis_url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            return Err(ConfigError::new(
                "REDIS_URL",
                "must start with redis:// or rediss://",
            ));
        }
        for origin in &self.allowed_origins.0 {
            if origin != "*" && http::HeaderValue::from_str(origin).is_err() {
                return Err(ConfigError::new(
                    "ALLOWED_ORIGINS",
                    format!("contains '{origin}', which is not a valid origin"),
                ));
            }
        }
        if self.database_min_connections > self.database_max_connections {
            return Err(ConfigError::new(
                "DATABASE_MIN_CONNECTIONS",
                "must not exceed DATABASE_MAX_CONNECTIONS",
            ));
        }
        Ok(())
    }

    /// Are the programs the settings ask for installed? Checked only by the commands
    /// that run jobs, so `quire migrate` or `quire admin` works on a machine (or in a
    /// container) without them.
    pub fn check_tools(&self) -> Result<(), ConfigError> {
        if self.pdf_text_engine == PdfTextEngine::Pdftotext
            && quire_ingest::PopplerTools::find_on_path().is_none()
        {
            return Err(ConfigError::new(
                "PDF_TEXT_ENGINE",
                "is pdftotext, but no pdftotext is on PATH (install poppler-utils, or use auto or builtin)",
            ));
        }
        if self.pdf_text_engine == PdfTextEngine::Mupdf
            && quire_ingest::MupdfTool::find_on_path().is_none()
        {
            return Err(ConfigError::new(
                "PDF_TEXT_ENGINE",
                "is mupdf, but no mutool is on PATH (install mupdf-tools, or use auto or builtin)",
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::sqlite_file(&self.data_dir.join("quire.db")))
    }

    pub fn storage_path(&self) -> PathBuf {
        self.storage_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files"))
    }

    pub fn storage_type_name(&self) -> &'static str {
        match self.storage_type {
            StorageType::Local => "local",
            StorageType::S3 => "s3",
        }
    }

    /// The token-signing key: `SECRET_KEY`, or with SQLite a key generated on first
    /// start and kept in `<data>/secret-key` (mode 0600) so tokens survive restarts.
    pub fn resolve_secret_key(&self) -> anyhow::Result<Secret> {
        if let Some(key) = &self.secret_key {
            return Ok(key.clone());
        }
        let path = self.data_dir.join("secret-key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let existing = existing.trim();
            if existing.len() >= 32 {
                return Ok(Secret::new(existing));
            }
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let mut bytes = [0u8; 48];
        rand::fill(&mut bytes[..]);
        let key = hex::encode(bytes);
        crate::fsutil::write_private_file(&path, key.as_bytes())?;
        Ok(Secret::new(key))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.request_timeout))
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.shutdown_timeout))
    }

    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(u64::from(self.job_lease_seconds))
    }

    /// How often a running job's lease is renewed: a third of the lease, so two renewals
    /// may fail before another worker can take the job.
    pub fn job_heartbeat_interval(&self) -> Duration {
        self.job_lease() / 3
    }

    pub fn job_poll_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.job_poll_interval_ms))
    }

    pub fn rate_limit_window(&self) -> Duration {
        Duration::from_secs(u64::from(self.rate_limit_window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_accept_plain_numbers_and_suffixes() {
        assert_eq!("1024".parse::<ByteSize>(), Ok(ByteSize(1024)));
        assert_eq!("100MB".parse::<ByteSize>(), Ok(ByteSize(100 << 20)));
        assert_eq!("2 gb".parse::<ByteSize>(), Ok(ByteSize(2 << 30)));
        assert!("-1".parse::<ByteSize>().is_err());
        assert!("0".parse::<ByteSize>().is_err());
        assert!("lots".parse::<ByteSize>().is_err());
    }

    #[test]
    fn database_url_rejects_unknown_schemes() {
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
        assert!("sqlite://./data/q.db".parse::<DatabaseUrl>().is_ok());
        assert!(
            "postgres://postgres@127.0.0.1/q"
                .parse::<DatabaseUrl>()
                .is_ok()
        );
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://quire:hunter2@db:5432/quire"),
            "postgres://quire:[redacted]@db:5432/quire"
        );
        assert_eq!(
            redact_url_password("postgres://quire@db/quire"),
            "postgres://quire@db/quire"
        );
    }

    #[test]
    fn job_heartbeats_come_three_times_per_lease() {
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "quire",
            "worker",
            "--job-lease-seconds=6",
        ])
        .unwrap();
        assert_eq!(cli.settings.job_lease(), Duration::from_secs(6));
        assert_eq!(
            cli.settings.job_heartbeat_interval(),
            Duration::from_secs(2)
        );
        assert_eq!(cli.settings.job_poll_interval(), Duration::from_millis(200));
        assert_eq!(cli.settings.job_max_attempts, 3);
        assert!(!cli.settings.enable_test_jobs);
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Secret::new("s3cr3t-value");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
