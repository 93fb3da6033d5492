//! Document endpoints: read, text, download, delete (uploads are in `upload.rs`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use crate::documents::model::{DocumentResponse, DocumentTextResponse, PageTextResponse};
use crate::documents::repo::{self, DocumentFilter};
use crate::error::{ApiError, ApiResult};
use crate::http::{ListParams, Page};
use crate::state::AppState;
use crate::workspaces::repo::find_workspace;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_document, delete_document))
        .routes(routes!(get_document_text))
        .routes(routes!(download_document))
        .routes(routes!(list_workspace_documents))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentListQuery {
    /// Only documents of this type: `pdf`, `json` or `csv`.
    pub doc_type: Option<String>,
    /// Only documents in this status.
    pub status: Option<String>,
}

/// Documents of a workspace, oldest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/documents", tag = "documents",
    params(("id" = String, Path), ListParams, DocumentListQuery),
    responses((status = 200, body = Page<DocumentResponse>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_workspace_documents(
    State(state): State<AppState>,
    principal: Principal,
    Path(workspace_id): Path<String>,
    Query(list): Query<ListParams>,
    Query(query): Query<DocumentListQuery>,
) -> ApiResult<Json<Page<DocumentResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    if let Some(t) = &query.doc_type
        && !["pdf", "json", "csv"].contains(&t.as_str())
    {
        return Err(ApiError::invalid_field(
            "doc_type",
            "must be pdf, json or csv",
        ));
    }
    find_workspace(&state.db.pool, &principal.org_id, &workspace_id)
        .await?
        .ok_or(ApiError::NotFound("workspace"))?;
    let filter = DocumentFilter {
        doc_type: query.doc_type,
        status: query.status,
    };
    let (rows, total) = repo::list_documents(
        &state.db.pool,
        &principal.org_id,
        &workspace_id,
        &filter,
        window,
    )
    .await?;
    Ok(Json(Page::new(
        rows.into_iter().map(Into::into).collect(),
        total,
        window,
    )))
}

/// One document.
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path)),
    responses((status = 200, body = DocumentResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_document(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentResponse>> {
    principal.require(Role::Viewer)?;
    let row = repo::find_document(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    Ok(Json(row.into()))
}

/// The extracted text of a document, page by page (JSON and CSV are one page).
#[utoipa::path(get, path = "/api/v1/documents/{id}/text", tag = "documents",
    params(("id" = String, Path)),
    responses((status = 200, body = DocumentTextResponse), (status = 404, body = crate::error::ErrorBody)))]
async fn get_document_text(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentTextResponse>> {
    principal.require(Role::Viewer)?;
    let row = repo::find_document(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    let pages = repo::document_pages(&state.db.pool, &row).await?;
    Ok(Json(DocumentTextResponse {
        document_id: row.id,
        doc_type: row.doc_type,
        pages: pages
            .into_iter()
            .map(|(page, text)| PageTextResponse { page, text })
            .collect(),
    }))
}

/// The original file, byte for byte, streamed from storage.
#[utoipa::path(get, path = "/api/v1/documents/{id}/download", tag = "documents",
    params(("id" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 404, body = crate::error::ErrorBody)))]
async fn download_document(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    principal.require(Role::Viewer)?;
    let row = repo::find_document(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    let (size, stream) = state
        .storage
        .get_stream(&row.storage_key)
        .await
        .map_err(|e| match e {
            crate::storage::StorageError::NotFound => ApiError::NotFound("document file"),
            other => ApiError::Internal(other.into()),
        })?;
    let content_type = match row.doc_type.as_str() {
        "pdf" => "application/pdf",
        "json" => "application/json",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    };
    let file_name: String = row
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Deletes a document, its text and its original.
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_document(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    let row = repo::find_document(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    // The row goes first: a failed file delete leaves an orphan object, never a
    // document whose original is missing.
    repo::delete_document(&state.db.pool, &principal.org_id, &id).await?;
    if let Err(e) = state.storage.delete(&row.storage_key).await {
        tracing::warn!(error = %e, document.id = %id, "could not delete a document's original");
    }
    Ok(StatusCode::NO_CONTENT)
}
