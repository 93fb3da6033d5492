//! All SQL of the job queue. Functions reading a tenant's jobs take the organisation
//! after the executor; the worker-side functions (claim, heartbeat, finish) instead take
//! the lease they hold, which is stronger than a tenant check: a write happens only while
//! the row is still leased to the caller.
//!
//! ## The claim, and fairness between organisations
//!
//! A job can be claimed in two ways, each read off its own partial index so that a claim
//! is an index probe, never a scan of the queue:
//!
//! - **The fair lane** (`jobs_lane`): queued jobs that may run now carry `available_at`
//!   (when they became runnable) and `org_seq`, set at enqueue to one more than the highest
//!   `org_seq` among the organisation's unfinished jobs (0 when it has none): the job's
//!   place in its organisation's backlog. The lane is taken in `(org_seq, available_at, id)`
//!   order, which serves organisations round-robin: every organisation's first waiting job
//!   comes before any organisation's second, so an organisation that enqueues 100 jobs
//!   delays another organisation's single job by at most one job, not 100. Within an
//!   organisation, the job that became runnable first goes first.
//! - **The timed index** (`jobs_timed`): jobs waiting for a time carry `wake_at` — the
//!   `run_at` of a delayed job or a retry, the `lease_until` of a running job. Once
//!   `wake_at` has passed, the job is claimable: a retry that is due, or a job whose worker
//!   died (its lease expired without renewal). These go first, oldest `wake_at` first:
//!   they have waited their turn already.
//!
//! The claim is one statement: `UPDATE … WHERE id = COALESCE((timed probe), (lane probe))
//! RETURNING …`; the lane is probed only when nothing timed is due. On PostgreSQL each
//! probe takes `FOR UPDATE SKIP LOCKED`, so concurrent claimers skip each other's rows
//! instead of queueing on them; on SQLite the statement takes the write lock before it
//! reads, so claimers are serialised and the row it picks cannot change under it.

use std::time::Duration;

use serde_json::Value;
use sqlx::{AnyPool, AssertSqlSafe, FromRow};

use crate::clock::{Clock, SystemClock, after};
use crate::model::JobStatus;
use crate::{DbKind, NewJob, Queue};

/// The time of tenant-side changes (cancel, delete, cleanup): they decide nothing about
/// leases, so they need not follow the queue's clock.
fn wall_now() -> i64 {
    SystemClock.now_ms()
}

/// One row of `jobs`, as stored.
#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: String,
    pub org_id: String,
    pub workspace_id: Option<String>,
    pub job_type: String,
    pub status: String,
    pub payload: String,
    pub result: Option<String>,
    pub checkpoint: Option<String>,
    pub error: Option<String>,
    pub progress: f64,
    pub progress_message: Option<String>,
    pub progress_at_start: f64,
    pub progress_updated_at: Option<i64>,
    pub attempts: i64,
    pub max_attempts: Option<i64>,
    pub run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub cancel_requested: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub updated_at: i64,
    pub dedup_key: Option<String>,
}

impl JobRow {
    pub fn status(&self) -> JobStatus {
        // Only this module writes `status`, always from `JobStatus::as_str`.
        self.status.parse().unwrap_or(JobStatus::Failed)
    }

    pub fn payload_json(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or(Value::Null)
    }

    pub fn result_json(&self) -> Option<Value> {
        self.result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
    }

    pub fn checkpoint_json(&self) -> Option<Value> {
        self.checkpoint
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
    }
}

const JOB_COLUMNS: &str = "id, org_id, workspace_id, job_type, status, payload, result, checkpoint, \
     error, progress, progress_message, progress_at_start, progress_updated_at, attempts, \
     max_attempts, run_at, lease_owner, lease_until, cancel_requested, created_at, started_at, \
     completed_at, updated_at, dedup_key";

/// A job to add to the queue.
#[derive(Debug, Clone)]
pub struct InsertJob<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub workspace_id: Option<&'a str>,
    pub job_type: &'a str,
    pub payload: &'a str,
    pub max_attempts: Option<i64>,
    pub run_at: i64,
    pub dedup_key: Option<&'a str>,
}

