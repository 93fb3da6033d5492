//! Threads: a conversation in a workspace. History is kept here for the embedded
//! backend; AnythingLLM keeps its own, referenced by `backend_ref`.

use sqlx::FromRow;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::time::now_ms;
use crate::workspaces::repo::WorkspaceRow;
use crate::workspaces::service::backend_error;

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

/// History turns kept per thread when asking (older turns are dropped).
const HISTORY_TURNS: i64 = 20;

pub async fn open(state: &AppState, ws: &WorkspaceRow, name: &str) -> Result<ThreadRow, ApiError> {
    let backend_ref = state
        .backends
        .open_thread(ws, name)
        .await
        .map_err(backend_error)?;
    Ok(record(state, ws, name, backend_ref).await?)
}

/// Records a thread opened on the backend (`backend_ref`, `None` for the embedded one).
pub async fn record(
    state: &AppState,
    ws: &WorkspaceRow,
    name: &str,
    backend_ref: Option<String>,
) -> sqlx::Result<ThreadRow> {
    let row = ThreadRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: ws.org_id.clone(),
        workspace_id: ws.id.clone(),
        name: name.to_owned(),
        backend_ref,
        created_at: now_ms(),
        closed_at: None,
    };
    sqlx::query(
        "INSERT INTO threads (id, org_id, workspace_id, name, backend_ref, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.workspace_id)
    .bind(&row.name)
    .bind(&row.backend_ref)
    .bind(row.created_at)
    .execute(&state.db.pool)
    .await?;
    Ok(row)
}

pub async fn find_open(
    state: &AppState,
    principal: &Principal,
    ws: &WorkspaceRow,
    id: &str,
) -> Result<ThreadRow, ApiError> {
    let row: Option<ThreadRow> = sqlx::query_as(
        "SELECT id, org_id, workspace_id, name, backend_ref, created_at, closed_at FROM threads \
         WHERE id = $1 AND org_id = $2 AND workspace_id = $3 AND closed_at IS NULL",
    )
    .bind(id)
    .bind(&principal.org_id)
    .bind(&ws.id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.ok_or(ApiError::NotFound("thread"))
}

/// Earlier (question, answer) pairs, oldest first.
pub async fn history(
    state: &AppState,
    thread: &ThreadRow,
) -> Result<Vec<(String, String)>, ApiError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT role, text FROM thread_messages WHERE thread_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(&thread.id)
    .bind(HISTORY_TURNS * 2)
    .fetch_all(&state.db.pool)
    .await?;
    let mut rows: Vec<(String, String)> = rows.into_iter().rev().collect();
    // Pair user turns with the assistant turn after them.
    let mut pairs = Vec::new();
    let mut pending: Option<String> = None;
    for (role, text) in rows.drain(..) {
        match role.as_str() {
            "user" => pending = Some(text),
            _ => {
                if let Some(q) = pending.take() {
                    pairs.push((q, text));
                }
            }
        }
    }
    Ok(pairs)
}

pub async fn append(
    state: &AppState,
    thread: &ThreadRow,
    question: &str,
    answer: &str,
) -> Result<(), ApiError> {
    let mut tx = state.db.pool.begin().await?;
    let now = now_ms();
    for (offset, role, text) in [(0, "user", question), (1, "assistant", answer)] {
        sqlx::query("INSERT INTO thread_messages (id, thread_id, role, text, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&thread.id)
            .bind(role)
            .bind(text)
            .bind(now + offset)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn close(
    state: &AppState,
    ws: &WorkspaceRow,
    thread: &ThreadRow,
) -> Result<(), ApiError> {
    if let Some(r) = &thread.backend_ref {
        state
            .backends
            .close_thread(ws, r)
            .await
            .map_err(backend_error)?;
    }
    sqlx::query("UPDATE threads SET closed_at = $1 WHERE id = $2 AND org_id = $3")
        .bind(now_ms())
        .bind(&thread.id)
        .bind(&thread.org_id)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// Open threads of `ws` whose name starts with `prefix` (e.g. every thread of one
/// question run, those of crashed attempts included).
pub async fn open_threads_named(
    state: &AppState,
    ws: &WorkspaceRow,
    prefix: &str,
) -> sqlx::Result<Vec<ThreadRow>> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as(
        "SELECT id, org_id, workspace_id, name, backend_ref, created_at, closed_at FROM threads \
         WHERE org_id = $1 AND workspace_id = $2 AND closed_at IS NULL AND name LIKE $3 ESCAPE '\\'",
    )
    .bind(&ws.org_id)
    .bind(&ws.id)
    .bind(pattern)
    .fetch_all(&state.db.pool)
    .await
}
