//! The JSON shapes of the AnythingLLM developer API, as the handlers produce
//! them (which differs from the Swagger examples in places).

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};

/// How a chat uses the workspace's documents. Send it explicitly: `automatic`
/// may switch to the agent path depending on the provider, which makes replies
/// depend on server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatMode {
    Automatic,
    /// The LLM answers with retrieved context plus its own knowledge and the
    /// rolling history.
    Chat,
    /// Answers only from retrieved context; with no hit the workspace's
    /// `queryRefusalResponse` comes back without the LLM being called.
    Query,
}

impl ChatMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatMode::Automatic => "automatic",
            ChatMode::Chat => "chat",
            ChatMode::Query => "query",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorSearchMode {
    Default,
    Rerank,
}

/// A workspace row. `documents` and `threads` are filled only by the calls that
/// return them (get and update-embeddings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub vector_tag: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_updated_at: Option<String>,
    #[serde(default)]
    pub open_ai_temp: Option<f64>,
    #[serde(default)]
    pub open_ai_history: Option<i64>,
    /// The system prompt.
    #[serde(default)]
    pub open_ai_prompt: Option<String>,
    #[serde(default)]
    pub similarity_threshold: Option<f64>,
    #[serde(default)]
    pub chat_provider: Option<String>,
    #[serde(default)]
    pub chat_model: Option<String>,
    #[serde(default, rename = "topN")]
    pub top_n: Option<i64>,
    /// Kept as text: the server may grow modes this crate does not know.
    #[serde(default)]
    pub chat_mode: Option<String>,
    #[serde(default)]
    pub agent_provider: Option<String>,
    #[serde(default)]
    pub agent_model: Option<String>,
    #[serde(default)]
    pub query_refusal_response: Option<String>,
    #[serde(default)]
    pub vector_search_mode: Option<String>,
    #[serde(default)]
    pub documents: Vec<WorkspaceDocument>,
    #[serde(default)]
    pub threads: Vec<ThreadRef>,
    #[serde(default)]
    pub context_window: Option<i64>,
    #[serde(default)]
    pub current_context_token_count: Option<i64>,
}

impl Workspace {
    /// The locations among `locations` that are not embedded in this workspace.
    pub fn missing_locations<'a>(
        &self,
        locations: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        locations
            .into_iter()
            .filter(|location| !self.has_document(location))
            .map(str::to_owned)
            .collect()
    }

    pub fn has_document(&self, location: &str) -> bool {
        self.documents.iter().any(|d| d.docpath == location)
    }
}

/// A document embedded in a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceDocument {
    pub id: i64,
    pub doc_id: String,
    pub filename: String,
    /// The document's location, as returned by upload.
    pub docpath: String,
    pub workspace_id: i64,
    /// A JSON object encoded as a string.
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub watched: bool,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_updated_at: Option<String>,
}

/// A thread as listed inside a workspace (no name on GET workspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadRef {
    #[serde(default)]
    pub user_id: Option<i64>,
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A workspace thread as created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub workspace_id: i64,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<String>,
    #[serde(default, rename = "lastUpdatedAt")]
    pub last_updated_at: Option<String>,
}

/// Optional thread attributes. The server slugifies a supplied slug, and a
/// duplicate slug fails.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewThread {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

/// Writable workspace fields for create and update. `None` fields are not sent
/// and keep their value; the server normalises rather than rejects values (see
/// the reference's table: a negative temperature becomes the provider default,
/// a threshold is clamped to 0 to 1, an unknown chat mode becomes automatic).
///
/// `chat_provider: Some("default")` on update clears both provider and model.
/// `name: Some("")` on update renames the workspace to "My Workspace".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_ai_temp: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_ai_history: Option<i64>,
    /// The system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_ai_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_threshold: Option<f64>,
    #[serde(rename = "topN", skip_serializing_if = "Option::is_none")]
    pub top_n: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_mode: Option<ChatMode>,
    /// Not validated when written: an unknown provider fails only when a chat
    /// runs, as a 500 abort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_refusal_response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_search_mode: Option<VectorSearchMode>,
}

