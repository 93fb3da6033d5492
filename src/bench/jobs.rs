//! `quire bench jobs` (hidden): the queue's throughput and wake-up latency, printed as a
//! table. Runs on a fresh SQLite file and, with `--postgres-url`, on a fresh PostgreSQL
//! database created on that server (and dropped afterwards).
//!
//! On PostgreSQL the table is analysed after each bulk insert (the steady state, which
//! autovacuum reaches within a minute; the migration makes it analyse the table often).
//!
//! - **raw claim loop**: the claim statement alone, back to back, over a backlog of
//!   `--jobs` jobs, on one connection (bound by the commit's fsync) and on as many
//!   connections as two worker processes have workers: the database's own limit for it.
//! - **no-op jobs/s, 1 and 2 processes**: `quire worker --enable-test-jobs` children
//!   (`MAX_CONCURRENT_JOBS` workers each), idle and waiting; `--jobs` `test.noop` jobs are
//!   committed in one transaction and the clock runs until the last one has succeeded
//!   (claim, run, complete: two statements per job plus the lease bookkeeping).
//! - **claim-to-start latency**: one job at a time into idle workers, `started_at −
//!   created_at` from the rows, p50 and p95 — in-process (the `quire serve` case: the API
//!   enqueues and this process's workers are woken directly) and cross-process (woken by
//!   NOTIFY on PostgreSQL, by polling on SQLite).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use sqlx::{AssertSqlSafe, Executor};
use tokio_util::sync::CancellationToken;

use crate::config::{DatabaseUrl, Settings};
use crate::db::{Db, PoolSize};
use crate::jobs::registry::JobRegistry;
use crate::jobs::repo::{self, InsertJob};
use crate::jobs::worker::{WorkerConfig, WorkerPool};
use crate::jobs::{Queue, testing};

#[derive(Debug, Clone, clap::Args)]
pub struct JobsBenchArgs {
    /// Jobs per throughput run.
    #[arg(long, default_value = "5000")]
    pub jobs: usize,
    /// Samples of the latency runs.
    #[arg(long, default_value = "200")]
    pub latency_samples: usize,
    /// A PostgreSQL server to also measure on (a database is created and dropped).
    #[arg(long)]
    pub postgres_url: Option<String>,
}

struct Row {
    database: &'static str,
    measure: String,
    value: String,
}

