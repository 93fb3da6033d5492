//! The document's types: where it came from (`SourceType`), its own lifecycle
//! (`LifecycleStatus`), and its embedding in one workspace (`EmbedStatus`); and the DTOs.
//! Stored and sent as the strings `as_str` gives.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::documents::repo::DocumentRow;
use crate::time::ms_to_rfc3339;

/// Where a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    Upload,
    Api,
    Notion,
    Confluence,
    Guru,
}

impl SourceType {
    pub const ALL: [SourceType; 5] = [
        Self::Upload,
        Self::Api,
        Self::Notion,
        Self::Confluence,
        Self::Guru,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Api => "api",
            Self::Notion => "notion",
            Self::Confluence => "confluence",
            Self::Guru => "guru",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The document's own state, whatever workspaces it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStatus {
    Active,
    /// Its source is being re-read (integrations).
    Updating,
    /// Its source could not be read; the last good content stays.
    Error,
}

impl LifecycleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Updating => "updating",
            Self::Error => "error",
        }
    }
}

/// The embedding of a document in one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmbedStatus {
    /// Text is there, waiting for the workspace's embed job.
    Extracted,
    Embedded,
    EmbedFailed,
}

impl EmbedStatus {
    pub const ALL: [EmbedStatus; 3] = [Self::Extracted, Self::Embedded, Self::EmbedFailed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extracted => "extracted",
            Self::Embedded => "embedded",
            Self::EmbedFailed => "embed_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentResponse {
    pub id: String,
    /// The workspace this view of the document is in: the listed workspace, or for a
    /// single document its first workspace; `null` when it is in none.
    pub workspace_id: Option<String>,
    /// Set for documents born from an upload.
    pub upload_job_id: Option<String>,
    /// Path of the file inside the uploaded archive (uploads only).
    pub archive_path: Option<String>,
    pub name: String,
    pub title: String,
    /// `upload`, `api`, `notion`, `confluence` or `guru`.
    pub source_type: String,
    pub source_url: Option<String>,
    pub external_id: Option<String>,
    pub external_last_updated: Option<String>,
    /// The document's own state: `active`, `updating` or `error`.
    pub lifecycle_status: String,
    /// `pdf`, `json`, `csv` or `text`.
    pub doc_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub page_count: i64,
    pub text_length: i64,
    /// Embedding in `workspace_id`: `extracted`, `embedded` or `embed_failed`; `null`
    /// when the document is in no workspace.
    pub status: Option<String>,
    /// e.g. `no_text` for a scanned PDF without a text layer.
    pub flags: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Why embedding failed in `workspace_id`.
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
            title: r.title,
            source_type: r.source_type,
            source_url: r.source_url,
            external_id: r.external_id,
            external_last_updated: r.external_last_updated.map(ms_to_rfc3339),
            lifecycle_status: r.lifecycle_status,
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

pub use crate::text::MAX_TITLE_CHARS;
/// The sources a document given as content may name (`upload` is for uploads).
fn api_source_type_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::docs::contract::one_of_or_null(
        SourceType::ALL
            .into_iter()
            .filter(|t| *t != SourceType::Upload)
            .map(SourceType::as_str),
    )
}

/// Where a document came from, as a filter.
pub fn source_type_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::docs::contract::one_of(SourceType::ALL.map(SourceType::as_str))
}

/// Longest `source_url` and `external_id`, in characters.
const MAX_REFERENCE_CHARS: usize = 2048;
/// Largest `metadata`, serialised.
const MAX_METADATA_BYTES: usize = 64 * 1024;

/// `POST /api/v1/documents`: a document from content given as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDocumentRequest {
    #[schema(value_type = crate::text::Title)]
    pub title: String,
    /// Text (a JSON string) or any other JSON value (stored and indexed as JSON).
    pub content: serde_json::Value,
    /// `api` (default), `notion`, `confluence` or `guru`; `upload` is for uploads only.
    #[schema(schema_with = api_source_type_schema)]
    pub source_type: Option<String>,
    /// An http(s) URL.
    #[schema(
        max_length = 2048,
        pattern = "^https?://[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub source_url: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub external_id: Option<String>,
    /// RFC 3339 time the source last changed the document.
    #[schema(format = DateTime)]
    pub external_last_updated: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Workspaces to put it in (each embeds it); none keeps it in the library only.
    #[serde(default)]
    pub workspace_ids: Vec<String>,
}

