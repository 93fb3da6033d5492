//! Handlers by job type, and what a handler gets to work with.
//!
//! ## The contract of a handler
//!
//! A handler may run more than once for one job: after its worker crashed or lost its
//! lease, and after a failed attempt. It must therefore be **idempotent**: run again, it
//! finishes the remaining work without repeating side effects. The tools for that:
//!
//! - [`JobContext::checkpoint`] is the JSON the previous attempts saved, and
//!   [`JobContext::save_checkpoint`] saves a new one (only while this worker holds the lease).
//! - [`JobContext::begin`] opens a transaction *fenced by the lease*: it commits only while
//!   the job is still ours (on PostgreSQL the job row stays locked until commit, so nobody
//!   can take the job over in between). Write a unit of work's rows and the checkpoint that
//!   says it is done in one such transaction ([`JobContext::save_checkpoint_in`]): after a
//!   crash, either both are there or neither, and the next attempt resumes after the last
//!   committed unit.
//! - Rows written outside a fenced transaction should carry a natural key (e.g. the job id
//!   plus the item) so a repeated insert is a no-op.
//!
//! Keep fenced transactions short, and inside one use only the `_in` helpers and the
//! transaction itself: on SQLite it holds the database's write lock, so a
//! [`JobContext::report_progress`] (another connection) would wait for it.
//!
//! Work that must follow a success (embedding the documents an upload produced) is
//! handed to [`JobContext::enqueue_on_success`]: the follow-up jobs are inserted in the
//! transaction that records the success, so a crash can neither lose them nor enqueue
//! them for a job that then runs again.
//!
//! Cancellation is cooperative: check [`JobContext::is_cancelled`] (or `await`
//! [`JobContext::cancelled`]) between units of work and return [`JobError::Cancelled`];
//! a unit in progress should either commit entirely or roll back. The token also fires
//! when the worker is shutting down or lost the lease; the worker tells these apart.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::repo::{self, JobRow};
use crate::{NewJob, Queue, signals};

/// Why an attempt did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a timeout, a backend that is down): retried with backoff
    /// until the job's attempts are used up.
    #[error("{0}")]
    Retryable(String),
    /// Retrying cannot help (bad payload, missing document): the job fails now.
    #[error("{0}")]
    Permanent(String),
    /// The handler stopped because its cancellation token fired.
    #[error("cancelled")]
    Cancelled,
    /// This worker no longer holds the job's lease; another worker may be running it.
    #[error("the job's lease was lost")]
    LeaseLost,
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::Retryable(format!("database error: {e}"))
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::Retryable(format!("{e:#}"))
    }
}

/// Runs jobs of one type. See the module documentation for the idempotency contract.
pub trait JobHandler: Send + Sync + 'static {
    /// Does the work; the returned JSON becomes the job's `result`.
    fn run(&self, ctx: JobContext) -> impl Future<Output = Result<Value, JobError>> + Send;
}

/// A handler made from an async closure: `handler_fn(|ctx| async move { ... })`.
pub struct FnHandler<F>(F);

pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    FnHandler(f)
}

impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    fn run(&self, ctx: JobContext) -> impl Future<Output = Result<Value, JobError>> + Send {
        (self.0)(ctx)
    }
}

type BoxedRun = Pin<Box<dyn Future<Output = Result<Value, JobError>> + Send + 'static>>;

/// The object-safe form of [`JobHandler`] the registry stores.
trait ErasedHandler: Send + Sync {
    fn run_boxed(self: Arc<Self>, ctx: JobContext) -> BoxedRun;
}

impl<H: JobHandler> ErasedHandler for H {
    fn run_boxed(self: Arc<Self>, ctx: JobContext) -> BoxedRun {
        Box::pin(async move { self.run(ctx).await })
    }
}

/// The job types this process can run. Workers claim only jobs of these types, so
/// processes with different registries can share one database.
#[derive(Clone, Default)]
pub struct JobRegistry {
    handlers: BTreeMap<String, Arc<dyn ErasedHandler>>,
}

impl JobRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the handler of `job_type`.
    pub fn register(mut self, job_type: &str, handler: impl JobHandler) -> Self {
        self.handlers.insert(job_type.to_owned(), Arc::new(handler));
        self
    }

    pub fn job_types(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }

    pub fn contains(&self, job_type: &str) -> bool {
        self.handlers.contains_key(job_type)
    }

    /// Starts the handler of the job's type; `None` for a type not registered here.
    pub(crate) fn start(&self, ctx: JobContext) -> Option<BoxedRun> {
        let handler = self.handlers.get(&ctx.job.job_type)?.clone();
        Some(handler.run_boxed(ctx))
    }
}

/// What a running handler knows and may do.
#[derive(Clone)]
pub struct JobContext {
    job: Arc<ClaimedJob>,
    queue: Queue,
    cancel: CancellationToken,
    follow_ups: Arc<Mutex<Vec<NewJob>>>,
}