/// The predicate of `jobs_dedup_waiting` (migration 0007): jobs of a key that are waiting
/// and never started. A job that started once (and went back to the queue for a retry)
/// is no longer a twin: its attempt may have passed the point that makes new work visible.
const WAITING_TWIN: &str = "status = 'queued' AND started_at IS NULL AND dedup_key IS NOT NULL";

/// Inserts the job; `None` when it has a dedup key and a twin is waiting (see
/// [`crate::NewJob::dedup_key`]): the unique index decides, in the same statement.
pub async fn insert_job<'e, E>(
    exec: E,
    job: InsertJob<'_>,
    now: i64,
) -> sqlx::Result<Option<JobRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "INSERT INTO jobs (id, org_id, workspace_id, job_type, status, payload, max_attempts, \
         run_at, available_at, wake_at, org_seq, created_at, updated_at, dedup_key) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, \
           CASE WHEN $7 <= $8 THEN $7 END, CASE WHEN $7 > $8 THEN $7 END, \
           COALESCE((SELECT b.org_seq + 1 FROM jobs b \
                     WHERE b.org_id = $2 AND b.completed_at IS NULL \
                     ORDER BY b.org_seq DESC LIMIT 1), 0), \
           $8, $8, $9) \
         ON CONFLICT (org_id, job_type, dedup_key) WHERE {WAITING_TWIN} DO NOTHING \
         RETURNING {JOB_COLUMNS}"
    );
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(job.id)
        .bind(job.org_id)
        .bind(job.workspace_id)
        .bind(job.job_type)
        .bind(job.payload)
        .bind(job.max_attempts)
        .bind(job.run_at)
        .bind(now)
        .bind(job.dedup_key)
        .fetch_optional(exec)
        .await
}

/// The waiting job of `(org, type, key)`, if any.
pub async fn find_waiting_twin<'e, E>(
    exec: E,
    org_id: &str,
    job_type: &str,
    dedup_key: &str,
) -> sqlx::Result<Option<JobRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs \
         WHERE org_id = $1 AND job_type = $2 AND dedup_key = $3 AND {WAITING_TWIN}"
    )))
    .bind(org_id)
    .bind(job_type)
    .bind(dedup_key)
    .fetch_optional(exec)
    .await
}

pub async fn find_job<'e, E>(exec: E, org_id: &str, id: &str) -> sqlx::Result<Option<JobRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org_id)
    .fetch_optional(exec)
    .await
}

/// Filters of the job listing; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub job_type: Option<String>,
    pub status: Option<JobStatus>,
    pub workspace_id: Option<String>,
    pub created_before: Option<i64>,
    pub created_after: Option<i64>,
}

/// A page of an organisation's jobs, newest first, and how many match in all.
pub async fn list_jobs(
    pool: &AnyPool,
    org_id: &str,
    filter: &JobFilter,
    limit: u32,
    offset: u64,
) -> sqlx::Result<(Vec<JobRow>, u64)> {
    // Only fixed fragments are concatenated; every value is bound.
    let mut conditions = vec!["org_id = $1".to_owned()];
    let mut binds: Vec<BindValue> = vec![BindValue::Text(org_id.to_owned())];
    let mut push = |column_condition: &str, value: BindValue| {
        binds.push(value);
        conditions.push(column_condition.replace('?', &format!("${}", binds.len())));
    };
    if let Some(t) = &filter.job_type {
        push("job_type = ?", BindValue::Text(t.clone()));
    }
    if let Some(s) = filter.status {
        push("status = ?", BindValue::Text(s.as_str().to_owned()));
    }
    if let Some(w) = &filter.workspace_id {
        push("workspace_id = ?", BindValue::Text(w.clone()));
    }
    if let Some(before) = filter.created_before {
        push("created_at < ?", BindValue::Int(before));
    }
    if let Some(after) = filter.created_after {
        push("created_at > ?", BindValue::Int(after));
    }
    let where_clause = conditions.join(" AND ");

    let count_sql = format!("SELECT COUNT(*) FROM jobs WHERE {where_clause}");
    let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
    for b in &binds {
        count = match b {
            BindValue::Text(s) => count.bind(s.clone()),
            BindValue::Int(i) => count.bind(*i),
        };
    }
    let total = count.fetch_one(pool).await?;

    let page_sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE {where_clause} \
         ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        binds.len() + 1,
        binds.len() + 2
    );
    let mut page = sqlx::query_as::<_, JobRow>(AssertSqlSafe(page_sql));
    for b in &binds {
        page = match b {
            BindValue::Text(s) => page.bind(s.clone()),
            BindValue::Int(i) => page.bind(*i),
        };
    }
    let rows = page
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

