//! The embedded backend: Quire's own engine (`quire-engine`) on this machine.
//!
//! Chunks live in the database and are the source of truth; each process keeps a
//! full-text index per workspace under `<data>/index/` as a cache. A generation number
//! per workspace is bumped with every chunk change, so any instance that sees a newer
//! generation than its cache rebuilds the cache from the database before answering —
//! which is how several `quire serve` processes on one PostgreSQL answer alike.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use quire_engine::{Chunk, ChunkConfig, LlmClient, LlmConfig, Provider, Turn, WorkspaceIndex};
use serde_json::{Value, json};
use sqlx::{AnyPool, FromRow};
use tokio::sync::Mutex;

use super::{
    Answer, AnswerSource, AskOptions, BackendError, DocumentForBackend, EmbedResult, status_json,
};
use crate::config::Settings;
use crate::db::Db;
use crate::documents::repo::DocumentRow;
use crate::workspaces::repo::WorkspaceRow;

struct CachedIndex {
    index: Arc<WorkspaceIndex>,
    generation: i64,
}

pub struct EmbeddedBackend {
    db: Db,
    index_root: PathBuf,
    chunking: ChunkConfig,
    default_llm: Option<LlmConfig>,
    cache: Mutex<HashMap<String, Arc<Mutex<Option<CachedIndex>>>>>,
}

#[derive(FromRow)]
struct ChunkRow {
    id: String,
    document_id: String,
    doc_type: String,
    page_number: i64,
    ordinal: i64,
    start_offset: i64,
    end_offset: i64,
    text: String,
}

impl ChunkRow {
    fn into_chunk(self) -> Chunk {
        Chunk {
            id: self.id,
            document_id: self.document_id,
            document_type: self.doc_type,
            page: u32::try_from(self.page_number).unwrap_or(0),
            ordinal: u32::try_from(self.ordinal).unwrap_or(0),
            start: usize::try_from(self.start_offset).unwrap_or(0),
            end: usize::try_from(self.end_offset).unwrap_or(0),
            text: self.text,
        }
    }
}

