//! The `questions.run` job: asking a run's questions on the workspace's backend,
//! scoring each answer and writing it as it completes.
//!
//! ## The run
//!
//! * **Concurrency.** A run asks at most `concurrency` questions at once, through an
//!   AIMD [`Window`]: a transient backend error (429, 5xx, timeout, breaker open)
//!   halves it, successes add slots back. Independently, every ask takes a slot of the
//!   backend's process-wide limit ([`BackendLimits`], `BACKEND_MAX_CONCURRENCY`), so
//!   several runs share one AnythingLLM instance's capacity instead of multiplying it.
//! * **Retries.** A transient error retries the same question with exponential
//!   backoff and jitter ([`RetryPolicy`]) for up to two minutes; the backend slot is
//!   released while waiting. When a question exhausts that budget the backend is
//!   considered down: the run stops asking and the attempt fails as retryable, so the
//!   job queue retries it later and the next attempt resumes. A non-transient error is
//!   recorded on that question's result (`error`, `success: false`) and the run goes on.
//! * **Resume.** Each result row is written as it completes (batched by a writer task,
//!   inside a transaction fenced by the job's lease), keyed by (run, question, repeat)
//!   with `ON CONFLICT DO NOTHING`. An attempt starts by reading the keys already
//!   written and asks only the rest, so after a crash only the questions in flight at
//!   the time are asked again.
//! * **Threads.** `per_question` opens a thread per question and closes it after;
//!   `shared` opens one for the attempt. Thread names start with `run <run id>`, and at
//!   the end of every attempt all open threads of the run — a crashed attempt's
//!   included — are closed, unless `keep_threads`.
//! * **Routing by document type.** A question's `doc_types` that name our document
//!   types (`pdf`, `json`, `csv`) are passed to the backend as a filter. The embedded
//!   engine restricts its search to documents of those types. **AnythingLLM cannot
//!   filter a chat by document**, so there the question is asked of the whole
//!   workspace and its result records `details.routing = "unfiltered"`; the `source`
//!   assertion is the way to check which documents answered. Types we do not know
//!   (e.g. `contract`, a tag of the set's author) do not filter on either backend
//!   (`routing: "unfiltered"` with a `reason`).
//! * **Answer cache.** A run started with `cache: true` looks each question up in the
//!   cache ([`crate::cache::Cache`]: memory, or Redis when `REDIS_URL` is set) before
//!   asking: the key is the workspace's document-set generation (moved on by every
//!   document added, removed, changed or embedded there), the question's text, its
//!   document-type filter, the repeat number and every setting that shapes the answer
//!   (the run's and question's LLM settings, the workspace's prompt, retrieval and LLM
//!   settings, the server's LLM). A hit is written as a result with `cached = 1`, scored
//!   like any answer, and costs no backend call (no thread either); a miss asks and
//!   keeps the answer for `ANSWER_CACHE_SECONDS`. Errors are never kept. Hits and misses
//!   are counted in `answer_cache_lookups_total{outcome}`. A cache that fails is a miss.
//! * **Cancel** is checked between questions; questions in flight are dropped without
//!   writing a row (a row is written whole or not at all).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use quire_evals::{Question, SourceRef};
use quire_llm::LlmOverride;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::backends::{Answer, AskOptions, BackendError, BackendKind};
use crate::jobs::{JobContext, JobError, JobHandler};
use crate::questions::model::{RunSettings, ThreadStrategy};
use crate::questions::pacing::{RetryPolicy, Window};
use crate::questions::repo::{self, ResultRow};
use crate::state::AppState;
use crate::time::now_ms;
use crate::workspaces::repo::WorkspaceRow;
use crate::workspaces::threads::{self, ThreadRow};
pub const RUN_JOB_TYPE: &str = "questions.run";

/// Results written per transaction at most.
const WRITE_BATCH: usize = 256;

/// Least time between two progress reports (each is a write to the job row).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The `questions.run` job handler.
pub struct RunQuestions(pub AppState);

