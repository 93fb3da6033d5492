//! Question-set and run requests and responses, and the checks that turn input into
//! rows. The question model itself is `quire_evals::Question`.

use quire_evals::{ParseError, Question, QuestionSet, SetFormat, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::jobs::response::JobResponse;
use crate::workspaces::model::{LlmOverride, validate_llm};

/// A question-set file's format, as named in requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Json,
    Csv,
    /// promptfoo-style YAML (`tests:` with `vars` and `assert`).
    #[serde(alias = "yml")]
    Yaml,
}

impl From<FileFormat> for SetFormat {
    fn from(f: FileFormat) -> Self {
        match f {
            FileFormat::Json => SetFormat::Json,
            FileFormat::Csv => SetFormat::Csv,
            FileFormat::Yaml => SetFormat::Yaml,
        }
    }
}

/// A question-set file sent as text.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionFile {
    pub format: FileFormat,
    /// The whole file.
    pub content: String,
}

/// Creates or replaces a question set: either `questions` (inline, the JSON model of
/// quire-evals) or a file as `format` + `content` (JSON, CSV or promptfoo YAML).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionSetRequest {
    #[schema(value_type = crate::text::Name)]
    pub name: String,
    pub description: Option<String>,
    /// Inline questions: `{id?, text, expected_fragments?, assertions?, doc_types?, llm_config?}`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub questions: Option<Vec<Question>>,
    pub format: Option<FileFormat>,
    /// The file's text, with `format`.
    pub content: Option<String>,
}

/// The outcome of reading a set from a request: validated questions, and the
/// description the file carried (promptfoo's `description`).
pub struct ParsedSet {
    pub name: String,
    pub description: Option<String>,
    pub questions: Vec<Question>,
}

impl QuestionSetRequest {
    pub fn into_parsed(self) -> Result<ParsedSet, ApiError> {
        let name = crate::text::parse_name("name", &self.name, 255)?;
        let set = match (self.questions, self.format, self.content) {
            (Some(questions), None, None) => inline_set(questions)?,
            (None, Some(format), Some(content)) => parse_file(format, &content)?,
            (None, None, None) => QuestionSet::default(),
            (Some(_), _, _) => {
                return Err(ApiError::invalid_field(
                    "questions",
                    "give either `questions` or `format` with `content`, not both",
                ));
            }
            (None, None, Some(_)) => {
                return Err(ApiError::invalid_field(
                    "format",
                    "is required with `content` (json, csv or yaml)",
                ));
            }
            (None, Some(_), None) => {
                return Err(ApiError::invalid_field(
                    "content",
                    "is required with `format`",
                ));
            }
        };
        Ok(ParsedSet {
            name,
            description: self.description.or(set.description),
            questions: set.questions,
        })
    }
}

/// Validates inline questions (fills in missing ids); a bad one is a `422` naming it.
pub fn inline_set(questions: Vec<Question>) -> Result<QuestionSet, ApiError> {
    let mut set = QuestionSet {
        name: None,
        description: None,
        questions,
    };
    set.validate().map_err(validation_error)?;
    Ok(set)
}

/// Parses a file; a bad one is a `400` naming the line.
pub fn parse_file(format: FileFormat, content: &str) -> Result<QuestionSet, ApiError> {
    quire_evals::parse(format.into(), content).map_err(parse_error)
}

pub fn parse_error(e: ParseError) -> ApiError {
    ApiError::BadRequest {
        message: e.to_string(),
        details: Some(json!({
            "format": e.format,
            "line": e.line,
            "column": e.column,
            "path": e.path,
            "reason": e.message,
        })),
    }
}

pub fn validation_error(e: ValidationError) -> ApiError {
    let field = e.path().unwrap_or_else(|| "questions".to_owned());
    ApiError::invalid_field(&field, e.message)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionSetResponse {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub question_count: i64,
    #[schema(value_type = Vec<Object>)]
    pub questions: Vec<Question>,
    pub created_at: String,
    pub updated_at: String,
}

/// One shared thread for the run, or a fresh one per question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThreadStrategy {
    #[default]
    PerQuestion,
    Shared,
}

pub const DEFAULT_CONCURRENCY: u32 = 4;
pub const MAX_CONCURRENCY: u32 = 50;
pub const DEFAULT_THRESHOLD: f64 = 0.8;
pub const MAX_REPEATS: u32 = 10;

