//! Upload endpoints: `POST /documents/upload` and the upload jobs (seed 000's document
//! router): list, status with the per-entry report, cancel.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::documents::ingest::UPLOAD_JOB_TYPE;
use crate::documents::upload::receive_upload;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiQuery, ListParams, Page};
use crate::jobs::repo::{JobFilter, JobRow};
use crate::jobs::response::JobResponse;
use crate::jobs::routes::cancel;
use crate::jobs::{NewJob, enqueue};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // Uploads are bounded by MAX_FILE_SIZE while streaming, not by the JSON body limit.
        .routes(routes!(upload_documents).layer(DefaultBodyLimit::disable()))
        .routes(routes!(list_upload_jobs))
        .routes(routes!(get_upload_job, cancel_upload_job))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadLinks {
    /// `GET` this for progress and the per-entry report.
    pub status: String,
    /// `POST` this to cancel (the same link as the job's own and its events').
    pub cancel: String,
    /// Server-Sent Events of progress.
    pub events: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadAccepted {
    pub job_id: String,
    pub status: String,
    pub progress: f64,
    pub estimated_completion: Option<String>,
    pub file_name: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub links: UploadLinks,
}

fn upload_links(id: &str) -> UploadLinks {
    UploadLinks {
        status: format!("/api/v1/documents/jobs/{id}"),
        cancel: crate::jobs::response::links(id).cancel,
        events: format!("/api/v1/jobs/{id}/events"),
    }
}

/// The form of an upload (`multipart/form-data`); other fields are ignored.
#[derive(ToSchema)]
#[allow(dead_code)] // the form is read field by field (`documents::upload`)
pub struct UploadForm {
    /// The bundle: a ZIP, or one PDF, JSON or CSV file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The workspace to put the documents in.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    workspace_id: String,
    /// A JSON object kept with each document (at most 64 KiB).
    #[schema(content_media_type = "application/json")]
    metadata: Option<String>,
}

/// Uploads a ZIP bundle (or a single PDF, JSON or CSV file) into a workspace. The body is
/// streamed to storage; processing runs as a job. Multipart fields: `file`,
/// `workspace_id`, optional `metadata` (a JSON object).
#[utoipa::path(post, path = "/api/v1/documents/upload", tag = "documents",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = UploadAccepted),
              (status = 404, body = crate::error::ErrorBody, description = "unknown workspace"),
              (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn upload_documents(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<UploadAccepted>)> {
    principal.require(Role::Member)?;
    let multipart = multipart.map_err(|rejection| {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if is_form {
            ApiError::bad_request(format!(
                "malformed multipart body: {}",
                rejection.body_text()
            ))
        } else {
            ApiError::UnsupportedMediaType(
                "expected a multipart/form-data body (fields file, workspace_id, metadata)".into(),
            )
        }
    })?;
    let limit = state.settings.max_file_size.0;
    // A declared length far past the limit is refused before a byte is read.
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit.saturating_add(1 << 20)
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "the upload is larger than the {limit}-byte limit (MAX_FILE_SIZE)"
        )));
    }
    let upload_id = uuid::Uuid::now_v7().to_string();
    let received = receive_upload(&state, &principal, &upload_id, multipart).await?;
    let payload =
        serde_json::to_value(&received.payload).map_err(|e| ApiError::Internal(e.into()))?;
    let mut job = NewJob::new(&principal.org_id, UPLOAD_JOB_TYPE, payload);
    job.workspace_id = Some(received.payload.workspace_id.clone());
    let row = match enqueue(&state.db, job).await {
        Ok(row) => row,
        Err(e) => {
            let _ = state.storage.delete(&received.payload.bundle_key).await;
            return Err(ApiError::Internal(e.into()));
        }
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadAccepted {
            links: upload_links(&row.id),
            job_id: row.id,
            status: "queued".into(),
            progress: 0.0,
            estimated_completion: None,
            file_name: received.payload.file_name,
            size_bytes: received.payload.size,
            sha256: received.payload.sha256,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadJobResponse {
    #[serde(flatten)]
    pub job: JobResponse,
    /// The per-entry report: final once the job ends, partial while it runs or when the
    /// archive turned out unreadable.
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
}

/// The job with its report. A finished job's result *is* the report: it is shown once,
/// as `report`, and `result` stays `null` rather than repeat it. `links` are the job's
/// own, as in its event stream.
fn with_report(state: &AppState, row: &JobRow) -> UploadJobResponse {
    let mut job = JobResponse::from_row(row, state.settings.job_max_attempts);
    let report = match job.result.take() {
        Some(result) if result.get("entries").is_some() => Some(result),
        other => {
            job.result = other;
            row.checkpoint_json().and_then(|c| c.get("report").cloned())
        }
    };
    UploadJobResponse { job, report }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadJobFilters {
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[param(schema_with = crate::docs::contract::job_status_schema)]
    pub status: Option<String>,
    pub workspace_id: Option<String>,
    /// RFC 3339.
    #[param(format = DateTime)]
    pub created_after: Option<String>,
    /// RFC 3339.
    #[param(format = DateTime)]
    pub created_before: Option<String>,
}

/// Upload jobs of the organisation, newest first.
#[utoipa::path(get, path = "/api/v1/documents/jobs", tag = "documents",
    params(ListParams, UploadJobFilters),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<UploadJobResponse>)))]
