//! `/orgs/current`: the organisation of the caller.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::model::parse_name;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ErrorBody};
use crate::http::ApiJson;
use crate::orgs::repo;
use crate::orgs::repo::{OrganisationRow, find_organisation};
use crate::state::AppState;
use crate::time::ms_to_rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_current_org, update_current_org))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganisationResponse {
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<OrganisationRow> for OrganisationResponse {
    fn from(o: OrganisationRow) -> Self {
        Self {
            id: o.id,
            name: o.name,
            created_at: ms_to_rfc3339(o.created_at),
            updated_at: ms_to_rfc3339(o.updated_at),
        }
    }
}

/// The caller's organisation with its settings (`/orgs/current`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CurrentOrganisationResponse {
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// When a document's content changes, its summaries are marked stale and, with this
    /// on, fresh ones are enqueued (made like the stale ones).
    pub auto_resummarize: bool,
}

/// The organisation and its settings, or `404`.
async fn current(state: &AppState, org_id: &str) -> Result<CurrentOrganisationResponse, ApiError> {
    let o = find_organisation(&state.db.pool, org_id)
        .await?
        .ok_or(ApiError::NotFound("organisation"))?;
    let auto_resummarize = repo::auto_resummarize(&state.db.pool, org_id).await?;
    Ok(CurrentOrganisationResponse {
        id: o.id,
        name: o.name,
        created_at: ms_to_rfc3339(o.created_at),
        updated_at: ms_to_rfc3339(o.updated_at),
        auto_resummarize,
    })
}

/// What to change (at least one field); a field left out keeps its value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateOrganisationRequest {
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = crate::text::ShortName, required = false)]
    name: Option<String>,
    /// Enqueue fresh summaries of a document whose content changes.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = bool, required = false)]
    auto_resummarize: Option<bool>,
}

/// The caller's organisation. Any role.
#[utoipa::path(get, path = "/api/v1/orgs/current", tag = "organisations",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CurrentOrganisationResponse), (status = 401, body = ErrorBody)))]
async fn get_current_org(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CurrentOrganisationResponse>, ApiError> {
    Ok(Json(current(&state, &principal.org_id).await?))
}

/// Renames the caller's organisation or changes its settings. Admins only.
#[utoipa::path(patch, path = "/api/v1/orgs/current", tag = "organisations",
    request_body = UpdateOrganisationRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CurrentOrganisationResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_current_org(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<UpdateOrganisationRequest>,
) -> Result<Json<CurrentOrganisationResponse>, ApiError> {
    principal.require(Role::Admin)?;
    let name = body
        .name
        .as_deref()
        .map(|name| parse_name("name", name))
        .transpose()?;
    if name.is_none() && body.auto_resummarize.is_none() {
        return Err(ApiError::invalid_field(
            "name",
            "give name and/or auto_resummarize",
        ));
    }
    let mut tx = state.db.pool.begin().await?;
    if let Some(name) = &name
        && !repo::update_organisation_name(&mut *tx, &principal.org_id, name).await?
    {
        return Err(ApiError::NotFound("organisation"));
    }
    if let Some(on) = body.auto_resummarize
        && !repo::set_auto_resummarize(&mut *tx, &principal.org_id, on).await?
    {
        return Err(ApiError::NotFound("organisation"));
    }
    tx.commit().await?;
    if name.is_some() {
        state.principals.changed(&state.db).await;
    }
    Ok(Json(current(&state, &principal.org_id).await?))
}
