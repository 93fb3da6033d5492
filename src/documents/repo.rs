//! SQL for documents, their pages and their workspace memberships. Every function takes
//! the organisation.

use sqlx::{AnyPool, FromRow};

use crate::documents::model::{EmbedStatus, LifecycleStatus};
use crate::http::Window;

/// A document as read in one workspace's context: the library row plus that workspace's
/// membership (`workspace_id`, `status` = embedding status, `backend_location`, `error`).
/// Read without a workspace, the membership is the document's first one (the upload's
/// workspace when it has one), and all four are `None` when it is in no workspace.
#[derive(Debug, Clone, FromRow)]
pub struct DocumentRow {
    pub id: String,
    pub org_id: String,
    pub workspace_id: Option<String>,
    pub upload_job_id: Option<String>,
    pub archive_path: Option<String>,
    pub name: String,
    pub title: String,
    pub source_type: String,
    pub source_url: Option<String>,
    pub external_id: Option<String>,
    pub external_last_updated: Option<i64>,
    pub lifecycle_status: String,
    pub doc_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub storage_key: String,
    pub page_count: i64,
    pub text_length: i64,
    pub status: Option<String>,
    pub flags: String,
    pub metadata: Option<String>,
    pub backend_location: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The library row of a new document (no workspace state: memberships are separate).
#[derive(Debug, Clone)]
pub struct NewDocumentRow {
    pub id: String,
    pub org_id: String,
    /// The workspace an upload brought it into (its content is unique there).
    pub upload_workspace_id: Option<String>,
    pub upload_job_id: Option<String>,
    pub archive_path: Option<String>,
    pub name: String,
    pub title: String,
    pub source_type: String,
    pub source_url: Option<String>,
    pub external_id: Option<String>,
    pub external_last_updated: Option<i64>,
    pub lifecycle_status: String,
    pub doc_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub storage_key: String,
    pub page_count: i64,
    pub text_length: i64,
    pub flags: String,
    pub metadata: Option<String>,
    pub created_at: i64,
}

/// Columns of `documents d` joined with one membership `m`.
const DOCUMENT_COLUMNS: &str = "d.id, d.org_id, m.workspace_id, d.upload_job_id, d.archive_path, \
    d.name, d.title, d.source_type, d.source_url, d.external_id, d.external_last_updated, \
    d.lifecycle_status, d.doc_type, d.size_bytes, d.sha256, d.storage_key, d.page_count, \
    d.text_length, m.embed_status AS status, d.flags, d.metadata, m.backend_location, m.error, \
    d.created_at, d.updated_at";

/// A document with its first membership (the upload's workspace when it has one).
const DOCUMENT_FIRST_MEMBERSHIP: &str = "documents d LEFT JOIN workspace_documents m \
    ON m.document_id = d.id AND m.workspace_id = COALESCE(d.workspace_id, \
    (SELECT f.workspace_id FROM workspace_documents f WHERE f.document_id = d.id \
     ORDER BY f.added_at, f.workspace_id LIMIT 1))";

/// Inserts a document, its pages and its memberships (embedding pending in each) in one
/// transaction. Returns `false` (and writes nothing) when a document with this id exists
/// or the upload's workspace already holds the same content — which is what makes
/// re-running an upload job safe.
pub async fn insert_document(
    pool: &AnyPool,
    row: &NewDocumentRow,
    pages: &[(i64, String)],
    workspace_ids: &[String],
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO documents (id, org_id, workspace_id, upload_job_id, archive_path, name, \
         title, source_type, source_url, external_id, external_last_updated, lifecycle_status, \
         doc_type, size_bytes, sha256, storage_key, page_count, text_length, flags, metadata, \
         created_at, updated_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.upload_workspace_id)
    .bind(&row.upload_job_id)
    .bind(&row.archive_path)
    .bind(&row.name)
    .bind(&row.title)
    .bind(&row.source_type)
    .bind(&row.source_url)
    .bind(&row.external_id)
    .bind(row.external_last_updated)
    .bind(&row.lifecycle_status)
    .bind(&row.doc_type)
    .bind(row.size_bytes)
    .bind(&row.sha256)
    .bind(&row.storage_key)
    .bind(row.page_count)
    .bind(row.text_length)
    .bind(&row.flags)
    .bind(&row.metadata)
    .bind(row.created_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    insert_pages(&mut tx, &row.id, pages).await?;
    for workspace_id in workspace_ids {
        insert_membership(&mut *tx, &row.org_id, workspace_id, &row.id, row.created_at).await?;
        bump_document_generation(&mut *tx, &row.org_id, workspace_id).await?;
    }
    tx.commit().await?;
    Ok(true)
}

async fn insert_pages(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    document_id: &str,
    pages: &[(i64, String)],
) -> sqlx::Result<()> {
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
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(document_id);
        for (number, text) in chunk {
            query = query.bind(*number).bind(text);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Puts a document into a workspace with its embedding pending. `false` when it is
/// there already (nothing changes).
pub async fn insert_membership<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    org_id: &str,
    workspace_id: &str,
    document_id: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO workspace_documents (org_id, workspace_id, document_id, embed_status, \
         backend_location, error, added_at, updated_at) VALUES ($1, $2, $3, $4, NULL, NULL, $5, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(org_id)
    .bind(workspace_id)
    .bind(document_id)
    .bind(EmbedStatus::Extracted.as_str())
    .bind(now)
    .execute(executor)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// Puts a document into a workspace (embedding pending) and moves the workspace's
/// document-set generation on, in one transaction. `false` when it was there already.
pub async fn add_membership(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    document_id: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let added = insert_membership(&mut *tx, org_id, workspace_id, document_id, now).await?;
    if added {
        bump_document_generation(&mut *tx, org_id, workspace_id).await?;
    }
    tx.commit().await?;
    Ok(added)
}

/// Takes a document out of one workspace. `false` when it was not in it.
pub async fn delete_membership(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    document_id: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let affected = sqlx::query(
        "DELETE FROM workspace_documents WHERE org_id = $1 AND workspace_id = $2 AND document_id = $3",
    )
    .bind(org_id)
    .bind(workspace_id)
    .bind(document_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    bump_document_generation(&mut *tx, org_id, workspace_id).await?;
    tx.commit().await?;
    Ok(affected > 0)
}

/// Moves a workspace's document-set generation on (answers cached at an older one are
/// not served again). Called in the transaction of every change to which documents a
/// workspace holds, their content or their embedding there.
pub async fn bump_document_generation<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO workspace_document_generations (workspace_id, org_id, generation) \
         VALUES ($1, $2, 1) ON CONFLICT (workspace_id) \
         DO UPDATE SET generation = workspace_document_generations.generation + 1",
    )
    .bind(workspace_id)
    .bind(org_id)
    .execute(executor)
    .await
    .map(|_| ())
}

/// The workspace's document-set generation (0 before its first document).
pub async fn document_generation(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<i64> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT generation FROM workspace_document_generations \
         WHERE workspace_id = $1 AND org_id = $2",
    )
    .bind(workspace_id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map_or(0, |(g,)| g))
}

/// What new content changes on a document.
pub struct ContentUpdate<'a> {
    pub title: &'a str,
    pub source_url: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub external_last_updated: Option<i64>,
    pub doc_type: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a str,
    pub storage_key: &'a str,
    pub text_length: i64,
    pub metadata: Option<&'a str>,
    pub pages: &'a [(i64, String)],
}

/// Replaces a document's content and pages, and marks its embedding pending in every
/// workspace it is in, in one transaction. Returns the workspaces to re-embed.
pub async fn replace_content(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
    update: &ContentUpdate<'_>,
) -> sqlx::Result<Vec<String>> {
    let now = crate::time::now_ms();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE documents SET title = $1, source_url = $2, external_id = $3, \
         external_last_updated = $4, doc_type = $5, size_bytes = $6, sha256 = $7, \
         storage_key = $8, page_count = $9, text_length = $10, metadata = $11, \
         lifecycle_status = $12, updated_at = $13 WHERE id = $14 AND org_id = $15",
    )
    .bind(update.title)
    .bind(update.source_url)
    .bind(update.external_id)
    .bind(update.external_last_updated)
    .bind(update.doc_type)
    .bind(update.size_bytes)
    .bind(update.sha256)
    .bind(update.storage_key)
    .bind(update.pages.len() as i64)
    .bind(update.text_length)
    .bind(update.metadata)
    .bind(LifecycleStatus::Active.as_str())
    .bind(now)
    .bind(id)
    .bind(org_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM document_pages WHERE document_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    insert_pages(&mut tx, id, update.pages).await?;
    sqlx::query(
        "UPDATE workspace_documents SET embed_status = $1, error = NULL, updated_at = $2 \
         WHERE org_id = $3 AND document_id = $4",
    )
    .bind(EmbedStatus::Extracted.as_str())
    .bind(now)
    .bind(org_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let workspaces: Vec<(String,)> = sqlx::query_as(
        "SELECT workspace_id FROM workspace_documents WHERE org_id = $1 AND document_id = $2 \
         ORDER BY workspace_id",
    )
    .bind(org_id)
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    for (workspace_id,) in &workspaces {
        bump_document_generation(&mut *tx, org_id, workspace_id).await?;
    }
    tx.commit().await?;
    Ok(workspaces.into_iter().map(|(w,)| w).collect())
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
        "SELECT archive_path, id FROM documents WHERE org_id = $1 AND upload_job_id = $2 \
         AND archive_path IS NOT NULL",
    )
    .bind(org_id)
    .bind(upload_job_id)
    .fetch_all(pool)
    .await
}

/// A document of the organisation, with its first membership.
pub async fn find_document(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM {DOCUMENT_FIRST_MEMBERSHIP} WHERE d.id = $1 AND d.org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await
}

/// A document as it is in one workspace; `None` when it is not in it.
pub async fn find_document_in_workspace(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    id: &str,
) -> sqlx::Result<Option<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d JOIN workspace_documents m ON m.document_id = d.id \
         WHERE d.id = $1 AND d.org_id = $2 AND m.workspace_id = $3"
    )))
    .bind(id)
    .bind(org_id)
    .bind(workspace_id)
    .fetch_optional(pool)
    .await
}

