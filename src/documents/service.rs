//! How a document is born, changed, and put into or taken out of workspaces.
//!
//! [`create_document`] is the only way a document is born: the upload job calls it for
//! each accepted archive entry, `POST /api/v1/documents` for content given as JSON, and
//! later the integrations. It stores the original first (at a key nobody else writes),
//! then writes the document, its pages and its workspace memberships in one
//! transaction, so a reader sees a document whole or not at all. It returns whether it
//! inserted: an upload job re-run after a crash passes the same id (derived from job and
//! entry path) and the same key, gets `false`, and goes on (see `ingest.rs`).
//!
//! A document is embedded per workspace: each membership starts `extracted`, and the
//! workspace's embed job takes it from there. New content marks every membership
//! `extracted` again, removes the old copy from each backend, and enqueues each
//! workspace's embed job; removing a document from a workspace removes its copy there only.

use bytes::Bytes;
use quire_ingest::DocType;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::documents::model::{LifecycleStatus, SourceType};
use crate::documents::repo::{self, DocumentRow, NewDocumentRow};
use crate::error::ApiError;
use crate::hooks::ContentChanged;
use crate::state::AppState;
use crate::storage::{document_key, library_document_key};
use crate::time::now_ms;
use crate::workspaces::repo::{WorkspaceRow, find_workspace};

/// Where a new document comes from, with what that source knows about it.
#[derive(Debug, Clone)]
pub enum DocumentSource {
    /// An accepted entry of an upload: the document id derives from (job, path).
    Upload {
        job_id: String,
        upload_id: String,
        archive_path: String,
        workspace_id: String,
    },
    /// Content given through the API or fetched by an integration.
    External {
        source_type: SourceType,
        source_url: Option<String>,
        external_id: Option<String>,
        external_last_updated: Option<i64>,
    },
}

/// Everything a document is born with.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub id: String,
    pub org_id: String,
    pub source: DocumentSource,
    /// File name (uploads: the entry's; otherwise made from the title).
    pub name: String,
    pub title: String,
    pub doc_type: DocType,
    /// The original, stored as it is; the download serves it.
    pub original: Bytes,
    /// Text per page, numbered from 1.
    pub pages: Vec<(i64, String)>,
    /// Pages the original has (a PDF may have more than were read).
    pub page_count: Option<i64>,
    pub flags: Vec<String>,
    pub metadata: Option<Value>,
    /// Workspaces it goes into, embedding pending in each.
    pub workspace_ids: Vec<String>,
}

impl NewDocument {
    fn storage_key(&self) -> String {
        match &self.source {
            DocumentSource::Upload { upload_id, .. } => {
                document_key(&self.org_id, upload_id, &self.id)
            }
            DocumentSource::External { .. } => {
                library_document_key(&self.org_id, &self.id, &uuid::Uuid::now_v7().to_string())
            }
        }
    }
}

