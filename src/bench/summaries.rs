//! `quire bench summaries` (hidden): summaries end to end on a fresh SQLite file,
//! against the in-process fake OpenAI-compatible server of `quire-llm`.
//!
//! Everything a real bulk run does happens: the `summaries.bulk` job is enqueued, this
//! process's workers claim it and its `summaries.generate` children, every summary is
//! rendered, sent over HTTP to the fake, and written — only the model is fake.
//!
//! - **(a) throughput**: `--documents` (1,000) documents, zero model latency;
//!   summaries/s from enqueue to the parent's success, rows persisted.
//! - **(b) latency-bound**: the same documents with `--latency-ms` (200 ms) per call and
//!   `--provider-concurrency` (20) workers for the children (the provider limit);
//!   wall time against the ideal `n × latency / limit` (10 s).
//! - **(c) extractive**: p50 and p95 of the extractive summariser on a generated
//!   30-page contract (`--extractive-runs`).
//! - **(d) peak RSS**: `VmHWM` of this process before and after (a).

use std::time::{Duration, Instant};

use anyhow::Context;
use quire_llm::testing::{FakeLlm, Fault};
use serde_json::json;

use crate::config::{DatabaseUrl, Secret, Settings};
use crate::documents::model::SourceType;
use crate::documents::service::{DocumentSource, NewDocument, create_document};
use crate::jobs::{JobStatus, NewJob};
use crate::state::AppState;
use crate::summaries::jobs::BULK_JOB_TYPE;