impl EmbeddedBackend {
    pub fn new(db: Db, settings: &Settings) -> anyhow::Result<Self> {
        let chunking = ChunkConfig::new(
            settings.chunk_size as usize,
            settings.chunk_overlap as usize,
        )
        .map_err(|e| anyhow::anyhow!("CHUNK_SIZE/CHUNK_OVERLAP: {e}"))?;
        let default_llm = match (&settings.llm_provider, &settings.llm_base_url) {
            (Some(provider), Some(base)) => {
                let provider: Provider = provider
                    .parse()
                    .map_err(|e| anyhow::anyhow!("LLM_PROVIDER: {e}"))?;
                let mut config = LlmConfig::new(
                    provider,
                    base.clone(),
                    settings.llm_model.clone().unwrap_or_default(),
                );
                config.api_key = settings
                    .llm_api_key
                    .as_ref()
                    .map(|k| quire_engine::ApiKey::new(k.expose()));
                Some(config)
            }
            _ => None,
        };
        Ok(Self {
            db,
            index_root: settings.data_dir.join("index"),
            chunking,
            default_llm,
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn health(&self) -> Value {
        status_json(
            "ok",
            json!({ "index_dir": self.index_root.display().to_string(),
                    "llm": self.default_llm.as_ref().map(|c| format!("{:?} {}", c.provider, c.model)) }),
        )
    }

    async fn slot(&self, workspace_id: &str) -> Arc<Mutex<Option<CachedIndex>>> {
        let mut cache = self.cache.lock().await;
        cache.entry(workspace_id.to_owned()).or_default().clone()
    }

    /// The workspace's index, rebuilt from the database when another instance (or a
    /// restart) left the local cache behind the current generation.
    async fn fresh_index(&self, ws: &WorkspaceRow) -> Result<Arc<WorkspaceIndex>, BackendError> {
        let generation = current_generation(&self.db.pool, &ws.id).await?;
        let slot = self.slot(&ws.id).await;
        let mut guard = slot.lock().await;
        if let Some(cached) = guard.as_ref()
            && cached.generation == generation
        {
            return Ok(cached.index.clone());
        }
        let chunks: Vec<ChunkRow> = sqlx::query_as(
            "SELECT id, document_id, doc_type, page_number, ordinal, start_offset, end_offset, text \
             FROM chunks WHERE workspace_id = $1 AND org_id = $2",
        )
        .bind(&ws.id)
        .bind(&ws.org_id)
        .fetch_all(&self.db.pool)
        .await?;
        let dir = self.index_root.join(&ws.id);
        let index =
            tokio::task::spawn_blocking(move || -> Result<WorkspaceIndex, anyhow::Error> {
                std::fs::create_dir_all(&dir)?;
                let index = WorkspaceIndex::open_or_create(&dir)?;
                index.rebuild_from(chunks.into_iter().map(ChunkRow::into_chunk))?;
                index.reload()?;
                Ok(index)
            })
            .await
            .map_err(|e| BackendError::Internal(e.into()))??;
        let index = Arc::new(index);
        *guard = Some(CachedIndex {
            index: index.clone(),
            generation,
        });
        Ok(index)
    }

    pub async fn add_documents(
        &self,
        ws: &WorkspaceRow,
        docs: Vec<DocumentForBackend>,
    ) -> Result<Vec<EmbedResult>, BackendError> {
        let mut results = Vec::with_capacity(docs.len());
        for doc in docs {
            let chunks = quire_engine::chunk_document(
                &doc.row.id,
                &doc.row.doc_type,
                doc.pages
                    .iter()
                    .map(|(n, t)| (u32::try_from(*n).unwrap_or(0), t.as_str())),
                &self.chunking,
            );
            replace_document_chunks(&self.db.pool, ws, &doc.row.id, &chunks).await?;
            results.push(EmbedResult {
                document_id: doc.row.id,
                location: Ok(None),
            });
        }
        // The next question rebuilds the cache at the new generation.
        Ok(results)
    }

    pub async fn remove_document(
        &self,
        ws: &WorkspaceRow,
        doc: &DocumentRow,
    ) -> Result<(), BackendError> {
        replace_document_chunks(&self.db.pool, ws, &doc.id, &[]).await
    }

    pub async fn delete_workspace(&self, ws: &WorkspaceRow) -> Result<(), BackendError> {
        self.cache.lock().await.remove(&ws.id);
        let dir = self.index_root.join(&ws.id);
        if tokio::fs::metadata(&dir).await.is_ok() {
            tokio::fs::remove_dir_all(&dir)
                .await
                .map_err(|e| internal(e.into()))?;
        }
        Ok(())
    }

    pub async fn ask(
        &self,
        ws: &WorkspaceRow,
        question: &str,
        options: &AskOptions,
        history: &[(String, String)],
    ) -> Result<Answer, BackendError> {
        let index = self.fresh_index(ws).await?;
        let top_n = usize::try_from(ws.top_n.max(1)).unwrap_or(4);
        let question_owned = question.to_owned();
        let doc_types = options.doc_types.clone();
        let doc_ids = options.document_ids.clone();
        let passages = tokio::task::spawn_blocking(move || {
            let types: Vec<&str> = doc_types.iter().map(String::as_str).collect();
            let ids: Vec<&str> = doc_ids.iter().map(String::as_str).collect();
            index.search(
                &question_owned,
                top_n,
                (!types.is_empty()).then_some(types.as_slice()),
                (!ids.is_empty()).then_some(ids.as_slice()),
            )
        })
        .await
        .map_err(|e| BackendError::Internal(e.into()))?
        .map_err(|e| internal(e.into()))?;

        let answer = match self.llm_for(ws, options.llm_override.as_ref())? {
            Some(config) => {
                let client =
                    LlmClient::new(config).map_err(|e| BackendError::Refused(e.to_string()))?;
                let turns: Vec<Turn> = history
                    .iter()
                    .flat_map(|(q, a)| [Turn::user(q.clone()), Turn::assistant(a.clone())])
                    .collect();
                let system = crate::workspaces::prompts::effective_system_prompt(ws);
                quire_engine::answer_with_llm(&client, question, &passages, Some(&system), &turns)
                    .await
                    .map_err(|e| {
                        if e.is_retryable() {
                            BackendError::Unavailable(e.to_string())
                        } else {
                            BackendError::Refused(e.to_string())
                        }
                    })?
            }
            None => quire_engine::answer_extractive(question, &passages),
        };
        let names = document_names(&self.db.pool, &ws.org_id, &answer.sources).await?;
        Ok(Answer {
            text: answer.text,
            sources: answer
                .sources
                .into_iter()
                .map(|s| AnswerSource {
                    document_name: names.get(&s.document_id).cloned(),
                    document_id: Some(s.document_id),
                    page: Some(i64::from(s.page)),
                    snippet: s.snippet,
                    score: Some(f64::from(s.score)),
                })
                .collect(),
        })
    }

    /// The LLM to generate with: the workspace's (or the run's override) when it names
    /// a provider, else the server default, else none (extractive answers).
    fn llm_for(
        &self,
        ws: &WorkspaceRow,
        run_override: Option<&Value>,
    ) -> Result<Option<LlmConfig>, BackendError> {
        let workspace: Option<Value> = ws
            .llm_config
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let merged = merge_llm(workspace.as_ref(), run_override);
        let provider = merged.get("provider").and_then(Value::as_str);
        let mut config = match (provider, &self.default_llm) {
            (None | Some("extractive") | Some("none"), None) => return Ok(None),
            (Some("extractive") | Some("none"), Some(_)) => return Ok(None),
            (None, Some(default)) => default.clone(),
            (Some(p), default) => {
                let provider: Provider = p
                    .parse()
                    .map_err(|e: quire_engine::LlmError| BackendError::Refused(e.to_string()))?;
                let base = merged
                    .get("base_url")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| default.as_ref().map(|d| d.base_url.clone()))
                    .ok_or_else(|| {
                        BackendError::NotConfigured("llm_config.base_url or LLM_BASE_URL".into())
                    })?;
                let mut c = LlmConfig::new(provider, base, "");
                c.api_key = default.as_ref().and_then(|d| d.api_key.clone());
                if let Some(d) = default {
                    c.model = d.model.clone();
                }
                c
            }
        };
        if let Some(m) = merged.get("model").and_then(Value::as_str) {
            config.model = m.to_owned();
        }
        if let Some(t) = merged.get("temperature").and_then(Value::as_f64) {
            config.temperature = t as f32;
        }
        if let Some(t) = merged.get("max_tokens").and_then(Value::as_u64) {
            config.max_tokens = u32::try_from(t).unwrap_or(u32::MAX);
        }
        if let Some(t) = merged.get("timeout").and_then(Value::as_u64) {
            config.timeout = std::time::Duration::from_secs(t);
        }
        Ok(Some(config))
    }
}

fn merge_llm(base: Option<&Value>, over: Option<&Value>) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for v in [base, over].into_iter().flatten() {
        if let Some(obj) = v.as_object() {
            for (k, val) in obj {
                if !val.is_null() {
                    out.insert(k.clone(), val.clone());
                }
            }
        }
    }
    out
}

fn internal(e: anyhow::Error) -> BackendError {
    BackendError::Internal(e)
}

impl From<sqlx::Error> for BackendError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

async fn current_generation(pool: &AnyPool, workspace_id: &str) -> Result<i64, BackendError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT generation FROM workspace_index_generations WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(g,)| g).unwrap_or(0))
}