/// Starts a run: a workspace, and exactly one of `question_set_id`, `questions` or
/// `question_set` (a file).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub workspace_id: String,
    pub question_set_id: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub questions: Option<Vec<Question>>,
    pub question_set: Option<QuestionFile>,
    /// Questions in flight at once for this run, 1 to 50 (default 4).
    #[schema(minimum = 1, maximum = 50)]
    pub concurrency: Option<u32>,
    pub thread_strategy: Option<ThreadStrategy>,
    /// LLM settings for this run, over the workspace's (a question's own go over these).
    pub llm_config: Option<LlmOverride>,
    /// Pass mark for `confidence_score`, 0 to 1 (default 0.8).
    #[schema(minimum = 0, maximum = 1)]
    pub threshold: Option<f64>,
    /// Times each question is asked, 1 to 10 (default 1); a question passes when every
    /// repeat passes (pass^N).
    #[schema(minimum = 1, maximum = 10)]
    pub repeats: Option<u32>,
    /// Leave the run's threads open on the backend (default: closed at the end).
    #[serde(default)]
    pub keep_threads: bool,
    /// Answer from the answer cache where it can (default false, so a regression run
    /// asks the model): an answer is reused when the workspace's documents, the
    /// question's text, its document types, the repeat number and the LLM and prompt
    /// settings are the same as when it was asked. Each result says `cached`. Needs
    /// `thread_strategy: per_question` (a shared thread's answers depend on the
    /// conversation before them).
    #[serde(default)]
    pub cache: bool,
}

/// The run's settings as stored with it (and in its job's payload).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RunSettings {
    pub concurrency: u32,
    pub thread_strategy: ThreadStrategy,
    pub threshold: f64,
    pub repeats: u32,
    pub keep_threads: bool,
    pub llm_config: Option<LlmOverride>,
    /// Answers may come from the answer cache.
    #[serde(default)]
    pub cache: bool,
}

