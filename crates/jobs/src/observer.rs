//! A hook for the service around the queue: each change of a job's life as the queue
//! makes it (started, progress, ended), so the service can publish it as an event.
//!
//! The queue calls the observer synchronously, after the change is written; the observer
//! must not block (the service's hands the change to a task). A queue without an observer
//! (the default) calls nothing.

use std::fmt;
use std::sync::Arc;

use crate::model::JobStatus;

/// What happened to a job.
#[derive(Clone, Debug, PartialEq)]
pub enum JobChangeKind {
    /// Enqueued (by [`crate::enqueue`]; a job inserted in a caller's transaction is
    /// announced by the caller).
    Queued,
    /// An attempt was claimed by a worker.
    Started { attempt: u32 },
    /// Progress reported by the handler.
    Progress {
        percent: f64,
        message: Option<String>,
    },
    /// The attempt ended and the job is in `status` now (`queued` again for a retry).
    Ended {
        status: JobStatus,
        error: Option<String>,
    },
}

/// One change of one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobChange {
    pub org_id: String,
    pub job_id: String,
    pub job_type: String,
    pub workspace_id: Option<String>,
    pub kind: JobChangeKind,
}

/// Receives every [`JobChange`] of a queue.
pub trait JobObserver: Send + Sync + 'static {
    fn observe(&self, change: JobChange);
}

/// The queue's observer, if any.
#[derive(Clone, Default)]
pub struct Observer(Option<Arc<dyn JobObserver>>);

impl Observer {
    pub fn new(observer: Arc<dyn JobObserver>) -> Self {
        Self(Some(observer))
    }

    pub fn observe(&self, change: impl FnOnce() -> JobChange) {
        if let Some(observer) = &self.0 {
            observer.observe(change());
        }
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observer(Some)"
        } else {
            "Observer(None)"
        })
    }
}