impl WorkspaceSettings {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Metadata the collector honours on upload; on raw-text upload `title` is
/// required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

/// One file for `POST /v1/document/upload`. The server takes exactly one file
/// per request.
#[derive(Debug, Clone)]
pub struct FileUpload {
    pub file_name: String,
    pub content: Bytes,
    /// Sent as the part's content type; guessed from the extension if `None`.
    pub mime: Option<String>,
    /// Upload into this storage folder (created if missing) instead of
    /// `custom-documents`; the returned location starts with it.
    pub folder: Option<String>,
    /// Workspaces to embed into right away. A failure there is only logged by
    /// the server, so prefer [`crate::Client::attach_documents`], which checks.
    pub add_to_workspaces: Vec<String>,
    pub metadata: Option<DocumentMetadata>,
}

impl FileUpload {
    pub fn new(file_name: impl Into<String>, content: impl Into<Bytes>) -> Self {
        Self {
            file_name: file_name.into(),
            content: content.into(),
            mime: None,
            folder: None,
            add_to_workspaces: Vec::new(),
            metadata: None,
        }
    }

    pub fn mime(mut self, mime: impl Into<String>) -> Self {
        self.mime = Some(mime.into());
        self
    }

    pub fn in_folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into());
        self
    }

    pub fn metadata(mut self, metadata: DocumentMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    pub fn add_to_workspace(mut self, slug: impl Into<String>) -> Self {
        self.add_to_workspaces.push(slug.into());
        self
    }
}

/// Text that becomes a document without a file or the collector's parsers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RawTextUpload {
    pub text_content: String,
    /// `title` is required by the server (422 otherwise).
    pub metadata: DocumentMetadata,
    /// Comma-separated slugs; empty means none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub add_to_workspaces: String,
}

impl RawTextUpload {
    pub fn new(title: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            text_content: text.into(),
            metadata: DocumentMetadata {
                title: Some(title.into()),
                ..DocumentMetadata::default()
            },
            add_to_workspaces: String::new(),
        }
    }
}

/// A document as stored by the collector. Its `location` is what
/// update-embeddings and move-files take, not the original file name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    #[serde(default)]
    pub id: Option<String>,
    pub location: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub doc_author: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub doc_source: Option<String>,
    #[serde(default)]
    pub chunk_source: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub published: Option<String>,
    #[serde(default)]
    pub word_count: Option<u64>,
    #[serde(default, rename = "token_count_estimate")]
    pub token_count_estimate: Option<u64>,
    /// The full extracted text.
    #[serde(default)]
    pub page_content: Option<String>,
    #[serde(default)]
    pub is_direct_upload: Option<bool>,
}

/// Documents to embed into and remove from a workspace, by location.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmbeddingChanges {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adds: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<String>,
}

/// The outcome of update-embeddings, checked against the returned workspace,
/// because the server reports success even when an add was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedOutcome {
    pub workspace: Workspace,
    /// Adds that are not in the workspace's documents afterwards.
    pub missing: Vec<String>,
    /// Deletes that are still in the workspace's documents afterwards.
    pub lingering: Vec<String>,
}

impl EmbedOutcome {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.lingering.is_empty()
    }
}

/// One file move inside document storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileMove {
    pub from: String,
    pub to: String,
}

/// The result of move-files. The server silently leaves files that are embedded
/// in any workspace where they are, so move before embedding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveOutcome {
    pub not_moved: usize,
    pub message: Option<String>,
}

/// A chat turn. `mode` is required here on purpose (see [`ChatMode`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    pub message: String,
    pub mode: ChatMode,
    /// Partitions the history per external user; ignored in thread chats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Clears the history of this scope first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

impl ChatRequest {
    pub fn new(message: impl Into<String>, mode: ChatMode) -> Self {
        Self {
            message: message.into(),
            mode,
            session_id: None,
            reset: false,
        }
    }
}

/// A successful chat answer. Aborts never become one of these; they are
/// [`crate::Error::Aborted`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub text: String,
    pub sources: Vec<Source>,
    /// Present when the server saved the exchange (absent for refusals).
    pub chat_id: Option<i64>,
    pub metrics: Option<serde_json::Value>,
}

/// A retrieved chunk that the answer drew on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub doc_source: Option<String>,
    #[serde(default)]
    pub chunk_source: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub published: Option<String>,
    /// The chunk's text.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub score: Option<f64>,
}

/// The wire shape of a chat answer, kept private so that callers only ever see
/// an answer that is not an abort.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawChat {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub text_response: Option<String>,
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    #[serde(default)]
    pub chat_id: Option<i64>,
    #[serde(default)]
    pub metrics: Option<serde_json::Value>,
}

impl RawChat {
    /// The abort reason, if this answer is a failure dressed as a reply.
    pub(crate) fn abort_reason(&self) -> Option<String> {
        let error = match &self.error {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        if self.kind.as_deref() == Some("abort") {
            return Some(error.unwrap_or_else(|| "the server aborted the chat".to_owned()));
        }
        error
    }
}

/// `published` is a formatted date string in the handlers but an epoch number
/// in the raw-text metadata schema; accept either.
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}
