//! SQL for workspaces. Every function takes the organisation.

use sqlx::{AnyPool, FromRow};

use crate::backends::BackendKind;
use crate::time::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct WorkspaceRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub backend: String,
    pub backend_ref: Option<String>,
    pub llm_config: Option<String>,
    pub system_prompt: Option<String>,
    pub prompt_preset: Option<String>,
    pub top_n: i64,
    pub similarity_threshold: f64,
    pub chat_mode: String,
    pub status: String,
    pub baseline_run_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl WorkspaceRow {
    /// The backend the workspace lives on. The column only ever holds a
    /// [`BackendKind`] name (the API validates it); anything else reads as embedded.
    pub fn backend_kind(&self) -> BackendKind {
        BackendKind::parse(&self.backend).unwrap_or(BackendKind::Embedded)
    }
}

pub const WORKSPACE_COLUMNS: &str = "id, org_id, name, slug, description, backend, backend_ref, \
    llm_config, system_prompt, prompt_preset, top_n, similarity_threshold, chat_mode, status, \
    baseline_run_id, created_at, updated_at";

pub async fn insert_workspace<'e, E>(exec: E, row: &WorkspaceRow) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO workspaces ({WORKSPACE_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )))
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.name)
    .bind(&row.slug)
    .bind(&row.description)
    .bind(&row.backend)
    .bind(&row.backend_ref)
    .bind(&row.llm_config)
    .bind(&row.system_prompt)
    .bind(&row.prompt_preset)
    .bind(row.top_n)
    .bind(row.similarity_threshold)
    .bind(&row.chat_mode)
    .bind(&row.status)
    .bind(&row.baseline_run_id)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(exec)
    .await
    .map(|_| ())
}

pub async fn find_workspace(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<Option<WorkspaceRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await
}

/// A bare embedded workspace, for tests and for callers that need one quickly.
pub fn new_workspace_row(org_id: &str, name: &str, backend: &str) -> WorkspaceRow {
    let now = now_ms();
    WorkspaceRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        slug: slugify(name),
        description: None,
        backend: backend.to_owned(),
        backend_ref: None,
        llm_config: None,
        system_prompt: None,
        prompt_preset: None,
        top_n: 4,
        similarity_threshold: 0.25,
        chat_mode: "query".to_owned(),
        status: "ready".to_owned(),
        baseline_run_id: None,
        created_at: now,
        updated_at: now,
    }
}

pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
            dash = false;
        } else if !dash && !slug.is_empty() {
            slug.push('-');
            dash = true;
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Another workspace of the organisation with this slug (names that differ only in
/// case or punctuation share one).
pub async fn find_workspace_by_slug(
    pool: &AnyPool,
    org_id: &str,
    slug: &str,
) -> sqlx::Result<Option<WorkspaceRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE org_id = $1 AND slug = $2 LIMIT 1"
    )))
    .bind(org_id)
    .bind(slug)
    .fetch_optional(pool)
    .await
}

pub async fn find_workspace_by_name(
    pool: &AnyPool,
    org_id: &str,
    name: &str,
) -> sqlx::Result<Option<WorkspaceRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE org_id = $1 AND name = $2"
    )))
    .bind(org_id)
    .bind(name)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct WorkspaceFilter {
    pub backend: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

pub async fn list_workspaces(
    pool: &AnyPool,
    org_id: &str,
    filter: &WorkspaceFilter,
    window: crate::http::Window,
) -> sqlx::Result<(Vec<WorkspaceRow>, u64)> {
    let pattern = filter.name_contains.as_ref().map(|n| {
        format!(
            "%{}%",
            n.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let condition = "org_id = $1 AND ($2 IS NULL OR backend = $2) \
                     AND ($3 IS NULL OR LOWER(name) LIKE $3 ESCAPE '\\')";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE {condition} ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    )))
    .bind(org_id)
    .bind(&filter.backend)
    .bind(&pattern)
    .bind(i64::from(window.limit))
    .bind(window.offset as i64)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM workspaces WHERE {condition}"
    )))
    .bind(org_id)
    .bind(&filter.backend)
    .bind(&pattern)
    .fetch_one(pool)
    .await?;
    Ok((rows, total.max(0) as u64))
}