enum BindValue {
    Text(String),
    Int(i64),
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was queued and is now `cancelled`.
    CancelledNow,
    /// The job is running; its worker will see the request at its next check.
    Requested,
    /// The job had already finished with this status.
    AlreadyFinished(JobStatus),
    NotFound,
}

/// Cancels a queued job at once, or flags a running one for its worker.
pub async fn request_cancel(pool: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<CancelOutcome> {
    // A job may move from queued to running between the statements; a second round sees
    // it running. Two rounds always suffice: a running job never goes back to a state the
    // first statement handles without a worker first finishing the attempt.
    for _ in 0..3 {
        let now = wall_now();
        let cancelled = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, completed_at = $1, \
             updated_at = $1, available_at = NULL, wake_at = NULL, \
             error = 'cancelled before it started' \
             WHERE id = $2 AND org_id = $3 AND status = 'queued'",
        )
        .bind(now)
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?
        .rows_affected();
        if cancelled == 1 {
            return Ok(CancelOutcome::CancelledNow);
        }
        let flagged = sqlx::query(
            "UPDATE jobs SET cancel_requested = 1, updated_at = $1 \
             WHERE id = $2 AND org_id = $3 AND status = 'running'",
        )
        .bind(now)
        .bind(id)
        .bind(org_id)
        .execute(pool)
        .await?
        .rows_affected();
        if flagged == 1 {
            return Ok(CancelOutcome::Requested);
        }
        match find_job(pool, org_id, id).await? {
            Some(job) if job.status().is_terminal() => {
                return Ok(CancelOutcome::AlreadyFinished(job.status()));
            }
            Some(_) => continue,
            None => return Ok(CancelOutcome::NotFound),
        }
    }
    Ok(CancelOutcome::Requested)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFinished(JobStatus),
    NotFound,
}

/// Deletes a finished job; queued and running jobs must be cancelled first.
pub async fn delete_finished_job(
    pool: &AnyPool,
    org_id: &str,
    id: &str,
) -> sqlx::Result<DeleteOutcome> {
    let deleted = sqlx::query(
        "DELETE FROM jobs WHERE id = $1 AND org_id = $2 \
         AND status IN ('succeeded', 'failed', 'cancelled')",
    )
    .bind(id)
    .bind(org_id)
    .execute(pool)
    .await?
    .rows_affected();
    if deleted == 1 {
        return Ok(DeleteOutcome::Deleted);
    }
    Ok(match find_job(pool, org_id, id).await? {
        Some(job) => DeleteOutcome::NotFinished(job.status()),
        None => DeleteOutcome::NotFound,
    })
}

/// Whose finished jobs a cleanup removes.
#[derive(Debug, Clone, Copy)]
pub enum CleanupScope<'a> {
    /// One organisation (the cleanup endpoint).
    Organisation(&'a str),
    /// Every organisation: the workers' periodic maintenance, not a tenant read.
    AllOrganisations,
}

