//! `/api/v1/jobs`: list, read, cancel, delete, clean up, follow. Viewers read; members
//! cancel and delete their organisation's jobs; admins clean up. Another organisation's
//! job is a 404 on every route, never a 403.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiQuery, ListParams, Page, parse_json_body};
use crate::jobs::model::JobStatus;
use crate::jobs::repo::{self, CancelOutcome, CleanupScope, DeleteOutcome, JobFilter, JobRow};
use crate::jobs::response::JobResponse;
use crate::jobs::{events, signals};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339_to_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job, delete_job))
        .routes(routes!(cancel_job))
        .routes(routes!(cleanup_jobs))
        .routes(routes!(events::job_events))
}

/// Where to go next from a job.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilters {
    /// Only jobs of this type, e.g. `documents.upload`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    /// Only jobs in this state: queued, running, succeeded, failed or cancelled.
    #[param(schema_with = crate::docs::contract::job_status_schema)]
    pub status: Option<String>,
    pub workspace_id: Option<String>,
    /// Only jobs created before this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// Only jobs created after this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_after: Option<String>,
}

impl JobFilters {
    fn parse(self) -> Result<JobFilter, ApiError> {
        let time = |field: &str, value: Option<String>| -> Result<Option<i64>, ApiError> {
            value
                .map(|v| {
                    rfc3339_to_ms(&v).ok_or_else(|| {
                        ApiError::invalid_field(
                            field,
                            "must be an RFC 3339 time such as 2024-05-01T12:00:00Z",
                        )
                    })
                })
                .transpose()
        };
        Ok(JobFilter {
            status: self
                .status
                .map(|s| s.parse::<JobStatus>())
                .transpose()
                .map_err(|e| ApiError::invalid_field("status", e))?,
            job_type: self.job_type,
            workspace_id: self.workspace_id,
            created_before: time("created_before", self.created_before)?,
            created_after: time("created_after", self.created_after)?,
        })
    }
}

/// The organisation's jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(ListParams, JobFilters),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<JobResponse>),
              (status = 422, body = crate::error::ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(filters): ApiQuery<JobFilters>,
) -> ApiResult<Json<Page<JobResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    let filter = filters.parse()?;
    let (rows, total) = repo::list_jobs(
        &state.db.pool,
        &principal.org_id,
        &filter,
        window.limit,
        window.offset,
    )
    .await?;
    let default = state.settings.job_max_attempts;
    let page = Page::new(rows, total, window).map(|row| JobResponse::from_row(&row, default));
    Ok(Json(page))
}

/// One job, with its progress, estimated completion and links.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = JobResponse),
              (status = 404, body = crate::error::ErrorBody)))]