async fn list_upload_jobs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(filters): ApiQuery<UploadJobFilters>,
) -> ApiResult<Json<Page<UploadJobResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    let time = |field: &str, v: &Option<String>| -> ApiResult<Option<i64>> {
        v.as_deref()
            .map(|s| {
                crate::time::rfc3339_to_ms(s)
                    .ok_or_else(|| ApiError::invalid_field(field, "must be an RFC 3339 timestamp"))
            })
            .transpose()
    };
    let status = filters
        .status
        .as_deref()
        .map(|s| {
            s.parse().map_err(|_| {
                ApiError::invalid_field(
                    "status",
                    "must be queued, running, succeeded, failed or cancelled",
                )
            })
        })
        .transpose()?;
    let filter = JobFilter {
        job_type: Some(UPLOAD_JOB_TYPE.to_owned()),
        status,
        workspace_id: filters.workspace_id.clone(),
        created_after: time("created_after", &filters.created_after)?,
        created_before: time("created_before", &filters.created_before)?,
    };
    let (rows, total) = crate::jobs::repo::list_jobs(
        &state.db.pool,
        &principal.org_id,
        &filter,
        window.limit,
        window.offset,
    )
    .await?;
    let items = rows.iter().map(|r| with_report(&state, r)).collect();
    Ok(Json(Page::new(items, total, window)))
}

async fn find_upload_job(state: &AppState, principal: &Principal, id: &str) -> ApiResult<JobRow> {
    crate::jobs::repo::find_job(&state.db.pool, &principal.org_id, id)
        .await?
        .filter(|j| j.job_type == UPLOAD_JOB_TYPE)
        .ok_or(ApiError::NotFound("upload job"))
}

/// An upload job: status, progress, estimated completion, and the per-entry report.
#[utoipa::path(get, path = "/api/v1/documents/jobs/{id}", tag = "documents",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UploadJobResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_upload_job(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadJobResponse>> {
    principal.require(Role::Viewer)?;
    let row = find_upload_job(&state, &principal, &id).await?;
    Ok(Json(with_report(&state, &row)))
}

/// Cancels an upload job: it stops between entries; accepted documents stay.
#[utoipa::path(delete, path = "/api/v1/documents/jobs/{id}", tag = "documents",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UploadJobResponse), (status = 202, body = UploadJobResponse),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn cancel_upload_job(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<UploadJobResponse>)> {
    principal.require(Role::Member)?;
    find_upload_job(&state, &principal, &id).await?;
    let (status, row) = cancel(&state, &principal.org_id, &id).await?;
    Ok((status, Json(with_report(&state, &row))))
}
