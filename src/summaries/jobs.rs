//! The `summaries.generate` job: one summary, extractive or from a model.
//!
//! - **Idempotent**: a summary that is no longer `pending` is left as it is, so a job
//!   run again after a crash does nothing twice; the outcome is written with
//!   `WHERE status = 'pending'`.
//! - **Extractive** when the summary has no LLM settings (`quire_summarize::summarize`).
//! - **Cache**: unless the request said `cache: false`, a completed, fresh summary of
//!   the organisation with the same cache key (content hash + rendered prompt + model
//!   settings + format + schema) gives its text, without a call
//!   (`summaries_cache_total{result}`).
//! - **Map-reduce** when the prompt would not fit `context_tokens`
//!   ([`quire_summarize::MapReducePlan`]: the number of calls is its formula).
//! - **JSON**: an answer that does not parse, or breaks the request's `json_schema`
//!   ([`crate::summaries::schema::validate`]), gets one repair call (the model sees its
//!   answer and the parse error or every violation); a second bad answer fails the
//!   summary with both outputs in `error_details.model_output` and the errors in
//!   `parse_errors` / `validation_errors`.
//! - **Provider failures**: the client already retried transient ones (429 honouring
//!   `Retry-After`, 502/503/504, timeouts) with backoff; what is still retryable (a
//!   500, an open breaker) fails the attempt with a 503-class error
//!   (`llm_unavailable (503): …`, kept in the pending summary's `error`) and the job
//!   retries later, until its last attempt, which fails the summary. An open breaker
//!   (`LLM_BREAKER_THRESHOLD` failed calls in a row on one endpoint) fails at once,
//!   without a call, until `LLM_BREAKER_COOLDOWN` lets one trial through. Anything else
//!   fails the summary at once.
//!
//! Metrics: `llm_requests_total{provider,model,status}`,
//! `llm_tokens_total{provider,model,kind}`, `llm_request_duration_seconds{provider,model}`,
//! `summaries_total{status}`.

use std::time::Instant;

use quire_llm::{LlmAnswer, LlmClient, LlmError, LlmRequest, LlmSettings, Message};
use quire_summarize::{ExtractiveOptions, MapReducePlan, chunk_pages, estimate_tokens};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::jobs::{JobContext, JobError, JobHandler};
use crate::state::AppState;
use crate::summaries::model::{StoredRequest, SummaryFormat, SummarySentence};
use crate::summaries::repo::{self, Outcome, SummaryRow};
use crate::summaries::service::{self, EXTRACTIVE, document_text, render_context};
use crate::templates::model::{PageVar, PromptTemplate};
use crate::time::now_ms;

pub const GENERATE_JOB_TYPE: &str = "summaries.generate";

/// The code of an attempt's error when the model is unavailable (503 class).
pub const UNAVAILABLE: &str = "llm_unavailable";

/// The combining prompt of map-reduce; `{title}` and `{parts}` are filled in.
const REDUCE_PROMPT: &str = "Below are summaries of consecutive parts of the document \
\"{title}\", in order. Combine them into one summary of the whole document. Keep every figure, \
date, party and obligation they mention, drop repetition, and add nothing they do not say.\n\n{parts}";
const PART_SEPARATOR: &str = "\n\n---\n\n";

#[derive(Debug, Deserialize)]
struct GeneratePayload {
    summary_id: String,
}

pub struct GenerateSummary(pub AppState);

impl JobHandler for GenerateSummary {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let state = &self.0;
        let payload: GeneratePayload = ctx.payload_as()?;
        let org_id = ctx.org_id().to_owned();
        let Some(row) = repo::find_summary(&state.db.pool, &org_id, &payload.summary_id).await?
        else {
            return Ok(json!({"summary_id": payload.summary_id, "skipped": "deleted"}));
        };
        if row.status != "pending" {
            return Ok(json!({"summary_id": row.id, "status": row.status}));
        }
        let max_attempts = state.settings.job_max_attempts;
        generate(state, &ctx, &row, ctx.attempt() >= max_attempts).await
    }
}

