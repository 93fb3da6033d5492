//! The body of an upload job: judge every entry of the stored bundle, keep the accepted
//! originals and their text, and report a verdict per entry.
//!
//! Idempotent: document ids derive from (upload job, entry path), originals are written
//! to deterministic keys, and rows are inserted with `ON CONFLICT DO NOTHING` (each
//! accepted entry through `service::create_document`, the one way a document is born),
//! so a re-run after a crash finishes the remaining entries without duplicating anything.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::documents::repo;
use crate::documents::service::{DocumentSource, NewDocument, create_document};
use crate::state::AppState;

pub const UPLOAD_JOB_TYPE: &str = "documents.upload";

/// Progress is written at most this often (and once more after the last entry): a
/// write per entry was a database round trip per file, and nobody polls faster.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// What the upload endpoint records for the job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadPayload {
    /// Names the upload's folder in storage: `orgs/{org}/uploads/{upload_id}/…`.
    pub upload_id: String,
    pub workspace_id: String,
    pub bundle_key: String,
    pub file_name: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryVerdict {
    Accepted,
    Rejected,
    /// Same content as a document already in the workspace; not stored again.
    Duplicate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryOutcome {
    pub path: String,
    pub verdict: EntryVerdict,
    /// Stable code such as `path_traversal`, `encrypted`, `zip_bomb`, or `duplicate`.
    pub reason: Option<String>,
    /// A sentence for the user.
    pub message: Option<String>,
    pub doc_type: Option<String>,
    pub size: Option<u64>,
    pub pages: Option<u32>,
    pub flags: Vec<String>,
    /// The document this entry became (or duplicates).
    pub document_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UploadReport {
    pub entries: Vec<EntryOutcome>,
    /// Counts by verdict (`accepted`, `rejected`, `duplicate`).
    pub by_verdict: BTreeMap<String, usize>,
    /// Accepted documents by type (`pdf`, `json`, `csv`).
    pub by_type: BTreeMap<String, usize>,
    /// Documents grouped by type, as ids.
    pub documents_by_type: BTreeMap<String, Vec<String>>,
    /// Set when the archive itself was unreadable; the entries judged before stay listed.
    pub fatal_error: Option<String>,
    pub cancelled: bool,
}

impl UploadReport {
    fn push(&mut self, outcome: EntryOutcome) {
        let verdict = match outcome.verdict {
            EntryVerdict::Accepted => "accepted",
            EntryVerdict::Rejected => "rejected",
            EntryVerdict::Duplicate => "duplicate",
        };
        *self.by_verdict.entry(verdict.to_owned()).or_default() += 1;
        if outcome.verdict == EntryVerdict::Accepted
            && let (Some(t), Some(id)) = (&outcome.doc_type, &outcome.document_id)
        {
            *self.by_type.entry(t.clone()).or_default() += 1;
            self.documents_by_type
                .entry(t.clone())
                .or_default()
                .push(id.clone());
        }
        self.entries.push(outcome);
    }
}

/// The document id of an archive entry: the same on every run of the same job.
pub fn document_id_for(upload_job_id: &str, archive_path: &str) -> String {
    let namespace = uuid::Uuid::parse_str(upload_job_id).unwrap_or(uuid::Uuid::NAMESPACE_OID);
    uuid::Uuid::new_v5(&namespace, archive_path.as_bytes()).to_string()
}

/// Progress callback: percent 0–100 and a message.
pub type ProgressFn = Box<dyn Fn(f64, String) + Send + Sync>;

pub struct IngestContext {
    pub state: AppState,
    pub org_id: String,
    pub job_id: String,
    pub upload_id: String,
    pub payload: UploadPayload,
    pub cancel: CancellationToken,
    pub progress: ProgressFn,
}

/// Judged entries waiting for the storing task at most: the judging thread reads on
/// while the task stores, so extraction never waits on storage or SQL.
const STORE_QUEUE_ENTRIES: usize = 8;

/// Newly accepted documents after which an embed job is enqueued while the upload
/// still runs, so indexing overlaps extraction instead of starting after the last entry.
const EMBED_EVERY_ACCEPTED: usize = 16;

/// A judged entry on its way from the judging thread to the storing task.
struct JudgedEntry {
    report: quire_ingest::EntryReport,
    content: Option<quire_ingest::EntryContent>,
    /// Byte credits held until the entry is stored (see `StoreBudget`).
    _credits: tokio::sync::OwnedSemaphorePermit,
}

/// Bounds the bytes of judged entries waiting to be stored, as the judge bounds the
/// bytes it reads ahead: credits are KiB of content, at most `max_buffered_bytes`.
struct StoreBudget {
    credits: Arc<tokio::sync::Semaphore>,
    total: u32,
}

impl StoreBudget {
    fn new(max_bytes: u64) -> Self {
        let total = u32::try_from((max_bytes / 1024).max(1)).unwrap_or(u32::MAX >> 4);
        let total = total.min(tokio::sync::Semaphore::MAX_PERMITS as u32);
        Self {
            credits: Arc::new(tokio::sync::Semaphore::new(total as usize)),
            total,
        }
    }

    /// Credits for `bytes` of content (an entry larger than the whole budget takes it
    /// all, so it waits until everything before it is stored).
    fn credits_for(&self, bytes: usize) -> u32 {
        u32::try_from(bytes / 1024)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total)
    }
}

/// Closes the byte budget when the storing task ends, so a judging thread waiting
/// for credits gets an error instead of waiting forever.
struct CloseOnDrop(Arc<tokio::sync::Semaphore>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Runs the upload job. Returns the report; an unreadable archive is reported in
/// `fatal_error` with the entries judged so far, and the caller fails the job with it.
///
/// Two stages run at once: a blocking thread judges the entries (its pool extracts
/// PDFs) and hands each verdict, in archive order, to a storing task that keeps the
/// original, the document and its pages. A failure to store (storage or database
/// down) stops judging and fails the run, which the job retries; nothing stored is
/// lost or stored twice (see the module comment).
pub async fn run_upload(ctx: IngestContext) -> anyhow::Result<UploadReport> {
    let state = ctx.state.clone();
    let copy = state.storage.local_copy(&ctx.payload.bundle_key).await?;
    let path: PathBuf = copy.path().to_path_buf();
    let limits = crate::pdf::limits(&state.settings);
    let extractor = crate::pdf::text_extractor(&state.settings)?;
    tracing::debug!(engine = extractor.engine_name(), "pdf text engine");
    // What an earlier run of this job already recorded, in one query.
    let recorded: HashMap<String, String> =
        repo::find_document_ids_by_upload(&state.db.pool, &ctx.org_id, &ctx.job_id)
            .await?
            .into_iter()
            .collect();
    let handle = tokio::runtime::Handle::current();
    let file_name = ctx.payload.file_name.clone();
    let budget = StoreBudget::new(limits.max_buffered_bytes);
    let ctx = Arc::new(ctx);

    let (entries, mut to_store) = tokio::sync::mpsc::channel::<JudgedEntry>(STORE_QUEUE_ENTRIES);
    let storing = tokio::spawn({
        let ctx = Arc::clone(&ctx);
        let credits = Arc::clone(&budget.credits);
        async move {
            // However this task ends, the judging thread must not wait for credits
            // nobody will give back.
            let _closing = CloseOnDrop(credits);
            let mut report = UploadReport::default();
            let mut accepted_since_embed = 0usize;
            while let Some(entry) = to_store.recv().await {
                let outcome = record_entry(&ctx, &recorded, &entry.report, entry.content).await?;
                publish_entry(&ctx, &outcome).await;
                if outcome.verdict == EntryVerdict::Accepted {
                    accepted_since_embed += 1;
                    if accepted_since_embed >= EMBED_EVERY_ACCEPTED {
                        accepted_since_embed = 0;
                        enqueue_early_embedding(&ctx).await;
                    }
                }
                report.push(outcome);
            }
            anyhow::Ok(report)
        }
    });

    let judging = tokio::task::spawn_blocking({
        let ctx = Arc::clone(&ctx);
        move || {
            let mut cancelled = false;
            let mut last_write: Option<Instant> = None;
            let mut unwritten: Option<(f64, String)> = None;
            let result =
                quire_ingest::judge_upload(&path, &file_name, &limits, &extractor, |judged| {
                    if ctx.cancel.is_cancelled() {
                        cancelled = true;
                        return Ok(ControlFlow::Break(()));
                    }
                    let bytes = judged.content.as_ref().map_or(0, |c| c.bytes.len());
                    let credits = handle
                        .block_on(
                            Arc::clone(&budget.credits)
                                .acquire_many_owned(budget.credits_for(bytes)),
                        )
                        .map_err(|_| "the storing task stopped")?;
                    let entry = JudgedEntry {
                        report: judged.report.clone(),
                        content: judged.content,
                        _credits: credits,
                    };
                    // The storing task only hangs up when it failed: stop reading; its
                    // error is the one reported.
                    entries
                        .blocking_send(entry)
                        .map_err(|_| "the storing task stopped")?;
                    let p = judged.progress;
                    let percent = if p.compressed_bytes_total > 0 {
                        p.compressed_bytes_done as f64 * 100.0 / p.compressed_bytes_total as f64
                    } else if p.entries_total > 0 {
                        p.entries_done as f64 * 100.0 / p.entries_total as f64
                    } else {
                        100.0
                    };
                    let update = (
                        percent.min(99.0),
                        format!("{} of {} entries judged", p.entries_done, p.entries_total),
                    );
                    if last_write.is_none_or(|at| at.elapsed() >= PROGRESS_INTERVAL) {
                        (ctx.progress)(update.0, update.1);
                        last_write = Some(Instant::now());
                        unwritten = None;
                    } else {
                        unwritten = Some(update);
                    }
                    Ok(ControlFlow::Continue(()))
                });
            if let Some((percent, message)) = unwritten {
                (ctx.progress)(percent, message);
            }
            drop(copy);
            (result, cancelled)
        }
    });
    let joined = judging.await;
    // The judging closure (and with it the sender) is gone: the storing task ends
    // after the last entry.
    let stored = storing.await?;
    let (result, cancelled) = joined?;
    let mut report = stored?;
    report.cancelled = cancelled;
    if let Err(e) = result {
        report.fatal_error = Some(format!("{}: {}", e.reason.code(), e.reason));
    }
    Ok(report)
}

/// Publishes an entry's verdict as it is stored (after its document is written).
async fn publish_entry(ctx: &IngestContext, outcome: &EntryOutcome) {
    let mut data = serde_json::to_value(outcome).unwrap_or_default();
    if let Some(fields) = data.as_object_mut() {
        fields.insert("job_id".into(), Value::from(ctx.job_id.clone()));
        fields.insert("upload_id".into(), Value::from(ctx.upload_id.clone()));
        fields.insert(
            "workspace_id".into(),
            Value::from(ctx.payload.workspace_id.clone()),
        );
    }
    ctx.state
        .events
        .publish_one(
            &ctx.org_id,
            crate::events::topic::JOBS,
            "upload.entry",
            data,
        )
        .await;
}

/// Starts indexing what is stored so far (joining an embed job that already waits).
/// Advisory: the upload's own follow-up embed job covers whatever this misses.
async fn enqueue_early_embedding(ctx: &IngestContext) {
    let job = crate::workspaces::service::embed_job(&ctx.org_id, &ctx.payload.workspace_id);
    if let Err(e) = crate::jobs::enqueue(&ctx.state.db, job).await {
        tracing::warn!(error = %e, "could not enqueue an early embed job; the upload's follow-up will embed");
    }
}

async fn record_entry(
    ctx: &IngestContext,
    recorded: &HashMap<String, String>,
    entry: &quire_ingest::EntryReport,
    content: Option<quire_ingest::EntryContent>,
) -> Result<EntryOutcome, anyhow::Error> {
    let mut outcome = EntryOutcome {
        path: entry.path.clone(),
        verdict: EntryVerdict::Rejected,
        reason: entry.reason.map(|r| r.code().to_owned()),
        message: entry.message.clone(),
        doc_type: entry.doc_type.map(|t| t.as_str().to_owned()),
        size: entry.inflated_size,
        pages: entry.page_count,
        flags: entry
            .flags
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        document_id: None,
    };
    let (Some(content), Some(doc_type), Some(sha256)) =
        (content, entry.doc_type, entry.sha256.clone())
    else {
        return Ok(outcome);
    };
    let db = &ctx.state.db.pool;
    let org = &ctx.org_id;
    let payload = &ctx.payload;

    // Already recorded by an earlier run of this job.
    if let Some(existing) = recorded.get(&entry.path) {
        outcome.verdict = EntryVerdict::Accepted;
        outcome.document_id = Some(existing.clone());
        return Ok(outcome);
    }
    if let Some(first) = repo::find_document_by_sha(db, org, &payload.workspace_id, &sha256).await?
    {
        outcome.verdict = EntryVerdict::Duplicate;
        outcome.reason = Some("duplicate".into());
        outcome.message = Some(format!(
            "the workspace already holds this content as {}",
            first.archive_path.as_deref().unwrap_or(&first.title)
        ));
        outcome.document_id = Some(first.id);
        return Ok(outcome);
    }

    let document_id = document_id_for(&ctx.job_id, &entry.path);
    let pages: Vec<(i64, String)> = content
        .pages
        .into_iter()
        .map(|p| (i64::from(p.number), p.text))
        .collect();
    let name = entry
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&entry.path)
        .to_owned();
    let new = NewDocument {
        id: document_id.clone(),
        org_id: org.clone(),
        source: DocumentSource::Upload {
            job_id: ctx.job_id.clone(),
            upload_id: ctx.upload_id.clone(),
            archive_path: entry.path.clone(),
            workspace_id: payload.workspace_id.clone(),
        },
        title: name.clone(),
        name,
        doc_type,
        original: Bytes::from(content.bytes),
        page_count: Some(i64::from(entry.page_count.unwrap_or(pages.len() as u32))),
        pages,
        flags: outcome.flags.clone(),
        metadata: payload.metadata.clone(),
        workspace_ids: vec![payload.workspace_id.clone()],
    };
    let (storage_key, inserted) = create_document(&ctx.state, new).await?;
    if inserted {
        outcome.verdict = EntryVerdict::Accepted;
        outcome.document_id = Some(document_id);
    } else if let Some(existing) =
        repo::find_document_by_entry(db, org, &ctx.job_id, &entry.path).await?
    {
        // Another run of this same job (one that lost its lease) recorded the entry
        // meanwhile, under the same key: the original is its, so it stays.
        outcome.verdict = EntryVerdict::Accepted;
        outcome.document_id = Some(existing.id);
    } else {
        // Lost a race with a concurrent upload of the same content.
        ctx.state.storage.delete(&storage_key).await?;
        let first = repo::find_document_by_sha(db, org, &payload.workspace_id, &sha256).await?;
        outcome.verdict = EntryVerdict::Duplicate;
        outcome.reason = Some("duplicate".into());
        outcome.message = Some("the workspace already holds this content".into());
        outcome.document_id = first.map(|d| d.id);
    }
    Ok(outcome)
}