/// Deletes terminal jobs that finished before `completed_before` (ms); returns how many.
pub async fn delete_finished_jobs_before(
    pool: &AnyPool,
    scope: CleanupScope<'_>,
    completed_before: i64,
) -> sqlx::Result<u64> {
    let done = match scope {
        CleanupScope::Organisation(org_id) => {
            sqlx::query(
                "DELETE FROM jobs WHERE org_id = $1 AND completed_at < $2 \
                 AND status IN ('succeeded', 'failed', 'cancelled')",
            )
            .bind(org_id)
            .bind(completed_before)
            .execute(pool)
            .await?
        }
        CleanupScope::AllOrganisations => {
            sqlx::query(
                "DELETE FROM jobs WHERE completed_at < $1 \
                 AND status IN ('succeeded', 'failed', 'cancelled')",
            )
            .bind(completed_before)
            .execute(pool)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Unfinished jobs by type and status, across organisations, for the gauges.
pub async fn count_unfinished_jobs(pool: &AnyPool) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT job_type, status, COUNT(*) FROM jobs \
         WHERE completed_at IS NULL GROUP BY job_type, status",
    )
    .fetch_all(pool)
    .await
}

// ---------------------------------------------------------------------------------------
// Worker side: every write below is conditional on the caller still holding the lease.
// ---------------------------------------------------------------------------------------

/// Claims the next available job of one of `job_types` for `lease_owner`, for `lease`.
/// `None` when nothing is available. See the module documentation for the order.
pub async fn claim_next(
    queue: &Queue,
    lease_owner: &str,
    lease: Duration,
    job_types: &[String],
) -> sqlx::Result<Option<JobRow>> {
    let claimed = claim_next_in(
        &queue.pool,
        queue.kind,
        queue.now_ms(),
        lease_owner,
        lease,
        job_types,
    )
    .await;
    match claimed {
        // PostgreSQL only: another claimer started this job's twin after our probe read
        // it as idle (see `jobs_dedup_running`). Nothing was claimed; the next claim's
        // probe sees the twin running and passes over this job.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            crate::signals::wake_workers();
            Ok(None)
        }
        other => other,
    }
}

/// [`claim_next`] on a given executor (e.g. inside the transaction that also records the
/// end of the previous attempt).
pub async fn claim_next_in<'e, E>(
    exec: E,
    kind: DbKind,
    now: i64,
    lease_owner: &str,
    lease: Duration,
    job_types: &[String],
) -> sqlx::Result<Option<JobRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if job_types.is_empty() {
        return Ok(None);
    }
    let lease_until = after(now, lease);
    let type_list = (0..job_types.len())
        .map(|i| format!("${}", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let lock = match kind {
        DbKind::Postgres => " FOR UPDATE SKIP LOCKED",
        DbKind::Sqlite => "",
    };
    // A job whose twin (same dedup key) is running waits: see `NewJob::dedup_key`.
    let idle = |t: &str| {
        format!(
            "({t}.dedup_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs r \
             WHERE r.status = 'running' AND r.org_id = {t}.org_id \
             AND r.job_type = {t}.job_type AND r.dedup_key = {t}.dedup_key AND r.id <> {t}.id))"
        )
    };
    let (idle_t, idle_c) = (idle("t"), idle("c"));
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, \
           wake_at = $2, available_at = NULL, attempts = attempts + 1, started_at = $3, \
           progress_at_start = progress, updated_at = $3 \
         WHERE id = COALESCE(\
           (SELECT t.id FROM jobs t \
            WHERE t.wake_at IS NOT NULL AND t.wake_at <= $3 AND t.job_type IN ({type_list}) \
            AND {idle_t} ORDER BY t.wake_at, t.id LIMIT 1{lock}), \
           (SELECT c.id FROM jobs c \
            WHERE c.available_at IS NOT NULL AND c.job_type IN ({type_list}) \
            AND {idle_c} ORDER BY c.org_seq, c.available_at, c.id LIMIT 1{lock})) \
         RETURNING {JOB_COLUMNS}"
    );
    let mut query = sqlx::query_as::<_, JobRow>(AssertSqlSafe(sql))
        .bind(lease_owner)
        .bind(lease_until)
        .bind(now);
    for t in job_types {
        query = query.bind(t.as_str());
    }
    query.fetch_optional(exec).await
}

