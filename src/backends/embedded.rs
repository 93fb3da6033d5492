//! The embedded backend: Quire's own engine (`quire-engine`) on this machine.
//!
//! Chunks live in the database and are the source of truth; each process keeps a
//! full-text index per workspace under `<data>/index/` as a cache. A generation number
//! per workspace is bumped with every chunk change, so any instance that sees a newer
//! generation than its cache rebuilds the cache from the database before answering —
//! which is how several `quire serve` processes on one PostgreSQL answer alike.
//!
//! Generated answers compose two crates: `quire-engine` builds the prompt from the
//! passages and wraps the model's text with sources (pure), `quire-llm` resolves the
//! settings (server default ← organisation ← workspace ← run/question override) and
//! sends the prompt, with one circuit breaker per LLM endpoint for the process.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use quire_engine::{Chunk, ChunkConfig, Role, Turn, WorkspaceIndex};
use quire_llm::{LlmClients, LlmError, LlmOverride, LlmRequest, LlmResolver, LlmSettings, Message};
use serde_json::{Value, json};
use sqlx::{AnyPool, FromRow};
use tokio::sync::Mutex;

use super::{
    Answer, AnswerSource, AskOptions, BackendError, DocumentForBackend, EmbedResult, status_json,
};
use crate::config::Settings;
use crate::db::Db;
use crate::documents::repo::DocumentRow;
use crate::workspaces::model::stored_llm_config;
use crate::workspaces::repo::WorkspaceRow;

struct CachedIndex {
    index: Arc<WorkspaceIndex>,
    generation: i64,
}

pub struct EmbeddedBackend {
    db: Db,
    index_root: PathBuf,
    chunking: ChunkConfig,
    default_llm: Option<LlmSettings>,
    llm_clients: LlmClients,
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
        let default_llm = settings
            .llm_default()
            .map_err(|e| anyhow::anyhow!("{}: {}", e.variable, e.problem))?;
        Ok(Self {
            db,
            index_root: settings.data_dir.join("index"),
            chunking,
            default_llm,
            llm_clients: LlmClients::default(),
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

    /// Bumps the workspace's generation, so every instance rebuilds its cache from the
    /// chunks the database holds now (after chunks went by cascade, without
    /// [`replace_document_chunks`]).
    pub async fn invalidate(&self, ws: &WorkspaceRow) -> Result<(), BackendError> {
        bump_generation(&self.db.pool, &ws.id).await
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
            Some(settings) => {
                let client = self.llm_clients.client(settings).map_err(llm_error)?;
                let turns: Vec<Turn> = history
                    .iter()
                    .flat_map(|(q, a)| [Turn::user(q.clone()), Turn::assistant(a.clone())])
                    .collect();
                let system = crate::workspaces::prompts::effective_system_prompt(ws);
                let prompt = quire_engine::llm_prompt(question, &passages, Some(&system), &turns);
                let messages = prompt
                    .turns
                    .into_iter()
                    .map(|t| match t.role {
                        Role::User => Message::user(t.text),
                        Role::Assistant => Message::assistant(t.text),
                    })
                    .collect();
                let reply = client
                    .complete(&LlmRequest::new(Some(prompt.system), messages))
                    .await
                    .map_err(llm_error)?;
                if let Some(usage) = reply.usage {
                    tracing::debug!(
                        workspace.id = %ws.id,
                        llm.model = %reply.model,
                        llm.input_tokens = usage.input_tokens,
                        llm.output_tokens = usage.output_tokens,
                        "LLM answered"
                    );
                }
                quire_engine::generated_answer(question, &passages, &reply.text)
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

    /// The LLM to generate with, or none (extractive answers): the server default
    /// under the workspace's settings under the run's or question's override.
    /// Organisations have no LLM settings yet; their layer is passed empty.
    fn llm_for(
        &self,
        ws: &WorkspaceRow,
        request: Option<&LlmOverride>,
    ) -> Result<Option<LlmSettings>, BackendError> {
        let workspace = stored_llm_config(ws.llm_config.as_deref())
            .map_err(BackendError::InvalidLlmSettings)?;
        LlmResolver::new(self.default_llm.as_ref())
            .organisation(None)
            .workspace(workspace.as_ref())
            .request(request)
            .resolve()
            .map_err(BackendError::InvalidLlmSettings)
    }
}

/// Settings that cannot work name their field (422); a model that may answer later
/// is unavailable (503, and runs retry); any other refusal is the backend's (502).
fn llm_error(e: LlmError) -> BackendError {
    match e {
        LlmError::InvalidConfig(e) => BackendError::InvalidLlmSettings(e),
        e if e.is_retryable() => BackendError::Unavailable(e.to_string()),
        e => BackendError::Refused(e.to_string()),
    }
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
    sqlx::query(BUMP_GENERATION)
        .bind(&ws.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

const BUMP_GENERATION: &str = "INSERT INTO workspace_index_generations (workspace_id, generation) \
     VALUES ($1, 1) ON CONFLICT (workspace_id) \
     DO UPDATE SET generation = workspace_index_generations.generation + 1";

async fn bump_generation(pool: &AnyPool, workspace_id: &str) -> Result<(), BackendError> {
    sqlx::query(BUMP_GENERATION)
        .bind(workspace_id)
        .execute(pool)
        .await?;
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
