//! Question sets (`/question-sets`), runs (`/questions/execute`, `/questions/jobs/...`)
//! and a workspace's baseline run. Viewers read; members create, change and run.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ApiQuery, ListParams, Page};
use crate::jobs::JobStatus;
use crate::questions::model::{
    ExecuteAccepted, ExecuteRequest, QuestionSetRequest, QuestionSetResponse, ResultResponse,
    RunResponse, SetBaselineRequest,
};
use crate::questions::repo::{self, QuestionSetRow};
use crate::questions::service;
use crate::state::AppState;
use crate::time::now_ms;
use crate::workspaces::model::WorkspaceResponse;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_question_set, list_question_sets))
        .routes(routes!(
            get_question_set,
            replace_question_set,
            delete_question_set
        ))
        .routes(routes!(execute_questions))
        .routes(routes!(get_question_run))
        .routes(routes!(get_question_results))
        .routes(routes!(compare_question_runs))
        .routes(routes!(set_workspace_baseline))
}

/// Stores a question set, from inline questions or from a JSON, CSV or promptfoo YAML
/// file sent as `format` + `content`. A file that cannot be read is a `400` whose
/// message and `details` name the line.
#[utoipa::path(post, path = "/api/v1/question-sets", tag = "questions",
    request_body = QuestionSetRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = QuestionSetResponse),
              (status = 400, body = crate::error::ErrorBody, description = "the file could not be read; details: line, column, path, format"),
              (status = 422, body = crate::error::ErrorBody)))]
async fn create_question_set(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<QuestionSetRequest>,
) -> ApiResult<(StatusCode, Json<QuestionSetResponse>)> {
    principal.require(Role::Member)?;
    let parsed = request.into_parsed()?;
    let now = now_ms();
    let row = QuestionSetRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: principal.org_id.clone(),
        name: parsed.name,
        description: parsed.description,
        question_count: parsed.questions.len() as i64,
        questions: service::questions_json(&parsed.questions)?,
        created_at: now,
        updated_at: now,
    };
    repo::insert_question_set(&state.db.pool, &row).await?;
    Ok((StatusCode::CREATED, Json(service::set_response(row)?)))
}

/// Question sets of the organisation, newest first.
#[utoipa::path(get, path = "/api/v1/question-sets", tag = "questions",
    params(ListParams),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<QuestionSetResponse>)))]
async fn list_question_sets(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
) -> ApiResult<Json<Page<QuestionSetResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    let (rows, total) = repo::list_question_sets(&state.db.pool, &principal.org_id, window).await?;
    let items = rows
        .into_iter()
        .map(service::set_response)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page::new(items, total, window)))
}

async fn find_set(state: &AppState, principal: &Principal, id: &str) -> ApiResult<QuestionSetRow> {
    repo::find_question_set(&state.db.pool, &principal.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("question set"))
}

/// One question set with its questions.
#[utoipa::path(get, path = "/api/v1/question-sets/{id}", tag = "questions",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = QuestionSetResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_question_set(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<QuestionSetResponse>> {
    principal.require(Role::Viewer)?;
    Ok(Json(service::set_response(
        find_set(&state, &principal, &id).await?,
    )?))
}

/// Replaces a question set (same body as creating one). Runs already started keep the
/// questions they were started with.
#[utoipa::path(put, path = "/api/v1/question-sets/{id}", tag = "questions",
    params(("id" = String, Path)), request_body = QuestionSetRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = QuestionSetResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn replace_question_set(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<QuestionSetRequest>,
) -> ApiResult<Json<QuestionSetResponse>> {
    principal.require(Role::Member)?;
    let mut row = find_set(&state, &principal, &id).await?;
    let parsed = request.into_parsed()?;
    row.name = parsed.name;
    row.description = parsed.description;
    row.question_count = parsed.questions.len() as i64;
    row.questions = service::questions_json(&parsed.questions)?;
    row.updated_at = now_ms();
    if !repo::update_question_set(&state.db.pool, &row).await? {
        return Err(ApiError::NotFound("question set"));
    }
    Ok(Json(service::set_response(row)?))
}

/// Deletes a question set; runs made from it keep their questions.
#[utoipa::path(delete, path = "/api/v1/question-sets/{id}", tag = "questions",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "deleted"), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_question_set(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    if repo::delete_question_set(&state.db.pool, &principal.org_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("question set"))
    }
}