/// `(workspace_id, embed_status, error)` of every workspace a document is in.
pub async fn memberships_of_document(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Vec<(String, String, Option<String>)>> {
    sqlx::query_as(
        "SELECT workspace_id, embed_status, error FROM workspace_documents \
         WHERE org_id = $1 AND document_id = $2 ORDER BY added_at, workspace_id",
    )
    .bind(org_id)
    .bind(id)
    .fetch_all(pool)
    .await
}

/// A document with this content in the workspace (however it got there).
pub async fn find_document_by_sha(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    sha256: &str,
) -> sqlx::Result<Option<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d JOIN workspace_documents m ON m.document_id = d.id \
         WHERE d.org_id = $1 AND m.workspace_id = $2 AND d.sha256 = $3 \
         ORDER BY m.added_at, d.id LIMIT 1"
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
        "SELECT {DOCUMENT_COLUMNS} FROM {DOCUMENT_FIRST_MEMBERSHIP} \
         WHERE d.org_id = $1 AND d.upload_job_id = $2 AND d.archive_path = $3"
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

/// Documents of a workspace, in the order they were added.
pub async fn list_documents(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    filter: &DocumentFilter,
    window: Window,
) -> sqlx::Result<(Vec<DocumentRow>, u64)> {
    // Optional filters are expressed in SQL so one statement serves every combination.
    let condition = "d.org_id = $1 AND m.workspace_id = $2 \
                     AND ($3 IS NULL OR d.doc_type = $3) AND ($4 IS NULL OR m.embed_status = $4)";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d JOIN workspace_documents m ON m.document_id = d.id \
         WHERE {condition} ORDER BY m.added_at, d.archive_path, d.id LIMIT $5 OFFSET $6"
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
        "SELECT COUNT(*) FROM documents d JOIN workspace_documents m ON m.document_id = d.id \
         WHERE {condition}"
    )))
    .bind(org_id)
    .bind(workspace_id)
    .bind(&filter.doc_type)
    .bind(&filter.status)
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

