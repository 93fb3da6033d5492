//! The AnythingLLM backend: our workspace settings and documents mirrored into a
//! remote instance through the `anythingllm` client crate.
//!
//! Documents are uploaded as their original files, one per request, into a storage
//! folder named after their type (`pdf/`, `json/`, `csv/`, the seed's
//! `organize_workspace_folders`), so the instance's own parsers keep page metadata.
//! After `update-embeddings` every location is confirmed in the workspace's
//! `documents`; a document that does not appear is failed with that reason.

use std::time::{Duration, Instant};

use ::anythingllm as client;
use serde_json::{Value, json};

use super::{
    Answer, AnswerSource, AskOptions, BackendError, DocumentForBackend, EmbedResult, status_json,
};
use crate::config::Settings;
use crate::documents::repo::DocumentRow;
use crate::workspaces::repo::WorkspaceRow;

/// Parallel uploads to one instance, shared by every job of this process.
const UPLOAD_PARALLELISM: usize = 4;

pub struct AnythingLlmBackend {
    client: client::Client,
}

impl AnythingLlmBackend {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let (Some(url), Some(key)) = (&settings.anythingllm_url, &settings.anythingllm_api_key)
        else {
            return Ok(None);
        };
        let base = if url.trim_end_matches('/').ends_with("/api") {
            url.trim_end_matches('/').to_owned()
        } else {
            format!("{}/api", url.trim_end_matches('/'))
        };
        let mut config = client::ClientConfig::new(base, key.expose());
        config.call_timeout = Duration::from_secs(u64::from(settings.anythingllm_timeout));
        config.chat_timeout = config.chat_timeout.max(config.call_timeout);
        config.retry = client::RetryPolicy {
            max_attempts: settings.anythingllm_max_attempts,
            base_delay: Duration::from_millis(u64::from(settings.anythingllm_retry_base_ms)),
            max_delay: Duration::from_secs(8),
        };
        config.breaker.failure_threshold = settings.anythingllm_breaker_threshold;
        config.breaker.open_for =
            Duration::from_secs(u64::from(settings.anythingllm_breaker_cooldown));
        Ok(Some(Self::new(config)?))
    }

    pub fn new(config: client::ClientConfig) -> anyhow::Result<Self> {
        Ok(Self {
            client: client::Client::new(config)?,
        })
    }

    fn settings_for(ws: &WorkspaceRow) -> client::WorkspaceSettings {
        // Only validated settings are stored; an unreadable column mirrors as none.
        let llm = crate::workspaces::model::stored_llm_config(ws.llm_config.as_deref())
            .ok()
            .flatten()
            .unwrap_or_default();
        client::WorkspaceSettings {
            name: Some(ws.name.clone()),
            open_ai_temp: llm.temperature,
            open_ai_prompt: Some(crate::workspaces::prompts::effective_system_prompt(ws)),
            similarity_threshold: Some(ws.similarity_threshold),
            top_n: Some(ws.top_n),
            chat_mode: Some(chat_mode(ws)),
            chat_provider: llm.provider,
            chat_model: llm.model,
            ..client::WorkspaceSettings::default()
        }
    }

    pub async fn create_workspace(&self, ws: &WorkspaceRow) -> Result<String, BackendError> {
        let created = self
            .client
            .create_workspace(&ws.name, &Self::settings_for(ws))
            .await
            .map_err(map_error)?;
        Ok(created.slug)
    }

    pub async fn update_workspace(&self, ws: &WorkspaceRow) -> Result<(), BackendError> {
        let slug = slug_of(ws)?;
        self.client
            .update_workspace(slug, &Self::settings_for(ws))
            .await
            .map(|_| ())
            .map_err(map_error)
    }

    pub async fn delete_workspace(&self, ws: &WorkspaceRow) -> Result<(), BackendError> {
        let Some(slug) = ws.backend_ref.as_deref() else {
            return Ok(());
        };
        self.client
            .delete_workspace(slug)
            .await
            .map(|_| ())
            .map_err(map_error)
    }

    pub async fn add_documents(
        &self,
        ws: &WorkspaceRow,
        docs: Vec<DocumentForBackend>,
    ) -> Result<Vec<EmbedResult>, BackendError> {
        let slug = slug_of(ws)?.to_owned();
        let mut uploads = Vec::with_capacity(docs.len());
        let mut ids = Vec::with_capacity(docs.len());
        for doc in &docs {
            let Some(bytes) = doc.original.clone() else {
                return Err(BackendError::Internal(anyhow::anyhow!(
                    "document {} has no original bytes",
                    doc.row.id
                )));
            };
            uploads.push(
                client::FileUpload::new(doc.row.name.clone(), bytes)
                    .in_folder(doc.row.doc_type.clone())
                    .metadata(client::DocumentMetadata {
                        title: Some(doc.row.name.clone()),
                        doc_source: Some(format!("quire:{}", doc.row.id)),
                        ..client::DocumentMetadata::default()
                    }),
            );
            ids.push(doc.row.id.clone());
        }
        let uploaded = self.client.upload_files(&uploads, UPLOAD_PARALLELISM).await;
        let mut results = Vec::with_capacity(ids.len());
        let mut locations = Vec::new();
        for (id, outcome) in ids.into_iter().zip(uploaded) {
            match outcome {
                Ok(doc) => {
                    locations.push((id, doc.location));
                }
                Err(e) if is_transient(&e) => return Err(map_error(e)),
                Err(e) => results.push(EmbedResult {
                    document_id: id,
                    location: Err(format!("upload refused: {e}")),
                }),
            }
        }
        if locations.is_empty() {
            return Ok(results);
        }
        let wanted: Vec<String> = locations.iter().map(|(_, l)| l.clone()).collect();
        let outcome = self
            .client
            .attach_documents(&slug, &wanted)
            .await
            .map_err(map_error)?;
        for (id, location) in locations {
            if outcome.missing.contains(&location) {
                results.push(EmbedResult {
                    document_id: id,
                    location: Err(
                        "AnythingLLM reported success but the document is not in the workspace"
                            .into(),
                    ),
                });
            } else {
                results.push(EmbedResult {
                    document_id: id,
                    location: Ok(Some(location)),
                });
            }
        }
        Ok(results)
    }

    pub async fn remove_document(
        &self,
        ws: &WorkspaceRow,
        doc: &DocumentRow,
    ) -> Result<(), BackendError> {
        let (Some(slug), Some(location)) =
            (ws.backend_ref.as_deref(), doc.backend_location.as_deref())
        else {
            return Ok(());
        };
        let changes = client::EmbeddingChanges {
            adds: vec![],
            deletes: vec![location.to_owned()],
        };
        self.client
            .update_embeddings(slug, &changes)
            .await
            .map_err(map_error)?;
        // Each membership uploaded its own file: purge it too, so nothing can embed it
        // again and the instance keeps no copy of a document that is gone.
        self.purge_files(&[location.to_owned()]).await
    }

    /// Deletes stored files (their locations) from the instance.
    pub async fn purge_files(&self, locations: &[String]) -> Result<(), BackendError> {
        self.client
            .remove_documents(locations)
            .await
            .map_err(map_error)
    }

    pub async fn open_thread(&self, ws: &WorkspaceRow, name: &str) -> Result<String, BackendError> {
        let slug = slug_of(ws)?;
        let thread = self
            .client
            .create_thread(
                slug,
                &client::NewThread {
                    name: Some(name.to_owned()),
                    slug: None,
                },
            )
            .await
            .map_err(map_error)?;
        Ok(thread.slug)
    }

    pub async fn close_thread(&self, ws: &WorkspaceRow, thread: &str) -> Result<(), BackendError> {
        let slug = slug_of(ws)?;
        self.client
            .delete_thread(slug, thread)
            .await
            .map_err(map_error)
    }

    /// Document-type routing on AnythingLLM: the instance cannot filter by document,
    /// so a question restricted to types is asked as usual and its sources are checked;
    /// the run records which types answered (see ARCHITECTURE.md).
    pub async fn ask(
        &self,
        ws: &WorkspaceRow,
        question: &str,
        options: &AskOptions,
    ) -> Result<Answer, BackendError> {
        let slug = slug_of(ws)?;
        let request = client::ChatRequest::new(question, chat_mode(ws));
        let response = match options.thread.as_deref() {
            Some(thread) => self.client.thread_chat(slug, thread, &request).await,
            None => self.client.chat(slug, &request).await,
        }
        .map_err(map_error)?;
        Ok(Answer {
            text: response.text,
            sources: response
                .sources
                .into_iter()
                .map(|s| AnswerSource {
                    document_id: s
                        .doc_source
                        .as_deref()
                        .and_then(|d| d.strip_prefix("quire:"))
                        .map(str::to_owned),
                    document_name: s.title,
                    page: None,
                    snippet: s.text.unwrap_or_default().chars().take(500).collect(),
                    score: s.score,
                })
                .collect(),
        })
    }

    pub async fn health(&self) -> Value {
        let started = Instant::now();
        let breaker = self.client.breaker_state().to_string();
        match self.client.check_auth().await {
            Ok(()) => status_json(
                "ok",
                json!({ "url": self.client.base_url(), "breaker": breaker,
                        "latency_ms": started.elapsed().as_secs_f64() * 1000.0 }),
            ),
            Err(e) => status_json(
                if matches!(e, client::Error::CircuitOpen) {
                    "degraded"
                } else {
                    "down"
                },
                json!({ "url": self.client.base_url(), "breaker": breaker, "error": e.to_string() }),
            ),
        }
    }
}

fn chat_mode(ws: &WorkspaceRow) -> client::ChatMode {
    match ws.chat_mode.as_str() {
        "chat" => client::ChatMode::Chat,
        _ => client::ChatMode::Query,
    }
}

fn slug_of(ws: &WorkspaceRow) -> Result<&str, BackendError> {
    ws.backend_ref.as_deref().ok_or_else(|| {
        BackendError::Refused("the workspace has no AnythingLLM counterpart yet".into())
    })
}

fn is_transient(e: &client::Error) -> bool {
    matches!(
        e,
        client::Error::Timeout
            | client::Error::Connect(_)
            | client::Error::RateLimited { .. }
            | client::Error::CollectorOffline
            | client::Error::CircuitOpen
            | client::Error::Server { .. }
    )
}

fn map_error(e: client::Error) -> BackendError {
    if is_transient(&e) {
        BackendError::Unavailable(e.to_string())
    } else {
        BackendError::Refused(e.to_string())
    }
}