async fn get_job(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<JobResponse>> {
    principal.require(Role::Viewer)?;
    let row = repo::find_job(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("job"))?;
    Ok(Json(JobResponse::from_row(
        &row,
        state.settings.job_max_attempts,
    )))
}

/// Cancels a job. A queued job is `cancelled` at once (`200`); a running job is asked to
/// stop and ends `cancelled` at its next check (`202`, `cancel_requested: true`).
/// Cancelling a cancelled job is a no-op; a succeeded or failed job is `409`.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = JobResponse, description = "cancelled"),
              (status = 202, body = JobResponse, description = "cancellation requested"),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn cancel_job(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    principal.require(Role::Member)?;
    let (status, row) = cancel(&state, &principal.org_id, &id).await?;
    Ok((
        status,
        Json(JobResponse::from_row(&row, state.settings.job_max_attempts)),
    ))
}

/// Cancels a job of `org_id`: `200` when it is (now) cancelled, `202` when its worker was
/// asked to stop; `404` for another organisation's job, `409` for a finished one.
pub async fn cancel(state: &AppState, org_id: &str, id: &str) -> ApiResult<(StatusCode, JobRow)> {
    let pool = &state.db.pool;
    let outcome = repo::request_cancel(pool, org_id, id).await?;
    let cancelled_now = matches!(outcome, CancelOutcome::CancelledNow);
    let status = match outcome {
        CancelOutcome::NotFound => return Err(ApiError::NotFound("job")),
        CancelOutcome::AlreadyFinished(JobStatus::Cancelled) => StatusCode::OK,
        CancelOutcome::AlreadyFinished(status) => {
            return Err(ApiError::Conflict(format!(
                "the job already finished ({status}); only queued and running jobs can be cancelled"
            )));
        }
        CancelOutcome::CancelledNow => {
            signals::job_changed(id);
            StatusCode::OK
        }
        CancelOutcome::Requested => {
            // Reaches the handler at once when it runs here; other processes see the flag
            // at their next check.
            signals::cancel_running(id);
            signals::job_changed(id);
            StatusCode::ACCEPTED
        }
    };
    let row = repo::find_job(pool, org_id, id)
        .await?
        .ok_or(ApiError::NotFound("job"))?;
    if cancelled_now {
        // Cancelled while it waited: no worker will report it.
        state
            .events
            .publish_one(
                org_id,
                crate::events::topic::JOBS,
                "job.cancelled",
                serde_json::json!({
                    "job_id": row.id,
                    "job_type": row.job_type,
                    "workspace_id": row.workspace_id,
                    "error": null,
                }),
            )
            .await;
    }
    let status = if row.status() == JobStatus::Cancelled {
        StatusCode::OK
    } else {
        status
    };
    Ok((status, row))
}

/// Deletes a finished job (succeeded, failed or cancelled); `409` while it is queued or
/// running — cancel it first.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "deleted"),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn delete_job(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    match repo::delete_finished_job(&state.db.pool, &principal.org_id, &id).await? {
        DeleteOutcome::Deleted => Ok(StatusCode::NO_CONTENT),
        DeleteOutcome::NotFound => Err(ApiError::NotFound("job")),
        DeleteOutcome::NotFinished(status) => Err(ApiError::Conflict(format!(
            "the job is {status}; only finished jobs can be deleted (cancel it first)"
        ))),
    }
}

/// A hundred years: any larger age keeps every job, and the cutoff must stay a valid time.
const MAX_CLEANUP_DAYS: u32 = 36_500;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupRequest {
    /// Remove finished jobs older than this many days (default `JOB_CLEANUP_DAYS`; 0 removes
    /// every finished job; at most 36500).
    #[schema(maximum = 36500)]
    pub older_than_days: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CleanupResponse {
    pub deleted: u64,
    pub older_than_days: u32,
}

/// Removes the organisation's finished jobs that completed more than `older_than_days`
/// ago (default `JOB_CLEANUP_DAYS`). Admins only. The body is optional.
#[utoipa::path(post, path = "/api/v1/jobs/cleanup", tag = "jobs",
    request_body(content = Option<CleanupRequest>, content_type = "application/json"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CleanupResponse),
              (status = 403, body = crate::error::ErrorBody)))]
async fn cleanup_jobs(
    State(state): State<AppState>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<Json<CleanupResponse>> {
    principal.require(Role::Admin)?;
    let request: CleanupRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CleanupRequest::default()
    } else {
        // `null` is what the document's optional body allows too.
        parse_json_body::<Option<CleanupRequest>>(&body)?.unwrap_or_default()
    };
    if request
        .older_than_days
        .is_some_and(|d| d > MAX_CLEANUP_DAYS)
    {
        return Err(ApiError::invalid_field(
            "older_than_days",
            format!("must be at most {MAX_CLEANUP_DAYS}"),
        ));
    }
    let days = request
        .older_than_days
        .unwrap_or(state.settings.job_cleanup_days);
    let cutoff = now_ms() - i64::from(days) * 86_400_000;
    let deleted = repo::delete_finished_jobs_before(
        &state.db.pool,
        CleanupScope::Organisation(&principal.org_id),
        // `<` in the query: with 0 days, include jobs completed this very millisecond.
        if days == 0 { cutoff + 1 } else { cutoff },
    )
    .await?;
    Ok(Json(CleanupResponse {
        deleted,
        older_than_days: days,
    }))
}
