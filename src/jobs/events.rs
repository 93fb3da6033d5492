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
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::jobs::repo::{self, JobRow};
use crate::jobs::response::JobResponse;
use crate::state::AppState;

/// The longest a change can go unnoticed when the job runs in another process.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// One event of the stream: its `event:` line names the kind, its `data:` line holds
/// the JSON that goes with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStreamEvent {
    pub event: JobStreamKind,
    pub data: JobStreamData,
}

/// `state`: the whole job, first at once and then on every status change; `progress`:
/// progress changed; `error`: the job was deleted meanwhile (the stream ends).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStreamKind {
    State,
    Progress,
    Error,
}

/// An event's data: the job (`state`), its progress (`progress`) or the error (`error`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum JobStreamData {
    State(Box<JobResponse>),
    Progress(JobProgress),
    Error(JobStreamError),
}

/// The data of a `progress` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobProgress {
    /// Percent done, 0 to 100.
    pub progress: f64,
    pub progress_message: Option<String>,
    /// When the job will probably finish (RFC 3339); `null` until it can be estimated.
    pub estimated_completion: Option<String>,
}

/// The data of an `error` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStreamError {
    /// Always `not_found`.
    pub error: String,
}

/// Live state and progress of a job until it finishes (Server-Sent Events: state,
/// progress).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, content_type = "text/event-stream", body = JobStreamEvent,
               description = "A stream of events, each an `event:` line (state, progress or error) and a `data:` line of JSON; it ends after the state event of a finished job."),
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
        .json_data(JobProgress {
            progress: body.progress,
            progress_message: body.progress_message,
            estimated_completion: body.estimated_completion,
        })
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
                .json_data(JobStreamError {
                    error: "not_found".into(),
                })
                .unwrap_or_else(|_| Event::default().event("error").data("{}")),
        };
        // The feed ends when this receiver is dropped.
        if tx.send(Ok(sse)).await.is_err() {
            return;
        }
    }
}
