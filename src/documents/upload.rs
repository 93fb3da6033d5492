//! Receiving an upload: the multipart body is streamed to storage while its SHA-256 is
//! computed, never held whole in memory. The type is judged by magic bytes
//! (`quire_ingest::sniff_upload`, the one sniffer) before a byte is stored, and an
//! upload over `MAX_FILE_SIZE` leaves nothing behind.

use axum::extract::Multipart;
use axum::extract::multipart::Field;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use quire_ingest::{UploadKind, is_empty_zip, sniff_upload};

use crate::auth::Principal;
use crate::documents::ingest::UploadPayload;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::{StorageError, bundle_key};
use crate::workspaces::repo::find_workspace;

/// A stored upload, ready to become a job.
pub struct ReceivedUpload {
    pub payload: UploadPayload,
    pub kind: UploadKind,
}

const MAX_METADATA_BYTES: usize = 64 * 1024;
const SNIFF_BYTES: usize = 1024;

/// Reads the multipart form, storing `file` under `orgs/{org}/uploads/{upload_id}/bundle`.
/// On any error after the file was stored, the stored object is removed.
pub async fn receive_upload(
    state: &AppState,
    principal: &Principal,
    upload_id: &str,
    mut multipart: Multipart,
) -> Result<ReceivedUpload, ApiError> {
    let key = bundle_key(&principal.org_id, upload_id);
    let mut workspace_id: Option<String> = None;
    let mut metadata: Option<Value> = None;
    let mut stored: Option<(crate::storage::StoredObject, String, UploadKind)> = None;

    let result: Result<(), ApiError> = async {
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            match field.name().unwrap_or_default() {
                "workspace_id" => {
                    workspace_id = Some(small_text(field, 256, "workspace_id").await?);
                }
                "metadata" => {
                    let text = small_text(field, MAX_METADATA_BYTES, "metadata").await?;
                    let value: Value = serde_json::from_str(&text).map_err(|e| {
                        ApiError::invalid_field("metadata", format!("must be a JSON object: {e}"))
                    })?;
                    if !value.is_object() {
                        return Err(ApiError::invalid_field("metadata", "must be a JSON object"));
                    }
                    metadata = Some(value);
                }
                "file" => {
                    if stored.is_some() {
                        return Err(ApiError::invalid_field("file", "send exactly one file"));
                    }
                    let name = field.file_name().unwrap_or("upload").to_owned();
                    stored = Some(store_file(state, &key, &name, field).await?);
                }
                // A misspelt field would otherwise be lost without a word, as unknown
                // JSON fields are refused elsewhere.
                other => {
                    return Err(ApiError::invalid_field(
                        other,
                        "unknown field; expected file, workspace_id or metadata",
                    ));
                }
            }
        }
        Ok(())
    }
    .await;

    let outcome = result.and_then(|()| {
        let (object, name, kind) = stored
            .take()
            .ok_or_else(|| ApiError::invalid_field("file", "is required"))?;
        let workspace_id = workspace_id
            .clone()
            .filter(|w| !w.trim().is_empty())
            .ok_or_else(|| ApiError::invalid_field("workspace_id", "is required"))?;
        Ok((object, name, kind, workspace_id))
    });
    let (object, name, kind, workspace_id) = match outcome {
        Ok(v) => v,
        Err(e) => {
            discard(state, &key).await;
            return Err(e);
        }
    };
    if find_workspace(&state.db.pool, &principal.org_id, &workspace_id)
        .await?
        .is_none()
    {
        discard(state, &key).await;
        return Err(ApiError::NotFound("workspace"));
    }
    Ok(ReceivedUpload {
        payload: UploadPayload {
            upload_id: upload_id.to_owned(),
            workspace_id,
            bundle_key: object.key,
            file_name: name,
            size: object.size,
            sha256: object.sha256,
            metadata,
        },
        kind,
    })
}

async fn discard(state: &AppState, key: &str) {
    if let Err(e) = state.storage.delete(key).await {
        tracing::warn!(error = %e, "could not remove a refused upload");
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the upload is larger than allowed".into())
    } else {
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}

async fn small_text(mut field: Field<'_>, limit: usize, name: &str) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::invalid_field(
                name,
                format!("must be at most {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::invalid_field(name, "must be UTF-8 text"))
}

async fn store_file(
    state: &AppState,
    key: &str,
    name: &str,
    mut field: Field<'_>,
) -> Result<(crate::storage::StoredObject, String, UploadKind), ApiError> {
    // Peek at the first bytes to judge the type before storing anything.
    let mut head: Vec<Bytes> = Vec::new();
    let mut head_len = 0;
    while head_len < SNIFF_BYTES {
        match field.chunk().await.map_err(multipart_error)? {
            Some(chunk) => {
                head_len += chunk.len();
                head.push(chunk);
            }
            None => break,
        }
    }
    let joined: Vec<u8> = head.iter().flat_map(|b| b.iter().copied()).collect();
    if joined.is_empty() {
        return Err(ApiError::invalid_field("file", "is empty"));
    }
    let kind = sniff_upload(&joined, name).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "expected a ZIP bundle, or a single PDF, JSON or CSV file (judged by content, not name)".into(),
        )
    })?;
    if kind == UploadKind::Zip && is_empty_zip(&joined) {
        return Err(ApiError::invalid_field(
            "file",
            "the ZIP archive has no entries",
        ));
    }
    let limit = state.settings.max_file_size.0;
    let rest = field.map(|r| r.map_err(|e| e.body_text()));
    let stream = futures::stream::iter(head.into_iter().map(Ok::<Bytes, String>)).chain(rest);
    let object = state
        .storage
        .put_stream(key, Box::pin(stream), limit)
        .await
        .map_err(|e| match e {
            StorageError::TooLarge { limit } => ApiError::PayloadTooLarge(format!(
                "the upload is larger than the {limit}-byte limit (MAX_FILE_SIZE)"
            )),
            StorageError::Source(msg) => {
                ApiError::bad_request(format!("the upload was interrupted: {msg}"))
            }
            other => ApiError::Internal(other.into()),
        })?;
    Ok((object, name.to_owned(), kind))
}