/// Renews the lease. `None` when the lease is no longer ours (the job was taken over or
/// deleted); otherwise whether a cancel was requested.
pub async fn renew_lease(
    queue: &Queue,
    id: &str,
    lease_owner: &str,
    lease: Duration,
) -> sqlx::Result<Option<bool>> {
    let now = queue.now_ms();
    let until = after(now, lease);
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE jobs SET lease_until = $1, wake_at = $1, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND status = 'running' \
         RETURNING cancel_requested",
    )
    .bind(until)
    .bind(now)
    .bind(id)
    .bind(lease_owner)
    .fetch_optional(&queue.pool)
    .await?;
    Ok(row.map(|(c,)| c == 1))
}

/// Like [`renew_lease`] without writing: `None` when the lease is lost, else whether a
/// cancel was requested.
pub async fn check_lease(
    pool: &AnyPool,
    id: &str,
    lease_owner: &str,
) -> sqlx::Result<Option<bool>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT cancel_requested FROM jobs \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(lease_owner)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(c,)| c == 1))
}

/// Records progress; `false` when the lease is lost.
pub async fn update_progress<'e, E>(
    exec: E,
    now: i64,
    id: &str,
    lease_owner: &str,
    progress: f64,
    message: Option<&str>,
) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "UPDATE jobs SET progress = $1, progress_message = $2, progress_updated_at = $3, \
         updated_at = $3 WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
    )
    .bind(progress)
    .bind(message)
    .bind(now)
    .bind(id)
    .bind(lease_owner)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the handler's checkpoint; `false` when the lease is lost.
pub async fn save_checkpoint<'e, E>(
    exec: E,
    now: i64,
    id: &str,
    lease_owner: &str,
    checkpoint: &Value,
) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "UPDATE jobs SET checkpoint = $1, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
    )
    .bind(checkpoint.to_string())
    .bind(now)
    .bind(id)
    .bind(lease_owner)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Touches the job row under the lease, inside a transaction: on PostgreSQL this locks the
/// row until commit (so nobody can take the job over meanwhile), on SQLite it takes the
/// database write lock. `false` when the lease is lost.
pub async fn fence<'e, E>(exec: E, now: i64, id: &str, lease_owner: &str) -> sqlx::Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "UPDATE jobs SET updated_at = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind(now)
    .bind(id)
    .bind(lease_owner)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How an attempt ended, as the worker writes it.
#[derive(Debug, Clone)]
pub enum Finish {
    Succeeded {
        result: Value,
        /// Jobs to enqueue in the transaction that records the success (see
        /// [`crate::JobContext::enqueue_on_success`]).
        follow_ups: Vec<NewJob>,
    },
    /// Back to the queue until `run_at` (ms), keeping the error of this attempt.
    Retry {
        error: String,
        run_at: i64,
    },
    Failed {
        error: String,
    },
    Cancelled,
    /// The worker is stopping: back to the queue now, and this attempt does not count.
    Released,
}

