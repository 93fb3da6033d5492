//! `GET /api/v1/jobs/{id}/events`: a Server-Sent Events stream of a job's changes.
//!
//! The stream reads the job's row: at once, then whenever this process announces a change
//! of the job (its workers and routes do), and at the latest every 250 ms. The row is the
//! one truth every process writes, so the stream follows a job wherever it runs — another
//! `quire worker`, another `quire serve` — with at most 250 ms of delay, and needs no
//! broker. It emits
//!
//! - `state`: the whole job (as `GET /jobs/{id}`), first at once and then on every status
//!   change (including a retry's `running → queued`);
//! - `progress`: `{progress, progress_message, estimated_completion}` when they change;
//!
//! and ends after the `state` event of a terminal status (or with an `error` event
//! `{"error": "not_found"}` if the job is deleted meanwhile). Intermediate progress values
//! between two reads may be skipped; the last one is never lost.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::jobs::repo::{self, JobRow};
use crate::jobs::routes::JobResponse;
use crate::jobs::signals;
use crate::state::AppState;

/// The longest a change can go unnoticed when the job runs in another process.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// Live state and progress of a job until it finishes (Server-Sent Events: `state`,
/// `progress`).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String,
               description = "`event: state` (data: the job) and `event: progress` (data: progress, progress_message, estimated_completion); ends after the terminal state"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn job_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    principal.require(Role::Viewer)?;
    let first = repo::find_job(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("job"))?;
    let (tx, rx) = mpsc::channel(32);
    tokio::spawn(follow(state, principal.org_id, first, tx));
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
}

fn state_event(row: &JobRow, default_max_attempts: u32) -> Event {
    let body = JobResponse::from_row(row, default_max_attempts);
    Event::default()
        .event("state")
        .json_data(&body)
        .unwrap_or_else(|_| Event::default().event("state").data("{}"))
}

fn progress_event(row: &JobRow, default_max_attempts: u32) -> Event {
    let body = JobResponse::from_row(row, default_max_attempts);
    Event::default()
        .event("progress")
        .json_data(json!({
            "progress": body.progress,
            "progress_message": body.progress_message,
            "estimated_completion": body.estimated_completion,
        }))
        .unwrap_or_else(|_| Event::default().event("progress").data("{}"))
}

async fn follow(
    state: AppState,
    org_id: String,
    first: JobRow,
    tx: mpsc::Sender<Result<Event, Infallible>>,
) {
    let default_attempts = state.settings.job_max_attempts;
    let mut changes = signals::subscribe_to_job_changes();
    let mut last = first;
    if tx
        .send(Ok(state_event(&last, default_attempts)))
        .await
        .is_err()
    {
        return;
    }
    if last.status().is_terminal() {
        return;
    }
    if last.progress > 0.0
        && tx
            .send(Ok(progress_event(&last, default_attempts)))
            .await
            .is_err()
    {
        return;
    }
    let mut ticker = tokio::time::interval(POLL_EVERY);
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = state.shutdown.cancelled() => return,
            _ = ticker.tick() => {}
            changed = changes.recv() => match changed {
                Ok(changed_id) if changed_id == last.id => {}
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
        let row = match repo::find_job(&state.db.pool, &org_id, &last.id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                let gone = Event::default()
                    .event("error")
                    .data(r#"{"error":"not_found"}"#);
                let _ = tx.send(Ok(gone)).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, job.id = %last.id, "could not read the job for its event stream");
                continue;
            }
        };
        let progressed =
            row.progress != last.progress || row.progress_message != last.progress_message;
        // A retry goes running → queued → running: the attempt count tells them apart even
        // when two reads see the same status.
        let state_changed = row.status != last.status || row.attempts != last.attempts;
        if progressed
            && !row.status().is_terminal()
            && tx
                .send(Ok(progress_event(&row, default_attempts)))
                .await
                .is_err()
        {
            return;
        }
        if state_changed
            && tx
                .send(Ok(state_event(&row, default_attempts)))
                .await
                .is_err()
        {
            return;
        }
        if row.status().is_terminal() {
            return;
        }
        last = row;
    }
}
