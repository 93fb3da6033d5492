//! The job handlers of documents: processing an upload, and embedding a workspace's
//! documents on its backend.

use serde_json::{Value, json};

use crate::backends::{BackendError, BackendKind, DocumentForBackend};
use crate::documents::ingest::{IngestContext, UploadPayload, run_upload};
use crate::documents::model::EmbedStatus;
use crate::documents::repo;
use crate::jobs::{JobContext, JobError, JobHandler};
use crate::state::AppState;
use crate::workspaces::repo::find_workspace;

pub use crate::documents::ingest::UPLOAD_JOB_TYPE;
pub use crate::workspaces::service::EMBED_JOB_TYPE;

/// Documents handed to a backend per round, so progress moves and a crash loses little.
const EMBED_BATCH: i64 = 16;

pub struct ProcessUpload(pub AppState);

impl JobHandler for ProcessUpload {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let state = &self.0;
        let payload: UploadPayload = ctx.payload_as()?;
        let handle = tokio::runtime::Handle::current();
        let progress_ctx = ctx.clone();
        let report = run_upload(IngestContext {
            state: state.clone(),
            org_id: ctx.org_id().to_owned(),
            job_id: ctx.job_id().to_owned(),
            upload_id: payload.upload_id.clone(),
            payload: payload.clone(),
            cancel: ctx.cancellation_token(),
            progress: Box::new(move |percent, message| {
                // Progress is advisory: a lost update must not fail the upload.
                let _ = handle.block_on(progress_ctx.report_progress(percent, message));
            }),
        })
        .await
        .map_err(|e| JobError::Retryable(format!("{e:#}")))?;
        let result =
            serde_json::to_value(&report).map_err(|e| JobError::Permanent(e.to_string()))?;
        // Whatever happens next, the per-entry report stays readable on the job.
        ctx.save_checkpoint(&json!({ "report": result })).await?;
        if report.cancelled {
            return Err(JobError::Cancelled);
        }
        if let Some(fatal) = &report.fatal_error {
            return Err(JobError::Permanent(format!(
                "the archive could not be read: {fatal}"
            )));
        }
        if report.by_verdict.get("accepted").copied().unwrap_or(0) > 0 {
            // Enqueued with the upload's success, in its transaction.
            ctx.enqueue_on_success(crate::workspaces::service::embed_job(
                ctx.org_id(),
                &payload.workspace_id,
            ));
        }
        Ok(result)
    }
}

pub struct EmbedDocuments(pub AppState);

impl JobHandler for EmbedDocuments {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let state = &self.0;
        let workspace_id = ctx
            .payload()
            .get("workspace_id")
            .and_then(Value::as_str)
            .ok_or_else(|| JobError::Permanent("payload lacks workspace_id".into()))?
            .to_owned();
        let org = ctx.org_id().to_owned();
        let Some(ws) = find_workspace(&state.db.pool, &org, &workspace_id).await? else {
            return Err(JobError::Permanent("the workspace no longer exists".into()));
        };
        let total =
            repo::count_documents_in_status(&state.db.pool, &org, &ws.id, EmbedStatus::Extracted)
                .await?;
        let (mut embedded, mut failed) = (0usize, 0usize);
        loop {
            ctx.check_cancelled()?;
            let batch = repo::documents_in_status(
                &state.db.pool,
                &org,
                &ws.id,
                EmbedStatus::Extracted,
                EMBED_BATCH,
            )
            .await?;
            if batch.is_empty() {
                break;
            }
            let mut docs = Vec::with_capacity(batch.len());
            for row in batch {
                let pages = repo::document_pages(&state.db.pool, &row).await?;
                let original = if ws.backend_kind() == BackendKind::Anythingllm {
                    Some(
                        state
                            .storage
                            .get_bytes(&row.storage_key)
                            .await
                            .map_err(|e| JobError::Retryable(e.to_string()))?,
                    )
                } else {
                    None
                };
                docs.push(DocumentForBackend {
                    row,
                    pages,
                    original,
                });
            }
            let results = state
                .backends
                .add_documents(&ws, docs)
                .await
                .map_err(|e| match e {
                    BackendError::Unavailable(m) => JobError::Retryable(m),
                    other => JobError::Permanent(other.to_string()),
                })?;
            for r in results {
                match r.location {
                    Ok(location) => {
                        repo::set_embed_status(
                            &state.db.pool,
                            &org,
                            &ws.id,
                            &r.document_id,
                            EmbedStatus::Embedded,
                            location.as_deref(),
                            None,
                        )
                        .await?;
                        embedded += 1;
                    }
                    Err(reason) => {
                        repo::set_embed_status(
                            &state.db.pool,
                            &org,
                            &ws.id,
                            &r.document_id,
                            EmbedStatus::EmbedFailed,
                            None,
                            Some(&reason),
                        )
                        .await?;
                        failed += 1;
                    }
                }
            }
            let done = embedded + failed;
            let percent = if total > 0 {
                done as f64 * 100.0 / total as f64
            } else {
                100.0
            };
            ctx.report_progress(
                percent.min(99.0),
                format!("{done} of {total} documents embedded"),
            )
            .await?;
        }
        Ok(json!({ "workspace_id": ws.id, "embedded": embedded, "failed": failed }))
    }
}
