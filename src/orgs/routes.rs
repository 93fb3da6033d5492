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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganisationRequest {
    #[schema(value_type = crate::text::ShortName)]
    name: String,
}

/// The caller's organisation. Any role.
#[utoipa::path(get, path = "/api/v1/orgs/current", tag = "organisations",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = OrganisationResponse), (status = 401, body = ErrorBody)))]
async fn get_current_org(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<OrganisationResponse>, ApiError> {
    let org = find_organisation(&state.db.pool, &principal.org_id)
        .await?
        .ok_or(ApiError::NotFound("organisation"))?;
    Ok(Json(org.into()))
}

/// Renames the caller's organisation. Admins only.
#[utoipa::path(patch, path = "/api/v1/orgs/current", tag = "organisations",
    request_body = UpdateOrganisationRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = OrganisationResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_current_org(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<UpdateOrganisationRequest>,
) -> Result<Json<OrganisationResponse>, ApiError> {
    principal.require(Role::Admin)?;
    let name = parse_name("name", &body.name)?;
    if !repo::update_organisation_name(&state.db.pool, &principal.org_id, &name).await? {
        return Err(ApiError::NotFound("organisation"));
    }
    state.principals.changed(&state.db).await;
    let org = find_organisation(&state.db.pool, &principal.org_id)
        .await?
        .ok_or(ApiError::NotFound("organisation"))?;
    Ok(Json(org.into()))
}
