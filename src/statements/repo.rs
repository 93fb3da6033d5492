//! SQL for extractions and statements. Every function takes the executor, then the
//! organisation.

use sqlx::{AnyPool, FromRow};

use crate::http::Window;
use crate::time::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct ExtractionRow {
    pub id: String,
    pub org_id: String,
    pub job_id: String,
    pub document_id: Option<String>,
    pub file_name: String,
    pub storage_key: String,
    /// 1 when the original was uploaded for this extraction (deleted with it); 0 when
    /// it is a library document's.
    pub owns_original: i64,
    /// `queued`, `running`, `succeeded`, `failed`.
    pub status: String,
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    /// JSON array of 1-based page numbers, or NULL for every page.
    pub pages_requested: Option<String>,
    /// JSON array of statement types found.
    pub statement_types: String,
    pub confidence: Option<f64>,
    pub page_count: Option<i64>,
    /// JSON array of page verdicts.
    pub pages: String,
    pub processing_ms: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const EXTRACTION_COLUMNS: &str = "id, org_id, job_id, document_id, file_name, storage_key, \
    owns_original, status, company_name, fiscal_year, pages_requested, statement_types, \
    confidence, page_count, pages, processing_ms, error, created_at, updated_at";

#[derive(Debug, Clone, FromRow)]
pub struct StatementRow {
    pub id: String,
    pub org_id: String,
    pub extraction_id: String,
    pub position: i64,
    pub statement_type: String,
    pub title: Option<String>,
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    /// JSON array of 1-based page numbers.
    pub pages: String,
    /// JSON array of `quire_statements::Period`.
    pub periods: String,
    pub scale: i64,
    pub currency: Option<String>,
    /// JSON array of `quire_statements::LineItem`.
    pub line_items: String,
    /// JSON array of `quire_statements::Check`.
    pub checks: String,
    pub checks_failed: i64,
    pub confidence: f64,
    pub method: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const STATEMENT_COLUMNS: &str = "id, org_id, extraction_id, position, statement_type, title, \
    company_name, fiscal_year, pages, periods, scale, currency, line_items, checks, \
    checks_failed, confidence, method, created_at, updated_at";

pub async fn insert_extraction<'e, E>(exec: E, row: &ExtractionRow) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO extractions ({EXTRACTION_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    )))
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.job_id)
    .bind(&row.document_id)
    .bind(&row.file_name)
    .bind(&row.storage_key)
    .bind(row.owns_original)
    .bind(&row.status)
    .bind(&row.company_name)
    .bind(row.fiscal_year)
    .bind(&row.pages_requested)
    .bind(&row.statement_types)
    .bind(row.confidence)
    .bind(row.page_count)
    .bind(&row.pages)
    .bind(row.processing_ms)
    .bind(&row.error)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn find_extraction(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<ExtractionRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EXTRACTION_COLUMNS} FROM extractions WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await
}

pub async fn list_extractions(
    pool: &AnyPool,
    org_id: &str,
    window: Window,
) -> sqlx::Result<(Vec<ExtractionRow>, u64)> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EXTRACTION_COLUMNS} FROM extractions WHERE org_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(org_id)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM extractions WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total.max(0) as u64))
}

pub async fn mark_extraction_running(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE extractions SET status = 'running', error = NULL, updated_at = $3 \
         WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn fail_extraction(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
    error: &str,
    processing_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE extractions SET status = 'failed', error = $3, processing_ms = $4, \
         updated_at = $5 WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .bind(error)
    .bind(processing_ms)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

/// What a finished extraction records on its row.
pub struct ExtractionResult<'a> {
    pub statement_types: &'a str,
    pub confidence: Option<f64>,
    pub page_count: i64,
    pub pages: &'a str,
    pub processing_ms: i64,
}

pub async fn finish_extraction<'e, E>(
    exec: E,
    org_id: &str,
    id: &str,
    result: &ExtractionResult<'_>,
) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE extractions SET status = 'succeeded', error = NULL, statement_types = $3, \
         confidence = $4, page_count = $5, pages = $6, processing_ms = $7, updated_at = $8 \
         WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .bind(result.statement_types)
    .bind(result.confidence)
    .bind(result.page_count)
    .bind(result.pages)
    .bind(result.processing_ms)
    .bind(now_ms())
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn delete_extraction<'e, E>(exec: E, org_id: &str, id: &str) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query("DELETE FROM extractions WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes an extraction's statements (before a re-run writes them again).
pub async fn delete_statements_of<'e, E>(
    exec: E,
    org_id: &str,
    extraction_id: &str,
) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("DELETE FROM statements WHERE extraction_id = $1 AND org_id = $2")
        .bind(extraction_id)
        .bind(org_id)
        .execute(exec)
        .await?;
    Ok(())
}

