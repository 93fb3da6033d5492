//! The workspace backends behind one interface: a remote AnythingLLM instance, or
//! Quire's own embedded engine. Services call [`Backends`], which dispatches on the
//! workspace's `backend` column; neither side knows HTTP routes.

pub mod anythingllm;
pub mod embedded;
pub mod limits;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::documents::repo::DocumentRow;
use crate::workspaces::repo::WorkspaceRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Embedded,
    Anythingllm,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Anythingllm => "anythingllm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "embedded" => Some(Self::Embedded),
            "anythingllm" => Some(Self::Anythingllm),
            _ => None,
        }
    }
}

/// A passage an answer drew on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnswerSource {
    pub document_id: Option<String>,
    pub document_name: Option<String>,
    pub page: Option<i64>,
    pub snippet: String,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    pub text: String,
    pub sources: Vec<AnswerSource>,
}

/// How to ask one question.
#[derive(Debug, Clone, Default)]
pub struct AskOptions {
    /// The backend's thread reference (from [`Backends::open_thread`]).
    pub thread: Option<String>,
    /// Answer only from documents of these types (empty: all).
    pub doc_types: Vec<String>,
    /// Answer only from these documents (empty: all).
    pub document_ids: Vec<String>,
    /// Per-question or per-run LLM settings overriding the workspace's.
    pub llm_override: Option<quire_llm::LlmOverride>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Worth retrying later: the backend is overloaded, down or its breaker is open.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The backend refused this request; retrying will not help.
    #[error("backend refused the request: {0}")]
    Refused(String),
    #[error("backend not configured: {0}")]
    NotConfigured(String),
    /// The LLM settings resolved for this question cannot be used.
    #[error("invalid LLM settings: {0}")]
    InvalidLlmSettings(quire_llm::SettingsError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What a client is told when a backend fails: unavailable is 503 (retry later), refused
/// is 502 (`backend_error`), not configured is 422 on the `backend` field.
impl From<BackendError> for crate::error::ApiError {
    fn from(e: BackendError) -> Self {
        use crate::error::ApiError;
        match e {
            BackendError::Unavailable(m) => {
                ApiError::ServiceUnavailable(format!("the workspace's backend is unavailable: {m}"))
            }
            BackendError::Refused(m) => {
                ApiError::Upstream(format!("the workspace's backend refused: {m}"))
            }
            BackendError::NotConfigured(m) => ApiError::Validation {
                message: format!("the backend is not configured on this server: {m}"),
                details: Some(json!({ "field": "backend" })),
            },
            BackendError::InvalidLlmSettings(e) => ApiError::invalid_llm_settings("llm_config", &e),
            BackendError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl BackendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// What happened to one document handed to a backend.
#[derive(Debug, Clone)]
pub struct EmbedResult {
    pub document_id: String,
    /// Where the backend keeps it (AnythingLLM location), when embedded.
    pub location: Result<Option<String>, String>,
}

pub struct Backends {
    pub anythingllm: Option<anythingllm::AnythingLlmBackend>,
    pub embedded: embedded::EmbeddedBackend,
}

impl Backends {
    fn anythingllm(&self) -> Result<&anythingllm::AnythingLlmBackend, BackendError> {
        self.anythingllm.as_ref().ok_or_else(|| {
            BackendError::NotConfigured("set ANYTHINGLLM_URL and ANYTHINGLLM_API_KEY".into())
        })
    }

    pub fn is_available(&self, kind: BackendKind) -> bool {
        match kind {
            BackendKind::Embedded => true,
            BackendKind::Anythingllm => self.anythingllm.is_some(),
        }
    }

    /// Creates the backend side of a new workspace; returns its reference (slug).
    pub async fn create_workspace(
        &self,
        ws: &WorkspaceRow,
    ) -> Result<Option<String>, BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => Ok(None),
            BackendKind::Anythingllm => self.anythingllm()?.create_workspace(ws).await.map(Some),
        }
    }

    pub async fn update_workspace(&self, ws: &WorkspaceRow) -> Result<(), BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => Ok(()),
            BackendKind::Anythingllm => self.anythingllm()?.update_workspace(ws).await,
        }
    }

    /// Deletes the backend side of a workspace. `locations` are where the backend keeps
    /// the workspace's documents (AnythingLLM keeps uploaded files after the workspace is
    /// gone, so they are purged too).
    pub async fn delete_workspace(
        &self,
        ws: &WorkspaceRow,
        locations: &[String],
    ) -> Result<(), BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => self.embedded.delete_workspace(ws).await,
            BackendKind::Anythingllm => {
                let backend = self.anythingllm()?;
                backend.delete_workspace(ws).await?;
                backend.purge_files(locations).await
            }
        }
    }

    /// Called after a document's rows are deleted (its chunks go by cascade): the
    /// embedded index caches of every instance must not answer from them any more.
    pub async fn document_deleted(&self, ws: &WorkspaceRow) -> Result<(), BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => self.embedded.invalidate(ws).await,
            BackendKind::Anythingllm => Ok(()),
        }
    }

    /// Hands documents (with their bytes or pages) to the backend.
    pub async fn add_documents(
        &self,
        ws: &WorkspaceRow,
        docs: Vec<DocumentForBackend>,
    ) -> Result<Vec<EmbedResult>, BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => self.embedded.add_documents(ws, docs).await,
            BackendKind::Anythingllm => self.anythingllm()?.add_documents(ws, docs).await,
        }
    }

    pub async fn remove_document(
        &self,
        ws: &WorkspaceRow,
        doc: &DocumentRow,
    ) -> Result<(), BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => self.embedded.remove_document(ws, doc).await,
            BackendKind::Anythingllm => self.anythingllm()?.remove_document(ws, doc).await,
        }
    }

    pub async fn open_thread(
        &self,
        ws: &WorkspaceRow,
        name: &str,
    ) -> Result<Option<String>, BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => Ok(None),
            BackendKind::Anythingllm => self.anythingllm()?.open_thread(ws, name).await.map(Some),
        }
    }

    pub async fn close_thread(
        &self,
        ws: &WorkspaceRow,
        backend_ref: &str,
    ) -> Result<(), BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => Ok(()),
            BackendKind::Anythingllm => self.anythingllm()?.close_thread(ws, backend_ref).await,
        }
    }

    /// Asks one question. `history` is the thread's earlier turns (embedded keeps them
    /// in our database; AnythingLLM keeps its own per thread).
    pub async fn ask(
        &self,
        ws: &WorkspaceRow,
        question: &str,
        options: &AskOptions,
        history: &[(String, String)],
    ) -> Result<Answer, BackendError> {
        match ws.backend_kind() {
            BackendKind::Embedded => self.embedded.ask(ws, question, options, history).await,
            BackendKind::Anythingllm => self.anythingllm()?.ask(ws, question, options).await,
        }
    }

    /// One entry per configured backend for `/health/detailed`.
    pub async fn health(&self) -> Vec<(String, Value)> {
        let mut out = vec![("backend:embedded".to_owned(), self.embedded.health())];
        if let Some(a) = &self.anythingllm {
            out.push(("backend:anythingllm".to_owned(), a.health().await));
        }
        out
    }
}

/// A document as a backend needs it: the row, its text per page, and (for backends
/// that parse files themselves) the original bytes.
pub struct DocumentForBackend {
    pub row: DocumentRow,
    pub pages: Vec<(i64, String)>,
    pub original: Option<bytes::Bytes>,
}

pub fn status_json(status: &str, extra: Value) -> Value {
    let mut v = json!({ "status": status });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}