impl JobHandler for RunQuestions {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let state = &self.0;
        execute(state, &ctx, RetryPolicy::default()).await
    }
}

/// What every question task of one attempt shares.
struct RunEnv {
    state: AppState,
    ctx: JobContext,
    ws: WorkspaceRow,
    kind: BackendKind,
    run_id: String,
    settings: RunSettings,
    run_llm: Option<LlmOverride>,
    questions: Vec<Question>,
    window: Arc<Window>,
    policy: RetryPolicy,
    shared_thread: Option<ThreadRow>,
    gave_up: AtomicBool,
    /// With `cache: true`: the workspace's document-set generation when the attempt began.
    answer_cache: Option<AnswerCacheScope>,
}

struct AnswerCacheScope {
    generation: i64,
    ttl: Duration,
}

enum Outcome {
    Done(Box<ResultRow>),
    /// The backend stayed unavailable for the whole retry budget.
    GaveUp(String),
    Cancelled,
}

fn thread_prefix(run_id: &str) -> String {
    format!("run {run_id}")
}

/// Runs (or resumes) one attempt of a question run.
pub async fn execute(
    state: &AppState,
    ctx: &JobContext,
    policy: RetryPolicy,
) -> Result<Value, JobError> {
    let pool = &state.db.pool;
    let org = ctx.org_id().to_owned();
    let run = repo::find_run(pool, &org, ctx.job_id())
        .await?
        .ok_or_else(|| JobError::Permanent("the run's record is missing".into()))?;
    let ws = crate::workspaces::repo::find_workspace(pool, &org, &run.workspace_id)
        .await?
        .ok_or_else(|| JobError::Permanent("the workspace no longer exists".into()))?;
    let settings: RunSettings = serde_json::from_str(&run.settings)
        .map_err(|e| JobError::Permanent(format!("invalid run settings: {e}")))?;
    let questions: Vec<Question> = serde_json::from_str(&run.questions)
        .map_err(|e| JobError::Permanent(format!("invalid run questions: {e}")))?;
    let repeats = i64::from(settings.repeats.max(1));
    let done: HashSet<(String, i64)> = repo::answered_keys(pool, &org, &run.id)
        .await?
        .into_iter()
        .collect();
    let total_units = questions.len() * repeats as usize;
    let mut todo = Vec::new();
    for (position, q) in questions.iter().enumerate() {
        for repeat in 1..=repeats {
            if !done.contains(&(q.id.clone(), repeat)) {
                todo.push((position, repeat));
            }
        }
    }
    let already = total_units - todo.len();
    let kind = ws.backend_kind();
    tracing::info!(
        job.id = %run.id, workspace.id = %ws.id, questions = questions.len(),
        remaining = todo.len(), "question run starting"
    );

    let answer_cache = if settings.cache {
        let generation = crate::documents::service::document_generation(state, &org, &ws.id)
            .await
            .map_err(JobError::from)?;
        Some(AnswerCacheScope {
            generation,
            ttl: Duration::from_secs(u64::from(state.settings.answer_cache_seconds)),
        })
    } else {
        None
    };

    let shared_thread = if settings.thread_strategy == ThreadStrategy::Shared && !todo.is_empty() {
        let backend_ref = open_thread_with_retries(state, ctx, &ws, &run.id, policy).await?;
        Some(
            threads::record(state, &ws, &thread_prefix(&run.id), backend_ref)
                .await
                .map_err(JobError::from)?,
        )
    } else {
        None
    };

    let env = Arc::new(RunEnv {
        state: state.clone(),
        ctx: ctx.clone(),
        kind,
        run_id: run.id.clone(),
        run_llm: settings.llm_config.clone(),
        window: Arc::new(Window::new(settings.concurrency as usize)),
        settings,
        questions,
        policy,
        shared_thread,
        gave_up: AtomicBool::new(false),
        answer_cache,
        ws,
    });

    let (tx, rx) = mpsc::channel::<Box<ResultRow>>(WRITE_BATCH * 4);
    let writer = tokio::spawn(write_results(
        ctx.clone(),
        state.events.clone(),
        rx,
        total_units,
        already,
    ));
    let cancel = ctx.cancellation_token();
    let mut tasks: JoinSet<Option<String>> = JoinSet::new();
    let mut gave_up: Option<String> = None;
    for (position, repeat) in todo {
        if cancel.is_cancelled() || env.gave_up.load(Ordering::SeqCst) || tx.is_closed() {
            break;
        }
        let slot = tokio::select! {
            slot = env.window.acquire() => slot,
            _ = cancel.cancelled() => break,
        };
        let env = env.clone();
        let tx = tx.clone();
        tasks.spawn(async move {
            let _slot = slot;
            match ask_one(&env, position, repeat).await {
                Outcome::Done(row) => {
                    let _ = tx.send(row).await;
                    None
                }
                Outcome::GaveUp(message) => {
                    env.gave_up.store(true, Ordering::SeqCst);
                    Some(message)
                }
                Outcome::Cancelled => None,
            }
        });
        while let Some(joined) = tasks.try_join_next() {
            if let Ok(Some(m)) = joined {
                gave_up.get_or_insert(m);
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Some(m)) => {
                gave_up.get_or_insert(m);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "a question task failed"),
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| JobError::Retryable(format!("result writer failed: {e}")))?;

    if !env.settings.keep_threads {
        close_run_threads(&env).await;
    }
    let written = written?;
    if cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    if let Some(message) = gave_up {
        return Err(JobError::Retryable(format!(
            "the backend stayed unavailable; the run resumes on the next attempt: {message}"
        )));
    }
    let (answered, passed) = repo::run_counts(pool, &org, &env.run_id, repeats).await?;
    let _ = ctx
        .report_progress(
            100.0,
            format!("{answered} of {} questions answered", env.questions.len()),
        )
        .await;
    Ok(json!({
        "total": env.questions.len(),
        "answered": answered,
        "passed": passed,
        "failed": answered - passed,
        "pass_rate": if answered > 0 { Some(passed as f64 / answered as f64) } else { None },
        "resumed_from": already,
        "written": written,
    }))
}

/// Opens the shared thread, retrying transient failures like a question would.
async fn open_thread_with_retries(
    state: &AppState,
    ctx: &JobContext,
    ws: &WorkspaceRow,
    run_id: &str,
    policy: RetryPolicy,
) -> Result<Option<String>, JobError> {
    let started = Instant::now();
    let mut retry = 0;
    loop {
        let permit = state.ask_limits.acquire(ws.backend_kind()).await;
        let opened = state.backends.open_thread(ws, &thread_prefix(run_id)).await;
        drop(permit);
        match opened {
            Ok(r) => return Ok(r),
            Err(e) if e.is_transient() && started.elapsed() < policy.budget => {
                retry += 1;
                tokio::select! {
                    _ = tokio::time::sleep(policy.delay(retry, rand::random())) => {}
                    _ = ctx.cancelled() => return Err(JobError::Cancelled),
                }
            }
            Err(e) if e.is_transient() => return Err(JobError::Retryable(e.to_string())),
            Err(e) => return Err(JobError::Permanent(format!("could not open a thread: {e}"))),
        }
    }
}

async fn close_run_threads(env: &RunEnv) {
    let open = match threads::open_threads_named(&env.state, &env.ws, &thread_prefix(&env.run_id))
        .await
    {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(error = %e, job.id = %env.run_id, "could not list the run's threads");
            return;
        }
    };
    for thread in open {
        let _permit = env.state.ask_limits.acquire(env.kind).await;
        if let Err(e) = threads::close(&env.state, &env.ws, &thread).await {
            tracing::warn!(error = %e, job.id = %env.run_id, "could not close a thread of the run");
        }
    }
}

