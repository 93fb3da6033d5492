//! The service's side of the job queue. The queue itself (table, claim, leases, workers,
//! retries, cancel, progress, de-duplication, follow-ups) is the `quire-jobs` crate,
//! re-exported here; this module adds what needs the service:
//!
//! - [`routes`] and [`events`] are the HTTP API (`/api/v1/jobs`, its SSE stream);
//! - the settings → [`WorkerConfig`] and → [`JobRegistry`] conversions, and the
//!   [`Queue`] of the service's [`Db`];
//! - [`testing`] (feature `test-jobs`) holds the hidden `test.*` diagnostic job types.

pub mod events;
pub mod response;
pub mod routes;
#[cfg(feature = "test-jobs")]
pub mod testing;

use std::sync::Arc;

pub use quire_jobs::{
    EnqueueError, JobContext, JobError, JobHandler, JobRegistry, JobRow, JobStatus, NewJob, Queue,
    WorkerConfig, WorkerPool, clock, handler_fn, metrics, model, registry, repo, signals, worker,
};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::db::Db;

impl From<&Db> for Queue {
    /// The service's queue runs on the system clock.
    fn from(db: &Db) -> Self {
        Queue::new(db.pool.clone(), db.kind).with_observer(db.jobs_observer.clone())
    }
}

impl From<&Settings> for WorkerConfig {
    fn from(settings: &Settings) -> Self {
        Self {
            concurrency: settings.max_concurrent_jobs as usize,
            lease: settings.job_lease(),
            heartbeat: settings.job_heartbeat_interval(),
            poll: settings.job_poll_interval(),
            retry_backoff_ms: u64::from(settings.job_retry_backoff_ms),
            default_max_attempts: settings.job_max_attempts,
            shutdown_grace: settings.shutdown_timeout(),
            cleanup_after_days: settings.job_cleanup_days,
            database_url: settings.database_url().as_str().to_owned(),
        }
    }
}

/// An empty registry (the service's handlers are added where the app is assembled), plus
/// the `test.*` diagnostics when `QUIRE_ENABLE_TEST_JOBS` is on and this build has them.
pub fn registry_from_settings(settings: &Settings) -> JobRegistry {
    let registry = JobRegistry::new();
    if !settings.enable_test_jobs {
        return registry;
    }
    #[cfg(feature = "test-jobs")]
    {
        testing::register(registry)
    }
    #[cfg(not(feature = "test-jobs"))]
    {
        tracing::warn!(
            "--enable-test-jobs is ignored: this build has no test job types (feature test-jobs)"
        );
        registry
    }
}

/// Starts the worker pool on the service's database (creating the test jobs' table first
/// when they are registered).
pub async fn start_workers(
    db: &Db,
    registry: Arc<JobRegistry>,
    settings: &Settings,
    stop: CancellationToken,
) -> anyhow::Result<WorkerPool> {
    #[cfg(feature = "test-jobs")]
    if registry.contains("test.record") {
        testing::prepare(&db.pool).await?;
    }
    WorkerPool::start(
        Queue::from(db),
        registry,
        WorkerConfig::from(settings),
        stop,
    )
    .await
}

/// Adds a job to the queue and wakes workers (see [`quire_jobs::enqueue`]).
pub async fn enqueue(db: &Db, job: NewJob) -> Result<JobRow, EnqueueError> {
    quire_jobs::enqueue(&Queue::from(db), job).await
}

/// Adds a job inside the caller's transaction (see [`quire_jobs::enqueue_in`]); call
/// [`announce`] after the commit.
pub async fn enqueue_in(
    db: &Db,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job: NewJob,
) -> Result<JobRow, EnqueueError> {
    quire_jobs::enqueue_in(&Queue::from(db), tx, job).await
}

/// Wakes workers after jobs were committed with [`enqueue_in`].
pub async fn announce(db: &Db) {
    quire_jobs::announce(&Queue::from(db)).await
}
