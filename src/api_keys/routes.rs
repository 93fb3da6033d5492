//! `/api-keys`: keys for programs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_keys::repo::{self, Visibility};
use crate::api_keys::repo::{ApiKeyRow, NewApiKey, insert_api_key};
use crate::auth::model::parse_name;
use crate::auth::tokens::{API_KEY_PREFIX, generate_api_key};
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ErrorBody};
use crate::http::{ApiJson, ApiQuery, ListParams, Page};
use crate::state::AppState;
use crate::time::{ms_to_rfc3339, now_ms, rfc3339_to_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyResponse {
    pub id: String,
    pub name: String,
    /// The public start of the key (`qk_<prefix>_…`), to tell keys apart.
    pub prefix: String,
    pub role: Role,
    /// The user who created the key; `null` for keys created by the system.
    pub created_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, to the minute.
    pub last_used_at: Option<String>,
    /// RFC 3339; `null` for a key that does not expire.
    pub expires_at: Option<String>,
    /// RFC 3339; set once the key is revoked.
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRow> for ApiKeyResponse {
    fn from(k: ApiKeyRow) -> Self {
        Self {
            role: k.role.parse().unwrap_or(Role::Viewer),
            prefix: format!("{API_KEY_PREFIX}{}", k.prefix),
            id: k.id,
            name: k.name,
            created_by: k.created_by,
            created_at: ms_to_rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(ms_to_rfc3339),
            expires_at: k.expires_at.map(ms_to_rfc3339),
            revoked_at: k.revoked_at.map(ms_to_rfc3339),
        }
    }
}

/// A key just created: the only answer that ever contains its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKeyResponse {
    #[serde(flatten)]
    pub api_key: ApiKeyResponse,
    /// The full key. Shown once: only its hash is kept.
    pub key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(value_type = crate::text::ShortName)]
    name: String,
    /// At most the creator's own role; defaults to it.
    role: Option<Role>,
    /// RFC 3339, in the future; omitted for a key that does not expire.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

fn visibility(principal: &Principal) -> Visibility<'_> {
    if principal.role >= Role::Admin {
        Visibility::All
    } else {
        Visibility::CreatedBy(principal.user_id.as_deref())
    }
}

/// Creates a key with a role no higher than the caller's. Members and admins.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CreatedApiKeyResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKeyResponse>), ApiError> {
    principal.require(Role::Member)?;
    let name = parse_name("name", &body.name)?;
    let role = body.role.unwrap_or(principal.role);
    if role > principal.role {
        return Err(ApiError::Forbidden(format!(
            "a key cannot have a higher role than its creator ({})",
            principal.role
        )));
    }
    let expires_at = match body.expires_at.as_deref() {
        None => None,
        Some(text) => {
            let ms = rfc3339_to_ms(text)
                .ok_or_else(|| ApiError::invalid_field("expires_at", "must be an RFC 3339 time"))?;
            if ms <= now_ms() {
                return Err(ApiError::invalid_field(
                    "expires_at",
                    "must be in the future",
                ));
            }
            Some(ms)
        }
    };
    let generated = generate_api_key();
    let row = insert_api_key(
        &state.db.pool,
        &principal.org_id,
        NewApiKey {
            name: &name,
            role,
            created_by: principal.user_id.as_deref(),
            expires_at,
            prefix: &generated.prefix,
            secret_hash: &generated.secret_hash,
        },
    )
    .await?;
    tracing::info!(org.id = %principal.org_id, key.id = %row.id, role = %role, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKeyResponse {
            api_key: row.into(),
            key: generated.plaintext,
        }),
    ))
}

/// The organisation's keys, newest first: all of them for admins, one's own otherwise.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", params(ListParams),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<ApiKeyResponse>), (status = 401, body = ErrorBody)))]
async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<ApiKeyResponse>>, ApiError> {
    let window = params.window()?;
    let (rows, total) = repo::list_api_keys(
        &state.db.pool,
        &principal.org_id,
        visibility(&principal),
        window,
    )
    .await?;
    Ok(Json(
        Page::new(rows, total, window).map(ApiKeyResponse::from),
    ))
}

/// Revokes a key at once. Admins revoke any key of the organisation, others their own.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "API key id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "revoked"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Member)?;
    repo::find_api_key(
        &state.db.pool,
        &principal.org_id,
        visibility(&principal),
        &id,
    )
    .await?
    .ok_or(ApiError::NotFound("API key"))?;
    repo::revoke_api_key(&state.db.pool, &principal.org_id, &id).await?;
    state.principals.changed(&state.db).await;
    tracing::info!(org.id = %principal.org_id, key.id = %id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
