//! Durable background jobs: a queue in the database with leases, retries, cancellation,
//! progress, de-duplication and follow-up jobs, run by any number of worker processes.
//!
//! The crate knows the `jobs` table and nothing else of the service around it: no HTTP,
//! no settings, no other table. It works on a [`Queue`] (an `AnyPool` over SQLite or
//! PostgreSQL, which of the two, and the [`Clock`] the queue's times come from).
//!
//! - [`enqueue`] adds a job (the entry point for features that create work); a job with
//!   a [`NewJob::dedup_key`] is not added twice while an identical one waits;
//! - [`registry`] maps job types to handlers and states the idempotency contract;
//! - [`worker`] claims and runs jobs; [`repo`] holds all SQL, including the claim;
//! - [`signals`] are the in-process wake-ups and change announcements; [`events`] turns
//!   a job's changes into a feed of events (the service serves it as SSE);
//! - [`metrics`] computes the queue's gauges.
//!
//! ## Job type names
//!
//! `<capability>.<verb>`, the capability plural as its folder is named:
//! `documents.upload`, `workspaces.embed`, `questions.run`; diagnostics use `test.*`.

pub mod clock;
pub mod events;
pub mod metrics;
pub mod model;
pub mod observer;
pub mod registry;
pub mod repo;
pub mod signals;
pub mod worker;

use serde_json::Value;
use sqlx::AnyPool;

#[cfg(feature = "testing")]
pub use clock::ManualClock;
pub use clock::{Clock, SharedClock, SystemClock};
pub use model::JobStatus;
pub use registry::{JobContext, JobError, JobHandler, JobRegistry, handler_fn};
pub use repo::JobRow;
#[cfg(feature = "testing")]
pub use worker::{DrainReport, run_pending_jobs};
pub use worker::{WorkerConfig, WorkerPool};

/// Which database the pool talks to: the claim and the wake-ups differ between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// What the queue works on: the pool, its kind, and the clock its times come from.
/// Cloning is cheap (the pool and the clock are shared).
#[derive(Clone, Debug)]
pub struct Queue {
    pub pool: AnyPool,
    pub kind: DbKind,
    clock: SharedClock,
    observer: observer::Observer,
}

impl Queue {
    /// A queue on `pool` with the system clock.
    pub fn new(pool: AnyPool, kind: DbKind) -> Self {
        Self {
            pool,
            kind,
            clock: clock::system(),
            observer: observer::Observer::default(),
        }
    }

    /// The same queue with an observer of its jobs' changes (see [`observer`]).
    pub fn with_observer(mut self, observer: observer::Observer) -> Self {
        self.observer = observer;
        self
    }

    /// Tells the observer (if any) of a change.
    pub fn observe(&self, change: impl FnOnce() -> observer::JobChange) {
        self.observer.observe(change);
    }

    /// The same queue with another clock (tests of leases and backoff).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = std::sync::Arc::new(clock);
        self
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub org_id: String,
    /// A registered job type such as `documents.upload` (see [`model::is_valid_job_type`]).
    pub job_type: String,
    pub workspace_id: Option<String>,
    pub payload: Value,
    /// Attempts allowed, first run included; `None` uses the workers' `JOB_MAX_ATTEMPTS`.
    pub max_attempts: Option<u32>,
    /// Not before this time (epoch ms); `None` means now.
    pub run_at: Option<i64>,
    /// Names the work (see [`NewJob::dedup_key`]); `None`: every enqueue is a new job.
    pub dedup_key: Option<String>,
}

impl NewJob {
    pub fn new(org_id: impl Into<String>, job_type: impl Into<String>, payload: Value) -> Self {
        Self {
            org_id: org_id.into(),
            job_type: job_type.into(),
            workspace_id: None,
            payload,
            max_attempts: None,
            run_at: None,
            dedup_key: None,
        }
    }