/// Writes every mutable column of `row` (scoped by its organisation).
pub async fn update_workspace(pool: &AnyPool, row: &WorkspaceRow) -> sqlx::Result<bool> {
    let affected = sqlx::query(
        "UPDATE workspaces SET name = $1, slug = $2, description = $3, backend_ref = $4, llm_config = $5, \
         system_prompt = $6, prompt_preset = $7, top_n = $8, similarity_threshold = $9, chat_mode = $10, \
         status = $11, baseline_run_id = $12, updated_at = $13 WHERE id = $14 AND org_id = $15",
    )
    .bind(&row.name)
    .bind(&row.slug)
    .bind(&row.description)
    .bind(&row.backend_ref)
    .bind(&row.llm_config)
    .bind(&row.system_prompt)
    .bind(&row.prompt_preset)
    .bind(row.top_n)
    .bind(row.similarity_threshold)
    .bind(&row.chat_mode)
    .bind(&row.status)
    .bind(&row.baseline_run_id)
    .bind(now_ms())
    .bind(&row.id)
    .bind(&row.org_id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(affected > 0)
}

pub async fn delete_workspace(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<bool> {
    let affected = sqlx::query("DELETE FROM workspaces WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(affected > 0)
}

#[derive(Debug, Clone, FromRow)]
pub struct ThreadRow {
    pub id: String,
    pub org_id: String,
    pub workspace_id: String,
    pub name: String,
    pub backend_ref: Option<String>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

const THREAD_COLUMNS: &str = "id, org_id, workspace_id, name, backend_ref, created_at, closed_at";

pub async fn insert_thread(pool: &AnyPool, row: &ThreadRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO threads (id, org_id, workspace_id, name, backend_ref, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.workspace_id)
    .bind(&row.name)
    .bind(&row.backend_ref)
    .bind(row.created_at)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn find_open_thread(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    id: &str,
) -> sqlx::Result<Option<ThreadRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {THREAD_COLUMNS} FROM threads \
         WHERE id = $1 AND org_id = $2 AND workspace_id = $3 AND closed_at IS NULL"
    )))
    .bind(id)
    .bind(org_id)
    .bind(workspace_id)
    .fetch_optional(pool)
    .await
}

/// The thread's latest `limit` messages as (role, text), newest first. The thread was
/// found within its organisation by the caller.
pub async fn latest_thread_messages(
    pool: &AnyPool,
    thread_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT role, text FROM thread_messages WHERE thread_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(thread_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A question and its answer, together or not at all.
pub async fn insert_thread_turn(
    pool: &AnyPool,
    thread_id: &str,
    question: &str,
    answer: &str,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let now = now_ms();
    for (offset, role, text) in [(0, "user", question), (1, "assistant", answer)] {
        sqlx::query(
            "INSERT INTO thread_messages (id, thread_id, role, text, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(thread_id)
        .bind(role)
        .bind(text)
        .bind(now + offset)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

pub async fn close_thread(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE threads SET closed_at = $1 WHERE id = $2 AND org_id = $3")
        .bind(now_ms())
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Open threads of a workspace whose name starts with `prefix` (e.g. every thread of one
/// question run, those of crashed attempts included).
pub async fn find_open_threads_named(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
    prefix: &str,
) -> sqlx::Result<Vec<ThreadRow>> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {THREAD_COLUMNS} FROM threads WHERE org_id = $1 AND workspace_id = $2 \
         AND closed_at IS NULL AND name LIKE $3 ESCAPE '\\'"
    )))
    .bind(org_id)
    .bind(workspace_id)
    .bind(pattern)
    .fetch_all(pool)
    .await
}
