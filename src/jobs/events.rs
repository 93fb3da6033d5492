//! `GET /api/v1/jobs/{id}/events`: a Server-Sent Events stream of a job's changes.
//!
//! The events come from the queue's feed of the job ([`quire_jobs::events::follow`]: the
//! row read at once, on every change this process announces, and at the latest every
//! 250 ms, so it follows a job run by any process with no broker). It emits
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
use quire_jobs::events::JobEvent;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::jobs::repo::{self, JobRow};
use crate::jobs::response::JobResponse;
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

/// Follows the job's feed and writes each event as SSE.
async fn follow(
    state: AppState,
    org_id: String,
    first: JobRow,
    tx: mpsc::Sender<Result<Event, Infallible>>,
) {
    let default_attempts = state.settings.job_max_attempts;
    let (feed_tx, mut feed) = mpsc::channel(8);
    tokio::spawn(quire_jobs::events::follow(
        state.db.pool.clone(),
        org_id,
        first,
        POLL_EVERY,
        state.shutdown.clone(),
        feed_tx,
    ));
    while let Some(event) = feed.recv().await {
        let sse = match event {
            JobEvent::State(row) => state_event(&row, default_attempts),
            JobEvent::Progress(row) => progress_event(&row, default_attempts),
            JobEvent::NotFound => Event::default()
                .event("error")
                .data(r#"{"error":"not_found"}"#),
        };
        // The feed ends when this receiver is dropped.
        if tx.send(Ok(sse)).await.is_err() {
            return;
        }
    }
}
