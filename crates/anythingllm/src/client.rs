use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::config::ClientConfig;
use crate::error::{Error, Idempotency, Result};
use crate::transport::{Answer, Call, MultipartBody, Operation, Payload, Transport, ok_json};
use crate::types::{
    ChatRequest, ChatResponse, Document, EmbedOutcome, EmbeddingChanges, FileMove, FileUpload,
    MoveOutcome, NewThread, RawChat, RawTextUpload, Thread, Workspace, WorkspaceSettings,
};
use quire_resilience::{BreakerState, CircuitBreaker};

/// A client for one AnythingLLM instance. Cheap to clone; clones share the
/// connection pool and the circuit breaker.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    transport: Transport,
    call_timeout: Duration,
    embed_timeout: Duration,
    chat_timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self> {
        let base = parse_base_url(&config.base_url)?;
        let mut auth = HeaderValue::try_from(format!("Bearer {}", config.api_key.expose()))
            .map_err(|_| {
                Error::InvalidConfig(
                    "the API key contains characters not allowed in a header".into(),
                )
            })?;
        // Keeps the value out of reqwest's and hyper's debug output.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("quire-anythingllm/", env!("CARGO_PKG_VERSION"))),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            // A redirect means the base URL is wrong (often http to https);
            // following it would turn POSTs into GETs and hide the mistake.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::InvalidConfig(e.without_url().to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                transport: Transport {
                    http,
                    retry: config.retry,
                    breaker: CircuitBreaker::new("AnythingLLM", config.breaker),
                    max_response_bytes: config.max_response_bytes,
                },
                call_timeout: config.call_timeout,
                embed_timeout: config.embed_timeout,
                chat_timeout: config.chat_timeout,
            }),
        })
    }

    /// The API root this client talks to.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The circuit breaker's state, for health reporting.
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.transport.breaker.state()
    }

    /// `GET /ping`: the server is up. Needs no key.
    pub async fn ping(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Online {
            online: bool,
        }
        let call = self.call(Operation::Ping, Method::GET, &["ping"], Payload::Empty)?;
        let online: Online = self.inner.transport.execute(&call, ok_json).await?;
        if online.online {
            Ok(())
        } else {
            Err(Error::Decode("ping answered online:false".into()))
        }
    }

    /// `GET /v1/auth`: the key is valid.
    pub async fn check_auth(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Authenticated {
            authenticated: bool,
        }
        let call = self.call(
            Operation::Auth,
            Method::GET,
            &["v1", "auth"],
            Payload::Empty,
        )?;
        let answer: Authenticated = self.inner.transport.execute(&call, ok_json).await?;
        if answer.authenticated {
            Ok(())
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// `POST /v1/workspace/new`. The server derives the slug from the name and
    /// adds a random suffix when it is taken, so use the returned slug.
    ///
    /// Not retried after the request may have arrived: a retry could create a
    /// second workspace under another slug.
    pub async fn create_workspace(
        &self,
        name: &str,
        settings: &WorkspaceSettings,
    ) -> Result<Workspace> {
        let body = WorkspaceSettings {
            name: Some(name.to_owned()),
            ..settings.clone()
        };
        let mut call = self.call(
            Operation::CreateWorkspace,
            Method::POST,
            &["v1", "workspace", "new"],
            Payload::json(&body)?,
        )?;
        call.idempotency = Idempotency::Unsafe;
        self.inner
            .transport
            .execute(&call, |answer| {
                // 400 carries `{workspace:null, message}` for a missing name or
                // a database error.
                if !answer.status.is_success() && answer.status != StatusCode::BAD_REQUEST {
                    return Err(answer.error());
                }
                let body: WorkspaceEnvelope = answer.json()?;
                body.workspace.ok_or_else(|| {
                    Error::BadRequest(body.message.unwrap_or_else(|| answer.reason()))
                })
            })
            .await
    }

    /// `GET /v1/workspaces`. Entries carry threads but no documents.
    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        #[derive(Deserialize)]
        struct List {
            workspaces: Vec<Workspace>,
        }
        let call = self.call(
            Operation::ListWorkspaces,
            Method::GET,
            &["v1", "workspaces"],
            Payload::Empty,
        )?;
        let list: List = self.inner.transport.execute(&call, ok_json).await?;
        Ok(list.workspaces)
    }

    /// `GET /v1/workspace/{slug}` with its documents and threads, or `None`.
    /// The server answers an array (empty for an unknown slug, never 404), and
    /// matches the slug exactly, case included.
    pub async fn get_workspace(&self, slug: &str) -> Result<Option<Workspace>> {
        let call = self.call(
            Operation::GetWorkspace,
            Method::GET,
            &["v1", "workspace", slug],
            Payload::Empty,
        )?;
        self.inner
            .transport
            .execute(&call, |answer| {
                let body: serde_json::Value = ok_json(answer)?;
                let workspace = body.get("workspace").cloned().unwrap_or_default();
                let first = match workspace {
                    serde_json::Value::Array(items) => items.into_iter().next(),
                    // Older servers answered a single object or null.
                    serde_json::Value::Null => None,
                    object => Some(object),
                };
                first
                    .map(|value| {
                        serde_json::from_value::<Workspace>(value)
                            .map_err(|e| Error::Decode(format!("workspace: {e}")))
                    })
                    .transpose()
            })
            .await
    }

    /// `POST /v1/workspace/{slug}/update`. Returns the row without documents.
    /// Unknown keys are dropped and values normalised by the server; read the
    /// returned workspace to see what was stored.
    pub async fn update_workspace(
        &self,
        slug: &str,
        settings: &WorkspaceSettings,
    ) -> Result<Workspace> {
        let call = self.call(
            Operation::UpdateWorkspace,
            Method::POST,
            &["v1", "workspace", slug, "update"],
            Payload::json(settings)?,
        )?;
        self.inner
            .transport
            .execute(&call, |answer| {
                if answer.status == StatusCode::BAD_REQUEST && answer.is_plain_status_text() {
                    return Err(unknown_workspace(slug));
                }
                let body: serde_json::Value = ok_json(answer)?;
                let message = body
                    .get("message")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned);
                let workspace = body.get("workspace").cloned().unwrap_or_default();
                // "No valid fields to update!" comes with `{workspace:{id}}`.
                if workspace.get("slug").is_none() {
                    return Err(Error::BadRequest(
                        message.unwrap_or_else(|| "no workspace in the answer".into()),
                    ));
                }
                serde_json::from_value(workspace)
                    .map_err(|e| Error::Decode(format!("workspace: {e}")))
            })
            .await
    }

    /// `DELETE /v1/workspace/{slug}`. `Ok(false)` when there was no such
    /// workspace, so that a retried delete is not an error. Files stay in
    /// storage.
    pub async fn delete_workspace(&self, slug: &str) -> Result<bool> {
        let call = self.call(
            Operation::DeleteWorkspace,
            Method::DELETE,
            &["v1", "workspace", slug],
            Payload::Empty,
        )?;
        self.inner
            .transport
            .execute(&call, |answer| match answer.status {
                s if s.is_success() => Ok(true),
                StatusCode::BAD_REQUEST if answer.is_plain_status_text() => Ok(false),
                _ => Err(answer.error()),
            })
            .await
    }

    /// `POST /v1/document/upload[/{folder}]`: one file, parsed to text by the
    /// collector. Returns the stored document, whose `location` is what
    /// [`Client::update_embeddings`] takes.
    ///
    /// Retried on server errors: a repeat leaves at worst an unembedded copy in
    /// storage.
    pub async fn upload_file(&self, upload: &FileUpload) -> Result<Document> {
        let mut fields = Vec::new();
        if !upload.add_to_workspaces.is_empty() {
            fields.push(("addToWorkspaces", upload.add_to_workspaces.join(",")));
        }
        if let Some(metadata) = &upload.metadata {
            let json = serde_json::to_string(metadata)
                .map_err(|e| Error::Decode(format!("could not encode metadata: {e}")))?;
            fields.push(("metadata", json));
        }
        let mime = upload
            .mime
            .clone()
            .unwrap_or_else(|| guess_mime(&upload.file_name).to_owned());
        let payload = Payload::Multipart(MultipartBody {
            file_name: upload.file_name.clone(),
            mime,
            content: upload.content.clone(),
            fields,
        });
        let path: Vec<&str> = match upload.folder.as_deref() {
            Some(folder) => vec!["v1", "document", "upload", folder],
            None => vec!["v1", "document", "upload"],
        };
        let mut call = self.call(Operation::UploadFile, Method::POST, &path, payload)?;
        call.timeout = self.inner.embed_timeout;
        self.inner.transport.execute(&call, decode_upload).await
    }

    /// `POST /v1/document/raw-text`: text that becomes a document without a
    /// file. Use it for text already extracted; the collector still has to be
    /// online.
    pub async fn upload_raw_text(&self, upload: &RawTextUpload) -> Result<Document> {
        let mut call = self.call(
            Operation::UploadRawText,
            Method::POST,
            &["v1", "document", "raw-text"],
            Payload::json(upload)?,
        )?;
        call.timeout = self.inner.embed_timeout;
        self.inner.transport.execute(&call, decode_upload).await
    }

    /// Uploads many files with at most `max_in_flight` requests at a time. The
    /// results are in the order of `uploads`.
    pub async fn upload_files(
        &self,
        uploads: &[FileUpload],
        max_in_flight: usize,
    ) -> Vec<Result<Document>> {
        let permits = Semaphore::new(max_in_flight.max(1));
        join_all(uploads.iter().map(|upload| {
            let permits = &permits;
            async move {
                // Never closed, so acquiring cannot fail; a failure would only
                // mean running without the bound.
                let _permit = permits.acquire().await.ok();
                self.upload_file(upload).await
            }
        }))
        .await
    }

    /// `POST /v1/workspace/{slug}/update-embeddings`, then a check of the
    /// returned documents, since the server answers 200 even when an add was
    /// skipped. Every add creates a new row, even for a location already in
    /// the workspace; [`Client::attach_documents`] avoids that.
    ///
    /// With adds, not retried after the request may have arrived: a repeat
    /// would embed the documents twice.
    pub async fn update_embeddings(
        &self,
        slug: &str,
        changes: &EmbeddingChanges,
    ) -> Result<EmbedOutcome> {
        let mut call = self.call(
            Operation::UpdateEmbeddings,
            Method::POST,
            &["v1", "workspace", slug, "update-embeddings"],
            Payload::json(changes)?,
        )?;
        call.timeout = self.inner.embed_timeout;
        if !changes.adds.is_empty() {
            call.idempotency = Idempotency::Unsafe;
        }
        let workspace = self
            .inner
            .transport
            .execute(&call, |answer| {
                if answer.status == StatusCode::BAD_REQUEST && answer.is_plain_status_text() {
                    return Err(unknown_workspace(slug));
                }
                let body: WorkspaceEnvelope = ok_json(answer)?;
                body.workspace
                    .ok_or_else(|| Error::Decode("update-embeddings returned no workspace".into()))
            })
            .await?;
        let missing = workspace.missing_locations(changes.adds.iter().map(String::as_str));
        let lingering = changes
            .deletes
            .iter()
            .filter(|location| workspace.has_document(location))
            .cloned()
            .collect();
        Ok(EmbedOutcome {
            workspace,
            missing,
            lingering,
        })
    }

    /// Embeds the locations that are not yet in the workspace, and reports the
    /// ones still missing afterwards. Safe to call again after a failure.
    pub async fn attach_documents(&self, slug: &str, locations: &[String]) -> Result<EmbedOutcome> {
        let workspace = self
            .get_workspace(slug)
            .await?
            .ok_or_else(|| unknown_workspace(slug))?;
        let mut adds = workspace.missing_locations(locations.iter().map(String::as_str));
        // Each add makes a row, so a location listed twice would embed twice.
        let mut seen = std::collections::HashSet::new();
        adds.retain(|location| seen.insert(location.clone()));
        if adds.is_empty() {
            return Ok(EmbedOutcome {
                workspace,
                missing: Vec::new(),
                lingering: Vec::new(),
            });
        }
        let outcome = self
            .update_embeddings(
                slug,
                &EmbeddingChanges {
                    adds,
                    deletes: Vec::new(),
                },
            )
            .await?;
        let missing = outcome
            .workspace
            .missing_locations(locations.iter().map(String::as_str));
        Ok(EmbedOutcome { missing, ..outcome })
    }

    /// The locations among `locations` that the workspace does not hold.
    pub async fn missing_documents(&self, slug: &str, locations: &[String]) -> Result<Vec<String>> {
        let workspace = self
            .get_workspace(slug)
            .await?
            .ok_or_else(|| unknown_workspace(slug))?;
        Ok(workspace.missing_locations(locations.iter().map(String::as_str)))
    }

    /// `POST /v1/workspace/{slug}/thread/new`.
    pub async fn create_thread(&self, slug: &str, thread: &NewThread) -> Result<Thread> {
        #[derive(Deserialize)]
        struct Envelope {
            thread: Option<Thread>,
            message: Option<String>,
        }
        let mut call = self.call(
            Operation::CreateThread,
            Method::POST,
            &["v1", "workspace", slug, "thread", "new"],
            Payload::json(thread)?,
        )?;
        call.idempotency = Idempotency::Unsafe;
        self.inner
            .transport
            .execute(&call, |answer| {
                if answer.status == StatusCode::BAD_REQUEST && answer.is_plain_status_text() {
                    return Err(unknown_workspace(slug));
                }
                // A database error such as a duplicate slug is a 200 with
                // `thread:null`.
                let body: Envelope = ok_json(answer)?;
                body.thread.ok_or_else(|| {
                    Error::BadRequest(
                        body.message
                            .unwrap_or_else(|| "the thread was not created".into()),
                    )
                })
            })
            .await
    }

    /// `DELETE /v1/workspace/{slug}/thread/{thread}`. The server answers OK
    /// for a thread that does not exist.
    pub async fn delete_thread(&self, slug: &str, thread_slug: &str) -> Result<()> {
        let call = self.call(
            Operation::DeleteThread,
            Method::DELETE,
            &["v1", "workspace", slug, "thread", thread_slug],
            Payload::Empty,
        )?;
        self.inner
            .transport
            .execute(&call, |answer| match answer.status {
                s if s.is_success() => Ok(()),
                StatusCode::BAD_REQUEST if answer.is_plain_status_text() => {
                    Err(unknown_workspace(slug))
                }
                _ => Err(answer.error()),
            })
            .await
    }

    /// `DELETE /v1/system/remove-documents`: purges stored files (their
    /// `location`s) from the instance, so nothing can embed them again. Safe to
    /// repeat: a name that is already gone is no error.
    pub async fn remove_documents(&self, locations: &[String]) -> Result<()> {
        if locations.is_empty() {
            return Ok(());
        }
        let call = self.call(
            Operation::RemoveDocuments,
            Method::DELETE,
            &["v1", "system", "remove-documents"],
            Payload::json(&serde_json::json!({ "names": locations }))?,
        )?;
        self.inner
            .transport
            .execute(&call, |answer| match answer.status {
                s if s.is_success() => Ok(()),
                _ => Err(answer.error()),
            })
            .await
    }

    /// `POST /v1/workspace/{slug}/chat`. An answer of `type:"abort"` or with an
    /// `error` is [`Error::Aborted`], whatever its status, and is not retried.
    pub async fn chat(&self, slug: &str, request: &ChatRequest) -> Result<ChatResponse> {
        self.chat_at(Operation::Chat, &["v1", "workspace", slug, "chat"], request)
            .await
    }

    /// `POST /v1/workspace/{slug}/thread/{thread}/chat`, with the thread's own
    /// history.
    pub async fn thread_chat(
        &self,
        slug: &str,
        thread_slug: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse> {
        self.chat_at(
            Operation::ThreadChat,
            &["v1", "workspace", slug, "thread", thread_slug, "chat"],
            request,
        )
        .await
    }

    async fn chat_at(
        &self,
        op: Operation,
        path: &[&str],
        request: &ChatRequest,
    ) -> Result<ChatResponse> {
        let mut call = self.call(op, Method::POST, path, Payload::json(request)?)?;
        call.timeout = self.inner.chat_timeout;
        call.idempotency = Idempotency::Unsafe;
        self.inner.transport.execute(&call, decode_chat).await
    }

    /// `POST /v1/document/create-folder`. `Ok(false)` when the folder already
    /// exists.
    pub async fn create_folder(&self, name: &str) -> Result<bool> {
        let call = self.call(
            Operation::CreateFolder,
            Method::POST,
            &["v1", "document", "create-folder"],
            Payload::json(&serde_json::json!({ "name": name }))?,
        )?;
        self.inner
            .transport
            .execute(&call, |answer| {
                if answer.status.is_success() {
                    return Ok(true);
                }
                let reason = answer.reason();
                if answer.is_json() && reason.contains("already exists") {
                    return Ok(false);
                }
                if answer.is_json() && reason.contains("Invalid path name") {
                    return Err(Error::BadRequest(reason));
                }
                Err(answer.error())
            })
            .await
    }

    /// `POST /v1/document/move-files`. The server leaves in place every file
    /// that is embedded in any workspace (and says so only as a count), so
    /// move documents before embedding them. Not retried once sent: a repeat
    /// after a partial move fails on the files already moved.
    pub async fn move_files(&self, moves: &[FileMove]) -> Result<MoveOutcome> {
        #[derive(Deserialize)]
        struct Moved {
            message: Option<String>,
        }
        let mut call = self.call(
            Operation::MoveFiles,
            Method::POST,
            &["v1", "document", "move-files"],
            Payload::json(&serde_json::json!({ "files": moves }))?,
        )?;
        call.idempotency = Idempotency::Unsafe;
        let moved: Moved = self.inner.transport.execute(&call, ok_json).await?;
        // "2/5 files not moved. Unembed them from all workspaces."
        let not_moved = moved
            .message
            .as_deref()
            .and_then(|m| m.split('/').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        Ok(MoveOutcome {
            not_moved,
            message: moved.message,
        })
    }

    fn call(&self, op: Operation, method: Method, path: &[&str], payload: Payload) -> Result<Call> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::InvalidConfig("the base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(path);
        Ok(Call {
            op,
            method,
            url,
            payload,
            timeout: self.inner.call_timeout,
            idempotency: Idempotency::Safe,
        })
    }
}

#[derive(Deserialize)]
struct WorkspaceEnvelope {
    workspace: Option<Workspace>,
    #[serde(default)]
    message: Option<String>,
}

fn unknown_workspace(slug: &str) -> Error {
    Error::NotFound(format!("workspace {slug}"))
}

fn parse_base_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::InvalidConfig(format!("base URL {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(Error::InvalidConfig(format!(
            "base URL {raw:?} must be an http(s) URL such as http://host:3001/api"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidConfig(
            "the base URL must not carry credentials; pass the API key instead".into(),
        ));
    }
    Ok(url)
}

