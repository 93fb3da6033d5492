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
//!   `NOTIFY quire_jobs` (sent by [`crate::enqueue`] in any process), or its poll
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
//! - **Follow-ups.** Jobs a handler asked for with
//!   [`JobContext::enqueue_on_success`] are inserted in the transaction that records the
//!   success, then announced like any enqueue.
//! - **Draining** (feature `testing`): [`run_pending_jobs`] runs the same attempts in the
//!   calling task until the queue is idle, so tests wait for jobs without sleeping.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::model::retry_delay_ms;
use crate::registry::{JobContext, JobError, JobRegistry};
use crate::repo::{self, CleanupScope, Finish, JobRow};
use crate::{DbKind, NewJob, Queue, signals};

/// How long a handler that ignores its cancelled token may run on during shutdown.
const ABORT_AFTER: Duration = Duration::from_secs(5);
/// How often a running job's row is checked for a cancel request from another process.
const CANCEL_CHECK_EVERY: Duration = Duration::from_secs(1);
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);
const FIRST_CLEANUP_AFTER: Duration = Duration::from_secs(60);

/// Everything the pool needs to know (the service fills it from its settings).
#[derive(Clone)]
pub struct WorkerConfig {
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    pub retry_backoff_ms: u64,
    pub default_max_attempts: u32,
    pub shutdown_grace: Duration,
    pub cleanup_after_days: u32,
    /// The PostgreSQL URL to `LISTEN` on for wake-ups (a connection of its own, outside
    /// the pool); unused on SQLite. Holds the password, so `Debug` leaves it out.
    pub database_url: String,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("concurrency", &self.concurrency)
            .field("lease", &self.lease)
            .field("heartbeat", &self.heartbeat)
            .field("poll", &self.poll)
            .field("retry_backoff_ms", &self.retry_backoff_ms)
            .field("default_max_attempts", &self.default_max_attempts)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("cleanup_after_days", &self.cleanup_after_days)
            .finish_non_exhaustive()
    }
}

