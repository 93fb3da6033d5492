//! `quire upload BUNDLE --workspace W`: stream the bundle, follow the upload job and the
//! indexing it starts, then print the per-entry report.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::output::{Progress, table};
use super::workspace::{self, Page};
use super::{ClientError, ClientResult, Context};

pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize)]
struct Accepted {
    job_id: String,
    links: AcceptedLinks,
}

#[derive(Debug, Deserialize)]
struct AcceptedLinks {
    status: String,
}

#[derive(Debug, Deserialize)]
struct UploadJob {
    status: String,
    #[serde(default)]
    progress: f64,
    #[serde(default)]
    progress_message: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    report: Option<Report>,
}

#[derive(Debug, Deserialize)]
struct Report {
    #[serde(default)]
    entries: Vec<Entry>,
    #[serde(default)]
    by_verdict: BTreeMap<String, u64>,
    #[serde(default)]
    fatal_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    path: String,
    verdict: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    doc_type: Option<String>,
    #[serde(default)]
    pages: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Job {
    status: String,
    #[serde(default)]
    progress: f64,
    #[serde(default)]
    error: Option<String>,
}

pub fn is_finished(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

pub async fn run(ctx: &Context, bundle: &Path, wanted: &str) -> ClientResult<i32> {
    let size = std::fs::metadata(bundle)
        .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", bundle.display())))?
        .len();
    if !bundle.is_file() {
        return Err(ClientError::Usage(format!(
            "{} is not a file",
            bundle.display()
        )));
    }
    let ws = match workspace::find(ctx, wanted).await? {
        Some(ws) => ws,
        None if uuid::Uuid::parse_str(wanted).is_ok() => {
            return Err(ClientError::Usage(format!(
                "no workspace has the id {wanted}"
            )));
        }
        None => {
            let (ws, _) = workspace::create_or_reuse(ctx, wanted, None, None).await?;
            println!(
                "created workspace \"{}\" ({}) on the {} backend",
                ws.name, ws.id, ws.backend
            );
            ws
        }
    };

    let sending = Progress::bytes("upload", size);
    let bar = sending.bar();
    let accepted: Accepted = ctx
        .api
        .upload_file(
            "/api/v1/documents/upload",
            bundle,
            &[("workspace_id", ws.id.clone())],
            move |sent| {
                if let Some(bar) = &bar {
                    bar.set_position(sent);
                }
            },
        )
        .await?;
    sending.finish(&format!(
        "sent {} ({size} bytes) to workspace \"{}\"; job {}",
        bundle.display(),
        ws.name,
        accepted.job_id
    ));

    let mut progress = Progress::new("ingest", 100, "%");
    let job = loop {
        let job: UploadJob = ctx.api.get(&accepted.links.status, &[]).await?;
        let message = job.progress_message.clone().unwrap_or_default();
        progress.update(job.progress.round() as u64, 100, &message);
        if is_finished(&job.status) {
            break job;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    progress.finish(&job.status);

    let Some(report) = &job.report else {
        eprintln!(
            "error: the upload job ended {} without a report: {}",
            job.status,
            job.error.as_deref().unwrap_or("no reason given")
        );
        return Ok(1);
    };
    print_report(report);
    if job.status != "succeeded" {
        eprintln!(
            "error: the upload job ended {}: {}",
            job.status,
            job.error
                .as_deref()
                .or(report.fatal_error.as_deref())
                .unwrap_or("no reason given")
        );
        return Ok(1);
    }
    if report.by_verdict.get("accepted").copied().unwrap_or(0) > 0 {
        wait_for_indexing(ctx, &ws.id).await?;
    }
    Ok(0)
}

fn print_report(report: &Report) {
    let rows: Vec<Vec<String>> = report
        .entries
        .iter()
        .map(|e| {
            let reason = match (&e.reason, &e.message) {
                (Some(r), Some(m)) => format!("{r}: {m}"),
                (Some(r), None) => r.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => String::new(),
            };
            vec![
                e.path.clone(),
                e.verdict.clone(),
                reason,
                e.doc_type.clone().unwrap_or_default(),
                e.pages.map(|p| p.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["path", "verdict", "reason", "type", "pages"], &rows)
    );
    let counts: Vec<String> = ["accepted", "duplicate", "rejected"]
        .iter()
        .map(|v| {
            format!(
                "{} {v}",
                report.by_verdict.get(*v).copied().unwrap_or_default()
            )
        })
        .collect();
    println!("{}", counts.join(", "));
    if let Some(fatal) = &report.fatal_error {
        println!("the archive could not be read to the end: {fatal}");
    }
}

/// Waits for the workspace's indexing jobs (started by the upload) to end, so that the
/// documents can be asked about as soon as this command returns.
async fn wait_for_indexing(ctx: &Context, workspace_id: &str) -> ClientResult<()> {
    let query = [
        ("workspace_id", workspace_id.to_owned()),
        ("type", "workspaces.embed".to_owned()),
        ("limit", "20".to_owned()),
    ];
    let mut progress = Progress::new("index", 100, "%");
    let mut failed = None;
    loop {
        let page: Page<Job> = ctx.api.get("/api/v1/jobs", &query).await?;
        let pending: Vec<&Job> = page
            .items
            .iter()
            .filter(|j| !is_finished(&j.status))
            .collect();
        if pending.is_empty() {
            if let Some(newest) = page.items.first()
                && newest.status == "failed"
            {
                failed = newest.error.clone().or(Some("no reason given".into()));
            }
            break;
        }
        let done = pending.iter().map(|j| j.progress).fold(100.0_f64, f64::min);
        progress.update(done.round() as u64, 100, "");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    match failed {
        Some(reason) => {
            progress.finish("failed");
            eprintln!("warning: indexing the documents failed: {reason}");
        }
        None => progress.finish("documents are ready to be asked about"),
    }
    Ok(())
}