pub async fn run(settings: &Settings, args: JobsBenchArgs) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let mut rows = Vec::new();
    let dir = std::env::temp_dir().join(format!("quire-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = DatabaseUrl::sqlite_file(&dir.join("bench.db"));
    let result = bench_database("SQLite", &sqlite, &dir, settings, &args, &mut rows).await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;

    if let Some(admin) = &args.postgres_url {
        let name = format!("quire_bench_{}", uuid::Uuid::now_v7().simple());
        let admin_pool = sqlx::AnyPool::connect(admin).await?;
        admin_pool
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await?;
        let url: DatabaseUrl = replace_database(admin, &name)
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        let result = bench_database("PostgreSQL", &url, &dir, settings, &args, &mut rows).await;
        let _ = admin_pool
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .await;
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }

    println!();
    println!(
        "| database | measure | value |   ({} jobs per run, {} workers per process)",
        args.jobs, settings.max_concurrent_jobs
    );
    println!("|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.database, r.measure, r.value);
    }
    Ok(())
}

async fn bench_database(
    name: &'static str,
    url: &DatabaseUrl,
    dir: &std::path::Path,
    settings: &Settings,
    args: &JobsBenchArgs,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let db = Db::connect(
        url,
        PoolSize {
            max: 4 * settings.max_concurrent_jobs,
            min: 1,
        },
    )
    .await?;
    db.migrate().await?;
    let org = crate::orgs::repo::insert_organisation(&db.pool, "bench").await?;
    let queue = Queue::from(&db);
    let noop = vec!["test.noop".to_owned()];

    // Raw claim loops: one connection (bound by the commit latency), and as many
    // connections as two worker processes have workers (the statement's throughput).
    for connections in [1usize, 2 * settings.max_concurrent_jobs as usize] {
        insert_backlog(&db, &org.id, args.jobs).await?;
        let started = Instant::now();
        let mut loops = Vec::new();
        for c in 0..connections {
            let queue = queue.clone();
            let noop = noop.clone();
            loops.push(tokio::spawn(async move {
                let mut claimed = 0usize;
                let lease = format!("bench-{c}");
                while repo::claim_next(&queue, &lease, Duration::from_secs(600), &noop)
                    .await?
                    .is_some()
                {
                    claimed += 1;
                }
                Ok::<usize, sqlx::Error>(claimed)
            }));
        }
        let mut claimed = 0;
        for l in loops {
            claimed += l.await??;
        }
        let rate = claimed as f64 / started.elapsed().as_secs_f64();
        eprintln!("{name}: raw claim loop on {connections} connection(s) {rate:.0}/s");
        rows.push(Row {
            database: name,
            measure: format!(
                "raw claim statement, tight loop, {connections} connection(s) (claims/s)"
            ),
            value: format!("{rate:.0}"),
        });
        clear(&db).await?;
    }

    // Throughput with 1 and 2 worker processes.
    for processes in [1usize, 2] {
        let mut children = Vec::new();
        for _ in 0..processes {
            children.push(ChildWorker::start(url, dir, settings)?);
        }
        let started = insert_backlog(&db, &org.id, args.jobs).await?;
        wait_until_done(&db, args.jobs, Duration::from_secs(600)).await?;
        let rate = args.jobs as f64 / started.elapsed().as_secs_f64();
        eprintln!("{name}: {processes} process(es) {rate:.0} jobs/s");
        rows.push(Row {
            database: name,
            measure: format!(
                "no-op jobs claimed+completed, {processes} worker process(es) (jobs/s)"
            ),
            value: format!("{rate:.0}"),
        });
        drop(children);
        clear(&db).await?;
    }

    // Latency, cross-process: one idle worker process.
    {
        let _child = ChildWorker::start(url, dir, settings)?;
        let (p50, p95) = latency(&db, &org.id, args.latency_samples).await?;
        rows.push(Row {
            database: name,
            measure: "claim-to-start latency, idle worker in another process (p50 / p95 ms)".into(),
            value: format!("{p50} / {p95}"),
        });
        clear(&db).await?;
    }
    // Latency, in-process: this process's workers, woken directly by `enqueue`.
    {
        let stop = CancellationToken::new();
        let mut config = WorkerConfig::from(settings);
        config.database_url = url.as_str().to_owned();
        let pool = WorkerPool::start(
            queue.clone(),
            Arc::new(testing::register(JobRegistry::new())),
            config,
            stop.clone(),
        )
        .await?;
        let (p50, p95) = latency(&db, &org.id, args.latency_samples).await?;
        rows.push(Row {
            database: name,
            measure: "claim-to-start latency, idle workers in the enqueuing process (p50 / p95 ms)"
                .into(),
            value: format!("{p50} / {p95}"),
        });
        stop.cancel();
        pool.join().await;
    }
    db.close().await;
    Ok(())
}

/// Inserts `n` no-op jobs in one transaction; returns when they were committed.
async fn insert_backlog(db: &Db, org_id: &str, n: usize) -> anyhow::Result<Instant> {
    let mut tx = db.pool.begin().await?;
    let now = crate::time::now_ms();
    for _ in 0..n {
        let id = uuid::Uuid::now_v7().to_string();
        repo::insert_job(
            &mut *tx,
            InsertJob {
                id: &id,
                org_id,
                workspace_id: None,
                job_type: "test.noop",
                payload: "{}",
                max_attempts: None,
                run_at: now,
                dedup_key: None,
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    let committed = Instant::now();
    if db.kind == crate::db::DbKind::Postgres {
        // Steady state: autovacuum has analysed the table (right after a bulk insert into a
        // never-analysed table the planner guesses it tiny and sorts it on every claim).
        sqlx::query("ANALYZE jobs").execute(&db.pool).await?;
    }
    repo::notify_workers(&Queue::from(db)).await?;
    Ok(committed)
}

async fn wait_until_done(db: &Db, n: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let (done,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'")
                .fetch_one(&db.pool)
                .await?;
        if done as usize >= n {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "only {done} of {n} jobs done");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn clear(db: &Db) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM jobs").execute(&db.pool).await?;
    Ok(())
}

/// Enqueues one job at a time into idle workers; p50 and p95 of `started_at − created_at`.
async fn latency(db: &Db, org_id: &str, samples: usize) -> anyhow::Result<(i64, i64)> {
    let mut millis = Vec::with_capacity(samples);
    // Let the workers settle into their idle wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..samples {
        let row =
            crate::jobs::enqueue(db, crate::jobs::NewJob::new(org_id, "test.noop", json!({})))
                .await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let job = repo::find_job(&db.pool, org_id, &row.id)
                .await?
                .context("job vanished")?;
            if job.status == "succeeded" {
                millis.push(job.started_at.unwrap_or(job.created_at) - job.created_at);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "a latency job never ran");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Idle again before the next sample.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    millis.sort_unstable();
    let at = |q: f64| millis[((millis.len() as f64 - 1.0) * q).round() as usize];
    Ok((at(0.5), at(0.95)))
}

struct ChildWorker(Child);

impl ChildWorker {
    fn start(
        url: &DatabaseUrl,
        dir: &std::path::Path,
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("worker")
            .arg(format!("--database-url={}", url.as_str()))
            .arg(format!("--data-dir={}", dir.display()))
            .arg("--secret-key=bench-secret-key-that-is-long-enough-0123456789")
            .arg(format!(
                "--max-concurrent-jobs={}",
                settings.max_concurrent_jobs
            ))
            .arg(format!(
                "--job-poll-interval-ms={}",
                settings.job_poll_interval_ms
            ))
            .arg("--enable-test-jobs")
            .arg("--log-level=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.contains("worker is running") {
                    let _ = tx.send(());
                    sent = true;
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            anyhow::bail!("the worker process did not start");
        }
        Ok(Self(child))
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
