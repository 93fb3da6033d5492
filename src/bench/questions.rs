//! `quire bench questions` (hidden): question runs end to end on a fresh SQLite file,
//! against the in-process AnythingLLM test double.
//!
//! Everything a real run does happens: the run is recorded and enqueued, this process's
//! job workers claim it, every question goes through the AnythingLLM client over HTTP
//! to the double, is scored, and its result row is written by the run's writer (batched,
//! fenced by the lease) — only the model is fake.
//!
//! - **(a) throughput**: `--questions` (10,000) questions, zero backend latency, run
//!   concurrency 50, one shared thread; questions/s from enqueue to the job's success.
//! - **(b) latency-bound run**: `--latency-questions` (1,000) at `--latency-ms` (100 ms)
//!   per request with concurrency 50; wall time against the ideal `n × latency / 50`.
//! - **(c) peak RSS**: `VmHWM` of this process after (a) (and before it, for scale).

use std::time::{Duration, Instant};

use anyhow::Context;
use anythingllm::testing::TestDouble;
use quire_evals::{ExpectedFragment, Question};

use crate::config::{DatabaseUrl, Secret, Settings};
use crate::jobs::JobStatus;
use crate::questions::model::{RunSettings, ThreadStrategy};
use crate::state::AppState;
use crate::workspaces::repo::{insert_workspace, new_workspace_row};

#[derive(Debug, Clone, clap::Args)]
pub struct QuestionsBenchArgs {
    /// Questions of the throughput run (a).
    #[arg(long, default_value = "10000")]
    pub questions: usize,
    /// Questions of the latency-bound run (b).
    #[arg(long, default_value = "1000")]
    pub latency_questions: usize,
    /// Backend latency of run (b), milliseconds.
    #[arg(long, default_value = "100")]
    pub latency_ms: u64,
    /// Run concurrency of both runs.
    #[arg(long, default_value = "50")]
    pub concurrency: u32,
}

/// Peak resident set size of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub async fn run(settings: &Settings, args: QuestionsBenchArgs) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let double = TestDouble::start()
        .await
        .context("start the AnythingLLM double")?;
    let handle = double.handle();
    let dir = std::env::temp_dir().join(format!(
        "quire-bench-questions-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let mut s = settings.clone();
    s.data_dir = dir.clone();
    s.database_url = Some(DatabaseUrl::sqlite_file(&dir.join("bench.db")));
    s.anythingllm_url = Some(format!("http://{}", double.addr()));
    s.anythingllm_api_key = Some(Secret::new(double.api_key()));
    s.backend_max_concurrency = s.backend_max_concurrency.max(args.concurrency);
    s.secret_key = Some(Secret::new(
        "bench-secret-key-that-is-long-enough-0123456789",
    ));
    let result = bench(s, &args, &handle).await;
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    for (measure, value) in rows {
        println!("| {measure} | {value} |");
    }
    Ok(())
}

async fn bench(
    settings: Settings,
    args: &QuestionsBenchArgs,
    handle: &anythingllm::testing::DoubleHandle,
) -> anyhow::Result<Vec<(String, String)>> {
    let state = AppState::initialise(settings).await?;
    let workers = crate::app::start_workers(&state).await?;
    let org = crate::orgs::repo::insert_organisation(&state.db.pool, "bench").await?;
    let mut ws = new_workspace_row(&org.id, "bench", "anythingllm");
    ws.backend_ref = state
        .backends
        .create_workspace(&ws)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    insert_workspace(&state.db.pool, &ws).await?;
    let run_settings = RunSettings {
        concurrency: args.concurrency,
        thread_strategy: ThreadStrategy::Shared,
        threshold: 0.8,
        repeats: 1,
        keep_threads: false,
        llm_config: None,
        cache: false,
    };
    let questions = |n: usize| -> Vec<Question> {
        (0..n)
            .map(|i| {
                let mut q = Question::new(
                    format!("q{i}"),
                    format!("What is the liability cap of contract {i}?"),
                );
                q.expected_fragments = vec![
                    ExpectedFragment::new("1,500,000 GBP"),
                    ExpectedFragment::new("liability cap"),
                ];
                q
            })
            .collect()
    };
    let mut rows = Vec::new();
    let rss_before = peak_rss_mib();

    // (a) Throughput at zero latency.
    let (elapsed, written) =
        timed_run(&state, &ws, questions(args.questions), &run_settings).await?;
    let rate = args.questions as f64 / elapsed.as_secs_f64();
    eprintln!(
        "(a) {} questions in {elapsed:?}: {rate:.0}/s ({written} results)",
        args.questions
    );
    rows.push((
        format!(
            "(a) {} questions, zero-latency double, concurrency {}, results persisted (questions/s)",
            args.questions, args.concurrency
        ),
        format!("{rate:.0} ({:.2} s)", elapsed.as_secs_f64()),
    ));
    let rss_after = peak_rss_mib();
    rows.push((
        "(c) peak RSS, VmHWM before / after (a) (MiB)".into(),
        format!(
            "{} / {}",
            rss_before.map_or("?".into(), |v| format!("{v:.0}")),
            rss_after.map_or("?".into(), |v| format!("{v:.0}"))
        ),
    ));

    // (b) Latency-bound.
    handle.set_latency(Duration::from_millis(args.latency_ms));
    let (elapsed, _) = timed_run(
        &state,
        &ws,
        questions(args.latency_questions),
        &run_settings,
    )
    .await?;
    let ideal = args.latency_questions as f64 * args.latency_ms as f64
        / 1000.0
        / f64::from(args.concurrency);
    eprintln!(
        "(b) {} questions in {elapsed:?} (ideal {ideal:.2} s)",
        args.latency_questions
    );
    rows.push((
        format!(
            "(b) {} questions, {} ms latency, concurrency {}: wall time (ideal {ideal:.2} s)",
            args.latency_questions, args.latency_ms, args.concurrency
        ),
        format!(
            "{:.2} s ({:.2} × ideal)",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() / ideal
        ),
    ));
    state.shutdown.cancel();
    workers.join().await;
    state.db.close().await;
    Ok(rows)
}

/// Records a run, waits until its job succeeds; the time from enqueue to success and the
/// number of result rows.
async fn timed_run(
    state: &AppState,
    ws: &crate::workspaces::repo::WorkspaceRow,
    questions: Vec<Question>,
    settings: &RunSettings,
) -> anyhow::Result<(Duration, i64)> {
    let n = questions.len();
    let started = Instant::now();
    let job = crate::questions::service::record_run(state, ws, questions, None, settings)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let deadline = started + Duration::from_secs(1800);
    loop {
        let row = crate::jobs::repo::find_job(&state.db.pool, &ws.org_id, &job.id)
            .await?
            .context("the run's job vanished")?;
        match row.status() {
            JobStatus::Succeeded => break,
            JobStatus::Failed | JobStatus::Cancelled => {
                anyhow::bail!("the run ended {}: {:?}", row.status(), row.error)
            }
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "the run of {n} did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let (_, total) = crate::questions::repo::list_results(
        &state.db.pool,
        &ws.org_id,
        &job.id,
        None,
        Some(crate::http::Window {
            limit: 1,
            offset: 0,
        }),
    )
    .await?;
    anyhow::ensure!(total as usize == n, "{total} results for {n} questions");
    Ok((elapsed, total as i64))
}