/// The `doc_types` to filter on, and how the question is routed.
fn routing(kind: BackendKind, q: &Question) -> (Vec<String>, Value) {
    if q.doc_types.is_empty() {
        return (Vec::new(), json!({ "routing": "all" }));
    }
    let known: Vec<String> = q
        .doc_types
        .iter()
        .map(|t| t.trim().to_ascii_lowercase())
        // Document types the backends can filter on: the one list, `DocType`.
        .filter(|t| quire_ingest::DocType::parse(t).is_some())
        .collect();
    if known.is_empty() {
        return (
            Vec::new(),
            json!({ "routing": "unfiltered", "doc_types": q.doc_types,
                    "reason": format!("none of the doc_types is a document type ({})",
                                     quire_ingest::DocType::names()) }),
        );
    }
    match kind {
        BackendKind::Embedded => (
            known.clone(),
            json!({ "routing": "filtered", "doc_types": known }),
        ),
        BackendKind::Anythingllm => (
            known.clone(),
            json!({ "routing": "unfiltered", "doc_types": known,
                    "reason": "AnythingLLM cannot restrict a chat to documents of some types" }),
        ),
    }
}

/// The run's LLM settings with the question's own over them, field by field (the
/// backend resolves them over the workspace's and the server's).
fn llm_override(
    run: Option<&LlmOverride>,
    question: Option<&Value>,
) -> Result<Option<LlmOverride>, BackendError> {
    let question = question
        .map(LlmOverride::from_json_ignoring_unknown)
        .transpose()
        .map_err(BackendError::InvalidLlmSettings)?;
    let merged = match (run, question) {
        (Some(run), Some(q)) => run.then(&q),
        (Some(run), None) => run.clone(),
        (None, Some(q)) => q,
        (None, None) => return Ok(None),
    };
    Ok((!merged.is_empty()).then_some(merged))
}

