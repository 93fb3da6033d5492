//! The change feed of one job, as an event source: what `GET /api/v1/jobs/{id}/events`
//! (the service's SSE handler) and any later live view turn into messages.
//!
//! [`follow`] reads the job's row: at once, then whenever this process announces a change
//! of the job ([`crate::signals::job_changed`]: its workers and routes do), and at the
//! latest every `poll_every`. The row is the one truth every process writes, so the feed
//! follows a job wherever it runs — another worker process, another server — with at most
//! `poll_every` of delay, and needs no broker. It sends
//!
//! - [`JobEvent::State`]: the whole row, first at once and then on every status change
//!   (including a retry's `running → queued`);
//! - [`JobEvent::Progress`]: the row, when progress or its message changed;
//!
//! and ends after the `State` of a terminal status (or with [`JobEvent::NotFound`] if the
//! job is deleted meanwhile). Intermediate progress values between two reads may be
//! skipped; the last one is never lost.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::repo::{self, JobRow};
use crate::signals;

/// One message of a job's feed.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// The job's state changed (or this is the first read).
    State(JobRow),
    /// Its progress changed.
    Progress(JobRow),
    /// The job was deleted while followed.
    NotFound,
}

/// Sends `first` and then the job's changes to `tx` until the job ends, `tx` closes or
/// `stop` fires.
pub async fn follow(
    pool: AnyPool,
    org_id: String,
    first: JobRow,
    poll_every: Duration,
    stop: CancellationToken,
    tx: mpsc::Sender<JobEvent>,
) {
    let mut changes = signals::subscribe_to_job_changes();
    let mut last = first;
    if tx.send(JobEvent::State(last.clone())).await.is_err() {
        return;
    }
    if last.status().is_terminal() {
        return;
    }
    if last.progress > 0.0 && tx.send(JobEvent::Progress(last.clone())).await.is_err() {
        return;
    }
    let mut ticker = tokio::time::interval(poll_every);
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
            changed = changes.recv() => match changed {
                Ok(changed_id) if changed_id == last.id => {}
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
        let row = match repo::find_job(&pool, &org_id, &last.id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                let _ = tx.send(JobEvent::NotFound).await;
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
            && tx.send(JobEvent::Progress(row.clone())).await.is_err()
        {
            return;
        }
        if state_changed && tx.send(JobEvent::State(row.clone())).await.is_err() {
            return;
        }
        if row.status().is_terminal() {
            return;
        }
        last = row;
    }
}
