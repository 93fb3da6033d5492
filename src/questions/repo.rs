//! SQL for question sets, runs and results. Every function takes the executor, then
//! the organisation.

use sqlx::{AnyPool, FromRow};

use crate::http::Window;
use crate::time::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct QuestionSetRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: Option<String>,
    /// JSON array of `quire_evals::Question`.
    pub questions: String,
    pub question_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const SET_COLUMNS: &str =
    "id, org_id, name, description, questions, question_count, created_at, updated_at";

pub async fn insert_question_set<'e, E>(exec: E, row: &QuestionSetRow) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO question_sets ({SET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )))
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.questions)
    .bind(row.question_count)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(exec)
    .await
    .map(|_| ())
}

pub async fn find_question_set<'e, E>(
    exec: E,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<QuestionSetRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SET_COLUMNS} FROM question_sets WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(exec)
    .await
}

pub async fn list_question_sets(
    pool: &AnyPool,
    org_id: &str,
    window: Window,
) -> sqlx::Result<(Vec<QuestionSetRow>, u64)> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SET_COLUMNS} FROM question_sets WHERE org_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(org_id)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM question_sets WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total.max(0) as u64))
}

/// Replaces name, description and questions; `false` when there is no such set.
pub async fn update_question_set<'e, E>(exec: E, row: &QuestionSetRow) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let affected = sqlx::query(
        "UPDATE question_sets SET name = $1, description = $2, questions = $3, \
         question_count = $4, updated_at = $5 WHERE id = $6 AND org_id = $7",
    )
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.questions)
    .bind(row.question_count)
    .bind(row.updated_at)
    .bind(&row.id)
    .bind(&row.org_id)
    .execute(exec)
    .await?
    .rows_affected();
    Ok(affected > 0)
}

pub async fn delete_question_set<'e, E>(exec: E, org_id: &str, id: &str) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let affected = sqlx::query("DELETE FROM question_sets WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(exec)
        .await?
        .rows_affected();
    Ok(affected > 0)
}

#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    /// The id of the run's job.
    pub id: String,
    pub org_id: String,
    pub workspace_id: String,
    pub question_set_id: Option<String>,
    /// JSON array of `quire_evals::Question`: the snapshot asked.
    pub questions: String,
    pub total: i64,
    pub threshold: f64,
    pub repeats: i64,
    /// JSON `RunSettings`.
    pub settings: String,
    pub baseline_run_id: Option<String>,
    pub created_at: i64,
}

const RUN_COLUMNS: &str = "id, org_id, workspace_id, question_set_id, questions, total, threshold, \
    repeats, settings, baseline_run_id, created_at";

pub async fn insert_run<'e, E>(exec: E, row: &RunRow) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO question_runs ({RUN_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.workspace_id)
    .bind(&row.question_set_id)
    .bind(&row.questions)
    .bind(row.total)
    .bind(row.threshold)
    .bind(row.repeats)
    .bind(&row.settings)
    .bind(&row.baseline_run_id)
    .bind(row.created_at)
    .execute(exec)
    .await
    .map(|_| ())
}

pub async fn find_run<'e, E>(exec: E, org_id: &str, id: &str) -> sqlx::Result<Option<RunRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM question_runs WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(exec)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct ResultRow {
    pub run_id: String,
    pub org_id: String,
    pub question_id: String,
    pub repeat_no: i64,
    /// 0-based place of the question in the run.
    pub position: i64,
    pub question: String,
    pub response: String,
    pub confidence: f64,
    /// 0 or 1.
    pub success: i64,
    /// JSON array of `quire_evals::FragmentMatch`.
    pub fragments_found: String,
    /// JSON array of strings.
    pub fragments_missing: String,
    /// JSON array of `quire_evals::AssertionOutcome`.
    pub assertions: String,
    /// JSON array of `AnswerSource`.
    pub sources: String,
    /// JSON object: routing, attempts.
    pub details: Option<String>,
    pub error: Option<String>,
    pub processing_time_ms: i64,
    pub created_at: i64,
    /// 1 when the answer came from the answer cache.
    pub cached: i64,
}

