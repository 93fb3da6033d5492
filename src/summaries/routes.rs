//! `/api/v1/documents/{id}/summaries` and `/api/v1/summaries`. Viewers read; members
//! create, regenerate and delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ApiQuery, ListParams, Page};
use crate::state::AppState;
use crate::summaries::model::{
    BulkAccepted, BulkSummaryRequest, CreateSummaryRequest, SummaryAccepted, SummaryResponse,
    SummaryStatus,
};
use crate::summaries::repo::{self, SummaryFilter};
use crate::summaries::service;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_summary))
        .routes(routes!(create_bulk_summaries))
        .routes(routes!(list_summaries))
        .routes(routes!(get_summary, delete_summary))
        .routes(routes!(regenerate_summary))
}

/// Starts a summary of a document, as a job: from `template_id`, `template_name`, an
/// inline `prompt`, or the default summary template. Without a model it is extractive
/// (`model_used: "extractive"`); `format: json` then is a `422` `llm_required`.
#[utoipa::path(post, path = "/api/v1/documents/{id}/summaries", tag = "summaries",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The document")),
    request_body = CreateSummaryRequest,
    responses((status = 202, body = SummaryAccepted),
              (status = 400, body = crate::error::ErrorBody, description = "malformed body, or an inline prompt that does not parse (details: line, column)"),
              (status = 404, body = crate::error::ErrorBody, description = "no such document or template in the organisation"),
              (status = 422, body = crate::error::ErrorBody, description = "an invalid field (details.field), or `llm_required`")))]
async fn create_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CreateSummaryRequest>,
) -> ApiResult<(StatusCode, Json<SummaryAccepted>)> {
    principal.require(Role::Member)?;
    let accepted = service::create(&state, &principal, &id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Summarises many documents as one parent job (progress counts documents; its
/// children, one `summaries.generate` job per document, go on the queue a window at a
/// time; cancelling the parent stops the rest).
#[utoipa::path(post, path = "/api/v1/summaries/bulk", tag = "summaries",
    security(("bearer" = []), ("api_key" = [])),
    request_body = BulkSummaryRequest,
    responses((status = 202, body = BulkAccepted),
              (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "a document, workspace or template of another organisation or none"),
              (status = 422, body = crate::error::ErrorBody)))]
async fn create_bulk_summaries(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<BulkSummaryRequest>,
) -> ApiResult<(StatusCode, Json<BulkAccepted>)> {
    principal.require(Role::Member)?;
    let accepted = service::create_bulk(&state, &principal, request).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    pub document_id: Option<String>,
    pub template_id: Option<String>,
    /// `pending`, `complete` or `failed`.
    pub status: Option<SummaryStatus>,
}

/// The organisation's summaries, newest first.
#[utoipa::path(get, path = "/api/v1/summaries", tag = "summaries",
    security(("bearer" = []), ("api_key" = [])),
    params(ListParams, SummaryQuery),
    responses((status = 200, body = Page<SummaryResponse>),
              (status = 422, body = crate::error::ErrorBody, description = "an invalid filter, named in `details.field`")))]
async fn list_summaries(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<Page<SummaryResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    let filter = SummaryFilter {
        document_id: query.document_id,
        template_id: query.template_id,
        status: query.status.map(|s| s.as_str().to_owned()),
    };
    let (rows, total) =
        repo::list_summaries(&state.db.pool, &principal.org_id, &filter, window).await?;
    let items = rows
        .into_iter()
        .map(service::response)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page::new(items, total, window)))
}

/// One summary with its provenance (template text, rendered prompt, model, tokens,
/// settings, content hash, processing time).
#[utoipa::path(get, path = "/api/v1/summaries/{id}", tag = "summaries",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SummaryResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SummaryResponse>> {
    principal.require(Role::Viewer)?;
    let row = service::find(&state, &principal.org_id, &id).await?;
    Ok(Json(service::response(row)?))
}

/// Deletes a summary (a job still making it finds it gone and stops).
#[utoipa::path(delete, path = "/api/v1/summaries/{id}", tag = "summaries",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    if repo::delete_summary(&state.db.pool, &principal.org_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("summary"))
    }
}

/// A new summary made as this one was (same template, prompt, format, variables and
/// settings), never from the cache.
#[utoipa::path(post, path = "/api/v1/summaries/{id}/regenerate", tag = "summaries",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = SummaryAccepted), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn regenerate_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<SummaryAccepted>)> {
    principal.require(Role::Member)?;
    let accepted = service::regenerate(&state, &principal, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