/// Filters of the organisation's library.
#[derive(Debug, Default, Clone)]
pub struct LibraryFilter {
    /// Part of the title, matched case-insensitively.
    pub title: Option<String>,
    pub source_type: Option<String>,
    pub workspace_id: Option<String>,
}

/// The organisation's documents, newest first.
pub async fn list_library(
    pool: &AnyPool,
    org_id: &str,
    filter: &LibraryFilter,
    window: Window,
) -> sqlx::Result<(Vec<DocumentRow>, u64)> {
    // `LIKE` with the pattern escaped (`\` as the escape character) so `%` and `_` in
    // the query are literal; LOWER on both sides because SQLite's LIKE folds only
    // ASCII and PostgreSQL's does not fold at all.
    let pattern = filter.title.as_ref().map(|q| {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let condition = "d.org_id = $1 \
        AND ($2 IS NULL OR LOWER(d.title) LIKE $2 ESCAPE '\\') \
        AND ($3 IS NULL OR d.source_type = $3) \
        AND ($4 IS NULL OR EXISTS (SELECT 1 FROM workspace_documents w \
             WHERE w.document_id = d.id AND w.workspace_id = $4))";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM {DOCUMENT_FIRST_MEMBERSHIP} WHERE {condition} \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $5 OFFSET $6"
    )))
    .bind(org_id)
    .bind(&pattern)
    .bind(&filter.source_type)
    .bind(&filter.workspace_id)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM documents d WHERE {condition}"
    )))
    .bind(org_id)
    .bind(&pattern)
    .bind(&filter.source_type)
    .bind(&filter.workspace_id)
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

