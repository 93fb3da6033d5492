//! Document endpoints: the organisation's library (create from content, replace content,
//! search), one document (read, text, download, delete), and a workspace's documents
//! (list, add, remove). Uploads are in `upload_routes.rs`; the logic is in `service.rs`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Role};
use quire_ingest::DocType;

use crate::documents::model::{
    CreateDocumentRequest, DocumentResponse, DocumentTextResponse, PageTextResponse, SourceType,
    UpdateDocumentRequest, parse_api_source_type, parse_source_fields, parse_title,
};
use crate::documents::repo::{self, DocumentFilter, LibraryFilter};
use crate::documents::service;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ApiQuery, ListParams, Page};
use crate::state::AppState;
use crate::workspaces::repo::find_workspace;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_document, delete_document))
        .routes(routes!(get_document_text))
        .routes(routes!(download_document))
        .routes(routes!(list_workspace_documents))
        .routes(routes!(create_document, list_documents))
        .routes(routes!(update_document))
        .routes(routes!(add_workspace_document, remove_workspace_document))
}

/// Creates a document from content given as JSON (text, or any JSON value) and puts it
/// into the workspaces named, each of which embeds it.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents",
    request_body = CreateDocumentRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = DocumentResponse),
              (status = 400, description = "malformed JSON", body = crate::error::ErrorBody),
              (status = 404, description = "a workspace named is not the organisation's", body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody),
              (status = 422, description = "an invalid field, named in `details.field`", body = crate::error::ErrorBody)))]
async fn create_document(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateDocumentRequest>,
) -> ApiResult<(StatusCode, Json<DocumentResponse>)> {
    principal.require(Role::Member)?;
    let title = parse_title(&request.title)?;
    let source_type = parse_api_source_type(request.source_type.as_deref())?;
    let fields = parse_source_fields(
        request.source_url,
        request.external_id,
        request.external_last_updated,
        request.metadata,
    )?;
    let content = service::given_content(&state, &request.content)?;
    let workspaces = service::own_workspaces(&state, &principal, &request.workspace_ids).await?;
    let row = service::create_from_api(
        &state,
        &principal,
        service::ApiDocument {
            title,
            content,
            source_type,
            source_url: fields.source_url,
            external_id: fields.external_id,
            external_last_updated: fields.external_last_updated,
            metadata: fields.metadata,
            workspaces,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Replaces a document's content; every workspace it is in embeds the new content.
#[utoipa::path(put, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path)),
    request_body = UpdateDocumentRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DocumentResponse),
              (status = 400, description = "malformed JSON", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody),
              (status = 422, description = "an invalid field, named in `details.field`", body = crate::error::ErrorBody)))]
async fn update_document(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateDocumentRequest>,
) -> ApiResult<Json<DocumentResponse>> {
    principal.require(Role::Member)?;
    let title = request.title.as_deref().map(parse_title).transpose()?;
    let fields = parse_source_fields(
        request.source_url,
        request.external_id,
        request.external_last_updated,
        request.metadata,
    )?;
    let content = service::given_content(&state, &request.content)?;
    let row = service::update_content(
        &state,
        &principal,
        &id,
        service::DocumentChange {
            title,
            content,
            source_url: fields.source_url,
            external_id: fields.external_id,
            external_last_updated: fields.external_last_updated,
            metadata: fields.metadata,
        },
    )
    .await?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LibraryQuery {
    /// Part of the title (case-insensitive).
    pub q: Option<String>,
    /// Only documents from this source: `upload`, `api`, `notion`, `confluence`, `guru`.
    #[param(schema_with = crate::documents::model::source_type_schema)]
    pub source_type: Option<String>,
    /// Only documents in this workspace.
    pub workspace_id: Option<String>,
}

/// The organisation's documents, newest first, searchable by title.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents",
    params(ListParams, LibraryQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<DocumentResponse>),
              (status = 422, description = "an invalid filter, named in `details.field`", body = crate::error::ErrorBody)))]