/// The answer-cache key of one question (one repeat) of this run: see the module's
/// documentation for what goes into it. Hashed, so neither question text nor settings
/// appear in the key.
fn answer_key(
    env: &RunEnv,
    scope: &AnswerCacheScope,
    q: &Question,
    doc_types: &[String],
    repeat: i64,
) -> Result<String, BackendError> {
    let llm = llm_override(env.run_llm.as_ref(), q.llm_config.as_ref())?;
    let ws = &env.ws;
    let server_llm = env.state.default_llm.as_ref().map(|l| {
        json!([
            format!("{:?}", l.provider),
            l.base_url,
            l.model,
            l.temperature,
            l.max_tokens,
            l.context_tokens
        ])
    });
    let material = json!({
        "v": 1,
        "generation": scope.generation,
        "question": q.text,
        "doc_types": doc_types,
        "repeat": repeat,
        "llm": llm.map(|l| l.to_json()),
        "workspace": [ws.backend, ws.backend_ref, ws.llm_config, ws.system_prompt,
                      ws.prompt_preset, ws.top_n, ws.similarity_threshold, ws.chat_mode],
        "server_llm": server_llm,
    });
    let digest = Sha256::digest(material.to_string().as_bytes());
    Ok(format!(
        "answers:{}:{}:{}",
        ws.org_id,
        ws.id,
        hex::encode(digest)
    ))
}

/// The cached answer under `key`, if any (a cache that fails or holds something
/// unreadable is a miss).
async fn cached_answer(env: &RunEnv, key: &str) -> Option<Answer> {
    let found = match env.state.cache.get(key).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(error = %e, "answer cache look-up failed; asking the backend");
            None
        }
    };
    let answer = found.and_then(|bytes| serde_json::from_slice::<Answer>(&bytes).ok());
    metrics::counter!("answer_cache_lookups_total",
        "outcome" => if answer.is_some() { "hit" } else { "miss" })
    .increment(1);
    answer
}