/// Ids of the organisation's documents, optionally only those in a workspace or of a
/// source type, oldest first.
pub async fn find_document_ids(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: Option<&str>,
    source_type: Option<&str>,
) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT d.id FROM documents d WHERE d.org_id = $1 \
         AND ($2 IS NULL OR d.source_type = $2) \
         AND ($3 IS NULL OR EXISTS (SELECT 1 FROM workspace_documents w \
              WHERE w.document_id = d.id AND w.workspace_id = $3)) \
         ORDER BY d.created_at, d.id",
    )
    .bind(org_id)
    .bind(source_type)
    .bind(workspace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
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
    let mut tx = pool.begin().await?;
    let workspaces: Vec<(String,)> = sqlx::query_as(
        "SELECT workspace_id FROM workspace_documents WHERE org_id = $1 AND document_id = $2 \
         ORDER BY workspace_id",
    )
    .bind(org_id)
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    for (workspace_id,) in &workspaces {
        bump_document_generation(&mut *tx, org_id, workspace_id).await?;
    }
    let affected = sqlx::query("DELETE FROM documents WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(affected > 0)
}

/// Documents in a workspace.
pub async fn count_documents(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM workspace_documents WHERE org_id = $1 AND workspace_id = $2",
    )
    .bind(org_id)
    .bind(workspace_id)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Originals of the documents an upload brought into this workspace: deleting the
/// workspace deletes those documents (by cascade), as before documents could be shared.
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

/// Ids of the documents an upload brought into this workspace (deleted with it).
pub async fn document_ids_born_in_workspace(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM documents WHERE org_id = $1 AND workspace_id = $2")
            .bind(org_id)
            .bind(workspace_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Where the workspace's backend keeps its documents (AnythingLLM locations).
pub async fn backend_locations_of_workspace(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT backend_location FROM workspace_documents WHERE org_id = $1 AND workspace_id = $2 \
         AND backend_location IS NOT NULL",
    )
    .bind(org_id)
    .bind(workspace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(l,)| l).collect())
}

/// Documents of a workspace whose embedding there is in `status`, first added first,
/// up to `limit`.
pub async fn documents_in_status(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    status: EmbedStatus,
    limit: i64,
) -> sqlx::Result<Vec<DocumentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d JOIN workspace_documents m ON m.document_id = d.id \
         WHERE d.org_id = $1 AND m.workspace_id = $2 AND m.embed_status = $3 \
         ORDER BY m.added_at, d.id LIMIT $4"
    )))
    .bind(org_id)
    .bind(workspace_id)
    .bind(status.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Records the embedding outcome of a document in one workspace.
pub async fn set_embed_status(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    id: &str,
    status: EmbedStatus,
    backend_location: Option<&str>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE workspace_documents SET embed_status = $1, backend_location = $2, error = $3, \
         updated_at = $4 WHERE document_id = $5 AND org_id = $6 AND workspace_id = $7",
    )
    .bind(status.as_str())
    .bind(backend_location)
    .bind(error)
    .bind(crate::time::now_ms())
    .bind(id)
    .bind(org_id)
    .bind(workspace_id)
    .execute(&mut *tx)
    .await?;
    // What the backend answers from changed.
    bump_document_generation(&mut *tx, org_id, workspace_id).await?;
    tx.commit().await
}

pub async fn count_documents_in_status(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    status: EmbedStatus,
) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM workspace_documents WHERE org_id = $1 AND workspace_id = $2 \
         AND embed_status = $3",
    )
    .bind(org_id)
    .bind(workspace_id)
    .bind(status.as_str())
    .fetch_one(pool)
    .await?;
    Ok(n)
}
