//! Diagnostic job types, compiled only with the feature `test-jobs` (which the test
//! suite and `bench` turn on) and registered only with the hidden `--enable-test-jobs`
//! flag (`QUIRE_ENABLE_TEST_JOBS=true`). The test suite and the benchmark start real `quire`
//! processes with it, so the queue can be exercised across processes and crashes. They
//! touch nothing but their own job row and the `job_test_executions` table, which they
//! create on first use.
//!
//! | type | payload | does |
//! |---|---|---|
//! | `test.noop` | — | succeeds at once |
//! | `test.sleep` | `{"millis": n}` | sleeps `n` ms in 50 ms steps, reporting progress, stopping when cancelled |
//! | `test.record` | — | inserts one row into `job_test_executions` per execution (duplicates included: that is the point), then succeeds |
//! | `test.steps` | `{"steps": n, "step_millis": m}` | for each step not yet done: waits `m` ms, then in one lease-fenced transaction inserts the step's row and saves the checkpoint; the model of an idempotent handler |
//! | `test.fail` | `{"message": s, "succeed_on_attempt"?: k}` | records the attempt, then fails with `s` (retryable) unless this is attempt `k` or later |
//! | `test.panic` | — | panics |

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::AnyPool;

use crate::jobs::registry::{JobContext, JobError, JobRegistry, handler_fn};
use crate::time::now_ms;

pub fn register(registry: JobRegistry) -> JobRegistry {
    registry
        .register("test.noop", handler_fn(|_ctx| async { Ok(json!({})) }))
        .register("test.sleep", handler_fn(sleep))
        .register("test.record", handler_fn(record))
        .register("test.steps", handler_fn(steps))
        .register("test.fail", handler_fn(fail))
        .register("test.panic", handler_fn(panic))
}

/// Creates `job_test_executions` if it is missing. Called by the workers when test jobs
/// are enabled, and by tests before they count rows.
pub async fn prepare(pool: &AnyPool) -> sqlx::Result<()> {
    let created = sqlx::query(
        "CREATE TABLE IF NOT EXISTS job_test_executions (\
           id TEXT PRIMARY KEY, job_id TEXT NOT NULL, step BIGINT NOT NULL, \
           worker TEXT NOT NULL, attempt BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await;
    match created {
        Ok(_) => Ok(()),
        // Two processes creating it at once on PostgreSQL: one wins, the other may see a
        // duplicate-type error. Either way the table is there if this succeeds.
        Err(e) => sqlx::query("SELECT COUNT(*) FROM job_test_executions")
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(|_| e),
    }
}

/// Identifies this process in `job_test_executions.worker`.
pub fn worker_name() -> String {
    format!("pid-{}", std::process::id())
}

async fn insert_execution<'e, E>(exec: E, ctx: &JobContext, step: i64) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO job_test_executions (id, job_id, step, worker, attempt, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(ctx.job_id())
    .bind(step)
    .bind(worker_name())
    .bind(i64::from(ctx.attempt()))
    .bind(now_ms())
    .execute(exec)
    .await
    .map(|_| ())
}

/// Waits `millis`, waking early (with `Err(Cancelled)`) when the job is cancelled.
async fn pause(ctx: &JobContext, millis: u64) -> Result<(), JobError> {
    tokio::select! {
        _ = ctx.cancelled() => Err(JobError::Cancelled),
        _ = tokio::time::sleep(Duration::from_millis(millis)) => Ok(()),
    }
}

#[derive(Deserialize)]
struct SleepPayload {
    millis: u64,
}

async fn sleep(ctx: JobContext) -> Result<Value, JobError> {
    let p: SleepPayload = ctx.payload_as()?;
    let started = std::time::Instant::now();
    let step = 50;
    let mut slept = 0;
    while slept < p.millis {
        let this = step.min(p.millis - slept);
        pause(&ctx, this).await?;
        slept += this;
        let percent = slept as f64 * 100.0 / p.millis as f64;
        if slept < p.millis {
            ctx.report_progress(percent, format!("slept {slept} of {} ms", p.millis))
                .await?;
        }
    }
    Ok(json!({ "slept_ms": started.elapsed().as_millis() as u64 }))
}

async fn record(ctx: JobContext) -> Result<Value, JobError> {
    insert_execution(ctx.pool(), &ctx, 0).await?;
    Ok(json!({ "worker": worker_name() }))
}

#[derive(Deserialize)]
struct StepsPayload {
    steps: u64,
    #[serde(default)]
    step_millis: u64,
}

async fn steps(ctx: JobContext) -> Result<Value, JobError> {
    let p: StepsPayload = ctx.payload_as()?;
    let done = ctx
        .checkpoint()
        .and_then(|c| c.get("done"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    for step in done..p.steps {
        pause(&ctx, p.step_millis).await?;
        let mut tx = ctx.begin().await?;
        insert_execution(&mut *tx, &ctx, step as i64).await?;
        ctx.save_checkpoint_in(&mut tx, &json!({ "done": step + 1 }))
            .await?;
        tx.commit().await?;
        ctx.report_progress(
            (step + 1) as f64 * 100.0 / p.steps as f64,
            format!("step {} of {}", step + 1, p.steps),
        )
        .await?;
    }
    Ok(json!({ "steps": p.steps, "resumed_from": done }))
}

#[derive(Deserialize)]
struct FailPayload {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    succeed_on_attempt: Option<u32>,
}

async fn fail(ctx: JobContext) -> Result<Value, JobError> {
    let p: FailPayload = ctx.payload_as()?;
    insert_execution(ctx.pool(), &ctx, i64::from(ctx.attempt())).await?;
    if p.succeed_on_attempt.is_some_and(|k| ctx.attempt() >= k) {
        return Ok(json!({ "succeeded_on_attempt": ctx.attempt() }));
    }
    Err(JobError::Retryable(
        p.message
            .unwrap_or_else(|| "test.fail failed as asked".into()),
    ))
}

async fn panic(_ctx: JobContext) -> Result<Value, JobError> {
    panic!("test.panic panicked as asked")
}
