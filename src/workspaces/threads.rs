//! Threads: a conversation in a workspace. History is kept here for the embedded
//! backend; AnythingLLM keeps its own, referenced by `backend_ref`.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::now_ms;
use crate::workspaces::repo::{self, WorkspaceRow};

pub use crate::workspaces::repo::ThreadRow;

/// History turns kept per thread when asking (older turns are dropped).
const HISTORY_TURNS: i64 = 20;

pub async fn open(state: &AppState, ws: &WorkspaceRow, name: &str) -> Result<ThreadRow, ApiError> {
    let backend_ref = state
        .backends
        .open_thread(ws, name)
        .await
        .map_err(ApiError::from)?;
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
    repo::insert_thread(&state.db.pool, &row).await?;
    Ok(row)
}

pub async fn find_open(
    state: &AppState,
    principal: &Principal,
    ws: &WorkspaceRow,
    id: &str,
) -> Result<ThreadRow, ApiError> {
    repo::find_open_thread(&state.db.pool, &principal.org_id, &ws.id, id)
        .await?
        .ok_or(ApiError::NotFound("thread"))
}

/// Earlier (question, answer) pairs, oldest first.
pub async fn history(
    state: &AppState,
    thread: &ThreadRow,
) -> Result<Vec<(String, String)>, ApiError> {
    let rows = repo::latest_thread_messages(&state.db.pool, &thread.id, HISTORY_TURNS * 2).await?;
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
    repo::insert_thread_turn(&state.db.pool, &thread.id, question, answer).await?;
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
            .map_err(ApiError::from)?;
    }
    repo::close_thread(&state.db.pool, &thread.org_id, &thread.id).await?;
    Ok(())
}

/// Open threads of `ws` whose name starts with `prefix` (e.g. every thread of one
/// question run, those of crashed attempts included).
pub async fn open_threads_named(
    state: &AppState,
    ws: &WorkspaceRow,
    prefix: &str,
) -> sqlx::Result<Vec<ThreadRow>> {
    repo::find_open_threads_named(&state.db.pool, &ws.org_id, &ws.id, prefix).await
}