/// Makes the summary `row` and records the outcome.
pub async fn generate(
    state: &AppState,
    ctx: &JobContext,
    row: &SummaryRow,
    last_attempt: bool,
) -> Result<Value, JobError> {
    let started = Instant::now();
    let org_id = &row.org_id;
    let stored: StoredRequest = serde_json::from_str(&row.request)
        .map_err(|e| JobError::Permanent(format!("stored request: {e}")))?;
    let Some((document, pages)) =
        crate::documents::service::find_with_pages(state, org_id, &row.document_id)
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?
    else {
        return Ok(json!({"summary_id": row.id, "skipped": "document deleted"}));
    };
    let settings = match service::resolve_llm(state, &stored) {
        Ok(settings) => settings,
        Err(e) => {
            let message = format!("LLM settings: {e}");
            return fail(state, row, started, &message, None, 0).await;
        }
    };
    let Some(settings) = settings else {
        let page_refs: Vec<(i64, &str)> = pages.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let sentences = quire_summarize::summarize(&page_refs, ExtractiveOptions::default());
        let text = extractive_text(&sentences, stored.format);
        let listed: Vec<SummarySentence> = sentences
            .into_iter()
            .map(|s| SummarySentence {
                text: s.text,
                page: s.page,
            })
            .collect();
        let outcome = Outcome {
            status: "complete",
            summary_text: Some(text),
            sentences: Some(
                serde_json::to_string(&listed).map_err(|e| JobError::Permanent(e.to_string()))?,
            ),
            model_used: Some(EXTRACTIVE.to_owned()),
            processing_ms: elapsed_ms(started),
            ..Outcome::default()
        };
        return finish(state, row, outcome).await;
    };

    if stored.cache
        && let Some(key) = &row.cache_key
    {
        let cached = repo::find_cached(&state.db.pool, org_id, key, &row.id).await?;
        metrics::counter!("summaries_cache_total", "result" => if cached.is_some() { "hit" } else { "miss" })
            .increment(1);
        if let Some(cached) = cached {
            let outcome = Outcome {
                status: "complete",
                summary_text: cached.summary_text.clone(),
                model_used: cached.model_used.clone(),
                prompt_tokens: Some(0),
                completion_tokens: Some(0),
                cached_from: Some(cached.id.clone()),
                processing_ms: elapsed_ms(started),
                ..Outcome::default()
            };
            return finish(state, row, outcome).await;
        }
    }

    let template = PromptTemplate::parse(row.template_text.as_deref().unwrap_or_default())
        .map_err(|e| JobError::Permanent(format!("stored template: {}", e.message)))?;
    let client = match state.llm_clients.client(settings.clone()) {
        Ok(client) => client,
        Err(e) => return fail(state, row, started, &e.to_string(), None, 0).await,
    };
    let mut call = Caller {
        client,
        settings: settings.clone(),
        tally: Tally::default(),
    };
    let content = document_text(&pages);
    let context = render_context(&document, &pages, &stored);
    let result = summarise(
        &mut call,
        ctx,
        &template,
        context,
        &content,
        row.rendered_prompt.as_deref(),
        &stored,
        &document.title,
    )
    .await;
    let calls = call.tally.calls as i64;
    match result {
        Ok(text) => {
            let outcome = Outcome {
                status: "complete",
                summary_text: Some(text),
                model_used: Some(call.tally.model.clone().unwrap_or(settings.model.clone())),
                prompt_tokens: Some(call.tally.prompt as i64),
                completion_tokens: Some(call.tally.completion as i64),
                tokens_estimated: call.tally.estimated,
                llm_calls: calls,
                processing_ms: elapsed_ms(started),
                ..Outcome::default()
            };
            finish(state, row, outcome).await
        }
        Err(Failure::Cancelled) => {
            // The summary records the cancel; the job ends cancelled, not failed.
            let _ = fail(state, row, started, "cancelled", None, calls).await;
            Err(JobError::Cancelled)
        }
        Err(Failure::Llm(e)) if e.is_retryable() && !last_attempt => {
            // The 503 class: the model is unavailable now (an open breaker fails at once,
            // without a call); the job tries again after its backoff.
            let message = format!("{UNAVAILABLE} (503): {e}; the job retries later");
            repo::note_attempt_error(&state.db.pool, org_id, &row.id, &message, now_ms()).await?;
            Err(JobError::Retryable(message))
        }
        Err(Failure::Llm(e)) => fail(state, row, started, &e.to_string(), None, calls).await,
        Err(Failure::Permanent { message, details }) => {
            fail(state, row, started, &message, details, calls).await
        }
    }
}