async fn list_documents(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<LibraryQuery>,
) -> ApiResult<Json<Page<DocumentResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    if let Some(s) = &query.source_type
        && SourceType::parse(s).is_none()
    {
        return Err(ApiError::invalid_field(
            "source_type",
            "must be upload, api, notion, confluence or guru",
        ));
    }
    let filter = LibraryFilter {
        title: query.q.filter(|q| !q.trim().is_empty()),
        source_type: query.source_type,
        workspace_id: query.workspace_id,
    };
    let (rows, total) =
        repo::list_library(&state.db.pool, &principal.org_id, &filter, window).await?;
    Ok(Json(Page::new(
        rows.into_iter().map(Into::into).collect(),
        total,
        window,
    )))
}

/// Puts a library document into a workspace, which embeds it. Adding it again is a no-op.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/documents/{document_id}", tag = "documents",
    params(("id" = String, Path), ("document_id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the document as it is in the workspace", body = DocumentResponse),
              (status = 404, description = "no such workspace or document in the organisation", body = crate::error::ErrorBody)))]
async fn add_workspace_document(
    State(state): State<AppState>,
    principal: Principal,
    Path((workspace_id, document_id)): Path<(String, String)>,
) -> ApiResult<Json<DocumentResponse>> {
    principal.require(Role::Member)?;
    let row = service::add_to_workspace(&state, &principal, &workspace_id, &document_id).await?;
    Ok(Json(row.into()))
}

/// Takes a document out of a workspace: its copy there is removed; the document and its
/// other workspaces stay.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/documents/{document_id}", tag = "documents",
    params(("id" = String, Path), ("document_id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204),
              (status = 404, description = "no such workspace, or the document is not in it", body = crate::error::ErrorBody)))]
async fn remove_workspace_document(
    State(state): State<AppState>,
    principal: Principal,
    Path((workspace_id, document_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    service::remove_from_workspace(&state, &principal, &workspace_id, &document_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentListQuery {
    /// Only documents of this type: `pdf`, `json`, `csv` or `text`.
    #[param(schema_with = crate::docs::contract::doc_type_schema)]
    pub doc_type: Option<String>,
    /// Only documents in this status.
    pub status: Option<String>,
}

/// Documents of a workspace, oldest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/documents", tag = "documents",
    params(("id" = String, Path), ListParams, DocumentListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<DocumentResponse>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_workspace_documents(
    State(state): State<AppState>,
    principal: Principal,
    Path(workspace_id): Path<String>,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<DocumentListQuery>,
) -> ApiResult<Json<Page<DocumentResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    if let Some(t) = &query.doc_type
        && DocType::parse(t).is_none()
    {
        return Err(ApiError::invalid_field(
            "doc_type",
            format!("must be {}", DocType::names()),
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
    security(("bearer" = []), ("api_key" = [])),
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
    security(("bearer" = []), ("api_key" = [])),
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

/// The original file, byte for byte, streamed from storage. A document created from
/// content has that content as its original (`text/plain` or `application/json`).
#[utoipa::path(get, path = "/api/v1/documents/{id}/download", tag = "documents",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The original, in the media type of its document type",
               content((Vec<u8> = "application/pdf"), (serde_json::Value = "application/json"), (String = "text/csv"),
                       (String = "text/plain"))),
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
    original_response(&state, &row).await
}

/// The document's original as a streamed attachment (the download and signed links).
pub(crate) async fn original_response(
    state: &AppState,
    row: &repo::DocumentRow,
) -> ApiResult<Response> {
    let (size, stream) = state
        .storage
        .get_stream(&row.storage_key)
        .await
        .map_err(|e| match e {
            crate::storage::StorageError::NotFound => ApiError::NotFound("document file"),
            other => ApiError::Internal(other.into()),
        })?;
    let content_type =
        DocType::parse(&row.doc_type).map_or("application/octet-stream", DocType::mime_type);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                crate::http::disposition::attachment(&row.name),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Deletes a document, its text and its original, and takes it out of every workspace's
/// backend first: once answered, no chat or question run retrieves it.
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
              (status = 503, description = "a workspace's backend is unavailable; nothing was deleted, retry", body = crate::error::ErrorBody)))]
async fn delete_document(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    service::delete_document(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