impl Finish {
    pub fn status(&self) -> JobStatus {
        match self {
            Self::Succeeded { .. } => JobStatus::Succeeded,
            Self::Retry { .. } | Self::Released => JobStatus::Queued,
            Self::Failed { .. } => JobStatus::Failed,
            Self::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// Ends the attempt under the lease; `false` when the lease was lost (then nothing is
/// written: the job belongs to another worker now). A success's follow-up jobs are
/// inserted on the same connection right after, so when it is a transaction the job's
/// end and its follow-ups commit together or not at all (a follow-up that does not fit,
/// such as an invalid type, is logged and skipped: the work that succeeded stays done).
pub async fn finish_attempt(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    id: &str,
    lease_owner: &str,
    finish: &Finish,
) -> sqlx::Result<bool> {
    const UNDER_LEASE: &str = "WHERE id = $1 AND lease_owner = $2 AND status = 'running'";
    // A cancel requested after the worker's last check still wins over going back to the
    // queue.
    const REQUEUE_UNLESS_CANCELLED: &str =
        "status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END";
    let query = match finish {
        Finish::Succeeded { result, .. } => sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'succeeded', result = $3, progress = 100, error = NULL, \
             completed_at = $4, updated_at = $4, lease_owner = NULL, lease_until = NULL, \
             wake_at = NULL {UNDER_LEASE}"
        )))
        .bind(id)
        .bind(lease_owner)
        .bind(result.to_string())
        .bind(now),
        Finish::Retry { error, run_at } => sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET {REQUEUE_UNLESS_CANCELLED}, error = $3, run_at = $4, \
             wake_at = CASE WHEN cancel_requested = 1 THEN NULL ELSE $4 END, \
             completed_at = CASE WHEN cancel_requested = 1 THEN $5 END, \
             updated_at = $5, lease_owner = NULL, lease_until = NULL {UNDER_LEASE}"
        )))
        .bind(id)
        .bind(lease_owner)
        .bind(error.as_str())
        .bind(*run_at)
        .bind(now),
        Finish::Failed { error } => sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'failed', error = $3, completed_at = $4, updated_at = $4, \
             lease_owner = NULL, lease_until = NULL, wake_at = NULL {UNDER_LEASE}"
        )))
        .bind(id)
        .bind(lease_owner)
        .bind(error.as_str())
        .bind(now),
        Finish::Cancelled => sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'cancelled', error = 'cancelled while running', \
             completed_at = $3, updated_at = $3, lease_owner = NULL, lease_until = NULL, \
             wake_at = NULL {UNDER_LEASE}"
        )))
        .bind(id)
        .bind(lease_owner)
        .bind(now),
        Finish::Released => sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET {REQUEUE_UNLESS_CANCELLED}, attempts = attempts - 1, run_at = $3, \
             available_at = CASE WHEN cancel_requested = 1 THEN NULL ELSE $3 END, \
             completed_at = CASE WHEN cancel_requested = 1 THEN $3 END, \
             wake_at = NULL, updated_at = $3, lease_owner = NULL, lease_until = NULL \
             {UNDER_LEASE}"
        )))
        .bind(id)
        .bind(lease_owner)
        .bind(now),
    };
    let held = query.execute(&mut *conn).await?.rows_affected() == 1;
    if let (true, Finish::Succeeded { follow_ups, .. }) = (held, finish) {
        for job in follow_ups {
            match crate::insert(&mut *conn, now, job.clone()).await {
                Ok(_) => {}
                Err(crate::EnqueueError::Database(e)) => return Err(e),
                Err(e) => {
                    tracing::error!(error = %e, job.id = %id, "a follow-up job was not enqueued")
                }
            }
        }
    }
    Ok(held)
}

/// Wakes `quire worker`/`quire serve` processes listening on PostgreSQL.
pub const WAKE_CHANNEL: &str = "quire_jobs";

pub async fn notify_workers(queue: &Queue) -> sqlx::Result<()> {
    if queue.kind == DbKind::Postgres {
        sqlx::raw_sql("NOTIFY quire_jobs")
            .execute(&queue.pool)
            .await?;
    }
    Ok(())
}

/// Ids of a workspace's jobs that are queued or running.
pub async fn active_jobs_of_workspace(
    pool: &AnyPool,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM jobs WHERE org_id = $1 AND workspace_id = $2 AND status IN ('queued', 'running')",
    )
    .bind(org_id)
    .bind(workspace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Queued or running jobs of these types, across organisations (the drain helper's end
/// condition).
pub async fn count_unfinished_of_types(pool: &AnyPool, job_types: &[String]) -> sqlx::Result<i64> {
    if job_types.is_empty() {
        return Ok(0);
    }
    let type_list = (0..job_types.len())
        .map(|i| format!("${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM jobs WHERE completed_at IS NULL AND job_type IN ({type_list})"
    )));
    for t in job_types {
        query = query.bind(t.as_str());
    }
    query.fetch_one(pool).await
}