enum Failure {
    Llm(LlmError),
    Permanent {
        message: String,
        details: Option<Value>,
    },
    Cancelled,
}

impl From<LlmError> for Failure {
    fn from(e: LlmError) -> Self {
        Failure::Llm(e)
    }
}

#[derive(Default)]
struct Tally {
    prompt: u64,
    completion: u64,
    estimated: bool,
    calls: u64,
    model: Option<String>,
}

/// One model, its calls counted and measured.
struct Caller {
    client: LlmClient,
    settings: LlmSettings,
    tally: Tally,
}

impl Caller {
    async fn ask(&mut self, system: &str, messages: Vec<Message>) -> Result<LlmAnswer, LlmError> {
        let prompt_chars: String = messages.iter().map(|m| m.content.as_str()).collect();
        let request = LlmRequest::new(Some(system.to_owned()), messages);
        let provider = self.settings.provider.as_str();
        let model = self.settings.model.clone();
        let started = Instant::now();
        let result = self.client.complete(&request).await;
        let status = match &result {
            Ok(_) => "ok",
            Err(e) if e.is_retryable() => "unavailable",
            Err(_) => "error",
        };
        metrics::counter!("llm_requests_total", "provider" => provider, "model" => model.clone(), "status" => status)
            .increment(1);
        metrics::histogram!("llm_request_duration_seconds", "provider" => provider, "model" => model.clone())
            .record(started.elapsed().as_secs_f64());
        let answer = result?;
        self.tally.calls += 1;
        let (prompt, completion) = match answer.usage {
            Some(usage) => (usage.input_tokens, usage.output_tokens),
            None => {
                self.tally.estimated = true;
                (
                    estimate_tokens(system) + estimate_tokens(&prompt_chars),
                    estimate_tokens(&answer.text),
                )
            }
        };
        self.tally.prompt += prompt;
        self.tally.completion += completion;
        metrics::counter!("llm_tokens_total", "provider" => provider, "model" => model.clone(), "kind" => "prompt")
            .increment(prompt);
        metrics::counter!("llm_tokens_total", "provider" => provider, "model" => model, "kind" => "completion")
            .increment(completion);
        self.tally.model = Some(answer.model.clone());
        Ok(answer)
    }
}

fn system_prompt(format: SummaryFormat, schema: Option<&Value>) -> String {
    let base = "You summarise documents for procurement and finance teams. Follow the \
                instructions in the user's message and use only the document's content.";
    match format {
        SummaryFormat::Markdown => format!("{base} Answer in Markdown."),
        SummaryFormat::Text => format!("{base} Answer in plain text, without Markdown."),
        SummaryFormat::Json => match schema {
            Some(schema) => format!(
                "{base} Answer with one JSON value and nothing else (no prose, no code fences). \
                 It must follow this JSON Schema: {schema}"
            ),
            None => format!(
                "{base} Answer with one JSON value and nothing else (no prose, no code fences)."
            ),
        },
    }
}