#[derive(Debug, Clone, clap::Args)]
pub struct SummariesBenchArgs {
    /// Documents of runs (a) and (b).
    #[arg(long, default_value = "1000")]
    pub documents: usize,
    /// Model latency of run (b), milliseconds.
    #[arg(long, default_value = "200")]
    pub latency_ms: u64,
    /// Calls to the model at once in run (b) (child job workers).
    #[arg(long, default_value = "20")]
    pub provider_concurrency: u32,
    /// Timed runs of the extractive summariser (c).
    #[arg(long, default_value = "200")]
    pub extractive_runs: usize,
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A contract-like page: numbered clauses with parties, amounts and dates.
fn page_text(page: usize) -> String {
    (0..12)
        .map(|c| {
            format!(
                "Clause {page}.{c}: the supplier shall deliver batch {c} of the goods to the buyer \
                 within {} days, and the buyer shall pay EUR {} within 30 days of the invoice. ",
                10 + c,
                1000 * (page + c)
            )
        })
        .collect()
}

pub async fn run(settings: &Settings, args: SummariesBenchArgs) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let fake = FakeLlm::start().await.context("start the fake LLM")?;
    fake.set_reply(Some(
        "The supplier delivers the goods; the buyer pays within 30 days.",
    ));
    let dir = std::env::temp_dir().join(format!(
        "quire-bench-summaries-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let mut s = settings.clone();
    s.data_dir = dir.clone();
    s.database_url = Some(DatabaseUrl::sqlite_file(&dir.join("bench.db")));
    // The parent plus `provider_concurrency` children at once.
    s.max_concurrent_jobs = args.provider_concurrency + 1;
    s.secret_key = Some(Secret::new(
        "bench-secret-key-that-is-long-enough-0123456789",
    ));
    let result = bench(s, &args, &fake).await;
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
    args: &SummariesBenchArgs,
    fake: &FakeLlm,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut rows = Vec::new();

    // (c) The extractive summariser alone, on a 30-page document.
    let pages: Vec<(i64, String)> = (1..=30).map(|p| (p as i64, page_text(p))).collect();
    let refs: Vec<(i64, &str)> = pages.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let mut times: Vec<Duration> = (0..args.extractive_runs.max(1))
        .map(|_| {
            let started = Instant::now();
            let summary =
                quire_summarize::summarize(&refs, quire_summarize::ExtractiveOptions::default());
            std::hint::black_box(summary);
            started.elapsed()
        })
        .collect();
    times.sort();
    let p50 = times[times.len() / 2];
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    rows.push((
        "(c) extractive summary of a 30-page document, p50 / p95 (ms)".into(),
        format!(
            "{:.2} / {:.2}",
            p50.as_secs_f64() * 1000.0,
            p95.as_secs_f64() * 1000.0
        ),
    ));

    let state = AppState::initialise(settings).await?;
    let workers = crate::app::start_workers(&state).await?;
    let org = crate::orgs::repo::insert_organisation(&state.db.pool, "bench").await?;
    let mut ids = Vec::with_capacity(args.documents);
    for i in 0..args.documents {
        let id = uuid::Uuid::now_v7().to_string();
        let text = page_text(i);
        create_document(
            &state,
            NewDocument {
                id: id.clone(),
                org_id: org.id.clone(),
                source: DocumentSource::External {
                    source_type: SourceType::Api,
                    source_url: None,
                    external_id: None,
                    external_last_updated: None,
                },
                name: format!("contract-{i}.txt"),
                title: format!("Contract {i}"),
                doc_type: quire_ingest::DocType::Text,
                original: text.clone().into_bytes().into(),
                pages: vec![(1, text)],
                page_count: Some(1),
                flags: Vec::new(),
                metadata: None,
                workspace_ids: Vec::new(),
            },
        )
        .await?;
        ids.push(id);
    }
    let request = json!({
        "format": "markdown",
        "cache": false,
        "llm": {"provider": "openai", "base_url": fake.base_url(), "model": "bench-model"},
    });

    // (a) Throughput at zero latency.
    let rss_before = peak_rss_mib();
    let elapsed = timed_bulk(&state, &org.id, &ids, &request).await?;
    let rate = ids.len() as f64 / elapsed.as_secs_f64();
    eprintln!("(a) {} summaries in {elapsed:?}: {rate:.0}/s", ids.len());
    rows.push((
        format!(
            "(a) bulk summaries of {} documents, zero-latency fake model, rows persisted (summaries/s)",
            ids.len()
        ),
        format!("{rate:.0} ({:.2} s)", elapsed.as_secs_f64()),
    ));
    let rss_after = peak_rss_mib();
    rows.push((
        "(d) peak RSS, VmHWM before / after (a) (MiB)".into(),
        format!(
            "{} / {}",
            rss_before.map_or("?".into(), |v| format!("{v:.0}")),
            rss_after.map_or("?".into(), |v| format!("{v:.0}"))
        ),
    ));

    // (b) Latency-bound, `provider_concurrency` calls at once.
    fake.fail_next(
        ids.len(),
        Fault::Slow(Duration::from_millis(args.latency_ms)),
    );
    let elapsed = timed_bulk(&state, &org.id, &ids, &request).await?;
    let ideal =
        ids.len() as f64 * args.latency_ms as f64 / 1000.0 / f64::from(args.provider_concurrency);
    eprintln!(
        "(b) {} summaries in {elapsed:?} (ideal {ideal:.2} s)",
        ids.len()
    );
    rows.push((
        format!(
            "(b) {} documents, {} ms model latency, {} calls at once: wall time (ideal {ideal:.2} s)",
            ids.len(),
            args.latency_ms,
            args.provider_concurrency
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

/// Enqueues a bulk run and waits for its success; the time from enqueue to success.
async fn timed_bulk(
    state: &AppState,
    org_id: &str,
    ids: &[String],
    request: &serde_json::Value,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let job = crate::jobs::enqueue(
        &state.db,
        NewJob::new(
            org_id,
            BULK_JOB_TYPE,
            json!({"request": request, "document_ids": ids, "created_by": null}),
        ),
    )
    .await?;
    let deadline = started + Duration::from_secs(1800);
    loop {
        let row = crate::jobs::repo::find_job(&state.db.pool, org_id, &job.id)
            .await?
            .context("the bulk job vanished")?;
        match row.status() {
            JobStatus::Succeeded => return Ok(started.elapsed()),
            s if s.is_terminal() => {
                anyhow::bail!("the bulk job ended {s:?}: {:?}", row.error)
            }
            _ if Instant::now() > deadline => anyhow::bail!("the bulk job took over 30 minutes"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
