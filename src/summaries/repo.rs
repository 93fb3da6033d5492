//! SQL for summaries. Every function takes the organisation.

use sqlx::{AnyPool, FromRow};

use crate::http::Window;

#[derive(Debug, Clone, FromRow)]
pub struct SummaryRow {
    pub id: String,
    pub org_id: String,
    pub document_id: String,
    pub created_by: Option<String>,
    pub template_id: Option<String>,
    pub job_id: Option<String>,
    pub parent_job_id: Option<String>,
    pub format: String,
    pub status: String,
    pub stale: i64,
    pub summary_text: Option<String>,
    pub sentences: Option<String>,
    pub error: Option<String>,
    pub error_details: Option<String>,
    pub model_used: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub tokens_estimated: i64,
    pub llm_calls: i64,
    pub template_text: Option<String>,
    pub rendered_prompt: Option<String>,
    pub request: String,
    pub content_hash: String,
    pub llm_settings: Option<String>,
    pub cache_key: Option<String>,
    pub cached_from: Option<String>,
    pub processing_ms: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

const COLUMNS: &str = "id, org_id, document_id, created_by, template_id, job_id, parent_job_id, \
    format, status, stale, summary_text, sentences, error, error_details, model_used, \
    prompt_tokens, completion_tokens, tokens_estimated, llm_calls, template_text, rendered_prompt, \
    request, content_hash, llm_settings, cache_key, cached_from, processing_ms, created_at, \
    updated_at, completed_at";

/// Inserts a new (pending) summary. Returns `false` when the bulk job already made one
/// for this document (`parent_job_id`, `document_id` is unique).
pub async fn insert_summary<'e, E>(exec: E, row: &SummaryRow) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "INSERT INTO summaries (id, org_id, document_id, created_by, template_id, job_id, \
         parent_job_id, format, status, stale, request, content_hash, template_text, \
         rendered_prompt, llm_settings, cache_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14, $15, $16, $16) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.document_id)
    .bind(&row.created_by)
    .bind(&row.template_id)
    .bind(&row.job_id)
    .bind(&row.parent_job_id)
    .bind(&row.format)
    .bind(&row.status)
    .bind(&row.request)
    .bind(&row.content_hash)
    .bind(&row.template_text)
    .bind(&row.rendered_prompt)
    .bind(&row.llm_settings)
    .bind(&row.cache_key)
    .bind(row.created_at)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_job<'e, E>(exec: E, org_id: &str, id: &str, job_id: &str) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE summaries SET job_id = $3 WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .bind(job_id)
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn find_summary(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<SummaryRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM summaries WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await
}

/// A completed, fresh summary with this cache key (the newest), other than `except`.
pub async fn find_cached(
    pool: &AnyPool,
    org_id: &str,
    cache_key: &str,
    except: &str,
) -> sqlx::Result<Option<SummaryRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM summaries WHERE org_id = $1 AND cache_key = $2 \
         AND status = 'complete' AND stale = 0 AND id <> $3 AND cached_from IS NULL \
         ORDER BY completed_at DESC, id DESC LIMIT 1"
    )))
    .bind(org_id)
    .bind(cache_key)
    .bind(except)
    .fetch_optional(pool)
    .await
}

/// What a finished attempt writes.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: &'static str,
    pub summary_text: Option<String>,
    pub sentences: Option<String>,
    pub error: Option<String>,
    pub error_details: Option<String>,
    pub model_used: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub tokens_estimated: bool,
    pub llm_calls: i64,
    pub cached_from: Option<String>,
    pub processing_ms: i64,
}

/// Records the outcome of a pending summary; `false` when it is gone or no longer pending.
pub async fn finish_summary(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
    outcome: &Outcome,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE summaries SET status = $3, summary_text = $4, sentences = $5, error = $6, \
         error_details = $7, model_used = $8, prompt_tokens = $9, completion_tokens = $10, \
         tokens_estimated = $11, llm_calls = $12, cached_from = $13, processing_ms = $14, \
         updated_at = $15, completed_at = $15 \
         WHERE id = $1 AND org_id = $2 AND status = 'pending'",
    )
    .bind(id)
    .bind(org_id)
    .bind(outcome.status)
    .bind(&outcome.summary_text)
    .bind(&outcome.sentences)
    .bind(&outcome.error)
    .bind(&outcome.error_details)
    .bind(&outcome.model_used)
    .bind(outcome.prompt_tokens)
    .bind(outcome.completion_tokens)
    .bind(i64::from(outcome.tokens_estimated))
    .bind(outcome.llm_calls)
    .bind(&outcome.cached_from)
    .bind(outcome.processing_ms)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Keeps the last attempt's error on a summary still pending (the job will retry).
pub async fn note_attempt_error(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
    error: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE summaries SET error = $3, updated_at = $4 WHERE id = $1 AND org_id = $2 AND status = 'pending'",
    )
    .bind(id)
    .bind(org_id)
    .bind(error)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct SummaryFilter {
    pub document_id: Option<String>,
    pub template_id: Option<String>,
    pub status: Option<String>,
}

/// The organisation's summaries, newest first.
pub async fn list_summaries(
    pool: &AnyPool,
    org_id: &str,
    filter: &SummaryFilter,
    window: Window,
) -> sqlx::Result<(Vec<SummaryRow>, u64)> {
    let condition = "org_id = $1 AND ($2 IS NULL OR document_id = $2) \
        AND ($3 IS NULL OR template_id = $3) AND ($4 IS NULL OR status = $4)";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM summaries WHERE {condition} \
         ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6"
    )))
    .bind(org_id)
    .bind(&filter.document_id)
    .bind(&filter.template_id)
    .bind(&filter.status)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM summaries WHERE {condition}"
    )))
    .bind(org_id)
    .bind(&filter.document_id)
    .bind(&filter.template_id)
    .bind(&filter.status)
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

pub async fn delete_summary(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM summaries WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks every summary of a document stale (its content changed); returns how many.
/// The document's summaries not yet marked stale, oldest first.
pub async fn fresh_of_document(
    pool: &AnyPool,
    org_id: &str,
    document_id: &str,
) -> sqlx::Result<Vec<SummaryRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM summaries WHERE org_id = $1 AND document_id = $2 AND stale = 0 \
         ORDER BY created_at, id"
    )))
    .bind(org_id)
    .bind(document_id)
    .fetch_all(pool)
    .await
}

pub async fn mark_stale_for_document(
    pool: &AnyPool,
    org_id: &str,
    document_id: &str,
    now: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE summaries SET stale = 1, updated_at = $3 WHERE org_id = $1 AND document_id = $2 AND stale = 0",
    )
    .bind(org_id)
    .bind(document_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Summaries of one bulk run by status: `(pending, complete, failed)`.
pub async fn bulk_counts(
    pool: &AnyPool,
    org_id: &str,
    parent_job_id: &str,
) -> sqlx::Result<(i64, i64, i64)> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM summaries WHERE org_id = $1 AND parent_job_id = $2 GROUP BY status",
    )
    .bind(org_id)
    .bind(parent_job_id)
    .fetch_all(pool)
    .await?;
    let count = |s: &str| {
        rows.iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    Ok((count("pending"), count("complete"), count("failed")))
}
