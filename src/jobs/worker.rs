//! The worker pool: `MAX_CONCURRENT_JOBS` loops that claim a job, run its handler under a
//! lease, and write how the attempt ended.
//!
//! - **Claim** through [`repo::claim_next`] (one atomic statement; fair across
//!   organisations). Each claim gets a fresh lease id, so every later write about the
//!   attempt is checked against exactly this claim. On PostgreSQL a busy worker writes the
//!   end of an attempt and claims its next job in one transaction: one commit (one WAL
//!   flush) per job instead of two. SQLite commits cost no flush in WAL mode, and holding
//!   its single write lock across two statements costs more than it saves, so there the
//!   two are separate statements.
//! - **Wake-up.** An idle loop waits for the first of: an in-process signal (a job was
//!   enqueued by this process, or a retry of this process became due), a PostgreSQL
//!   `NOTIFY quire_jobs` (sent by [`crate::jobs::enqueue`] in any process), or its poll
//!   interval (`JOB_POLL_INTERVAL_MS`; five times that on PostgreSQL, where polling is only
//!   the fallback for retries scheduled by other processes and lost notifications).
//! - **Heartbeat.** While the handler runs, the lease is renewed every third of
//!   `JOB_LEASE_SECONDS`, and every second the row is checked for a cancel request from
//!   another process (a request served by this process reaches the handler at once).
//!   When the lease turns out lost, the handler's token fires and nothing more is written.
//! - **Panic isolation.** The handler runs in its own task; a panic ends that task with a
//!   `JoinError`, which fails the attempt like an error, and the loop carries on.
//! - **Retry.** A retryable failure with attempts left goes back to the queue after
//!   [`retry_delay_ms`] (exponential, with jitter); the last attempt's error is kept when
//!   the job ends `failed`. A job whose worker died on its last attempt ends `failed` when
//!   its lease expires and another worker claims it.
//! - **Shutdown.** The loops stop claiming; running handlers get `SHUTDOWN_TIMEOUT` to
//!   finish, then their token fires, and 5 s later they are aborted. A job that did not
//!   finish is put back in the queue without counting the attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{DatabaseUrl, Settings};
use crate::db::{Db, DbKind};
use crate::jobs::model::retry_delay_ms;
use crate::jobs::registry::{JobContext, JobError, JobRegistry};
use crate::jobs::repo::{self, CleanupScope, Finish, JobRow};
use crate::jobs::signals;
use crate::time::now_ms;

/// How long a handler that ignores its cancelled token may run on during shutdown.
const ABORT_AFTER: Duration = Duration::from_secs(5);
/// How often a running job's row is checked for a cancel request from another process.
const CANCEL_CHECK_EVERY: Duration = Duration::from_secs(1);
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);
const FIRST_CLEANUP_AFTER: Duration = Duration::from_secs(60);

/// Everything the pool needs from the settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    pub retry_backoff_ms: u64,
    pub default_max_attempts: u32,
    pub shutdown_grace: Duration,
    pub cleanup_after_days: u32,
    pub database_url: DatabaseUrl,
}

impl WorkerConfig {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            concurrency: settings.max_concurrent_jobs as usize,
            lease: settings.job_lease(),
            heartbeat: settings.job_heartbeat_interval(),
            poll: settings.job_poll_interval(),
            retry_backoff_ms: u64::from(settings.job_retry_backoff_ms),
            default_max_attempts: settings.job_max_attempts,
            shutdown_grace: settings.shutdown_timeout(),
            cleanup_after_days: settings.job_cleanup_days,
            database_url: settings.database_url(),
        }
    }
}

struct Shared {
    db: Db,
    registry: Arc<JobRegistry>,
    config: WorkerConfig,
    job_types: Vec<String>,
    stop: CancellationToken,
}

/// The running pool; [`WorkerPool::join`] waits for it after `stop` fired.
pub struct WorkerPool {
    tasks: JoinSet<()>,
}

