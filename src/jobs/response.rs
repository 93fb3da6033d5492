//! A job as the API shows it (`JobResponse`, its `links`), shared by the job routes,
//! their event stream and every capability whose endpoints answer with a job.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::jobs::model::{JobStatus, ProgressSample, estimated_completion_ms};
use crate::jobs::repo::JobRow;
use crate::time::{ms_to_rfc3339, now_ms};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub cancel: String,
    /// Server-Sent Events of state and progress changes.
    pub events: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobResponse {
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: JobStatus,
    pub workspace_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// What the handler returned, once `succeeded`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The last attempt's error (kept when the job ends `failed`).
    pub error: Option<String>,
    /// Percent done, 0–100.
    pub progress: f64,
    pub progress_message: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    pub max_attempts: u32,
    /// A cancel was asked for; a running job stops at its next check.
    pub cancel_requested: bool,
    /// Not run before this time (later than `created_at` while waiting for a retry).
    pub run_at: String,
    pub created_at: String,
    /// When the current (or last) attempt started.
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub updated_at: String,
    /// When a running job will probably finish, from the progress rate observed so far;
    /// `null` until it can be estimated.
    pub estimated_completion: Option<String>,
    pub links: JobLinks,
}

pub fn links(id: &str) -> JobLinks {
    JobLinks {
        self_: format!("/api/v1/jobs/{id}"),
        cancel: format!("/api/v1/jobs/{id}/cancel"),
        events: format!("/api/v1/jobs/{id}/events"),
    }
}

/// Payload keys that are the server's own business (where a bundle is stored): not shown.
const INTERNAL_PAYLOAD_KEYS: &[&str] = &["bundle_key"];

fn public_payload(mut payload: Value) -> Value {
    if let Some(map) = payload.as_object_mut() {
        for key in INTERNAL_PAYLOAD_KEYS {
            map.remove(*key);
        }
    }
    payload
}

impl JobResponse {
    pub fn from_row(row: &JobRow, default_max_attempts: u32) -> Self {
        let status = row.status();
        let eta = estimated_completion_ms(
            ProgressSample {
                status,
                progress: row.progress,
                progress_at_start: row.progress_at_start,
                started_at: row.started_at,
                progress_updated_at: row.progress_updated_at,
            },
            now_ms(),
        );
        Self {
            id: row.id.clone(),
            job_type: row.job_type.clone(),
            status,
            workspace_id: row.workspace_id.clone(),
            payload: public_payload(row.payload_json()),
            result: row.result_json(),
            error: row.error.clone(),
            progress: row.progress,
            progress_message: row.progress_message.clone(),
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            max_attempts: row
                .max_attempts
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(default_max_attempts),
            cancel_requested: row.cancel_requested == 1,
            run_at: ms_to_rfc3339(row.run_at),
            created_at: ms_to_rfc3339(row.created_at),
            started_at: row.started_at.map(ms_to_rfc3339),
            completed_at: row.completed_at.map(ms_to_rfc3339),
            updated_at: ms_to_rfc3339(row.updated_at),
            estimated_completion: eta.map(ms_to_rfc3339),
            links: links(&row.id),
        }
    }
}