fn decode_upload(answer: &Answer) -> Result<Document> {
    #[derive(Deserialize)]
    struct Uploaded {
        #[serde(default)]
        documents: Vec<Document>,
    }
    if answer.status == StatusCode::INTERNAL_SERVER_ERROR && answer.is_json() {
        let reason = answer.reason();
        if reason.starts_with("Document processing API is not online") {
            return Err(Error::CollectorOffline);
        }
        // `{success:false, error:reason}`: the collector could not parse the
        // file, or the multipart form was not what multer expects.
        return Err(Error::DocumentRejected(reason));
    }
    let uploaded: Uploaded = ok_json(answer)?;
    uploaded
        .documents
        .into_iter()
        .next()
        .ok_or_else(|| Error::Decode("the upload answer lists no document".into()))
}

fn decode_chat(answer: &Answer) -> Result<ChatResponse> {
    let status = answer.status;
    let chat = if answer.is_json() {
        answer.json::<RawChat>().ok()
    } else {
        None
    };
    let Some(chat) = chat else {
        return Err(answer.error());
    };
    let reason = chat.abort_reason();
    match (status, reason) {
        (s, None) if s.is_success() => Ok(ChatResponse {
            id: chat.id.unwrap_or_default(),
            text: chat.text_response.unwrap_or_default(),
            sources: chat.sources,
            chat_id: chat.chat_id,
            metrics: chat.metrics,
        }),
        (s, Some(reason)) if s.is_success() || s.is_server_error() => Err(Error::Aborted(reason)),
        (StatusCode::NOT_FOUND, Some(reason)) => Err(Error::NotFound(reason)),
        (StatusCode::BAD_REQUEST, Some(reason)) if reason.contains("is not a valid workspace") => {
            Err(Error::NotFound(reason))
        }
        (StatusCode::BAD_REQUEST, Some(reason)) => Err(Error::BadRequest(reason)),
        _ => Err(answer.error()),
    }
}

/// The collector decides by extension; the part's type only needs to be
/// plausible.
fn guess_mime(file_name: &str) -> &'static str {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "json" => "application/json",
        "csv" => "text/csv",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}
