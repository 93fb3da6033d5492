//! The `statements.extract` job: one extraction, run to its end by
//! [`service::run_extraction`](crate::statements::service::run_extraction).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::jobs::{JobContext, JobError, JobHandler};
use crate::state::AppState;
use crate::statements::service::{RunError, run_extraction};

pub use crate::statements::service::EXTRACT_JOB_TYPE;

#[derive(Debug, Deserialize)]
struct ExtractPayload {
    extraction_id: String,
}

/// Reads a PDF for financial statements.
pub struct ExtractStatements(pub AppState);

impl JobHandler for ExtractStatements {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let payload: ExtractPayload = ctx.payload_as()?;
        ctx.check_cancelled()?;
        // Progress is advisory: a lost update must not fail the extraction.
        let _ = ctx.report_progress(10.0, "reading the PDF").await;
        match run_extraction(&self.0, ctx.org_id(), &payload.extraction_id).await {
            Ok(statements) => Ok(json!({
                "extraction_id": payload.extraction_id,
                "statements": statements,
            })),
            Err(RunError::Gone) => Err(JobError::Permanent(
                "the extraction no longer exists".into(),
            )),
            // The extraction row already says why; the PDF will not read better later.
            Err(RunError::Failed(reason)) => Err(JobError::Permanent(reason)),
            Err(RunError::Transient(reason)) => Err(JobError::Retryable(reason)),
            Err(RunError::Db(e)) => Err(e.into()),
        }
    }
}
