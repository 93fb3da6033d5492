//! `/users`: an organisation's admins manage its people.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ErrorBody};
use crate::http::{ApiJson, ApiQuery, ListParams, Page};
use crate::state::AppState;
use crate::time::ms_to_rfc3339;
use crate::users::repo::{UserRow, find_user_by_id};
use crate::users::{repo, service};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub is_active: bool,
    /// Platform-wide operator flag; set only with `quire admin create-user --superuser`.
    pub is_superuser: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<UserRow> for UserResponse {
    fn from(u: UserRow) -> Self {
        Self {
            role: u.role.parse().unwrap_or(Role::Viewer),
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            is_active: u.is_active == 1,
            is_superuser: u.is_superuser == 1,
            created_at: ms_to_rfc3339(u.created_at),
            updated_at: ms_to_rfc3339(u.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Unique across the installation, compared case-insensitively.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// Defaults to the part of the email before `@`.
    #[schema(value_type = Option<crate::text::ShortName>)]
    display_name: Option<String>,
    /// Optional: without one the user cannot log in with a password.
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    password: Option<String>,
    role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(value_type = Option<crate::text::ShortName>)]
    display_name: Option<String>,
    role: Option<Role>,
    /// `false` deactivates: the user's tokens and API keys stop working at once.
    is_active: Option<bool>,
    /// Sets a new password.
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    password: Option<String>,
}

/// The organisation's users, oldest first. Admins only.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListParams),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<UserResponse>),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<UserResponse>>, ApiError> {
    principal.require(Role::Admin)?;
    let window = params.window()?;
    let (rows, total) = repo::list_users(&state.db.pool, &principal.org_id, window).await?;
    Ok(Json(Page::new(rows, total, window).map(UserResponse::from)))
}

/// Adds a user to the organisation with a role. Admins only.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = UserResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, description = "email taken", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    principal.require(Role::Admin)?;
    let user = service::create_user(
        &state,
        &principal.org_id,
        service::NewUserInput {
            email: body.email,
            display_name: body.display_name,
            password: body.password,
            role: body.role,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// One user of the organisation. Admins only; a user of another organisation is a 404.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    principal.require(Role::Admin)?;
    let user = find_user_by_id(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(Json(user.into()))
}

/// Changes a user's name, role, password or active flag. Admins only. Demoting or
/// deactivating the last active admin is a 409.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = String, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    principal.require(Role::Admin)?;
    let user = service::update_user(
        &state,
        &principal.org_id,
        &id,
        service::UserChanges {
            display_name: body.display_name,
            role: body.role,
            is_active: body.is_active,
            password: body.password,
        },
    )
    .await?;
    Ok(Json(user.into()))
}

/// Deactivates a user (the row stays, so what they did keeps its author; `PATCH` with
/// `is_active: true` restores them). Their sessions, access tokens and API keys stop
/// working at once. Admins only; deactivating the last active admin is a 409.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "user id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "deactivated"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    service::update_user(
        &state,
        &principal.org_id,
        &id,
        service::UserChanges {
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