    /// Names the work this job does, within its organisation and type, so that
    ///
    /// - enqueueing it while a job of the same key is still waiting (`queued` and never
    ///   started) returns that job instead of adding another: the waiting job will see
    ///   whatever made the caller enqueue again;
    /// - two jobs of the same key never run at the same time: a job whose twin is running
    ///   waits until the twin has finished, so jobs that pick their work from the
    ///   database (the embed job takes the workspace's `extracted` documents) never pick
    ///   the same rows.
    ///
    /// Both are enforced by the database (partial unique indexes on the waiting and the
    /// running jobs of a key), not only by the enqueueing process.
    pub fn dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }

    pub fn workspace(mut self, workspace_id: impl Into<String>) -> Self {
        self.workspace_id = Some(workspace_id.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("'{0}' is not a valid job type name")]
    InvalidJobType(String),
    #[error("max_attempts must be at least 1")]
    InvalidMaxAttempts,
    /// A job of the same dedup key kept starting between the insert and the read.
    #[error("a job of the same dedup key kept starting; try again")]
    Contended,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Adds a job to the queue and wakes workers: this process's at once, other processes'
/// through PostgreSQL `NOTIFY` (SQLite workers elsewhere find it at their next poll).
/// With a dedup key, an identical job still waiting is returned instead (and nobody is
/// woken: that job is already known).
pub async fn enqueue(queue: &Queue, job: NewJob) -> Result<JobRow, EnqueueError> {
    let mut conn = queue.pool.acquire().await?;
    let (row, created) = insert(&mut conn, queue.now_ms(), job).await?;
    drop(conn);
    if created {
        queue.observe(|| observer::JobChange {
            org_id: row.org_id.clone(),
            job_id: row.id.clone(),
            job_type: row.job_type.clone(),
            workspace_id: row.workspace_id.clone(),
            kind: observer::JobChangeKind::Queued,
        });
        announce(queue).await;
    }
    Ok(row)
}

/// Adds a job inside the caller's transaction, so rows that describe the job (a
/// question run, say) commit together with it and no worker can claim the job before
/// they exist. Call [`announce`] after the commit.
pub async fn enqueue_in(
    queue: &Queue,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job: NewJob,
) -> Result<JobRow, EnqueueError> {
    Ok(insert(tx, queue.now_ms(), job).await?.0)
}

/// Wakes workers after jobs were committed with [`enqueue_in`].
pub async fn announce(queue: &Queue) {
    signals::wake_workers();
    if let Err(e) = repo::notify_workers(queue).await {
        // The job is stored; other processes will find it at their next poll.
        tracing::warn!(error = %e, "could not notify other workers of a new job");
    }
}

/// Inserts `job` (or finds its waiting twin); `true` when a row was added.
pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    job: NewJob,
) -> Result<(JobRow, bool), EnqueueError> {
    if !model::is_valid_job_type(&job.job_type) {
        return Err(EnqueueError::InvalidJobType(job.job_type));
    }
    if job.max_attempts == Some(0) {
        return Err(EnqueueError::InvalidMaxAttempts);
    }
    let payload = job.payload.to_string();
    // The twin found by the insert may start between the insert and the read; then the
    // next round inserts. Three rounds are plenty: each lost one means a twin started.
    for _ in 0..3 {
        let id = uuid::Uuid::now_v7().to_string();
        let inserted = repo::insert_job(
            &mut *conn,
            repo::InsertJob {
                id: &id,
                org_id: &job.org_id,
                workspace_id: job.workspace_id.as_deref(),
                job_type: &job.job_type,
                payload: &payload,
                max_attempts: job.max_attempts.map(i64::from),
                run_at: job.run_at.unwrap_or(now),
                dedup_key: job.dedup_key.as_deref(),
            },
            now,
        )
        .await?;
        if let Some(row) = inserted {
            return Ok((row, true));
        }
        let Some(key) = job.dedup_key.as_deref() else {
            break;
        };
        if let Some(twin) =
            repo::find_waiting_twin(&mut *conn, &job.org_id, &job.job_type, key).await?
        {
            return Ok((twin, false));
        }
    }
    Err(EnqueueError::Contended)
}
