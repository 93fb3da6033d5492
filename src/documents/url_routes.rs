//! Links to a document's original that work without credentials for a limited time:
//! a presigned S3 URL when originals are on S3, else a link to Quire signed with
//! `documents::signed_url` (HMAC over document, organisation and expiry).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::documents::repo;
use crate::documents::routes::original_response;
use crate::documents::signed_url::{self, LinkError, MAX_EXPIRES_IN, MIN_EXPIRES_IN};
use crate::error::{ApiError, ApiResult};
use crate::http::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(document_url))
        .routes(routes!(signed_download))
}

const DEFAULT_EXPIRES_IN: u64 = 3600;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentUrlQuery {
    /// Seconds the link stays valid: 1 to 604800 (7 days); default 3600.
    #[param(minimum = 1, maximum = 604800)]
    pub expires_in: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentUrlResponse {
    /// The link. A presigned S3 URL is absolute; a Quire link is a path on this server.
    pub url: String,
    /// `s3_presigned` or `quire_signed`.
    pub kind: &'static str,
    pub expires_in: u64,
    /// RFC 3339.
    pub expires_at: String,
}

/// A time-limited link to the document's original that needs no credentials.
#[utoipa::path(get, path = "/api/v1/documents/{id}/url", tag = "documents",
    params(("id" = String, Path), DocumentUrlQuery),
    responses((status = 200, body = DocumentUrlResponse),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, description = "`expires_in` outside 1..=604800, named in `details.field`", body = crate::error::ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn document_url(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DocumentUrlQuery>,
) -> ApiResult<Json<DocumentUrlResponse>> {
    principal.require(Role::Viewer)?;
    let expires_in = match query.expires_in {
        None => DEFAULT_EXPIRES_IN,
        Some(n) => u64::try_from(n)
            .ok()
            .filter(|n| (MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "expires_in",
                    format!("must be between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN} seconds"),
                )
            })?,
    };
    let row = repo::find_document(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    let now_ms = crate::time::now_ms();
    let expires_ms = now_ms + (expires_in as i64) * 1000;
    let presigned = state
        .storage
        .presigned_get_url(&row.storage_key, Duration::from_secs(expires_in))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let (url, kind) = match presigned {
        Some(url) => (url, "s3_presigned"),
        None => {
            let expires = expires_ms / 1000;
            let signature =
                signed_url::sign(&state.secret_key, &principal.org_id, &row.id, expires);
            (
                format!(
                    "/api/v1/documents/{}/signed?org={}&expires={expires}&signature={signature}",
                    row.id, principal.org_id
                ),
                "quire_signed",
            )
        }
    };
    Ok(Json(DocumentUrlResponse {
        url,
        kind,
        expires_in,
        expires_at: crate::time::ms_to_rfc3339(expires_ms),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedLinkQuery {
    /// The organisation the link was made for.
    pub org: String,
    /// Unix seconds after which the link is refused.
    pub expires: i64,
    /// Hex HMAC-SHA256 of the link.
    pub signature: String,
}

/// The original, through a link from `GET /api/v1/documents/{id}/url` (local storage).
/// No credentials: the link is the credential. Expired or altered: `403`.
#[utoipa::path(get, path = "/api/v1/documents/{id}/signed", tag = "documents",
    params(("id" = String, Path), SignedLinkQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 403, description = "the link expired or was altered", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn signed_download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(link): ApiQuery<SignedLinkQuery>,
) -> ApiResult<Response> {
    let now = crate::time::now_ms() / 1000;
    signed_url::verify(
        &state.secret_key,
        &link.org,
        &id,
        link.expires,
        &link.signature,
        now,
    )
    .map_err(|e| {
        ApiError::Forbidden(
            match e {
                LinkError::Expired => "this link has expired",
                LinkError::BadSignature => "this link is not valid",
            }
            .to_owned(),
        )
    })?;
    let row = repo::find_document(&state.db.pool, &link.org, &id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    original_response(&state, &row).await
}