impl WorkerPool {
    /// Starts the loops, the PostgreSQL listener and the periodic cleanup. They run until
    /// `stop` is cancelled.
    pub async fn start(
        db: Db,
        registry: Arc<JobRegistry>,
        config: WorkerConfig,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        if registry.contains("test.record") {
            crate::jobs::testing::prepare(&db.pool).await?;
        }
        let shared = Arc::new(Shared {
            job_types: registry.job_types(),
            db,
            registry,
            config,
            stop,
        });
        let mut tasks = JoinSet::new();
        if !shared.job_types.is_empty() {
            for slot in 0..shared.config.concurrency.max(1) {
                let shared = shared.clone();
                tasks.spawn(async move { worker_loop(shared, slot).await });
            }
            if shared.db.kind == DbKind::Postgres {
                let url = shared.config.database_url.clone();
                let stop = shared.stop.clone();
                tasks.spawn(async move { listen_for_wakeups(url, stop).await });
            }
        }
        let cleanup = shared.clone();
        tasks.spawn(async move { periodic_cleanup(cleanup).await });
        tracing::info!(
            workers = shared.config.concurrency,
            job_types = ?shared.job_types,
            "job workers started"
        );
        Ok(Self { tasks })
    }

    /// Waits until every loop has ended (after `stop`), running jobs finished or released.
    pub async fn join(mut self) {
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!("a job worker task panicked");
            }
        }
    }
}

async fn worker_loop(shared: Arc<Shared>, slot: usize) {
    let idle_wait = match shared.db.kind {
        DbKind::Sqlite => shared.config.poll,
        DbKind::Postgres => shared.config.poll * 5,
    };
    let process = format!("pid{}", std::process::id());
    // The end of the previous attempt, written together with the next claim.
    let mut pending: Option<Ended> = None;
    loop {
        if shared.stop.is_cancelled() {
            if let Some(ended) = pending.take() {
                record_end(&shared, ended).await;
            }
            return;
        }
        let woken = signals::workers_woken();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let lease = format!("{process}-w{slot}-{}", uuid::Uuid::now_v7().simple());
        let claimed = match pending.take() {
            Some(ended) if shared.db.kind == DbKind::Postgres => {
                record_end_and_claim(&shared, ended, &lease).await
            }
            ended => {
                if let Some(ended) = ended {
                    record_end(&shared, ended).await;
                }
                repo::claim_next(&shared.db, &lease, shared.config.lease, &shared.job_types).await
            }
        };
        match claimed {
            Ok(Some(job)) => {
                let span = tracing::info_span!(
                    "job",
                    job.id = %job.id,
                    job.r#type = %job.job_type,
                    job.attempt = job.attempts,
                    org.id = %job.org_id,
                );
                pending = Some(
                    run_attempt(&shared, job, lease, span.clone())
                        .instrument(span)
                        .await,
                );
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not claim a job; trying again shortly");
            }
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep(idle_wait) => {}
            _ = shared.stop.cancelled() => return,
        }
    }
}

/// Why the handler's token fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interrupt {
    CancelRequested,
    Shutdown,
    LeaseLost,
}

/// An attempt that ended, before its end is written.
struct Ended {
    id: String,
    job_type: String,
    lease: String,
    /// `None`: the lease was lost while the handler ran; nothing is written.
    finish: Option<Finish>,
    started: std::time::Instant,
    span: tracing::Span,
}

impl Ended {
    fn label(&self) -> &'static str {
        match &self.finish {
            None => "lease_lost",
            Some(Finish::Succeeded { .. }) => "succeeded",
            Some(Finish::Retry { .. }) => "retried",
            Some(Finish::Failed { .. }) => "failed",
            Some(Finish::Cancelled) => "cancelled",
            Some(Finish::Released) => "released",
        }
    }
}

/// Runs one claimed job to the end of its attempt; the caller writes the end.
async fn run_attempt(shared: &Shared, job: JobRow, lease: String, span: tracing::Span) -> Ended {
    let started = std::time::Instant::now();
    signals::job_changed(&job.id);
    let max_attempts = job
        .max_attempts
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(shared.config.default_max_attempts);
    let attempt = u32::try_from(job.attempts).unwrap_or(u32::MAX);

    let finish = if job.cancel_requested == 1 {
        Some(Finish::Cancelled)
    } else if attempt > max_attempts {
        Some(Finish::Failed {
            error: format!(
                "gave up after {max_attempts} attempts: the worker running the last one \
                 stopped responding and its lease expired"
            ),
        })
    } else {
        let (joined, interrupt) = supervise(shared, &job, &lease).await;
        decide(shared, joined, interrupt, attempt, max_attempts)
    };
    Ended {
        id: job.id,
        job_type: job.job_type,
        lease,
        finish,
        started,
        span,
    }
}