/// Asks one question (one repeat), retrying transient errors, and scores the answer.
async fn ask_one(env: &RunEnv, position: usize, repeat: i64) -> Outcome {
    let q = &env.questions[position];
    let started = Instant::now();
    let cancel = env.ctx.cancellation_token();
    let (doc_types, mut details) = routing(env.kind, q);
    let cache_key = match &env.answer_cache {
        Some(scope) => answer_key(env, scope, q, &doc_types, repeat).ok(),
        None => None,
    };
    if let Some(key) = &cache_key
        && let Some(answer) = cached_answer(env, key).await
    {
        if let Some(obj) = details.as_object_mut() {
            obj.insert("attempts".into(), json!(0));
        }
        return Outcome::Done(Box::new(result_row(
            env,
            position,
            repeat,
            Ok(answer),
            details,
            started,
            true,
        )));
    }
    let per_question = env.settings.thread_strategy == ThreadStrategy::PerQuestion;
    let mut own_thread: Option<ThreadRow> = None;
    let mut attempts = 0u32;
    let answer: Result<Answer, String> = loop {
        attempts += 1;
        let Some(permit) = env.state.ask_limits.acquire(env.kind).await else {
            return Outcome::Cancelled;
        };
        let asked = async {
            if per_question && own_thread.is_none() {
                let name = format!("{} {}#{repeat}", thread_prefix(&env.run_id), q.id);
                let backend_ref = env.state.backends.open_thread(&env.ws, &name).await?;
                own_thread = Some(
                    threads::record(&env.state, &env.ws, &name, backend_ref)
                        .await
                        .map_err(BackendError::from)?,
                );
            }
            let thread = own_thread.as_ref().or(env.shared_thread.as_ref());
            let history = match (env.kind, env.shared_thread.as_ref()) {
                (BackendKind::Embedded, Some(t)) => threads::history(&env.state, t)
                    .await
                    .map_err(|e| BackendError::Internal(anyhow::anyhow!("{e}")))?,
                _ => Vec::new(),
            };
            let options = AskOptions {
                thread: thread.and_then(|t| t.backend_ref.clone()),
                doc_types: doc_types.clone(),
                document_ids: Vec::new(),
                llm_override: llm_override(env.run_llm.as_ref(), q.llm_config.as_ref())?,
            };
            env.state
                .backends
                .ask(&env.ws, &q.text, &options, &history)
                .await
        };
        let result = tokio::select! {
            r = asked => r,
            _ = cancel.cancelled() => return Outcome::Cancelled,
        };
        drop(permit);
        match result {
            Ok(answer) => {
                count_ask(env.kind, "answered");
                env.window.on_success();
                break Ok(answer);
            }
            Err(e) if e.is_transient() => {
                count_ask(env.kind, "transient_error");
                let limit = env.window.on_congestion();
                if started.elapsed() >= env.policy.budget || env.gave_up.load(Ordering::SeqCst) {
                    return Outcome::GaveUp(e.to_string());
                }
                let wait = env.policy.delay(attempts, rand::random());
                tracing::debug!(error = %e, window = limit, wait_ms = wait.as_millis() as u64,
                    "backend busy; retrying the question");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return Outcome::Cancelled,
                }
            }
            Err(e) => {
                count_ask(env.kind, "error");
                break Err(e.to_string());
            }
        }
    };
    if let (Some(thread), Ok(a)) = (&env.shared_thread, &answer)
        && env.kind == BackendKind::Embedded
        && let Err(e) = threads::append(&env.state, thread, &q.text, &a.text).await
    {
        tracing::warn!(error = %e, "could not keep the exchange in the run's thread");
    }
    if let Some(thread) = &own_thread
        && !env.settings.keep_threads
    {
        // Closing is a call to the backend too: it counts against the backend's limit.
        let _permit = env.state.ask_limits.acquire(env.kind).await;
        if let Err(e) = threads::close(&env.state, &env.ws, thread).await {
            tracing::warn!(error = %e, "could not close a question's thread");
        }
    }
    if let Some(obj) = details.as_object_mut() {
        obj.insert("attempts".into(), json!(attempts));
    }
    if let (Some(key), Ok(a), Some(scope)) = (&cache_key, &answer, &env.answer_cache)
        && let Ok(bytes) = serde_json::to_vec(a)
        && let Err(e) = env.state.cache.set(key, &bytes, scope.ttl).await
    {
        tracing::debug!(error = %e, "could not keep an answer in the cache");
    }
    Outcome::Done(Box::new(result_row(
        env, position, repeat, answer, details, started, false,
    )))
}

