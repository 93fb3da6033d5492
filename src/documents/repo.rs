//! SQL for documents and their pages. Every function takes the organisation.

use sqlx::{AnyPool, FromRow};

use crate::http::Window;

#[derive(Debug, Clone, FromRow)]
pub struct DocumentRow {
    pub id: String,
    pub org_id: String,
    pub workspace_id: String,
    pub upload_job_id: String,
    pub archive_path: String,
    pub name: String,
    pub doc_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub storage_key: String,
    pub page_count: i64,
    pub text_length: i64,
    pub status: String,
    pub flags: String,
    pub metadata: Option<String>,
    pub backend_location: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const DOCUMENT_COLUMNS: &str = "id, org_id, workspace_id, upload_job_id, archive_path, name, \
    doc_type, size_bytes, sha256, storage_key, page_count, text_length, status, flags, metadata, \
    backend_location, error, created_at, updated_at";

/// Inserts a document and its pages in one transaction. Returns `false` (and writes
/// nothing) when the workspace already holds the same content or this upload already
/// recorded this entry — which is what makes re-running an upload job safe.
pub async fn insert_document_with_pages(
    pool: &AnyPool,
    row: &DocumentRow,
    pages: &[(i64, String)],
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
         ON CONFLICT DO NOTHING"
    )))
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.workspace_id)
    .bind(&row.upload_job_id)
    .bind(&row.archive_path)
    .bind(&row.name)
    .bind(&row.doc_type)
    .bind(row.size_bytes)
    .bind(&row.sha256)
    .bind(&row.storage_key)
    .bind(row.page_count)
    .bind(row.text_length)
    .bind(&row.status)
    .bind(&row.flags)
    .bind(&row.metadata)
    .bind(&row.backend_location)
    .bind(&row.error)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    // Several pages per statement: one round trip per page was most of the cost of
    // recording a long PDF.
    for chunk in pages.chunks(PAGES_PER_INSERT) {
        let mut sql =
            String::from("INSERT INTO document_pages (document_id, page_number, text) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&row.id);
        for (number, text) in chunk {
            query = query.bind(*number).bind(text);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Pages per multi-row insert: well under SQLite's and PostgreSQL's bind limits
/// (32 766 and 65 535), small enough that one statement stays a few MB.
const PAGES_PER_INSERT: usize = 200;

/// `(archive_path, id)` of every document an upload job has recorded so far, so a
/// re-run knows what it already did with one query instead of one per entry.
pub async fn find_document_ids_by_upload(
    pool: &AnyPool,
    org_id: &str,
    upload_job_id: &str,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT archive_path, id FROM documents WHERE org_id = $1 AND upload_job_id = $2",
    )
    .bind(org_id)
    .bind(upload_job_id)
    .fetch_all(pool)
    .await
}

pub async fn find_document(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await
}

pub async fn find_document_by_sha(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    sha256: &str,
) -> sqlx::Result<Option<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE org_id = $1 AND workspace_id = $2 AND sha256 = $3"
    )))
    .bind(org_id)
    .bind(workspace_id)
    .bind(sha256)
    .fetch_optional(pool)
    .await
}

pub async fn find_document_by_entry(
    pool: &AnyPool,
    org_id: &str,
    upload_job_id: &str,
    archive_path: &str,
) -> sqlx::Result<Option<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE org_id = $1 AND upload_job_id = $2 AND archive_path = $3"
    )))
    .bind(org_id)
    .bind(upload_job_id)
    .bind(archive_path)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct DocumentFilter {
    pub doc_type: Option<String>,
    pub status: Option<String>,
}

pub async fn list_documents(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    filter: &DocumentFilter,
    window: Window,
) -> sqlx::Result<(Vec<DocumentRow>, u64)> {
    // Optional filters are expressed in SQL so one statement serves every combination.
    let condition = "org_id = $1 AND workspace_id = $2 \
                     AND ($3 IS NULL OR doc_type = $3) AND ($4 IS NULL OR status = $4)";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE {condition} \
         ORDER BY created_at, archive_path LIMIT $5 OFFSET $6"
    )))
    .bind(org_id)
    .bind(workspace_id)
    .bind(&filter.doc_type)
    .bind(&filter.status)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM documents WHERE {condition}"
    )))
    .bind(org_id)
    .bind(workspace_id)
    .bind(&filter.doc_type)
    .bind(&filter.status)
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

/// Pages of a document the caller has already found in its organisation.
pub async fn document_pages(
    pool: &AnyPool,
    document: &DocumentRow,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT page_number, text FROM document_pages WHERE document_id = $1 ORDER BY page_number",
    )
    .bind(&document.id)
    .fetch_all(pool)
    .await
}

pub async fn delete_document(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<bool> {
    let affected = sqlx::query("DELETE FROM documents WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(affected > 0)
}

pub async fn count_documents(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM documents WHERE org_id = $1 AND workspace_id = $2")
            .bind(org_id)
            .bind(workspace_id)
            .fetch_one(pool)
            .await?;
    Ok(n)
}

pub async fn storage_keys_of_workspace(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT storage_key FROM documents WHERE org_id = $1 AND workspace_id = $2")
            .bind(org_id)
            .bind(workspace_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

/// Documents of a workspace in `status`, oldest first, up to `limit`.
pub async fn documents_in_status(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    status: &str,
    limit: i64,
) -> sqlx::Result<Vec<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE org_id = $1 AND workspace_id = $2 AND status = $3 \
         ORDER BY created_at, id LIMIT $4"
    )))
    .bind(org_id)
    .bind(workspace_id)
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn set_document_status(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
    status: &str,
    backend_location: Option<&str>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE documents SET status = $1, backend_location = $2, error = $3, updated_at = $4 WHERE id = $5 AND org_id = $6",
    )
    .bind(status)
    .bind(backend_location)
    .bind(error)
    .bind(crate::time::now_ms())
    .bind(id)
    .bind(org_id)
    .execute(pool)
    .await
    .map(|_| ())
}

pub async fn count_documents_in_status(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    status: &str,
) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM documents WHERE org_id = $1 AND workspace_id = $2 AND status = $3",
    )
    .bind(org_id)
    .bind(workspace_id)
    .bind(status)
    .fetch_one(pool)
    .await?;
    Ok(n)
}