/// Stores the original and writes the document, its pages and its memberships.
/// Returns the storage key and whether the rows were written: `false` when the id
/// exists already or the upload's workspace holds the same content (the original stays
/// stored; the caller knows whether it is its own to delete).
pub async fn create_document(
    state: &AppState,
    mut new: NewDocument,
) -> anyhow::Result<(String, bool)> {
    // A file's NUL characters carry no text, and PostgreSQL cannot store them in a text
    // column (SQLite can): dropped here, for every source, so both databases hold the
    // same text. The original keeps its bytes.
    for (_, text) in new.pages.iter_mut() {
        if text.contains('\0') {
            *text = text.replace('\0', "");
        }
    }
    let storage_key = new.storage_key();
    let sha256 = hex::encode(Sha256::digest(&new.original));
    let size_bytes = new.original.len() as i64;
    state
        .storage
        .put_bytes(&storage_key, new.original.clone())
        .await?;
    let text_length: i64 = new
        .pages
        .iter()
        .map(|(_, t)| t.chars().count() as i64)
        .sum();
    let (upload_workspace_id, upload_job_id, archive_path, source) = match &new.source {
        DocumentSource::Upload {
            job_id,
            archive_path,
            workspace_id,
            ..
        } => (
            Some(workspace_id.clone()),
            Some(job_id.clone()),
            Some(archive_path.clone()),
            (SourceType::Upload, None, None, None),
        ),
        DocumentSource::External {
            source_type,
            source_url,
            external_id,
            external_last_updated,
        } => (
            None,
            None,
            None,
            (
                *source_type,
                source_url.clone(),
                external_id.clone(),
                *external_last_updated,
            ),
        ),
    };
    let row = NewDocumentRow {
        id: new.id.clone(),
        org_id: new.org_id.clone(),
        upload_workspace_id,
        upload_job_id,
        archive_path,
        name: new.name,
        title: new.title,
        source_type: source.0.as_str().to_owned(),
        source_url: source.1,
        external_id: source.2,
        external_last_updated: source.3,
        lifecycle_status: LifecycleStatus::Active.as_str().to_owned(),
        doc_type: new.doc_type.as_str().to_owned(),
        size_bytes,
        sha256,
        storage_key: storage_key.clone(),
        page_count: new.page_count.unwrap_or(new.pages.len() as i64),
        text_length,
        flags: serde_json::to_string(&new.flags)?,
        metadata: new.metadata.as_ref().map(Value::to_string),
        created_at: now_ms(),
    };
    let inserted =
        repo::insert_document(&state.db.pool, &row, &new.pages, &new.workspace_ids).await?;
    if inserted {
        state
            .events
            .publish_one(
                &row.org_id,
                crate::events::topic::DOCUMENTS,
                "document.created",
                serde_json::json!({
                    "document_id": row.id,
                    "title": row.title,
                    "doc_type": row.doc_type,
                    "source_type": row.source_type,
                    "job_id": row.upload_job_id,
                    "workspace_ids": new.workspace_ids,
                }),
            )
            .await;
    }
    Ok((storage_key, inserted))
}

/// Content given as JSON: a string is a text document, anything else a JSON document.
pub struct GivenContent {
    pub doc_type: DocType,
    pub original: Bytes,
    pub pages: Vec<(i64, String)>,
}

/// Turns the `content` of a request into a document's original and text, or a `422`
/// naming `content` (empty, or larger than the text limit).
pub fn given_content(state: &AppState, content: &Value) -> Result<GivenContent, ApiError> {
    let (doc_type, text, original) = match content {
        Value::String(s) => (DocType::Text, s.clone(), s.clone().into_bytes()),
        Value::Null => {
            return Err(ApiError::invalid_field(
                "content",
                "must be text or a JSON value",
            ));
        }
        other => {
            let pretty =
                serde_json::to_string_pretty(other).map_err(|e| ApiError::Internal(e.into()))?;
            (DocType::Json, pretty.clone(), pretty.into_bytes())
        }
    };
    if text.trim().is_empty() {
        return Err(ApiError::invalid_field("content", "must not be empty"));
    }
    let limit = crate::pdf::limits(&state.settings).max_text_bytes;
    if original.len() as u64 > limit {
        return Err(ApiError::invalid_field(
            "content",
            format!("must be at most {limit} bytes"),
        ));
    }
    Ok(GivenContent {
        doc_type,
        original: Bytes::from(original),
        pages: vec![(1, text)],
    })
}

/// The workspaces named, each checked to be the caller's (`404` otherwise), in order,
/// without repeats.
pub async fn own_workspaces(
    state: &AppState,
    principal: &Principal,
    ids: &[String],
) -> Result<Vec<WorkspaceRow>, ApiError> {
    let mut found: Vec<WorkspaceRow> = Vec::with_capacity(ids.len());
    for id in ids {
        if found.iter().any(|w| &w.id == id) {
            continue;
        }
        let ws = find_workspace(&state.db.pool, &principal.org_id, id)
            .await?
            .ok_or(ApiError::NotFound("workspace"))?;
        found.push(ws);
    }
    Ok(found)
}