/// `PUT /api/v1/documents/{id}`: new content (and optionally new fields); absent fields
/// keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDocumentRequest {
    #[schema(value_type = Option<crate::text::Title>)]
    pub title: Option<String>,
    /// Text (a JSON string) or any other JSON value.
    pub content: serde_json::Value,
    /// An http(s) URL.
    #[schema(
        max_length = 2048,
        pattern = "^https?://[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub source_url: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    pub external_id: Option<String>,
    #[schema(format = DateTime)]
    pub external_last_updated: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// The checked source fields of a request.
pub struct SourceFields {
    pub source_url: Option<String>,
    pub external_id: Option<String>,
    pub external_last_updated: Option<i64>,
    pub metadata: Option<serde_json::Value>,
}

/// A title: the rule for every name (`crate::text::parse_name`: not blank, at most
/// [`MAX_TITLE_CHARS`], no control characters or direction overrides).
pub fn parse_title(title: &str) -> Result<String, crate::error::ApiError> {
    crate::text::parse_name("title", title, MAX_TITLE_CHARS)
}

/// A source type given through the API (`upload` is not: uploads make those).
pub fn parse_api_source_type(s: Option<&str>) -> Result<SourceType, crate::error::ApiError> {
    match s.map(|s| (s, SourceType::parse(s))) {
        None => Ok(SourceType::Api),
        Some((_, Some(t))) if t != SourceType::Upload => Ok(t),
        Some((given, _)) => Err(crate::error::ApiError::invalid_field(
            "source_type",
            format!("must be api, notion, confluence or guru, not {given:?}"),
        )),
    }
}

pub fn parse_source_fields(
    source_url: Option<String>,
    external_id: Option<String>,
    external_last_updated: Option<String>,
    metadata: Option<serde_json::Value>,
) -> Result<SourceFields, crate::error::ApiError> {
    use crate::error::ApiError;
    if let Some(url) = &source_url
        && (!(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().count() > MAX_REFERENCE_CHARS
            || url.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(ApiError::invalid_field(
            "source_url",
            format!("must be an http(s) URL of at most {MAX_REFERENCE_CHARS} characters"),
        ));
    }
    if let Some(id) = &external_id
        && (id.is_empty()
            || id.chars().count() > MAX_REFERENCE_CHARS
            || id.chars().any(char::is_control))
    {
        return Err(ApiError::invalid_field(
            "external_id",
            format!("must be 1 to {MAX_REFERENCE_CHARS} characters without control characters"),
        ));
    }
    let external_last_updated = match &external_last_updated {
        None => None,
        Some(s) => Some(crate::time::rfc3339_to_ms(s).ok_or_else(|| {
            ApiError::invalid_field("external_last_updated", "must be an RFC 3339 time")
        })?),
    };
    if let Some(m) = &metadata
        && (!m.is_object() || m.to_string().len() > MAX_METADATA_BYTES)
    {
        return Err(ApiError::invalid_field(
            "metadata",
            format!("must be a JSON object of at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(SourceFields {
        source_url,
        external_id,
        external_last_updated,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_trimmed_and_refused_when_blank_or_with_control_characters() {
        assert_eq!(
            parse_title("  Q3 report ").ok().as_deref(),
            Some("Q3 report")
        );
        assert!(parse_title("   ").is_err());
        assert!(parse_title("a\u{7}b").is_err());
        assert!(parse_title("evil\u{202E}fdp").is_err());
        assert!(parse_title(&"x".repeat(MAX_TITLE_CHARS + 1)).is_err());
    }

    #[test]
    fn the_api_may_name_any_source_but_upload() {
        assert_eq!(parse_api_source_type(None).ok(), Some(SourceType::Api));
        assert_eq!(
            parse_api_source_type(Some("notion")).ok(),
            Some(SourceType::Notion)
        );
        assert!(parse_api_source_type(Some("upload")).is_err());
        assert!(parse_api_source_type(Some("dropbox")).is_err());
    }
}