/// Single call or map-reduce, then the JSON check with its one repair.
#[allow(clippy::too_many_arguments)]
async fn summarise(
    call: &mut Caller,
    ctx: &JobContext,
    template: &PromptTemplate,
    mut context: crate::templates::model::RenderContext,
    content: &str,
    rendered: Option<&str>,
    stored: &StoredRequest,
    title: &str,
) -> Result<String, Failure> {
    let final_system = system_prompt(stored.format, stored.json_schema.as_ref());
    let partial_system = system_prompt(SummaryFormat::Markdown, None);
    let render = |context: &crate::templates::model::RenderContext| {
        template.render(context).map_err(|e| Failure::Permanent {
            message: format!("the template does not render: {}", e.message),
            details: None,
        })
    };
    // The prompt without the document, to see what the document may take.
    let whole = context.document.content.clone();
    let whole_pages = std::mem::take(&mut context.document.pages);
    context.document.content = String::new();
    let empty = render(&context)?;
    context.document.content = whole;
    context.document.pages = whole_pages;
    let reduce_overhead = estimate_tokens(
        &REDUCE_PROMPT
            .replace("{title}", title)
            .replace("{parts}", ""),
    ) + 64;
    let overhead = (estimate_tokens(&empty) + estimate_tokens(&final_system)).max(reduce_overhead);
    let plan = MapReducePlan::new(
        estimate_tokens(content),
        overhead,
        u64::from(call.settings.context_tokens),
        u64::from(call.settings.max_tokens),
    )
    .map_err(|e| Failure::Permanent {
        message: e.to_string(),
        details: None,
    })?;

    let (prompt, answer) = if plan.is_single_call() {
        let prompt = match rendered {
            Some(p) => p.to_owned(),
            None => render(&context)?,
        };
        let answer = call
            .ask(&final_system, vec![Message::user(prompt.clone())])
            .await?;
        (prompt, answer.text)
    } else {
        let mut partials = Vec::new();
        for (i, chunk) in chunk_pages(content, plan.chunk_tokens)
            .into_iter()
            .enumerate()
        {
            if ctx.is_cancelled() {
                return Err(Failure::Cancelled);
            }
            context.document.content = chunk.to_owned();
            context.document.pages = vec![PageVar {
                number: i as i64 + 1,
                text: chunk.to_owned(),
            }];
            let prompt = render(&context)?;
            let answer = call
                .ask(&partial_system, vec![Message::user(prompt)])
                .await?;
            partials.push(answer.text);
        }
        let levels = plan.reduce_levels.len();
        let mut last = (String::new(), String::new());
        for (level, _) in plan.reduce_levels.iter().enumerate() {
            let system = if level + 1 == levels {
                &final_system
            } else {
                &partial_system
            };
            let mut next = Vec::new();
            for group in partials.chunks(plan.group.max(1) as usize) {
                if ctx.is_cancelled() {
                    return Err(Failure::Cancelled);
                }
                let prompt = REDUCE_PROMPT
                    .replace("{title}", title)
                    .replace("{parts}", &group.join(PART_SEPARATOR));
                let answer = call
                    .ask(system, vec![Message::user(prompt.clone())])
                    .await?;
                last = (prompt, answer.text.clone());
                next.push(answer.text);
            }
            partials = next;
        }
        last
    };
    if stored.format != SummaryFormat::Json {
        return Ok(answer.trim().to_owned());
    }
    let schema = stored.json_schema.as_ref();
    match judge_json_answer(&answer, schema) {
        Ok(value) => Ok(value),
        Err(problem) => {
            let repair = problem.repair_prompt();
            let second = call
                .ask(
                    &final_system,
                    vec![
                        Message::user(prompt),
                        Message::assistant(answer.clone()),
                        Message::user(repair),
                    ],
                )
                .await?;
            judge_json_answer(&second.text, schema).map_err(|again| Failure::Permanent {
                message: match &again {
                    JsonProblem::Parse(e) => {
                        format!("the model's answer was not valid JSON, twice (last: {e})")
                    }
                    JsonProblem::Schema(errors) => format!(
                        "the model's answer did not follow the JSON schema, twice (last: {})",
                        errors.join("; ")
                    ),
                },
                details: Some(json!({
                    "model_output": [answer, second.text],
                    "parse_errors": [problem.parse_error(), again.parse_error()],
                    "validation_errors": [problem.schema_errors(), again.schema_errors()],
                })),
            })
        }
    }
}

/// What is wrong with a JSON answer: it does not parse, or it breaks the schema.
enum JsonProblem {
    Parse(String),
    Schema(Vec<String>),
}

impl JsonProblem {
    /// The model's second chance: what was wrong, and the request to answer again.
    fn repair_prompt(&self) -> String {
        match self {
            JsonProblem::Parse(error) => format!(
                "Your answer was not valid JSON ({error}). Answer again with only the corrected \
                 JSON value."
            ),
            JsonProblem::Schema(errors) => format!(
                "Your answer was valid JSON but did not follow the JSON Schema:\n- {}\nAnswer \
                 again with only the corrected JSON value.",
                errors.join("\n- ")
            ),
        }
    }

    fn parse_error(&self) -> Option<&str> {
        match self {
            JsonProblem::Parse(e) => Some(e),
            JsonProblem::Schema(_) => None,
        }
    }