/// A document of the caller's organisation, or `404`.
pub async fn find(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<DocumentRow, ApiError> {
    repo::find_document(&state.db.pool, &principal.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("document"))
}

/// A document of the organisation with its pages' text, for jobs (which have no
/// principal): `None` when the organisation has no such document.
pub async fn find_with_pages(
    state: &AppState,
    org_id: &str,
    id: &str,
) -> Result<Option<(DocumentRow, Vec<(i64, String)>)>, ApiError> {
    let Some(document) = repo::find_document(&state.db.pool, org_id, id).await? else {
        return Ok(None);
    };
    let pages = repo::document_pages(&state.db.pool, &document).await?;
    Ok(Some((document, pages)))
}

/// Documents of the organisation matching a filter (ids only, oldest first), for bulk
/// work over a workspace or a source type.
pub async fn find_ids(
    state: &AppState,
    org_id: &str,
    workspace_id: Option<&str>,
    source_type: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    Ok(repo::find_document_ids(&state.db.pool, org_id, workspace_id, source_type).await?)
}

/// What the API gives to create a document (validated by the caller's DTO).
pub struct ApiDocument {
    pub title: String,
    pub content: GivenContent,
    pub source_type: SourceType,
    pub source_url: Option<String>,
    pub external_id: Option<String>,
    pub external_last_updated: Option<i64>,
    pub metadata: Option<Value>,
    pub workspaces: Vec<WorkspaceRow>,
}

/// Creates a document from the API and enqueues the embedding in each of its workspaces.
pub async fn create_from_api(
    state: &AppState,
    principal: &Principal,
    doc: ApiDocument,
) -> Result<DocumentRow, ApiError> {
    let id = uuid::Uuid::now_v7().to_string();
    let new = NewDocument {
        id: id.clone(),
        org_id: principal.org_id.clone(),
        source: DocumentSource::External {
            source_type: doc.source_type,
            source_url: doc.source_url,
            external_id: doc.external_id,
            external_last_updated: doc.external_last_updated,
        },
        name: file_name_for(&doc.title, doc.content.doc_type),
        title: doc.title,
        doc_type: doc.content.doc_type,
        original: doc.content.original,
        pages: doc.content.pages,
        page_count: None,
        flags: Vec::new(),
        metadata: doc.metadata,
        workspace_ids: doc.workspaces.iter().map(|w| w.id.clone()).collect(),
    };
    create_document(state, new)
        .await
        .map_err(ApiError::Internal)?;
    for ws in &doc.workspaces {
        crate::workspaces::service::enqueue_embedding(state, &principal.org_id, &ws.id).await?;
    }
    find(state, principal, &id).await
}

/// What `PUT /documents/{id}` changes; `None` keeps the current value.
pub struct DocumentChange {
    pub title: Option<String>,
    pub content: GivenContent,
    pub source_url: Option<String>,
    pub external_id: Option<String>,
    pub external_last_updated: Option<i64>,
    pub metadata: Option<Value>,
}

/// Replaces a document's content: the old copy leaves every workspace's backend, the new
/// one is embedded in each by its embed job.
pub async fn update_content(
    state: &AppState,
    principal: &Principal,
    id: &str,
    change: DocumentChange,
) -> Result<DocumentRow, ApiError> {
    let current = find(state, principal, id).await?;
    let org = &principal.org_id;
    let storage_key = library_document_key(org, id, &uuid::Uuid::now_v7().to_string());
    let sha256 = hex::encode(Sha256::digest(&change.content.original));
    let size_bytes = change.content.original.len() as i64;
    state
        .storage
        .put_bytes(&storage_key, change.content.original.clone())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    // The old copy leaves each backend first, so no workspace answers from both.
    let memberships = repo::memberships_of_document(&state.db.pool, org, id).await?;
    for (workspace_id, _, _) in &memberships {
        remove_from_backend(state, org, workspace_id, id).await?;
    }
    let text_length: i64 = change
        .content
        .pages
        .iter()
        .map(|(_, t)| t.chars().count() as i64)
        .sum();
    let metadata = change
        .metadata
        .as_ref()
        .map(Value::to_string)
        .or(current.metadata.clone());
    let title = change.title.unwrap_or(current.title.clone());
    let update = repo::ContentUpdate {
        title: &title,
        source_url: change
            .source_url
            .as_deref()
            .or(current.source_url.as_deref()),
        external_id: change
            .external_id
            .as_deref()
            .or(current.external_id.as_deref()),
        external_last_updated: change
            .external_last_updated
            .or(current.external_last_updated),
        doc_type: change.content.doc_type.as_str(),
        size_bytes,
        sha256: &sha256,
        storage_key: &storage_key,
        text_length,
        metadata: metadata.as_deref(),
        pages: &change.content.pages,
    };
    let workspaces = repo::replace_content(&state.db.pool, org, id, &update).await?;
    if current.storage_key != storage_key
        && let Err(e) = state.storage.delete(&current.storage_key).await
    {
        tracing::warn!(error = %e, document.id = %id, "could not delete a replaced original");
    }
    for workspace_id in &workspaces {
        crate::workspaces::service::enqueue_embedding(state, org, workspace_id).await?;
    }
    // Whoever keeps something made from the old content (summaries) hears of it.
    state
        .document_hooks
        .content_changed(
            state,
            ContentChanged {
                org_id: org.clone(),
                document_id: id.to_owned(),
                changed_by: principal.user_id.clone(),
            },
        )
        .await?;
    state
        .events
        .publish_one(
            org,
            crate::events::topic::DOCUMENTS,
            "document.updated",
            serde_json::json!({ "document_id": id, "title": title, "workspace_ids": workspaces }),
        )
        .await;
    find(state, principal, id).await
}

/// Puts a document into a workspace and enqueues its embedding there. Adding it again
/// changes nothing.
pub async fn add_to_workspace(
    state: &AppState,
    principal: &Principal,
    workspace_id: &str,
    id: &str,
) -> Result<DocumentRow, ApiError> {
    let ws = own_workspaces(state, principal, &[workspace_id.to_owned()]).await?;
    let document = find(state, principal, id).await?;
    let added = repo::add_membership(
        &state.db.pool,
        &principal.org_id,
        workspace_id,
        &document.id,
        now_ms(),
    )
    .await?;
    if added {
        for w in &ws {
            crate::workspaces::service::enqueue_embedding(state, &principal.org_id, &w.id).await?;
        }
    }
    repo::find_document_in_workspace(&state.db.pool, &principal.org_id, workspace_id, id)
        .await?
        .ok_or(ApiError::NotFound("document"))
}

/// Takes a document out of one workspace: its copy on that workspace's backend goes,
/// the document and its other memberships stay. `404` when it is not in the workspace.
pub async fn remove_from_workspace(
    state: &AppState,
    principal: &Principal,
    workspace_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    own_workspaces(state, principal, &[workspace_id.to_owned()]).await?;
    let org = &principal.org_id;
    repo::find_document_in_workspace(&state.db.pool, org, workspace_id, id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    remove_from_backend(state, org, workspace_id, id).await?;
    repo::delete_membership(&state.db.pool, org, workspace_id, id).await?;
    Ok(())
}

/// Deletes a document: its copy leaves every workspace's backend first (embedded chunks
/// with a new index generation, AnythingLLM's embedding and stored file), then its rows
/// and its original. A backend that fails stops the delete before the rows go, so the
/// client can repeat it; nothing is left that a chat or a run could retrieve.
pub async fn delete_document(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(), ApiError> {
    let org = &principal.org_id;
    let row = find(state, principal, id).await?;
    let memberships = repo::memberships_of_document(&state.db.pool, org, id).await?;
    for (workspace_id, _, _) in &memberships {
        remove_from_backend(state, org, workspace_id, id).await?;
    }
    // The row goes before the file: a failed file delete leaves an orphan object, never
    // a document whose original is missing.
    repo::delete_document(&state.db.pool, org, id).await?;
    // An embed job running meanwhile may have written chunks again; they went with the
    // row by cascade, and every instance's index cache must learn it.
    for (workspace_id, _, _) in &memberships {
        if let Some(ws) = find_workspace(&state.db.pool, org, workspace_id).await? {
            state
                .backends
                .document_deleted(&ws)
                .await
                .map_err(ApiError::from)?;
        }
    }
    if let Err(e) = state.storage.delete(&row.storage_key).await {
        tracing::warn!(error = %e, document.id = %id, "could not delete a document's original");
    }
    state
        .events
        .publish_one(
            org,
            crate::events::topic::DOCUMENTS,
            "document.deleted",
            serde_json::json!({ "document_id": id }),
        )
        .await;
    Ok(())
}

/// What deleting a workspace takes with it, found before the delete.
pub struct WorkspaceLeaving {
    /// Where the workspace's backend keeps its documents (purged with it).
    pub backend_locations: Vec<String>,
    /// Other workspaces that held documents born in this one (they go by cascade).
    pub other_workspaces: Vec<String>,
}

/// Before a workspace is deleted: the documents an upload brought into it are deleted
/// with it (by cascade), so their copies leave every other workspace's backend first.
pub async fn workspace_leaving(
    state: &AppState,
    org_id: &str,
    workspace_id: &str,
) -> Result<WorkspaceLeaving, ApiError> {
    let pool = &state.db.pool;
    let mut other_workspaces: Vec<String> = Vec::new();
    for id in repo::document_ids_born_in_workspace(pool, org_id, workspace_id).await? {
        for (other, _, _) in repo::memberships_of_document(pool, org_id, &id).await? {
            if other == workspace_id {
                continue;
            }
            remove_from_backend(state, org_id, &other, &id).await?;
            if !other_workspaces.contains(&other) {
                other_workspaces.push(other);
            }
        }
    }
    Ok(WorkspaceLeaving {
        backend_locations: repo::backend_locations_of_workspace(pool, org_id, workspace_id).await?,
        other_workspaces,
    })
}

/// After the workspace's rows are gone: the other workspaces' index caches forget the
/// documents that went by cascade.
pub async fn workspace_left(
    state: &AppState,
    org_id: &str,
    leaving: &WorkspaceLeaving,
) -> Result<(), ApiError> {
    for other in &leaving.other_workspaces {
        if let Some(ws) = find_workspace(&state.db.pool, org_id, other).await? {
            state
                .backends
                .document_deleted(&ws)
                .await
                .map_err(ApiError::from)?;
        }
    }
    Ok(())
}

/// Removes the document's copy (chunks, or the backend's file) from one workspace.
async fn remove_from_backend(
    state: &AppState,
    org_id: &str,
    workspace_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    let Some(ws) = find_workspace(&state.db.pool, org_id, workspace_id).await? else {
        return Ok(());
    };
    let Some(row) =
        repo::find_document_in_workspace(&state.db.pool, org_id, workspace_id, id).await?
    else {
        return Ok(());
    };
    state
        .backends
        .remove_document(&ws, &row)
        .await
        .map_err(ApiError::from)
}

/// A file name for a document given as content: the title made safe, with the type's
/// extension (backends that parse files go by it).
fn file_name_for(title: &str, doc_type: DocType) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let extension = match doc_type {
        DocType::Text => "txt",
        other => other.as_str(),
    };
    format!("{stem}.{extension}")
}

/// The workspace's document-set generation: moved on by every document added to it,
/// removed from it, given new content or embedded there (the answer cache's key).
pub async fn document_generation(
    state: &AppState,
    org_id: &str,
    workspace_id: &str,
) -> sqlx::Result<i64> {
    repo::document_generation(&state.db.pool, org_id, workspace_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_the_title_made_safe_with_the_type_extension() {
        assert_eq!(
            file_name_for("Q3 report/final", DocType::Text),
            "Q3_report_final.txt"
        );
        assert_eq!(file_name_for("data", DocType::Json), "data.json");
    }
}