impl ExecuteRequest {
    pub fn settings(&self) -> Result<RunSettings, ApiError> {
        let concurrency = self.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(ApiError::invalid_field(
                "concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        let threshold = self.threshold.unwrap_or(DEFAULT_THRESHOLD);
        if !(0.0..=1.0).contains(&threshold) {
            return Err(ApiError::invalid_field(
                "threshold",
                "must be between 0 and 1",
            ));
        }
        let repeats = self.repeats.unwrap_or(1);
        if !(1..=MAX_REPEATS).contains(&repeats) {
            return Err(ApiError::invalid_field(
                "repeats",
                format!("must be between 1 and {MAX_REPEATS}"),
            ));
        }
        if let Some(l) = &self.llm_config {
            validate_llm(l, "llm_config")?;
        }
        let thread_strategy = self.thread_strategy.unwrap_or_default();
        if self.cache && thread_strategy == ThreadStrategy::Shared {
            return Err(ApiError::invalid_field(
                "cache",
                "needs thread_strategy per_question: in a shared thread an answer depends on the questions before it",
            ));
        }
        Ok(RunSettings {
            concurrency,
            thread_strategy,
            threshold,
            repeats,
            keep_threads: self.keep_threads,
            llm_config: self.llm_config.clone(),
            cache: self.cache,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteLinks {
    /// `GET`: the run's progress and pass rate.
    pub status: String,
    /// `GET`: the results, paged; `?format=csv|xlsx` to export.
    pub results: String,
    /// `POST` to cancel.
    pub cancel: String,
    /// Server-Sent Events of progress.
    pub events: String,
}

pub fn execute_links(id: &str) -> ExecuteLinks {
    ExecuteLinks {
        status: format!("/api/v1/questions/jobs/{id}"),
        results: format!("/api/v1/questions/jobs/{id}/results"),
        cancel: format!("/api/v1/jobs/{id}/cancel"),
        events: format!("/api/v1/jobs/{id}/events"),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteAccepted {
    pub job_id: String,
    pub status: String,
    pub total_questions: i64,
    pub links: ExecuteLinks,
}

/// How a run compares with the workspace's baseline run (set when it started).
#[derive(Debug, Serialize, ToSchema)]
pub struct BaselineFlips {
    pub run_id: String,
    /// Questions that passed in the baseline and fail now.
    pub pass_to_fail: usize,
    /// Questions that failed in the baseline and pass now.
    pub fail_to_pass: usize,
    /// Ids of the pass → fail questions.
    pub regressions: Vec<String>,
    /// Ids of the fail → pass questions.
    pub fixes: Vec<String>,
}

/// A run: its job (status, progress, ETA, error …) and the scores so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunResponse {
    #[serde(flatten)]
    pub job: JobResponse,
    pub question_set_id: Option<String>,
    /// Questions in the run.
    pub total: i64,
    /// Questions with every repeat answered.
    pub answered: i64,
    /// Answered questions whose every repeat succeeded.
    pub passed: i64,
    pub failed: i64,
    /// `passed / answered`, `null` before the first answer.
    pub pass_rate: Option<f64>,
    pub threshold: f64,
    pub repeats: i64,
    pub settings: RunSettings,
    /// Flips against the workspace's baseline run, once this run has finished.
    pub baseline: Option<BaselineFlips>,
}

/// An expected fragment found in the answer, and how.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FragmentFound {
    pub fragment: String,
    /// `exact`, `normalised`, `numeric`, `date` or `fuzzy`.
    pub how: String,
    pub matched_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<String>,
}

/// One answer to one question (per repeat).
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultResponse {
    pub question_id: String,
    pub question: String,
    pub response: String,
    /// Weighted share of fragments found and assertions passed, 0 to 1.
    pub confidence_score: f64,
    pub success: bool,
    pub fragments_found: Vec<FragmentFound>,
    pub fragments_missing: Vec<String>,
    /// Each assertion with `passed` (and `detail` when it failed for a reason).
    #[schema(value_type = Vec<Object>)]
    pub assertions: Vec<Value>,
    /// Seconds, retries included.
    pub processing_time: f64,
    #[schema(value_type = Vec<Object>)]
    pub sources: Vec<Value>,
    /// Why the backend could not answer, when it could not.
    pub error: Option<String>,
    /// 1-based repeat number.
    pub repeat: i64,
    /// The answer came from the answer cache (the run asked with `cache: true` and an
    /// identical question had been answered on the same documents and settings), not
    /// from the backend.
    pub cached: bool,
    /// Routing and retry facts: `routing` (`filtered`, `unfiltered`, `all`),
    /// `doc_types`, `attempts` (0 for a cached answer).
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBaselineRequest {
    /// A finished (succeeded) run of this workspace.
    pub run_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> QuestionSetRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_set_is_either_inline_or_a_file() {
        let inline = request(json!({"name": "s", "questions": [{"text": "Why?"}]}))
            .into_parsed()
            .unwrap();
        assert_eq!(inline.questions[0].id, "q1");
        let file = request(json!({"name": "s", "format": "csv", "content": "question\nWhy?\n"}))
            .into_parsed()
            .unwrap();
        assert_eq!(file.questions, inline.questions);
        assert!(
            request(json!({"name": "s", "questions": [], "format": "csv", "content": "x"}))
                .into_parsed()
                .is_err()
        );
        assert!(
            request(json!({"name": "s", "content": "x"}))
                .into_parsed()
                .is_err()
        );
    }

    #[test]
    fn a_bad_file_is_a_400_naming_the_line() {
        let err =
            request(json!({"name": "s", "format": "csv", "content": "question,weights\nA,x\n"}))
                .into_parsed()
                .err()
                .unwrap();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn run_settings_are_bounded_and_defaulted() {
        let r: ExecuteRequest = serde_json::from_value(json!({"workspace_id": "w"})).unwrap();
        let s = r.settings().unwrap();
        assert_eq!((s.concurrency, s.threshold, s.repeats), (4, 0.8, 1));
        assert_eq!(s.thread_strategy, ThreadStrategy::PerQuestion);
        for bad in [
            json!({"workspace_id": "w", "concurrency": 0}),
            json!({"workspace_id": "w", "concurrency": 51}),
            json!({"workspace_id": "w", "threshold": 1.5}),
            json!({"workspace_id": "w", "repeats": 11}),
        ] {
            let r: ExecuteRequest = serde_json::from_value(bad).unwrap();
            assert!(r.settings().is_err());
        }
    }
}