    fn schema_errors(&self) -> Option<&[String]> {
        match self {
            JsonProblem::Parse(_) => None,
            JsonProblem::Schema(errors) => Some(errors),
        }
    }
}

/// The answer as compact JSON text when it parses and follows `schema`.
fn judge_json_answer(text: &str, schema: Option<&Value>) -> Result<String, JsonProblem> {
    let value = parse_json_answer(text).map_err(JsonProblem::Parse)?;
    if let Some(schema) = schema {
        let errors = crate::summaries::schema::validate(schema, &value);
        if !errors.is_empty() {
            return Err(JsonProblem::Schema(errors));
        }
    }
    Ok(value.to_string())
}

/// The answer as JSON, after taking off a code fence the model may add.
fn parse_json_answer(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    serde_json::from_str::<Value>(unfenced).map_err(|e| e.to_string())
}

/// One sentence a line, its whitespace collapsed (a PDF's line breaks), with its page;
/// `sentences` keeps each verbatim.
fn extractive_text(sentences: &[quire_summarize::Sentence], format: SummaryFormat) -> String {
    let lines: Vec<String> = sentences
        .iter()
        .map(|s| {
            let text = s.text.split_whitespace().collect::<Vec<_>>().join(" ");
            match format {
                SummaryFormat::Markdown => format!("- {text} (p. {})", s.page),
                _ => format!("{text} (p. {})", s.page),
            }
        })
        .collect();
    lines.join("\n")
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

async fn finish(state: &AppState, row: &SummaryRow, outcome: Outcome) -> Result<Value, JobError> {
    repo::finish_summary(&state.db.pool, &row.org_id, &row.id, &outcome, now_ms()).await?;
    metrics::counter!("summaries_total", "status" => outcome.status).increment(1);
    publish_end(state, row, outcome.status, None).await;
    Ok(json!({"summary_id": row.id, "status": outcome.status,
              "model_used": outcome.model_used, "llm_calls": outcome.llm_calls,
              "cached_from": outcome.cached_from}))
}

async fn fail(
    state: &AppState,
    row: &SummaryRow,
    started: Instant,
    message: &str,
    details: Option<Value>,
    calls: i64,
) -> Result<Value, JobError> {
    let outcome = Outcome {
        status: "failed",
        error: Some(message.to_owned()),
        error_details: details.map(|d| d.to_string()),
        llm_calls: calls,
        processing_ms: elapsed_ms(started),
        ..Outcome::default()
    };
    repo::finish_summary(&state.db.pool, &row.org_id, &row.id, &outcome, now_ms()).await?;
    metrics::counter!("summaries_total", "status" => "failed").increment(1);
    publish_end(state, row, "failed", Some(message)).await;
    Err(JobError::Permanent(message.to_owned()))
}

/// `summary.complete` or `summary.failed`, once the summary's row says so.
async fn publish_end(state: &AppState, row: &SummaryRow, status: &str, error: Option<&str>) {
    let event_type = if status == "failed" {
        "summary.failed"
    } else {
        "summary.complete"
    };
    state
        .events
        .publish_one(
            &row.org_id,
            crate::events::topic::SUMMARIES,
            event_type,
            json!({
                "summary_id": row.id,
                "document_id": row.document_id,
                "job_id": row.job_id,
                "parent_job_id": row.parent_job_id,
                "status": status,
                "error": error,
            }),
        )
        .await;
}

pub const BULK_JOB_TYPE: &str = "summaries.bulk";

/// Children waiting or running at once: the parent tops the queue up to this whenever
/// it has drained to half, so workers never starve and a cancel leaves at most this many.
const BULK_WINDOW: usize = 64;
/// How often the parent looks at its children.
const BULK_POLL: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Debug, Deserialize)]
struct BulkPayload {
    request: crate::summaries::model::CreateSummaryRequest,
    document_ids: Vec<String>,
    created_by: Option<String>,
}

