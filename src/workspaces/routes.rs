//! Workspace endpoints: create-or-reuse, list, read, update, delete, embed, chat.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::backends::BackendKind;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ApiQuery, ListParams, Page};
use crate::jobs::response::JobResponse;
use crate::state::AppState;
use crate::workspaces::model::{
    ChatRequest, ChatResponse, CreateWorkspaceRequest, UpdateWorkspaceRequest, WorkspaceResponse,
};
use crate::workspaces::repo::{self, WorkspaceFilter};
use crate::workspaces::service;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_workspace, list_workspaces))
        .routes(routes!(get_workspace, update_workspace, delete_workspace))
        .routes(routes!(embed_workspace))
        .routes(routes!(chat_in_workspace))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkspaceListQuery {
    /// Only workspaces on this backend.
    pub backend: Option<BackendKind>,
    /// Only workspaces whose name contains this text (case-insensitive).
    pub q: Option<String>,
}

/// Creates a workspace, or with `reuse_existing` returns the one of that name (200).
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces",
    request_body = CreateWorkspaceRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = WorkspaceResponse), (status = 200, body = WorkspaceResponse),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_workspace(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateWorkspaceRequest>,
) -> ApiResult<(StatusCode, Json<WorkspaceResponse>)> {
    principal.require(Role::Member)?;
    let (row, created) = service::create_or_reuse(&state, &principal, request).await?;
    let count =
        crate::documents::repo::count_documents(&state.db.pool, &principal.org_id, &row.id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(WorkspaceResponse::from_row(row, count))))
}

/// Workspaces of the organisation, newest first.
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces",
    params(ListParams, WorkspaceListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<WorkspaceResponse>)))]
async fn list_workspaces(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<WorkspaceListQuery>,
) -> ApiResult<Json<Page<WorkspaceResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    let filter = WorkspaceFilter {
        backend: query.backend.map(|b| b.as_str().to_owned()),
        name_contains: query.q,
    };
    let (rows, total) =
        repo::list_workspaces(&state.db.pool, &principal.org_id, &filter, window).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let count =
            crate::documents::repo::count_documents(&state.db.pool, &principal.org_id, &row.id)
                .await?;
        items.push(WorkspaceResponse::from_row(row, count));
    }
    Ok(Json(Page::new(items, total, window)))
}

/// One workspace with its document count and status.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = WorkspaceResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_workspace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceResponse>> {
    principal.require(Role::Viewer)?;
    let row = service::find(&state, &principal, &id).await?;
    let count =
        crate::documents::repo::count_documents(&state.db.pool, &principal.org_id, &row.id).await?;
    Ok(Json(WorkspaceResponse::from_row(row, count)))
}

/// Changes the fields given, here and on the backend.
#[utoipa::path(put, path = "/api/v1/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path)), request_body = UpdateWorkspaceRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = WorkspaceResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "another workspace has that name, or one differing only in case or punctuation", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn update_workspace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateWorkspaceRequest>,
) -> ApiResult<Json<WorkspaceResponse>> {
    principal.require(Role::Member)?;
    let row = service::update(&state, &principal, &id, request).await?;
    let count =
        crate::documents::repo::count_documents(&state.db.pool, &principal.org_id, &row.id).await?;
    Ok(Json(WorkspaceResponse::from_row(row, count)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteWorkspaceQuery {
    /// Delete even while jobs of the workspace run (they are cancelled).
    #[serde(default)]
    pub force: bool,
}

/// Deletes the workspace, its documents and its backend counterpart. `409` while its
/// jobs run, unless `force=true`.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path), DeleteWorkspaceQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_workspace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeleteWorkspaceQuery>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    service::delete(&state, &principal, &id, query.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a job that hands documents not yet embedded to the backend.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/embed", tag = "workspaces",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = JobResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn embed_workspace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<JobResponse>)> {
    principal.require(Role::Member)?;
    let row = service::find(&state, &principal, &id).await?;
    let job = service::enqueue_embedding(&state, &principal.org_id, &row.id).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Answers one message at once, with its sources; optionally in a thread, optionally
/// restricted to some documents or document types.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/chat", tag = "workspaces",
    params(("id" = String, Path)), request_body = ChatRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ChatResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody)))]
async fn chat_in_workspace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> ApiResult<Json<ChatResponse>> {
    principal.require(Role::Member)?;
    let row = service::find(&state, &principal, &id).await?;
    if request.message.trim().is_empty() {
        return Err(ApiError::invalid_field("message", "must not be empty"));
    }
    Ok(Json(
        service::chat(&state, &principal, &row, request).await?,
    ))
}
