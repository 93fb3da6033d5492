//! `/api/v1/templates`: the organisation's templates and the global ones. Viewers read;
//! members create, change, copy and delete. A global template is `403` to change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ApiQuery, ListParams, Page};
use crate::state::AppState;
use crate::templates::globals::{self, GLOBALS};
use crate::templates::model::{PromptTemplate, TemplateType};
use crate::templates::repo::{self, TemplateRow};
use crate::templates::service::{self, TemplateResponse};
use crate::time::now_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, delete_template))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// Only templates of this type.
    pub template_type: Option<TemplateType>,
}

/// A new template: its own text, or a copy of another (`copy_from`, e.g. a global one)
/// whose fields it may change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateRequest {
    /// Required unless copying (then it defaults to "Copy of <name>").
    pub name: Option<String>,
    pub description: Option<String>,
    /// MiniJinja text; variables: `document.{id,title,content,source_type,pages,page_count}`,
    /// `language`, `variables.<name>`. Required unless copying.
    pub prompt_template: Option<String>,
    /// `summary` (default), `extraction` or `question`.
    pub template_type: Option<TemplateType>,
    /// Makes it the organisation's default of its type (the previous default stops being one).
    #[serde(default)]
    pub is_default: bool,
    /// The id of a template (global or the organisation's) to copy.
    pub copy_from: Option<String>,
}

/// Fields to change; the others keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplateRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub prompt_template: Option<String>,
    pub template_type: Option<TemplateType>,
    pub is_default: Option<bool>,
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

/// A template that does not parse, or uses a variable no summary gives: `400` with
/// `details.line` and `details.column`.
fn check_template(text: &str) -> Result<String, ApiError> {
    if text.len() > 100_000 {
        return Err(ApiError::invalid_field(
            "prompt_template",
            "is longer than 100,000 bytes",
        ));
    }
    PromptTemplate::parse(text)
        .map(|t| t.source().to_owned())
        .map_err(|e| ApiError::BadRequest {
            message: format!(
                "prompt_template: line {}, column {}: {}",
                e.line, e.column, e.message
            ),
            details: Some(e.details()),
        })
}

/// The organisation's templates and the global ones (global first), by name.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates",
    security(("bearer" = []), ("api_key" = [])),
    params(ListParams, TemplateQuery),
    responses((status = 200, body = Page<TemplateResponse>), (status = 422, body = crate::error::ErrorBody)))]
async fn list_templates(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<TemplateQuery>,
) -> ApiResult<Json<Page<TemplateResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    let mut all: Vec<TemplateResponse> = GLOBALS
        .iter()
        .filter(|g| query.template_type.is_none_or(|t| t == g.template_type))
        .map(TemplateResponse::from_global)
        .collect();
    for row in repo::list_templates(
        &state.db.pool,
        &principal.org_id,
        query.template_type.map(TemplateType::as_str),
    )
    .await?
    {
        all.push(TemplateResponse::from_row(row)?);
    }
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
        .take(window.limit as usize)
        .collect();
    Ok(Json(Page::new(items, total, window)))
}

/// Creates a template, or copies one (`copy_from`). A syntax error or an unknown
/// variable is a `400` naming line and column.
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateTemplateRequest,
    responses((status = 201, body = TemplateResponse),
              (status = 400, body = crate::error::ErrorBody, description = "the template does not parse or names an unknown variable; details: line, column"),
              (status = 404, body = crate::error::ErrorBody, description = "copy_from names no template of the organisation"),
              (status = 422, body = crate::error::ErrorBody)))]
async fn create_template(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateTemplateRequest>,
) -> ApiResult<(StatusCode, Json<TemplateResponse>)> {
    principal.require(Role::Member)?;
    let source = match &request.copy_from {
        Some(id) => Some(service::find(&state, &principal.org_id, id).await?),
        None => None,
    };
    let name = match (&request.name, &source) {
        (Some(name), _) => check_name(name)?,
        (None, Some(s)) => format!("Copy of {}", s.name),
        (None, None) => return Err(ApiError::invalid_field("name", "is required")),
    };
    let prompt_template = match (&request.prompt_template, &source) {
        (Some(text), _) => check_template(text)?,
        (None, Some(s)) => s.prompt_template.clone(),
        (None, None) => return Err(ApiError::invalid_field("prompt_template", "is required")),
    };
    let template_type = request
        .template_type
        .or(source.as_ref().map(|s| s.template_type))
        .unwrap_or(TemplateType::Summary);
    let now = now_ms();
    let row = TemplateRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: principal.org_id.clone(),
        name,
        description: request
            .description
            .or(source.as_ref().and_then(|s| s.description.clone())),
        prompt_template,
        template_type: template_type.as_str().to_owned(),
        is_default: i64::from(request.is_default),
        created_by: principal.user_id.clone(),
        created_at: now,
        updated_at: now,
    };
    repo::insert_template(&state.db.pool, &row).await?;
    Ok((StatusCode::CREATED, Json(TemplateResponse::from_row(row)?)))
}

/// One template, the organisation's or a global one.
#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = TemplateResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<TemplateResponse>> {
    principal.require(Role::Viewer)?;
    Ok(Json(service::find(&state, &principal.org_id, &id).await?))
}

fn read_only(id: &str) -> ApiResult<()> {
    if globals::is_global_id(id) && globals::find(id).is_some() {
        return Err(ApiError::Forbidden(
            "global templates are read-only; copy one with POST /api/v1/templates {\"copy_from\": ID}"
                .into(),
        ));
    }
    Ok(())
}

/// Changes an organisation's template (same checks as creating one). Global templates
/// are `403`.
#[utoipa::path(put, path = "/api/v1/templates/{id}", tag = "templates",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)), request_body = UpdateTemplateRequest,
    responses((status = 200, body = TemplateResponse),
              (status = 400, body = crate::error::ErrorBody, description = "details: line, column"),
              (status = 403, body = crate::error::ErrorBody, description = "a global template"),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn update_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateTemplateRequest>,
) -> ApiResult<Json<TemplateResponse>> {
    principal.require(Role::Member)?;
    read_only(&id)?;
    let mut row = repo::find_template(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("template"))?;
    if let Some(name) = &request.name {
        row.name = check_name(name)?;
    }
    if let Some(text) = &request.prompt_template {
        row.prompt_template = check_template(text)?;
    }
    if let Some(description) = request.description {
        row.description = Some(description);
    }
    if let Some(t) = request.template_type {
        row.template_type = t.as_str().to_owned();
    }
    if let Some(d) = request.is_default {
        row.is_default = i64::from(d);
    }
    row.updated_at = now_ms();
    if !repo::update_template(&state.db.pool, &row).await? {
        return Err(ApiError::NotFound("template"));
    }
    Ok(Json(TemplateResponse::from_row(row)?))
}

/// Deletes an organisation's template; summaries made from it keep its text.
#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "deleted"),
              (status = 403, body = crate::error::ErrorBody, description = "a global template"),
              (status = 404, body = crate::error::ErrorBody)))]
async fn delete_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    read_only(&id)?;
    if repo::delete_template(&state.db.pool, &principal.org_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("template"))
    }
}