/// The `summaries.bulk` job: a summary row and a `summaries.generate` child job per
/// document, keeping about [`BULK_WINDOW`] children on the queue.
///
/// - **Resumable**: each window's rows, their child jobs and the checkpoint (the next
///   document's index) are written in one transaction fenced by the lease; a parent
///   that crashed resumes at the checkpoint, so no document gets a second summary
///   (the unique `(parent_job_id, document_id)` index says so too). Children are
///   ordinary jobs: those already queued run whatever happens to the parent.
/// - **Progress** counts documents whose summary has ended (complete or failed).
/// - **Cancel** stops the parent between windows and while it waits: no further child
///   is enqueued; those already queued (at most [`BULK_WINDOW`]) finish.
pub struct BulkSummaries(pub AppState);

impl JobHandler for BulkSummaries {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let state = &self.0;
        let payload: BulkPayload = ctx.payload_as()?;
        let org_id = ctx.org_id().to_owned();
        let parent = ctx.job_id().to_owned();
        let total = payload.document_ids.len();
        let prepared = service::prepare(state, &org_id, &payload.request)
            .await
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        let mut next = ctx
            .checkpoint()
            .and_then(|c| c.get("next"))
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .unwrap_or(0);
        let mut skipped = ctx
            .checkpoint()
            .and_then(|c| c.get("skipped"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        while next < total {
            ctx.check_cancelled()?;
            let pending = wait_for_children(
                state,
                &ctx,
                &org_id,
                &parent,
                total,
                skipped,
                BULK_WINDOW / 2,
            )
            .await?;
            let room = BULK_WINDOW.saturating_sub(usize::try_from(pending).unwrap_or(0));
            let end = (next + room.max(1)).min(total);
            let mut rows = Vec::new();
            for id in &payload.document_ids[next..end] {
                let found = crate::documents::service::find_with_pages(state, &org_id, id)
                    .await
                    .map_err(|e| JobError::Retryable(e.to_string()))?;
                let Some((document, pages)) = found else {
                    skipped += 1;
                    continue;
                };
                match service::new_row(
                    state,
                    &org_id,
                    payload.created_by.clone(),
                    &document,
                    &pages,
                    prepared.template_id.clone(),
                    &prepared.template,
                    &prepared.stored,
                    prepared.settings.as_ref(),
                    Some(parent.clone()),
                ) {
                    Ok(row) => rows.push(row),
                    Err(e) => {
                        tracing::warn!(document.id = %id, error = %e, "bulk summary skipped");
                        skipped += 1;
                    }
                }
            }
            let mut tx = ctx.begin().await?;
            for row in &mut rows {
                let job =
                    crate::jobs::enqueue_in(&state.db, &mut tx, service::generate_job(state, row))
                        .await
                        .map_err(|e| JobError::Retryable(e.to_string()))?;
                row.job_id = Some(job.id.clone());
                repo::insert_summary(&mut *tx, row).await?;
            }
            ctx.save_checkpoint_in(&mut tx, &json!({"next": end, "skipped": skipped}))
                .await?;
            tx.commit().await?;
            crate::jobs::announce(&state.db).await;
            next = end;
        }
        wait_for_children(state, &ctx, &org_id, &parent, total, skipped, 0).await?;
        let (_, complete, failed) = repo::bulk_counts(&state.db.pool, &org_id, &parent).await?;
        Ok(json!({"total": total, "complete": complete, "failed": failed, "skipped": skipped}))
    }
}

/// Waits until at most `at_most` of the run's summaries are pending, reporting progress;
/// returns how many are.
async fn wait_for_children(
    state: &AppState,
    ctx: &JobContext,
    org_id: &str,
    parent: &str,
    total: usize,
    skipped: u64,
    at_most: usize,
) -> Result<i64, JobError> {
    let mut last = (-1i64, -1i64);
    loop {
        let (pending, complete, failed) = repo::bulk_counts(&state.db.pool, org_id, parent).await?;
        if (complete, failed) != last {
            last = (complete, failed);
            let done = (complete + failed) as f64 + skipped as f64;
            ctx.report_progress(
                100.0 * done / (total.max(1) as f64),
                format!(
                    "{} of {total} documents summarised, {failed} failed",
                    complete + failed
                ),
            )
            .await?;
        }
        if pending <= at_most as i64 {
            return Ok(pending);
        }
        tokio::select! {
            _ = ctx.cancelled() => return Err(JobError::Cancelled),
            _ = tokio::time::sleep(BULK_POLL) => {}
        }
    }
}