/// The result row of one answer (or the reason there is none), scored.
fn result_row(
    env: &RunEnv,
    position: usize,
    repeat: i64,
    answer: Result<Answer, String>,
    details: Value,
    started: Instant,
    cached: bool,
) -> ResultRow {
    let q = &env.questions[position];
    let (text, sources, error) = match answer {
        Ok(a) => (a.text, a.sources, None),
        Err(e) => (String::new(), Vec::new(), Some(e)),
    };
    let refs: Vec<SourceRef> = sources
        .iter()
        .map(|s| SourceRef {
            document_name: s.document_name.clone().unwrap_or_default(),
            document_id: s.document_id.clone(),
        })
        .collect();
    let score = quire_evals::score(&text, &refs, q, env.settings.threshold);
    ResultRow {
        run_id: env.run_id.clone(),
        org_id: env.ws.org_id.clone(),
        question_id: q.id.clone(),
        repeat_no: repeat,
        position: position as i64,
        question: q.text.clone(),
        response: text,
        confidence: score.confidence,
        success: i64::from(score.success && error.is_none()),
        fragments_found: to_json(&score.fragments_found),
        fragments_missing: to_json(&score.fragments_missing),
        assertions: to_json(&score.assertions),
        sources: to_json(&sources),
        details: Some(details.to_string()),
        error,
        processing_time_ms: started.elapsed().as_millis() as i64,
        created_at: now_ms(),
        cached: i64::from(cached),
    }
}

/// `serde_json::to_string` for the few types a result row holds; they cannot fail to
/// serialise (no maps with non-string keys), and `[]` stands in if one ever did.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn count_ask(kind: BackendKind, outcome: &'static str) {
    metrics::counter!("questions_asked_total", "backend" => kind.as_str(), "outcome" => outcome)
        .increment(1);
}

/// Writes results as they arrive, in batches, each in a transaction fenced by the job's
/// lease; reports progress at most every [`PROGRESS_EVERY`]. Returns how many rows
/// this attempt wrote.
async fn write_results(
    ctx: JobContext,
    events: Arc<crate::events::EventBus>,
    mut rx: mpsc::Receiver<Box<ResultRow>>,
    total_units: usize,
    already: usize,
) -> Result<usize, JobError> {
    let mut written = 0usize;
    let mut last_report: Option<Instant> = None;
    let mut batch: Vec<Box<ResultRow>> = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let mut tx = ctx.begin().await?;
        for row in &batch {
            repo::insert_result(&mut *tx, row).await?;
        }
        tx.commit().await?;
        // Each scored question, once written.
        events
            .publish(
                batch
                    .iter()
                    .map(|row| {
                        crate::events::NewEvent::new(
                            &row.org_id,
                            crate::events::topic::RUNS,
                            "run.result",
                            serde_json::json!({
                                "run_id": row.run_id,
                                "job_id": ctx.job_id(),
                                "workspace_id": ctx.workspace_id(),
                                "question_id": row.question_id,
                                "repeat": row.repeat_no,
                                "position": row.position,
                                "success": row.success == 1,
                                "confidence": row.confidence,
                                "error": row.error,
                            }),
                        )
                    })
                    .collect(),
            )
            .await;
        written += batch.len();
        batch.clear();
        let done = already + written;
        if last_report.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || done >= total_units {
            let percent = if total_units > 0 {
                done as f64 * 100.0 / total_units as f64
            } else {
                100.0
            };
            ctx.report_progress(
                percent.min(99.9),
                format!("{done} of {total_units} answers"),
            )
            .await?;
            last_report = Some(Instant::now());
        }
    }
    Ok(written)
}