const RESULT_COLUMNS: &str = "run_id, org_id, question_id, repeat_no, position, question, response, \
    confidence, success, fragments_found, fragments_missing, assertions, sources, details, error, \
    processing_time_ms, created_at, cached";

/// Writes one result; a result already there for this (run, question, repeat) wins and
/// `false` is returned.
pub async fn insert_result<'e, E>(exec: E, row: &ResultRow) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let affected = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO question_results ({RESULT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (run_id, question_id, repeat_no) DO NOTHING"
    )))
    .bind(&row.run_id)
    .bind(&row.org_id)
    .bind(&row.question_id)
    .bind(row.repeat_no)
    .bind(row.position)
    .bind(&row.question)
    .bind(&row.response)
    .bind(row.confidence)
    .bind(row.success)
    .bind(&row.fragments_found)
    .bind(&row.fragments_missing)
    .bind(&row.assertions)
    .bind(&row.sources)
    .bind(&row.details)
    .bind(&row.error)
    .bind(row.processing_time_ms)
    .bind(row.created_at)
    .bind(row.cached)
    .execute(exec)
    .await?
    .rows_affected();
    Ok(affected > 0)
}

/// (question id, repeat) of the results already written for a run.
pub async fn answered_keys(
    pool: &AnyPool,
    org_id: &str,
    run_id: &str,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT question_id, repeat_no FROM question_results WHERE run_id = $1 AND org_id = $2",
    )
    .bind(run_id)
    .bind(org_id)
    .fetch_all(pool)
    .await
}

/// Questions with all `repeats` answered, and of those the ones whose every repeat passed.
pub async fn run_counts(
    pool: &AnyPool,
    org_id: &str,
    run_id: &str,
    repeats: i64,
) -> sqlx::Result<(i64, i64)> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast it back for the `Any` driver.
    let (answered, passed): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(ok) AS BIGINT) FROM (\
           SELECT question_id, COUNT(*) AS n, MIN(success) AS ok FROM question_results \
           WHERE run_id = $1 AND org_id = $2 GROUP BY question_id) per_question \
         WHERE n >= $3",
    )
    .bind(run_id)
    .bind(org_id)
    .bind(repeats)
    .fetch_one(pool)
    .await?;
    Ok((answered, passed.unwrap_or(0)))
}

/// Results in question order, optionally only the (un)successful ones; `window: None`
/// returns them all (exports).
pub async fn list_results(
    pool: &AnyPool,
    org_id: &str,
    run_id: &str,
    success: Option<bool>,
    window: Option<Window>,
) -> sqlx::Result<(Vec<ResultRow>, u64)> {
    let success = success.map(i64::from);
    let condition = "run_id = $1 AND org_id = $2 AND ($3 IS NULL OR success = $3)";
    let (limit, offset) = match window {
        Some(w) => (i64::from(w.limit), w.offset as i64),
        None => (i64::MAX, 0),
    };
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RESULT_COLUMNS} FROM question_results WHERE {condition} \
         ORDER BY position, repeat_no LIMIT $4 OFFSET $5"
    )))
    .bind(run_id)
    .bind(org_id)
    .bind(success)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM question_results WHERE {condition}"
    )))
    .bind(run_id)
    .bind(org_id)
    .bind(success)
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

/// Sets (or clears) the workspace's baseline run.
pub async fn set_baseline<'e, E>(
    exec: E,
    org_id: &str,
    workspace_id: &str,
    run_id: Option<&str>,
) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let affected = sqlx::query(
        "UPDATE workspaces SET baseline_run_id = $1, updated_at = $2 WHERE id = $3 AND org_id = $4",
    )
    .bind(run_id)
    .bind(now_ms())
    .bind(workspace_id)
    .bind(org_id)
    .execute(exec)
    .await?
    .rows_affected();
    Ok(affected > 0)
}