/// Starts a scored run of questions against a workspace, as a job: a stored set
/// (`question_set_id`), inline `questions`, or a file (`question_set`). Poll
/// `links.status`; results page through `links.results`.
#[utoipa::path(post, path = "/api/v1/questions/execute", tag = "questions",
    request_body = ExecuteRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = ExecuteAccepted), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn execute_questions(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<ExecuteRequest>,
) -> ApiResult<(StatusCode, Json<ExecuteAccepted>)> {
    principal.require(Role::Member)?;
    let accepted = service::start_run(&state, &principal, request).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// A run: job status, progress, estimated completion, answered/passed/failed, pass
/// rate, and (once finished) its flips against the workspace's baseline.
#[utoipa::path(get, path = "/api/v1/questions/jobs/{id}", tag = "questions",
    params(("id" = String, Path, description = "The run's job id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = RunResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_question_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RunResponse>> {
    principal.require(Role::Viewer)?;
    let (job, run) = service::find_run(&state, &principal.org_id, &id).await?;
    Ok(Json(service::run_response(&state, &job, &run).await?))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResultsFormat {
    #[default]
    Json,
    Csv,
    Xlsx,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// Only successful (`true`) or unsuccessful (`false`) results.
    pub success: Option<bool>,
    /// `json` (a page, default), or `csv` / `xlsx`: a download of every result
    /// (`limit` and `offset` ignored), formula-like cells neutralised.
    #[param(inline)]
    pub format: Option<ResultsFormat>,
}

/// A run's results in question order; `?format=csv|xlsx` downloads them all.
#[utoipa::path(get, path = "/api/v1/questions/jobs/{id}/results", tag = "questions",
    params(("id" = String, Path), ListParams, ResultsQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<ResultResponse>, description = "JSON page, or a text/csv or xlsx attachment"),
              (status = 404, body = crate::error::ErrorBody)))]
async fn get_question_results(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> ApiResult<Response> {
    principal.require(Role::Viewer)?;
    let (_, run) = service::find_run(&state, &principal.org_id, &id).await?;
    let pool = &state.db.pool;
    match query.format.unwrap_or_default() {
        ResultsFormat::Json => {
            let window = list.window()?;
            let (rows, total) =
                repo::list_results(pool, &run.org_id, &run.id, query.success, Some(window)).await?;
            let items = rows.into_iter().map(service::result_response).collect();
            Ok(Json(Page::new(items, total, window)).into_response())
        }
        format => {
            let (rows, _) =
                repo::list_results(pool, &run.org_id, &run.id, query.success, None).await?;
            let rows: Vec<_> = rows.into_iter().map(service::export_row).collect();
            let (body, content_type, ext) = match format {
                ResultsFormat::Csv => (
                    quire_evals::to_csv(&rows).into_bytes(),
                    "text/csv; charset=utf-8",
                    "csv",
                ),
                _ => (
                    quire_evals::to_xlsx(&rows).map_err(|e| ApiError::Internal(e.into()))?,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "xlsx",
                ),
            };
            Ok((
                [
                    (header::CONTENT_TYPE, content_type.to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        crate::http::disposition::attachment(&format!("results-{}.{ext}", run.id)),
                    ),
                ],
                body,
            )
                .into_response())
        }
    }
}

/// Compares run `a` (before) with run `b` (after), question by question: pass→fail,
/// fail→pass, confidence change, answer changed; and totals.
#[utoipa::path(get, path = "/api/v1/questions/jobs/{a}/compare/{b}", tag = "questions",
    params(("a" = String, Path, description = "The earlier run"), ("b" = String, Path, description = "The later run")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Object, description = "quire-evals Comparison: per_question and totals"),
              (status = 404, body = crate::error::ErrorBody)))]
async fn compare_question_runs(
    State(state): State<AppState>,
    principal: Principal,
    Path((a, b)): Path<(String, String)>,
) -> ApiResult<Json<quire_evals::Comparison>> {
    principal.require(Role::Viewer)?;
    Ok(Json(
        service::compare_runs(&state, &principal.org_id, &a, &b).await?,
    ))
}

/// Marks a finished run of this workspace as its baseline: later runs report their
/// flips against it.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/baseline", tag = "questions",
    params(("id" = String, Path, description = "Workspace id")), request_body = SetBaselineRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = WorkspaceResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "the run is not a finished run of this workspace")))]
async fn set_workspace_baseline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SetBaselineRequest>,
) -> ApiResult<Json<WorkspaceResponse>> {
    principal.require(Role::Member)?;
    let ws = crate::workspaces::service::find(&state, &principal, &id).await?;
    let (job, run) = service::find_run(&state, &principal.org_id, &request.run_id).await?;
    if run.workspace_id != ws.id {
        return Err(ApiError::Conflict(
            "the run belongs to another workspace".into(),
        ));
    }
    if job.status() != JobStatus::Succeeded {
        return Err(ApiError::Conflict(format!(
            "only a finished run can be the baseline; this one is {}",
            job.status()
        )));
    }
    repo::set_baseline(&state.db.pool, &principal.org_id, &ws.id, Some(&run.id)).await?;
    let ws = crate::workspaces::service::find(&state, &principal, &id).await?;
    let count =
        crate::documents::repo::count_documents(&state.db.pool, &principal.org_id, &ws.id).await?;
    Ok(Json(WorkspaceResponse::from_row(ws, count)))
}
