use serde::Serialize;
use utoipa::ToSchema;

use crate::documents::repo::DocumentRow;
use crate::time::ms_to_rfc3339;

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentResponse {
    pub id: String,
    pub workspace_id: String,
    pub upload_job_id: String,
    /// Path of the file inside the uploaded archive.
    pub archive_path: String,
    pub name: String,
    /// `pdf`, `json` or `csv`.
    pub doc_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub page_count: i64,
    pub text_length: i64,
    /// `extracted`, `embedded` or `embed_failed`.
    pub status: String,
    /// e.g. `no_text` for a scanned PDF without a text layer.
    pub flags: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub links: DocumentLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentLinks {
    pub text: String,
    pub download: String,
}

impl From<DocumentRow> for DocumentResponse {
    fn from(r: DocumentRow) -> Self {
        let links = DocumentLinks {
            text: format!("/api/v1/documents/{}/text", r.id),
            download: format!("/api/v1/documents/{}/download", r.id),
        };
        Self {
            flags: serde_json::from_str(&r.flags).unwrap_or_default(),
            metadata: r
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok()),
            id: r.id,
            workspace_id: r.workspace_id,
            upload_job_id: r.upload_job_id,
            archive_path: r.archive_path,
            name: r.name,
            doc_type: r.doc_type,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            page_count: r.page_count,
            text_length: r.text_length,
            status: r.status,
            error: r.error,
            created_at: ms_to_rfc3339(r.created_at),
            updated_at: ms_to_rfc3339(r.updated_at),
            links,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageTextResponse {
    pub page: i64,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentTextResponse {
    pub document_id: String,
    pub doc_type: String,
    pub pages: Vec<PageTextResponse>,
}