/// Replaces a document's chunks in one workspace and bumps the workspace's generation,
/// in one transaction, so no instance ever sees half a document. A document may be in
/// several workspaces, so a row's id is the chunk's id within the workspace's.
async fn replace_document_chunks(
    pool: &AnyPool,
    ws: &WorkspaceRow,
    document_id: &str,
    chunks: &[Chunk],
) -> Result<(), BackendError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM chunks WHERE document_id = $1 AND org_id = $2 AND workspace_id = $3")
        .bind(document_id)
        .bind(&ws.org_id)
        .bind(&ws.id)
        .execute(&mut *tx)
        .await?;
    for c in chunks {
        sqlx::query(
            "INSERT INTO chunks (id, org_id, workspace_id, document_id, doc_type, page_number, ordinal, \
             start_offset, end_offset, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(format!("{}:{}", ws.id, c.id))
        .bind(&ws.org_id)
        .bind(&ws.id)
        .bind(&c.document_id)
        .bind(&c.document_type)
        .bind(i64::from(c.page))
        .bind(i64::from(c.ordinal))
        .bind(c.start as i64)
        .bind(c.end as i64)
        .bind(&c.text)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO workspace_index_generations (workspace_id, generation) VALUES ($1, 1) \
         ON CONFLICT (workspace_id) DO UPDATE SET generation = workspace_index_generations.generation + 1",
    )
    .bind(&ws.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn document_names(
    pool: &AnyPool,
    org_id: &str,
    sources: &[quire_engine::Source],
) -> Result<HashMap<String, String>, BackendError> {
    let mut names = HashMap::new();
    for s in sources {
        if names.contains_key(&s.document_id) {
            continue;
        }
        if let Some(doc) =
            crate::documents::repo::find_document(pool, org_id, &s.document_id).await?
        {
            names.insert(doc.id, doc.name);
        }
    }
    Ok(names)
}