struct ClaimedJob {
    id: String,
    org_id: String,
    workspace_id: Option<String>,
    job_type: String,
    payload: Value,
    checkpoint: Option<Value>,
    attempt: u32,
    lease_owner: String,
}

impl JobContext {
    pub(crate) fn new(
        row: &JobRow,
        lease_owner: &str,
        queue: Queue,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            job: Arc::new(ClaimedJob {
                id: row.id.clone(),
                org_id: row.org_id.clone(),
                workspace_id: row.workspace_id.clone(),
                job_type: row.job_type.clone(),
                payload: row.payload_json(),
                checkpoint: row.checkpoint_json(),
                attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                lease_owner: lease_owner.to_owned(),
            }),
            queue,
            cancel,
            follow_ups: Arc::default(),
        }
    }

    pub fn job_id(&self) -> &str {
        &self.job.id
    }

    /// The organisation the job belongs to: every query the handler makes is scoped by it.
    pub fn org_id(&self) -> &str {
        &self.job.org_id
    }

    pub fn workspace_id(&self) -> Option<&str> {
        self.job.workspace_id.as_deref()
    }

    pub fn job_type(&self) -> &str {
        &self.job.job_type
    }

    pub fn payload(&self) -> &Value {
        &self.job.payload
    }

    /// The payload as `T`; a payload that does not fit is a permanent failure.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("invalid payload: {e}")))
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.job.attempt
    }

    /// The checkpoint saved by earlier attempts (as it was when this attempt started).
    pub fn checkpoint(&self) -> Option<&Value> {
        self.job.checkpoint.as_ref()
    }

    /// The database the queue is in (the handler's own tables are there too).
    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.queue.pool
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Enqueues `job` if, and when, this attempt succeeds: in the transaction that
    /// records the success. Dropped when the attempt fails or is cancelled (a retry asks
    /// again). Follow-ups with a dedup key join a waiting twin, as [`crate::enqueue`] does.
    pub fn enqueue_on_success(&self, job: NewJob) {
        if let Ok(mut follow_ups) = self.follow_ups.lock() {
            follow_ups.push(job);
        }
    }

    /// The follow-ups asked for so far (the worker takes them when the handler returns).
    pub(crate) fn take_follow_ups(&self) -> Vec<NewJob> {
        self.follow_ups
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    /// Fires on a cancel request, on worker shutdown and when the lease is lost.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// `Err(Cancelled)` once cancellation was requested: `ctx.check_cancelled()?;`.
    pub fn check_cancelled(&self) -> Result<(), JobError> {
        if self.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Resolves when cancellation is requested.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Records progress (0–100, clamped) and what is happening.
    pub async fn report_progress(
        &self,
        percent: f64,
        message: impl Into<String>,
    ) -> Result<(), JobError> {
        let percent = if percent.is_finite() {
            percent.clamp(0.0, 100.0)
        } else {
            0.0
        };
        let message = message.into();
        let held = repo::update_progress(
            &self.queue.pool,
            self.queue.now_ms(),
            &self.job.id,
            &self.job.lease_owner,
            percent,
            Some(message.as_str()).filter(|m| !m.is_empty()),
        )
        .await?;
        signals::job_changed(&self.job.id);
        if held {
            self.queue.observe(|| crate::observer::JobChange {
                org_id: self.job.org_id.clone(),
                job_id: self.job.id.clone(),
                job_type: self.job.job_type.clone(),
                workspace_id: self.job.workspace_id.clone(),
                kind: crate::observer::JobChangeKind::Progress {
                    percent,
                    message: Some(message.clone()).filter(|m| !m.is_empty()),
                },
            });
        }
        if held {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }

    /// Saves the checkpoint on its own (see [`JobContext::save_checkpoint_in`] to save it
    /// together with the rows it describes).
    pub async fn save_checkpoint(&self, checkpoint: &Value) -> Result<(), JobError> {
        let held = repo::save_checkpoint(
            &self.queue.pool,
            self.queue.now_ms(),
            &self.job.id,
            &self.job.lease_owner,
            checkpoint,
        )
        .await?;
        if held {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }

    /// A transaction that can commit only while this worker holds the lease. Everything
    /// written in it (rows and checkpoint) lands together or not at all.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, JobError> {
        let mut tx = self.queue.pool.begin().await?;
        if repo::fence(
            &mut *tx,
            self.queue.now_ms(),
            &self.job.id,
            &self.job.lease_owner,
        )
        .await?
        {
            Ok(tx)
        } else {
            let _ = tx.rollback().await;
            Err(JobError::LeaseLost)
        }
    }

    /// Saves the checkpoint inside a transaction from [`JobContext::begin`].
    pub async fn save_checkpoint_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        checkpoint: &Value,
    ) -> Result<(), JobError> {
        let held = repo::save_checkpoint(
            &mut **tx,
            self.queue.now_ms(),
            &self.job.id,
            &self.job.lease_owner,
            checkpoint,
        )
        .await?;
        if held {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }
}