/// Writes the end of an attempt and claims the next job in one transaction: one commit
/// per job instead of two. If that fails, the end is written on its own.
async fn record_end_and_claim(
    shared: &Shared,
    ended: Ended,
    lease: &str,
) -> sqlx::Result<Option<JobRow>> {
    let Some(finish) = &ended.finish else {
        after_end(shared, &ended, false);
        return repo::claim_next(&shared.db, lease, shared.config.lease, &shared.job_types).await;
    };
    let attempt = async {
        let mut tx = shared.db.pool.begin().await?;
        let held = repo::finish_attempt(&mut *tx, &ended.id, &ended.lease, finish).await?;
        let next = repo::claim_next_in(
            &mut *tx,
            shared.db.kind,
            lease,
            shared.config.lease,
            &shared.job_types,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>((held, next))
    }
    .await;
    match attempt {
        Ok((held, next)) => {
            after_end(shared, &ended, held);
            Ok(next)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not record an attempt together with the next claim");
            record_end(shared, ended).await;
            Err(e)
        }
    }
}

/// Writes the end of an attempt on its own.
async fn record_end(shared: &Shared, ended: Ended) {
    let Some(finish) = &ended.finish else {
        after_end(shared, &ended, false);
        return;
    };
    match repo::finish_attempt(&shared.db.pool, &ended.id, &ended.lease, finish).await {
        Ok(held) => after_end(shared, &ended, held),
        Err(e) => {
            let _entered = ended.span.enter();
            tracing::error!(
                error = %e,
                outcome = ended.label(),
                "could not record the end of the attempt; the job is retried when its lease expires"
            );
        }
    }
}

/// Logs, metrics and wake-ups once the end of an attempt is written (`held`: the lease
/// was still ours, so it was).
fn after_end(shared: &Shared, ended: &Ended, held: bool) {
    let _entered = ended.span.enter();
    let label = ended.label();
    match (&ended.finish, held) {
        (None, _) => {
            tracing::warn!("the lease was lost while the handler ran; its outcome is discarded")
        }
        (Some(_), false) => tracing::warn!(
            outcome = label,
            "the lease was lost before the attempt could be recorded; another worker owns the job"
        ),
        (Some(Finish::Retry { error, run_at }), true) => {
            tracing::info!(error = %error, retry_at = run_at, "attempt failed; retrying later");
            wake_at(*run_at, shared.stop.clone());
        }
        (Some(Finish::Failed { error }), true) => tracing::warn!(error = %error, "job failed"),
        (Some(Finish::Released), true) => signals::wake_workers(),
        (Some(_), true) => tracing::debug!(outcome = label, "job finished"),
    }
    metrics::histogram!(
        "job_processing_duration_seconds",
        "job_type" => ended.job_type.clone(),
        "status" => label
    )
    .record(ended.started.elapsed().as_secs_f64());
    signals::job_changed(&ended.id);
}

/// Runs the handler in its own task and keeps the lease while it runs.
async fn supervise(
    shared: &Shared,
    job: &JobRow,
    lease: &str,
) -> (
    Result<Result<serde_json::Value, JobError>, JoinError>,
    Option<Interrupt>,
) {
    let token = CancellationToken::new();
    let cancel_request = CancellationToken::new();
    signals::register_running(&job.id, cancel_request.clone());
    let ctx = JobContext::new(job, lease, shared.db.clone(), token.clone());
    let Some(run) = shared.registry.start(ctx) else {
        signals::unregister_running(&job.id);
        return (
            Ok(Err(JobError::Permanent(format!(
                "no handler for job type {}",
                job.job_type
            )))),
            None,
        );
    };
    let mut task = tokio::spawn(run.in_current_span());

    let config = &shared.config;
    let check_every = config.heartbeat.min(CANCEL_CHECK_EVERY);
    let mut ticker = tokio::time::interval_at(Instant::now() + check_every, check_every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_renewal = Instant::now();
    let mut interrupt: Option<Interrupt> = None;
    let mut shutdown_at: Option<Instant> = None;
    let mut abort_at: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(86_400 * 365);

    let joined = loop {
        tokio::select! {
            joined = &mut task => break joined,
            _ = cancel_request.cancelled(), if interrupt.is_none() => {
                interrupt = Some(Interrupt::CancelRequested);
                token.cancel();
            }
            _ = shared.stop.cancelled(), if shutdown_at.is_none() => {
                shutdown_at = Some(Instant::now() + config.shutdown_grace);
            }
            _ = tokio::time::sleep_until(shutdown_at.unwrap_or(far)), if shutdown_at.is_some() && abort_at.is_none() => {
                if interrupt.is_none() {
                    interrupt = Some(Interrupt::Shutdown);
                }
                token.cancel();
                abort_at = Some(Instant::now() + ABORT_AFTER);
            }
            _ = tokio::time::sleep_until(abort_at.unwrap_or(far)), if abort_at.is_some() => {
                tracing::warn!("the handler ignored cancellation during shutdown; aborting it");
                task.abort();
            }
            _ = ticker.tick() => {
                let renew = last_renewal.elapsed() >= config.heartbeat;
                let state = if renew {
                    repo::renew_lease(&shared.db.pool, &job.id, lease, config.lease).await
                } else {
                    repo::check_lease(&shared.db.pool, &job.id, lease).await
                };
                match state {
                    Ok(Some(cancel_requested)) => {
                        if renew {
                            last_renewal = Instant::now();
                        }
                        if cancel_requested && interrupt.is_none() {
                            interrupt = Some(Interrupt::CancelRequested);
                            token.cancel();
                        }
                    }
                    Ok(None) => {
                        if interrupt != Some(Interrupt::LeaseLost) {
                            interrupt = Some(Interrupt::LeaseLost);
                            token.cancel();
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not renew the job's lease"),
                }
            }
        }
    };
    signals::unregister_running(&job.id);
    (joined, interrupt)
}

/// Turns the handler's end into what is written.
fn decide(
    shared: &Shared,
    joined: Result<Result<serde_json::Value, JobError>, JoinError>,
    interrupt: Option<Interrupt>,
    attempt: u32,
    max_attempts: u32,
) -> Option<Finish> {
    let retry_or_fail = |error: String| {
        if attempt < max_attempts {
            let delay = retry_delay_ms(shared.config.retry_backoff_ms, attempt, rand::random());
            Finish::Retry {
                error,
                run_at: now_ms() + i64::try_from(delay).unwrap_or(i64::MAX / 2),
            }
        } else {
            Finish::Failed { error }
        }
    };
    match (joined, interrupt) {
        (_, Some(Interrupt::LeaseLost)) => None,
        // Work that completed is kept even if a cancel or shutdown came in meanwhile.
        (Ok(Ok(result)), _) => Some(Finish::Succeeded { result }),
        (_, Some(Interrupt::CancelRequested)) => Some(Finish::Cancelled),
        (_, Some(Interrupt::Shutdown)) => Some(Finish::Released),
        (Ok(Err(JobError::LeaseLost)), None) => None,
        (Ok(Err(JobError::Cancelled)), None) => Some(Finish::Cancelled),
        (Ok(Err(JobError::Permanent(error))), None) => Some(Finish::Failed { error }),
        (Ok(Err(JobError::Retryable(error))), None) => Some(retry_or_fail(error)),
        (Err(join), None) => {
            let error = if join.is_panic() {
                format!("the handler panicked: {}", panic_message(join))
            } else {
                "the handler was aborted".to_owned()
            };
            Some(retry_or_fail(error))
        }
    }
}

fn panic_message(join: JoinError) -> String {
    let payload = join.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Wakes this process's workers when a retry becomes due, so it does not wait for a poll.
fn wake_at(run_at_ms: i64, stop: CancellationToken) {
    let delay = Duration::from_millis(u64::try_from(run_at_ms - now_ms()).unwrap_or(0));
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(delay) => signals::wake_workers(),
            _ = stop.cancelled() => {}
        }
    });
}

/// Relays PostgreSQL notifications on `quire_jobs` to this process's idle workers.
async fn listen_for_wakeups(url: DatabaseUrl, stop: CancellationToken) {
    loop {
        match sqlx::postgres::PgListener::connect(url.as_str()).await {
            Ok(mut listener) => match listener.listen(repo::WAKE_CHANNEL).await {
                Ok(()) => loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        received = listener.recv() => match received {
                            Ok(_) => signals::wake_workers(),
                            Err(e) => {
                                tracing::warn!(error = %e, "job notifications interrupted; reconnecting");
                                break;
                            }
                        }
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for job notifications"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to listen for job notifications"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Deletes jobs that finished more than `JOB_CLEANUP_DAYS` ago, hourly.
async fn periodic_cleanup(shared: Arc<Shared>) {
    let mut wait = FIRST_CLEANUP_AFTER;
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = CLEANUP_EVERY;
        let cutoff = now_ms() - i64::from(shared.config.cleanup_after_days) * 86_400_000;
        match repo::delete_finished_jobs_before(
            &shared.db.pool,
            CleanupScope::AllOrganisations,
            cutoff,
        )
        .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "removed old finished jobs"),
            Err(e) => tracing::warn!(error = %e, "periodic job cleanup failed"),
        }
    }
}
