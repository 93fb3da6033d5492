//! The queue's gauges, computed from the database when `/metrics` is scraped, so they
//! describe the whole queue whichever processes run the workers:
//! `active_jobs_total{job_type}` (running) and `job_queue_depth{job_type}` (queued, due
//! or not). `job_processing_duration_seconds{job_type,status}` is recorded by the worker
//! that ran the attempt.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::AnyPool;

/// Sets the gauges of every type found in the database and of every type in
/// `known_types` (the process's registered types), so a type whose count dropped to
/// nothing reads 0 rather than its last value.
pub async fn refresh_gauges(pool: &AnyPool, known_types: &[String]) {
    let rows = match super::repo::count_unfinished_jobs(pool).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "could not count jobs for the gauges");
            return;
        }
    };
    let mut running: BTreeMap<String, f64> = BTreeMap::new();
    let mut queued: BTreeMap<String, f64> = BTreeMap::new();
    for (job_type, status, count) in rows {
        let target = if status == "running" {
            &mut running
        } else {
            &mut queued
        };
        *target.entry(job_type).or_default() += count as f64;
    }
    let mut seen: BTreeSet<String> = known_types.iter().cloned().collect();
    seen.extend(running.keys().cloned());
    seen.extend(queued.keys().cloned());
    for job_type in seen.iter() {
        metrics::gauge!("active_jobs_total", "job_type" => job_type.clone())
            .set(running.get(job_type).copied().unwrap_or(0.0));
        metrics::gauge!("job_queue_depth", "job_type" => job_type.clone())
            .set(queued.get(job_type).copied().unwrap_or(0.0));
    }
}