pub async fn insert_statement<'e, E>(exec: E, row: &StatementRow) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO statements ({STATEMENT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    )))
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.extraction_id)
    .bind(row.position)
    .bind(&row.statement_type)
    .bind(&row.title)
    .bind(&row.company_name)
    .bind(row.fiscal_year)
    .bind(&row.pages)
    .bind(&row.periods)
    .bind(row.scale)
    .bind(&row.currency)
    .bind(&row.line_items)
    .bind(&row.checks)
    .bind(row.checks_failed)
    .bind(row.confidence)
    .bind(&row.method)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn find_statement(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<StatementRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {STATEMENT_COLUMNS} FROM statements WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await
}

pub async fn statement_ids_of(
    pool: &AnyPool,
    org_id: &str,
    extraction_id: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT id FROM statements WHERE extraction_id = $1 AND org_id = $2 ORDER BY position",
    )
    .bind(extraction_id)
    .bind(org_id)
    .fetch_all(pool)
    .await
}

/// Filters of the statements list; `None` matches every row.
#[derive(Debug, Default)]
pub struct StatementFilter {
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    pub statement_type: Option<String>,
    pub extraction_id: Option<String>,
}

pub async fn list_statements(
    pool: &AnyPool,
    org_id: &str,
    filter: &StatementFilter,
    window: Window,
) -> sqlx::Result<(Vec<StatementRow>, u64)> {
    // One text for both databases: each filter is `($n IS NULL OR column = $n)`.
    let conditions = "org_id = $1 \
        AND ($2 IS NULL OR company_name = $2) \
        AND ($3 IS NULL OR fiscal_year = $3) \
        AND ($4 IS NULL OR statement_type = $4) \
        AND ($5 IS NULL OR extraction_id = $5)";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {STATEMENT_COLUMNS} FROM statements WHERE {conditions} \
         ORDER BY created_at DESC, extraction_id, position LIMIT $6 OFFSET $7"
    )))
    .bind(org_id)
    .bind(&filter.company_name)
    .bind(filter.fiscal_year)
    .bind(&filter.statement_type)
    .bind(&filter.extraction_id)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM statements WHERE {conditions}"
    )))
    .bind(org_id)
    .bind(&filter.company_name)
    .bind(filter.fiscal_year)
    .bind(&filter.statement_type)
    .bind(&filter.extraction_id)
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

pub async fn delete_statement(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM statements WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// What a hand correction changes in a statement row.
pub struct CorrectedStatement<'a> {
    pub line_items: &'a str,
    pub checks: &'a str,
    pub checks_failed: i64,
    pub confidence: f64,
}

/// Writes a corrected statement if it was not changed since it was read (its
/// `updated_at` is still `seen_at`); false when it was (or is gone).
pub async fn update_corrected_statement(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
    seen_at: i64,
    corrected: &CorrectedStatement<'_>,
) -> sqlx::Result<bool> {
    let now = now_ms().max(seen_at + 1);
    let done = sqlx::query(
        "UPDATE statements SET line_items = $1, checks = $2, checks_failed = $3, \
         confidence = $4, updated_at = $5 \
         WHERE id = $6 AND org_id = $7 AND updated_at = $8",
    )
    .bind(corrected.line_items)
    .bind(corrected.checks)
    .bind(corrected.checks_failed)
    .bind(corrected.confidence)
    .bind(now)
    .bind(id)
    .bind(org_id)
    .bind(seen_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
