//! Durable background jobs: a queue in the database with leases, retries, cancellation,
//! progress and live events, run by any number of worker processes.
//!
//! - [`enqueue`] adds a job (the entry point for features that create work);
//! - [`registry`] maps job types to handlers and states the idempotency contract;
//! - [`worker`] claims and runs jobs; [`repo`] holds all SQL, including the claim;
//! - [`routes`] and [`events`] are the HTTP API (`/api/v1/jobs`);
//! - [`testing`] holds the hidden `test.*` diagnostic job types.

pub mod bench;
pub mod events;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod repo;
pub mod routes;
pub mod signals;
pub mod testing;
pub mod worker;

use serde_json::Value;

use crate::db::Db;
pub use model::JobStatus;
pub use registry::{JobContext, JobError, JobHandler, JobRegistry, handler_fn};
pub use repo::JobRow;
pub use worker::{WorkerConfig, WorkerPool};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub org_id: String,
    /// A registered job type such as `documents.ingest` (see [`model::is_valid_job_type`]).
    pub job_type: String,
    pub workspace_id: Option<String>,
    pub payload: Value,
    /// Attempts allowed, first run included; `None` uses the workers' `JOB_MAX_ATTEMPTS`.
    pub max_attempts: Option<u32>,
    /// Not before this time (epoch ms); `None` means now.
    pub run_at: Option<i64>,
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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("'{0}' is not a valid job type name")]
    InvalidJobType(String),
    #[error("max_attempts must be at least 1")]
    InvalidMaxAttempts,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Adds a job to the queue and wakes workers: this process's at once, other processes'
/// through PostgreSQL `NOTIFY` (SQLite workers elsewhere find it at their next poll).
pub async fn enqueue(db: &Db, job: NewJob) -> Result<JobRow, EnqueueError> {
    let row = insert(&db.pool, job).await?;
    announce(db).await;
    Ok(row)
}

/// Adds a job inside the caller's transaction, so rows that describe the job (a
/// question run, say) commit together with it and no worker can claim the job before
/// they exist. Call [`announce`] after the commit.
pub async fn enqueue_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job: NewJob,
) -> Result<JobRow, EnqueueError> {
    insert(&mut **tx, job).await
}

/// Wakes workers after jobs were committed with [`enqueue_in`].
pub async fn announce(db: &Db) {
    signals::wake_workers();
    if let Err(e) = repo::notify_workers(db).await {
        // The job is stored; other processes will find it at their next poll.
        tracing::warn!(error = %e, "could not notify other workers of a new job");
    }
}

async fn insert<'e, E>(exec: E, job: NewJob) -> Result<JobRow, EnqueueError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if !model::is_valid_job_type(&job.job_type) {
        return Err(EnqueueError::InvalidJobType(job.job_type));
    }
    if job.max_attempts == Some(0) {
        return Err(EnqueueError::InvalidMaxAttempts);
    }
    let id = uuid::Uuid::now_v7().to_string();
    let payload = job.payload.to_string();
    let row = repo::insert_job(
        exec,
        repo::InsertJob {
            id: &id,
            org_id: &job.org_id,
            workspace_id: job.workspace_id.as_deref(),
            job_type: &job.job_type,
            payload: &payload,
            max_attempts: job.max_attempts.map(i64::from),
            run_at: job.run_at.unwrap_or_else(crate::time::now_ms),
        },
    )
    .await?;
    Ok(row)
}
