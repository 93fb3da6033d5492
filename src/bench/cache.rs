//! `quire bench cache` (hidden): the cache (issue 19) on this machine.
//!
//! - **(a) answer-cache hit vs backend call**: one question asked of the in-process
//!   AnythingLLM double through the real client over loopback HTTP (zero added latency:
//!   the floor of a backend call — a real model adds seconds), against what a question
//!   run does on a hit: the key's SHA-256, `get`, and decoding the answer; on the memory
//!   cache and, with `--redis-url`, on Redis. Median and p95 of `--calls` each.
//! - **(b) `get_many` of `--keys` (1,000) keys**, every key present, on memory and Redis:
//!   median and p95 of `--rounds`.

use std::time::{Duration, Instant};

use anyhow::Context;
use anythingllm::testing::TestDouble;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::backends::anythingllm::AnythingLlmBackend;
use crate::backends::{Answer, AnswerSource, AskOptions};
use crate::cache::Cache;
use crate::config::Settings;
use crate::workspaces::repo::new_workspace_row;

#[derive(Debug, Clone, clap::Args)]
pub struct CacheBenchArgs {
    /// Calls measured per kind in (a).
    #[arg(long, default_value = "500")]
    pub calls: usize,
    /// Keys read at once in (b).
    #[arg(long, default_value = "1000")]
    pub keys: usize,
    /// `get_many` calls measured per cache in (b).
    #[arg(long, default_value = "200")]
    pub rounds: usize,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len().saturating_sub(1))]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn summary(mut samples: Vec<Duration>) -> String {
    let p50 = percentile(&mut samples, 0.5);
    let p95 = percentile(&mut samples, 0.95);
    format!("p50 {} · p95 {}", micros(p50), micros(p95))
}

pub async fn run(settings: &Settings, args: CacheBenchArgs) -> anyhow::Result<()> {
    let calls = args.calls.max(1);
    let rounds = args.rounds.max(1);
    let mut rows: Vec<(String, String)> = Vec::new();

    // (a) A backend call to the double.
    let double = TestDouble::start()
        .await
        .context("start the AnythingLLM double")?;
    let backend = AnythingLlmBackend::new(double.client_config())?;
    let mut ws = new_workspace_row("bench-org", "bench", "anythingllm");
    ws.backend_ref = Some(
        backend
            .create_workspace(&ws)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let question = "What is the liability cap of the agreement?";
    let options = AskOptions::default();
    let mut asked = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        backend
            .ask(&ws, question, &options)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        asked.push(started.elapsed());
    }
    rows.push((
        format!("(a) backend call (AnythingLLM double, loopback HTTP, no model), {calls} calls"),
        summary(asked),
    ));

    // What a hit reads: a realistic answer with three sources.
    let answer = Answer {
        text: "The liability cap is 1,500,000 GBP (clause 14.2), excluding fraud.".repeat(4),
        sources: (0..3)
            .map(|i| AnswerSource {
                document_id: Some(format!("0193c0de-0000-7000-8000-00000000000{i}")),
                document_name: Some(format!("contract-{i}.pdf")),
                page: Some(i + 1),
                snippet: "Each party's total liability under this Agreement ".repeat(8),
                score: Some(0.8),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&answer)?;
    let material = json!({
        "v": 1, "generation": 42, "question": question, "doc_types": [], "repeat": 1,
        "llm": null, "workspace": ["anythingllm", "bench", null, null, null, 4, 0.25, "query"],
        "server_llm": null,
    })
    .to_string();

    let mut caches = vec![Cache::memory(crate::cache::MEMORY_MAX_ENTRIES)];
    if let Some(url) = &settings.redis_url {
        caches.push(Cache::new(Some(url.expose()))?);
    }
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    for cache in &caches {
        let kind = cache.kind();
        let key = format!("bench:{run_id}:answer");
        cache.set(&key, &bytes, Duration::from_secs(600)).await?;
        let mut hits = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            let digest = hex::encode(Sha256::digest(material.as_bytes()));
            std::hint::black_box(&digest);
            let found = cache
                .get(&key)
                .await?
                .context("the answer is in the cache")?;
            let decoded: Answer = serde_json::from_slice(&found)?;
            std::hint::black_box(decoded);
            hits.push(started.elapsed());
        }
        rows.push((
            format!("(a) answer-cache hit on {kind} (key hash + get + decode), {calls} calls"),
            summary(hits),
        ));
        cache.delete(&key).await?;

        // (b) get_many of `keys` keys, all present.
        let keys: Vec<String> = (0..args.keys)
            .map(|i| format!("bench:{run_id}:many:{i}"))
            .collect();
        for key in &keys {
            cache.set(key, &bytes, Duration::from_secs(600)).await?;
        }
        let mut many = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let values = cache.get_many(&keys).await?;
            many.push(started.elapsed());
            anyhow::ensure!(
                values.iter().all(Option::is_some),
                "get_many missed keys on {kind}"
            );
        }
        rows.push((
            format!(
                "(b) get_many of {} keys ({} B values) on {kind}, {rounds} rounds",
                args.keys,
                bytes.len()
            ),
            summary(many),
        ));
        for key in &keys {
            cache.delete(key).await?;
        }
    }
    if settings.redis_url.is_none() {
        rows.push((
            "Redis".to_owned(),
            "not measured: give --redis-url".to_owned(),
        ));
    }

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    for (measure, value) in rows {
        println!("| {measure} | {value} |");
    }
    Ok(())
}