struct Shared {
    queue: Queue,
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
        queue: Queue,
        registry: Arc<JobRegistry>,
        config: WorkerConfig,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            job_types: registry.job_types(),
            queue,
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
            if shared.queue.kind == DbKind::Postgres {
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
    let idle_wait = match shared.queue.kind {
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
            Some(ended) if shared.queue.kind == DbKind::Postgres => {
                record_end_and_claim(&shared, ended, &lease).await
            }
            ended => {
                if let Some(ended) = ended {
                    record_end(&shared, ended).await;
                }
                repo::claim_next(
                    &shared.queue,
                    &lease,
                    shared.config.lease,
                    &shared.job_types,
                )
                .await
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
    org_id: String,
    workspace_id: Option<String>,
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
    shared.queue.observe(|| crate::observer::JobChange {
        org_id: job.org_id.clone(),
        job_id: job.id.clone(),
        job_type: job.job_type.clone(),
        workspace_id: job.workspace_id.clone(),
        kind: crate::observer::JobChangeKind::Started {
            attempt: u32::try_from(job.attempts).unwrap_or(u32::MAX),
        },
    });
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
        let (joined, interrupt, follow_ups) = supervise(shared, &job, &lease).await;
        decide(shared, joined, interrupt, follow_ups, attempt, max_attempts)
    };
    Ended {
        id: job.id,
        org_id: job.org_id,
        workspace_id: job.workspace_id,
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
        after_end(shared, &ended, false).await;
        return repo::claim_next(&shared.queue, lease, shared.config.lease, &shared.job_types)
            .await;
    };
    let attempt = async {
        let now = shared.queue.now_ms();
        let mut tx = shared.queue.pool.begin().await?;
        let held = repo::finish_attempt(&mut tx, now, &ended.id, &ended.lease, finish).await?;
        let next = repo::claim_next_in(
            &mut *tx,
            shared.queue.kind,
            now,
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
            after_end(shared, &ended, held).await;
            Ok(next)
        }
        Err(e) => {
            let lost_claim_race = matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation());
            if !lost_claim_race {
                tracing::warn!(error = %e, "could not record an attempt together with the next claim");
            }
            record_end(shared, ended).await;
            if lost_claim_race {
                // The claim met a twin that another claimer had just started (see
                // `repo::claim_next`): nothing to report, claim again at once.
                signals::wake_workers();
                return Ok(None);
            }
            Err(e)
        }
    }
}

/// Writes the end of an attempt on its own.
async fn record_end(shared: &Shared, ended: Ended) {
    let Some(finish) = &ended.finish else {
        after_end(shared, &ended, false).await;
        return;
    };
    match write_end(&shared.queue, &ended, finish).await {
        Ok(held) => after_end(shared, &ended, held).await,
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

/// Writes the end of an attempt on a connection of its own; in a transaction when it
/// carries follow-up jobs, so they commit together with the success.
async fn write_end(queue: &Queue, ended: &Ended, finish: &Finish) -> sqlx::Result<bool> {
    let now = queue.now_ms();
    if matches!(finish, Finish::Succeeded { follow_ups, .. } if !follow_ups.is_empty()) {
        let mut tx = queue.pool.begin().await?;
        let held = repo::finish_attempt(&mut tx, now, &ended.id, &ended.lease, finish).await?;
        tx.commit().await?;
        Ok(held)
    } else {
        let mut conn = queue.pool.acquire().await?;
        repo::finish_attempt(&mut conn, now, &ended.id, &ended.lease, finish).await
    }
}

/// Logs, metrics and wake-ups once the end of an attempt is written (`held`: the lease
/// was still ours, so it was).
async fn after_end(shared: &Shared, ended: &Ended, held: bool) {
    if held
        && matches!(&ended.finish, Some(Finish::Succeeded { follow_ups, .. }) if !follow_ups.is_empty())
    {
        crate::announce(&shared.queue).await;
    }
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
            wake_at(*run_at, shared.queue.now_ms(), shared.stop.clone());
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
    if let (Some(finish), true) = (&ended.finish, held) {
        shared.queue.observe(|| crate::observer::JobChange {
            org_id: ended.org_id.clone(),
            job_id: ended.id.clone(),
            job_type: ended.job_type.clone(),
            workspace_id: ended.workspace_id.clone(),
            kind: crate::observer::JobChangeKind::Ended {
                status: finish.status(),
                error: match finish {
                    Finish::Retry { error, .. } | Finish::Failed { error } => Some(error.clone()),
                    _ => None,
                },
            },
        });
    }
}

/// Runs the handler in its own task and keeps the lease while it runs.
async fn supervise(
    shared: &Shared,
    job: &JobRow,
    lease: &str,
) -> (
    Result<Result<serde_json::Value, JobError>, JoinError>,
    Option<Interrupt>,
    Vec<NewJob>,
) {
    let token = CancellationToken::new();
    let cancel_request = CancellationToken::new();
    signals::register_running(&job.id, cancel_request.clone());
    let ctx = JobContext::new(job, lease, shared.queue.clone(), token.clone());
    let Some(run) = shared.registry.start(ctx.clone()) else {
        signals::unregister_running(&job.id);
        return (
            Ok(Err(JobError::Permanent(format!(
                "no handler for job type {}",
                job.job_type
            )))),
            None,
            Vec::new(),
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
                    repo::renew_lease(&shared.queue, &job.id, lease, config.lease).await
                } else {
                    repo::check_lease(&shared.queue.pool, &job.id, lease).await
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
    (joined, interrupt, ctx.take_follow_ups())
}

/// Turns the handler's end into what is written.
fn decide(
    shared: &Shared,
    joined: Result<Result<serde_json::Value, JobError>, JoinError>,
    interrupt: Option<Interrupt>,
    follow_ups: Vec<NewJob>,
    attempt: u32,
    max_attempts: u32,
) -> Option<Finish> {
    let retry_or_fail = |error: String| {
        if attempt < max_attempts {
            let delay = retry_delay_ms(shared.config.retry_backoff_ms, attempt, rand::random());
            Finish::Retry {
                error,
                run_at: crate::clock::after(shared.queue.now_ms(), Duration::from_millis(delay)),
            }
        } else {
            Finish::Failed { error }
        }
    };
    match (joined, interrupt) {
        (_, Some(Interrupt::LeaseLost)) => None,
        // Work that completed is kept even if a cancel or shutdown came in meanwhile.
        (Ok(Ok(result)), _) => Some(Finish::Succeeded { result, follow_ups }),
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
fn wake_at(run_at_ms: i64, now_ms: i64, stop: CancellationToken) {
    let delay = Duration::from_millis(u64::try_from(run_at_ms - now_ms).unwrap_or(0));
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(delay) => signals::wake_workers(),
            _ = stop.cancelled() => {}
        }
    });
}

/// Relays PostgreSQL notifications on `quire_jobs` to this process's idle workers.
async fn listen_for_wakeups(url: String, stop: CancellationToken) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
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
        let cutoff =
            shared.queue.now_ms() - i64::from(shared.config.cleanup_after_days) * 86_400_000;
        match repo::delete_finished_jobs_before(
            &shared.queue.pool,
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

/// What [`run_pending_jobs`] did.
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Attempts run in the calling task (jobs finished by other workers not included).
    pub attempts: usize,
}

/// Runs queued jobs of `registry`'s types in the calling task, one at a time with the
/// same claim, lease, retry and follow-up rules as the pool, until no job of those types
/// is left unfinished. Jobs running in other workers (this process's pool, another
/// process) and retries scheduled for later are waited for, not skipped: when this
/// returns, every such job has ended. Tests bound it with a timeout; with a
/// [`crate::ManualClock`] that is not advanced, a scheduled retry never comes due.
#[cfg(feature = "testing")]
pub async fn run_pending_jobs(
    queue: &Queue,
    registry: Arc<JobRegistry>,
    config: WorkerConfig,
) -> sqlx::Result<DrainReport> {
    let shared = Shared {
        job_types: registry.job_types(),
        queue: queue.clone(),
        registry,
        config,
        stop: CancellationToken::new(),
    };
    let mut report = DrainReport::default();
    let mut changes = signals::subscribe_to_job_changes();
    loop {
        let woken = signals::workers_woken();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let lease = format!(
            "drain-pid{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        let claimed = repo::claim_next(
            &shared.queue,
            &lease,
            shared.config.lease,
            &shared.job_types,
        )
        .await?;
        if let Some(job) = claimed {
            let span = tracing::info_span!(
                "job",
                job.id = %job.id,
                job.r#type = %job.job_type,
                job.attempt = job.attempts,
                org.id = %job.org_id,
            );
            let ended = run_attempt(&shared, job, lease, span.clone())
                .instrument(span)
                .await;
            record_end(&shared, ended).await;
            report.attempts += 1;
            continue;
        }
        if repo::count_unfinished_of_types(&shared.queue.pool, &shared.job_types).await? == 0 {
            return Ok(report);
        }
        // Something runs elsewhere or waits for its time: look again when this process
        // hears of a change, or shortly (other processes are not heard).
        tokio::select! {
            _ = &mut woken => {}
            _ = changes.recv() => {}
            _ = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
    }
}
