//! The double's in-memory AnythingLLM: workspaces, stored documents, threads
//! and chats, with the normalisation and naming rules of the real server.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub(crate) const DEFAULT_FOLDER: &str = "custom-documents";

const DEFAULT_SYSTEM_PROMPT: &str = "Given the following conversation, relevant context, and a follow up question, reply with an answer to the current question the user is asking. Return only your response to the question given the above information following the users instructions as needed.";

const DEFAULT_REFUSAL: &str =
    "There is no relevant information in this workspace to answer your query.";

/// The providers `getLLMProvider` recognises; any other stored value fails
/// only when a chat needs the LLM.
const KNOWN_PROVIDERS: &[&str] = &[
    "openai",
    "azure",
    "anthropic",
    "gemini",
    "lmstudio",
    "localai",
    "ollama",
    "togetherai",
    "fireworksai",
    "perplexity",
    "openrouter",
    "mistral",
    "groq",
    "koboldcpp",
    "textgenwebui",
    "cohere",
    "litellm",
    "generic-openai",
    "bedrock",
    "deepseek",
    "apipie",
    "novita",
    "xai",
    "nvidia-nim",
    "ppio",
    "moonshotai",
    "cometapi",
    "foundry",
    "zai",
    "giteeai",
    "docker-model-runner",
    "privatemode",
    "sambanova",
    "lemonade",
    "omlx",
    "minimax",
    "cerebras",
    "anythingllm-router",
];

#[derive(Debug, Clone)]
pub(crate) struct StoredDoc {
    pub id: String,
    pub location: String,
    pub url: String,
    pub title: String,
    pub doc_author: String,
    pub description: String,
    pub doc_source: String,
    pub chunk_source: String,
    pub published: String,
    pub page_content: String,
    pub direct_upload: bool,
}

impl StoredDoc {
    fn name(&self) -> &str {
        self.location
            .rsplit_once('/')
            .map_or(self.location.as_str(), |(_, name)| name)
    }

    fn word_count(&self) -> usize {
        self.page_content.split_whitespace().count()
    }

    fn token_estimate(&self) -> usize {
        self.page_content.len().div_ceil(4)
    }

    fn metadata_json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "docAuthor": self.doc_author,
            "description": self.description,
            "docSource": self.doc_source,
            "chunkSource": self.chunk_source,
            "published": self.published,
            "wordCount": self.word_count(),
            "token_count_estimate": self.token_estimate(),
        })
    }

    pub(crate) fn upload_json(&self) -> Value {
        let mut value = self.metadata_json();
        if let Value::Object(map) = &mut value {
            map.insert("name".into(), json!(self.name()));
            map.insert("pageContent".into(), json!(self.page_content));
            map.insert("location".into(), json!(self.location));
            map.insert("isDirectUpload".into(), json!(self.direct_upload));
        }
        value
    }
}

#[derive(Debug, Clone)]
struct DocRow {
    id: i64,
    doc_id: String,
    docpath: String,
    filename: String,
    metadata: String,
    created_at: String,
}

#[derive(Debug, Clone)]
struct ThreadRow {
    id: i64,
    name: String,
    slug: String,
    created_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ChatRecord {
    pub thread: Option<String>,
    pub session_id: Option<String>,
    pub prompt: String,
    pub response: String,
}

#[derive(Debug, Clone)]
struct Settings {
    open_ai_temp: Option<f64>,
    open_ai_history: i64,
    open_ai_prompt: Option<String>,
    similarity_threshold: f64,
    chat_provider: Option<String>,
    chat_model: Option<String>,
    top_n: i64,
    chat_mode: String,
    agent_provider: Option<String>,
    agent_model: Option<String>,
    query_refusal_response: Option<String>,
    vector_search_mode: String,
    router_id: Option<i64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            open_ai_temp: None,
            open_ai_history: 20,
            open_ai_prompt: None,
            similarity_threshold: 0.25,
            chat_provider: None,
            chat_model: None,
            top_n: 4,
            chat_mode: "automatic".into(),
            agent_provider: None,
            agent_model: None,
            query_refusal_response: None,
            vector_search_mode: "default".into(),
            router_id: None,
        }
    }
}

#[derive(Debug, Clone)]
struct WorkspaceRow {
    id: i64,
    name: String,
    slug: String,
    created_at: String,
    last_updated_at: String,
    settings: Settings,
    docs: Vec<DocRow>,
    threads: Vec<ThreadRow>,
    chats: Vec<ChatRecord>,
}

/// What a chat produced, before it is turned into a response.
pub(crate) enum ChatReply {
    Text {
        text: String,
        sources: Vec<Value>,
        chat_id: Option<i64>,
    },
    /// The LLM failed (here: an unknown provider), which the server reports
    /// as a 500 with an abort body.
    ProviderError(String),
}

#[derive(Debug, Default)]
pub(crate) struct World {
    next_id: i64,
    workspaces: BTreeMap<String, WorkspaceRow>,
    folders: BTreeSet<String>,
    documents: BTreeMap<String, StoredDoc>,
    last_settings: HashMap<String, Value>,
}

impl World {
    pub(crate) fn new() -> Self {
        let mut world = Self::default();
        world.folders.insert(DEFAULT_FOLDER.to_owned());
        world
    }

    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn has_workspace(&self, slug: &str) -> bool {
        self.workspaces.contains_key(slug)
    }

    pub(crate) fn has_thread(&self, slug: &str, thread: &str) -> bool {
        self.workspaces
            .get(slug)
            .is_some_and(|w| w.threads.iter().any(|t| t.slug == thread))
    }

    pub(crate) fn last_settings(&self, slug: &str) -> Option<Value> {
        self.last_settings.get(slug).cloned()
    }

    pub(crate) fn document_locations(&self) -> Vec<String> {
        self.documents.keys().cloned().collect()
    }

    pub(crate) fn folders(&self) -> Vec<String> {
        self.folders.iter().cloned().collect()
    }

    pub(crate) fn chats(&self, slug: &str) -> Vec<ChatRecord> {
        self.workspaces
            .get(slug)
            .map(|w| w.chats.clone())
            .unwrap_or_default()
    }

    /// `Workspace.new`: `Err(message)` becomes a 400.
    pub(crate) fn create_workspace(&mut self, body: &Value) -> Result<Value, String> {
        let name = match body.get("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => truncate(name, 255),
            _ => return Err("name cannot be null".into()),
        };
        let mut slug = slugify(&name);
        if slug.is_empty() || self.workspaces.contains_key(&slug) {
            let suffix = fastrand::u32(10_000_000..100_000_000);
            slug = slugify(&format!("{name}-{suffix}"));
        }
        let mut settings = Settings {
            open_ai_prompt: Some(DEFAULT_SYSTEM_PROMPT.into()),
            ..Settings::default()
        };
        apply_settings(&mut settings, body, false);
        let now = iso_now();
        let row = WorkspaceRow {
            id: self.next_id(),
            name,
            slug: slug.clone(),
            created_at: now.clone(),
            last_updated_at: now,
            settings,
            docs: Vec::new(),
            threads: Vec::new(),
            chats: Vec::new(),
        };
        let json = row_json(&row);
        self.last_settings.insert(slug.clone(), body.clone());
        self.workspaces.insert(slug, row);
        Ok(json)
    }

    /// `None` for an unknown slug; `Some(Err(id))` when no key was writable.
    pub(crate) fn update_workspace(
        &mut self,
        slug: &str,
        body: &Value,
    ) -> Option<Result<Value, i64>> {
        let row = self.workspaces.get_mut(slug)?;
        self.last_settings.insert(slug.to_owned(), body.clone());
        let Some(map) = body.as_object() else {
            return Some(Err(row.id));
        };
        if !map.keys().any(|k| WRITABLE.contains(&k.as_str())) {
            return Some(Err(row.id));
        }
        if let Some(name) = map.get("name") {
            // The server's validator turns anything but a string into this.
            row.name = match name {
                Value::String(s) if !s.is_empty() => truncate(s, 255),
                _ => "My Workspace".into(),
            };
        }
        apply_settings(&mut row.settings, body, true);
        row.last_updated_at = iso_now();
        Some(Ok(row_json(row)))
    }

    pub(crate) fn delete_workspace(&mut self, slug: &str) -> bool {
        self.workspaces.remove(slug).is_some()
    }

    pub(crate) fn list_workspaces(&self) -> Value {
        let list: Vec<Value> = self
            .workspaces
            .values()
            .map(|row| {
                let mut json = row_json(row);
                if let Value::Object(map) = &mut json {
                    let threads: Vec<Value> = row
                        .threads
                        .iter()
                        .map(|t| json!({ "user_id": null, "slug": t.slug, "name": t.name }))
                        .collect();
                    map.insert("threads".into(), Value::Array(threads));
                }
                json
            })
            .collect();
        json!({ "workspaces": list })
    }

    pub(crate) fn workspace_with_documents(&self, slug: &str, with_threads: bool) -> Option<Value> {
        let row = self.workspaces.get(slug)?;
        let mut json = row_json(row);
        if let Value::Object(map) = &mut json {
            let documents: Vec<Value> = row
                .docs
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "docId": d.doc_id,
                        "filename": d.filename,
                        "docpath": d.docpath,
                        "workspaceId": row.id,
                        "metadata": d.metadata,
                        "pinned": false,
                        "watched": false,
                        "createdAt": d.created_at,
                        "lastUpdatedAt": d.created_at,
                    })
                })
                .collect();
            map.insert("documents".into(), Value::Array(documents));
            map.insert("contextWindow".into(), json!(8192));
            map.insert("currentContextTokenCount".into(), json!(0));
            if with_threads {
                let threads: Vec<Value> = row
                    .threads
                    .iter()
                    .map(|t| json!({ "user_id": null, "slug": t.slug }))
                    .collect();
                map.insert("threads".into(), Value::Array(threads));
            }
        }
        Some(json)
    }

    /// Stores a processed document in `folder`, creating the folder.
    pub(crate) fn store_document(&mut self, folder: &str, mut doc: StoredDoc) -> StoredDoc {
        self.folders.insert(folder.to_owned());
        doc.location = format!("{folder}/{}", doc.location);
        self.documents.insert(doc.location.clone(), doc.clone());
        doc
    }

    /// Deletes first, then adds, one row per add even if the location is
    /// already embedded; adds that do not exist are skipped without a word.
    /// With `attach` false the adds are skipped too, as when the embedder fails.
    pub(crate) fn update_embeddings(
        &mut self,
        slug: &str,
        adds: &[String],
        deletes: &[String],
        attach: bool,
    ) -> bool {
        let Some(mut row) = self.workspaces.remove(slug) else {
            return false;
        };
        row.docs.retain(|d| !deletes.contains(&d.docpath));
        if attach {
            for location in adds {
                let Some(doc) = self.documents.get(location) else {
                    continue;
                };
                let metadata = doc.metadata_json().to_string();
                let filename = doc.name().to_owned();
                let id = self.next_id();
                row.docs.push(DocRow {
                    id,
                    doc_id: uuid(),
                    docpath: location.clone(),
                    filename,
                    metadata,
                    created_at: iso_now(),
                });
            }
        }
        self.workspaces.insert(slug.to_owned(), row);
        true
    }

    /// `Ok(thread)` or `Err(message)` for a duplicate slug; `None` for an
    /// unknown workspace.
    pub(crate) fn create_thread(
        &mut self,
        slug: &str,
        name: Option<&str>,
        thread_slug: Option<&str>,
    ) -> Option<Result<Value, String>> {
        if !self.workspaces.contains_key(slug) {
            return None;
        }
        let thread_slug = thread_slug.map_or_else(uuid, slugify);
        let taken = self
            .workspaces
            .values()
            .any(|w| w.threads.iter().any(|t| t.slug == thread_slug));
        if taken {
            return Some(Err(
                "Unique constraint failed on the fields: (`slug`)".into()
            ));
        }
        let id = self.next_id();
        let row = self.workspaces.get_mut(slug)?;
        let thread = ThreadRow {
            id,
            name: name.unwrap_or("Thread").to_owned(),
            slug: thread_slug,
            created_at: iso_now(),
        };
        let json = json!({
            "id": thread.id,
            "name": thread.name,
            "slug": thread.slug,
            "workspace_id": row.id,
            "user_id": null,
            "createdAt": thread.created_at,
            "lastUpdatedAt": thread.created_at,
        });
        row.threads.push(thread);
        Some(Ok(json))
    }

    /// `false` for an unknown workspace; a missing thread is not an error.
    pub(crate) fn delete_thread(&mut self, slug: &str, thread: &str) -> bool {
        let Some(row) = self.workspaces.get_mut(slug) else {
            return false;
        };
        row.threads.retain(|t| t.slug != thread);
        row.chats.retain(|c| c.thread.as_deref() != Some(thread));
        true
    }

    pub(crate) fn workspace_chat_mode(&self, slug: &str) -> Option<String> {
        self.workspaces
            .get(slug)
            .map(|w| w.settings.chat_mode.clone())
    }

    pub(crate) fn reset_history(&mut self, slug: &str, thread: Option<&str>) {
        if let Some(row) = self.workspaces.get_mut(slug) {
            row.chats.retain(|c| c.thread.as_deref() != thread);
        }
    }

    /// A deterministic stand-in for retrieval plus an LLM: sentences of the
    /// embedded documents that share words with the question, best first,
    /// quoted in the reply and returned as sources.
    pub(crate) fn chat(
        &mut self,
        slug: &str,
        thread: Option<&str>,
        session_id: Option<&str>,
        message: &str,
        mode: &str,
    ) -> Option<ChatReply> {
        let row = self.workspaces.get(slug)?;
        let settings = &row.settings;
        let query = query_words(message);
        let mut hits: Vec<(f64, usize, &StoredDoc, String)> = Vec::new();
        let mut order = 0usize;
        for doc_row in &row.docs {
            let Some(doc) = self.documents.get(&doc_row.docpath) else {
                continue;
            };
            for sentence in sentences(&doc.page_content) {
                order += 1;
                let score = overlap(&query, &sentence);
                if score > 0.0 && score >= settings.similarity_threshold {
                    hits.push((score, order, doc, sentence));
                }
            }
        }
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.truncate(usize::try_from(settings.top_n.max(1)).unwrap_or(4));

        if hits.is_empty() && mode == "query" {
            let text = settings
                .query_refusal_response
                .clone()
                .unwrap_or_else(|| DEFAULT_REFUSAL.to_owned());
            return Some(ChatReply::Text {
                text,
                sources: Vec::new(),
                chat_id: None,
            });
        }
        if let Some(provider) = &settings.chat_provider
            && !KNOWN_PROVIDERS.contains(&provider.as_str())
        {
            return Some(ChatReply::ProviderError(format!(
                "ENV: No valid LLM_PROVIDER value found in environment! Using {provider}"
            )));
        }
        let text = if hits.is_empty() {
            "I could not find anything about that in this workspace's documents.".to_owned()
        } else {
            let mut text = String::from("From the workspace documents:");
            for (_, _, doc, sentence) in &hits {
                text.push_str(&format!("\n- \"{sentence}\" ({})", doc.title));
            }
            text
        };
        let sources: Vec<Value> = hits
            .iter()
            .map(|(score, _, doc, sentence)| {
                let mut source = doc.metadata_json();
                if let Value::Object(map) = &mut source {
                    map.insert("id".into(), json!(uuid()));
                    map.insert("text".into(), json!(sentence));
                    map.insert("score".into(), json!(score));
                }
                source
            })
            .collect();
        let chat_id = self.next_id();
        if let Some(row) = self.workspaces.get_mut(slug) {
            row.chats.push(ChatRecord {
                thread: thread.map(str::to_owned),
                session_id: session_id.map(str::to_owned),
                prompt: message.to_owned(),
                response: text.clone(),
            });
        }
        Some(ChatReply::Text {
            text,
            sources,
            chat_id: Some(chat_id),
        })
    }

    /// `Err(message)` becomes a 500 `{success:false, message}`.
    pub(crate) fn create_folder(&mut self, name: &str) -> Result<(), String> {
        let name = name.trim_matches('/');
        if name.split('/').any(|part| part == "..") {
            return Err("Failed to create folder: Invalid path name".into());
        }
        // An empty name resolves to the documents root, which exists.
        if name.is_empty() || !self.folders.insert(name.to_owned()) {
            return Err("Folder by that name already exists".into());
        }
        Ok(())
    }

    /// `purgeDocument` for each name: the file leaves storage and every
    /// workspace that embeds it. Unknown names are skipped.
    pub(crate) fn remove_documents(&mut self, names: &[String]) {
        for name in names {
            self.documents.remove(name);
            for workspace in self.workspaces.values_mut() {
                workspace.docs.retain(|d| &d.docpath != name);
            }
        }
    }

    /// Moves what can be moved. `Ok(unmoved)` counts the files left in place
    /// because a workspace embeds them; `Err` when a move failed.
    pub(crate) fn move_files(&mut self, moves: &[(String, String)]) -> Result<usize, ()> {
        let embedded: BTreeSet<&str> = self
            .workspaces
            .values()
            .flat_map(|w| w.docs.iter().map(|d| d.docpath.as_str()))
            .collect();
        let (pinned, movable): (Vec<_>, Vec<_>) = moves
            .iter()
            .partition(|(from, _)| embedded.contains(from.as_str()));
        let unmoved = pinned.len();
        let mut failed = false;
        for (from, to) in movable {
            let folder = to.rsplit_once('/').map_or("", |(folder, _)| folder);
            let valid = !from.contains("..") && !to.contains("..") && self.folders.contains(folder);
            match self.documents.remove(from) {
                Some(mut doc) if valid => {
                    doc.location = to.clone();
                    self.documents.insert(to.clone(), doc);
                }
                Some(doc) => {
                    self.documents.insert(from.clone(), doc);
                    failed = true;
                }
                None => failed = true,
            }
        }
        if failed { Err(()) } else { Ok(unmoved) }
    }
}

/// Keys `/new` and `/update` accept; the rest are dropped.
const WRITABLE: &[&str] = &[
    "name",
    "openAiTemp",
    "openAiHistory",
    "openAiPrompt",
    "similarityThreshold",
    "topN",
    "chatMode",
    "chatProvider",
    "chatModel",
    "agentProvider",
    "agentModel",
    "queryRefusalResponse",
    "vectorSearchMode",
    "router_id",
    "lastUpdatedAt",
];

/// The server's per-field normalisation: values are coerced, never rejected.
fn apply_settings(settings: &mut Settings, body: &Value, is_update: bool) {
    let Some(map) = body.as_object() else {
        return;
    };
    if let Some(v) = map.get("openAiTemp") {
        settings.open_ai_temp = number(v).filter(|t| *t >= 0.0);
    }
    if let Some(v) = map.get("openAiHistory") {
        settings.open_ai_history = number(v).map_or(20, |n| (n.trunc() as i64).max(0));
    }
    if let Some(v) = map.get("openAiPrompt") {
        settings.open_ai_prompt = non_empty_string(v);
    }
    if let Some(v) = map.get("similarityThreshold") {
        settings.similarity_threshold = number(v).map_or(0.25, |n| n.clamp(0.0, 1.0));
    }
    if let Some(v) = map.get("topN") {
        settings.top_n = number(v).map_or(4, |n| (n.trunc() as i64).max(1));
    }
    if let Some(v) = map.get("chatMode") {
        settings.chat_mode = match v.as_str() {
            Some(mode @ ("automatic" | "chat" | "query")) => mode.to_owned(),
            _ => "automatic".to_owned(),
        };
    }
    provider_pair(
        map,
        "chatProvider",
        "chatModel",
        &mut settings.chat_provider,
        &mut settings.chat_model,
        is_update,
    );
    provider_pair(
        map,
        "agentProvider",
        "agentModel",
        &mut settings.agent_provider,
        &mut settings.agent_model,
        is_update,
    );
    if let Some(v) = map.get("queryRefusalResponse") {
        settings.query_refusal_response = v.as_str().map(str::to_owned);
    }
    if let Some(v) = map.get("vectorSearchMode") {
        settings.vector_search_mode = match v.as_str() {
            Some("rerank") => "rerank".to_owned(),
            _ => "default".to_owned(),
        };
    }
    if let Some(v) = map.get("router_id") {
        settings.router_id = v.as_i64();
    }
}

fn provider_pair(
    map: &Map<String, Value>,
    provider_key: &str,
    model_key: &str,
    provider: &mut Option<String>,
    model: &mut Option<String>,
    is_update: bool,
) {
    if let Some(v) = map.get(model_key) {
        *model = v.as_str().map(str::to_owned);
    }
    if let Some(v) = map.get(provider_key) {
        match v.as_str() {
            Some("default") if is_update => {
                *provider = None;
                *model = None;
            }
            Some("none") | Some("") | None => *provider = None,
            Some(p) => *provider = Some(p.to_owned()),
        }
    }
}

/// JavaScript's `parseFloat` leniency: numbers and numeric strings; NaN and
/// the rest are `None`.
fn number(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

fn non_empty_string(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn row_json(row: &WorkspaceRow) -> Value {
    let s = &row.settings;
    json!({
        "id": row.id,
        "name": row.name,
        "slug": row.slug,
        "vectorTag": null,
        "createdAt": row.created_at,
        "openAiTemp": s.open_ai_temp,
        "openAiHistory": s.open_ai_history,
        "lastUpdatedAt": row.last_updated_at,
        "openAiPrompt": s.open_ai_prompt,
        "similarityThreshold": s.similarity_threshold,
        "chatProvider": s.chat_provider,
        "chatModel": s.chat_model,
        "topN": s.top_n,
        "chatMode": s.chat_mode,
        "pfpFilename": null,
        "agentProvider": s.agent_provider,
        "agentModel": s.agent_model,
        "queryRefusalResponse": s.query_refusal_response,
        "vectorSearchMode": s.vector_search_mode,
        "router_id": s.router_id,
    })
}

/// `slugify(name, {lower: true})`: lower case, whitespace runs to `-`, and
/// characters outside the library's kept set dropped.
pub(crate) fn slugify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_dash = false;
    for c in text.trim().chars() {
        if c.is_whitespace() {
            pending_dash = true;
            continue;
        }
        let keep = c.is_alphanumeric() || "-_.~$*+!'()\":@".contains(c);
        if !keep {
            continue;
        }
        if pending_dash && !out.is_empty() {
            out.push('-');
        }
        pending_dash = false;
        out.extend(c.to_lowercase());
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "what", "which", "who", "whom", "how", "why",
    "when", "where", "does", "did", "do", "is", "of", "in", "on", "at", "to", "a", "an", "it",
    "its", "this", "that", "these", "those", "with", "from", "about", "into", "has", "have", "had",
    "be", "been", "there", "their", "can", "could", "would", "should", "tell", "me", "please",
];

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

fn query_words(message: &str) -> BTreeSet<String> {
    let meaningful: BTreeSet<String> = words(message)
        .filter(|w| w.chars().count() >= 2 && !STOP_WORDS.contains(&w.as_str()))
        .collect();
    if meaningful.is_empty() {
        words(message).collect()
    } else {
        meaningful
    }
}

/// The share of the question's words that appear in `sentence`.
fn overlap(query: &BTreeSet<String>, sentence: &str) -> f64 {
    if query.is_empty() {
        return 0.0;
    }
    let present: BTreeSet<String> = words(sentence).collect();
    let found = query.iter().filter(|w| present.contains(*w)).count();
    found as f64 / query.len() as f64
}

fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == '\n' || c == '\r' {
            push_sentence(&mut out, &mut current);
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '!' | '?') {
            push_sentence(&mut out, &mut current);
        }
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let sentence = current.trim();
    if !sentence.is_empty() {
        out.push(sentence.to_owned());
    }
    current.clear();
}

/// A random version-4 UUID, without a dependency for it.
pub(crate) fn uuid() -> String {
    let mut bits = fastrand::u128(..);
    bits = (bits & !(0xF << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The UTC date and time as (year, month, day, hour, minute, second, millis).
fn utc_now() -> (i64, u32, u32, u64, u64, u64, u128) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis().into(),
    )
}

pub(crate) fn iso_now() -> String {
    let (y, mo, d, h, mi, s, ms) = utc_now();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// The collector's `published` format: `1/16/2024, 3:07:00 PM`.
pub(crate) fn published_now() -> String {
    let (y, mo, d, h, mi, s, _) = utc_now();
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{mo}/{d}/{y}, {h12}:{mi:02}:{s:02} {half}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_lowercases_and_joins_words_with_dashes() {
        assert_eq!(slugify("My  Workspace"), "my-workspace");
        assert_eq!(slugify("Annual Report.pdf"), "annual-report.pdf");
        assert_eq!(slugify("a/b#c"), "abc");
    }

    #[test]
    fn uuid_has_the_v4_shape() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn sentences_split_on_terminators_and_lines() {
        assert_eq!(
            sentences("One. Two!\nThree"),
            vec!["One.".to_owned(), "Two!".to_owned(), "Three".to_owned()]
        );
    }

    #[test]
    fn iso_now_looks_like_a_timestamp() {
        let now = iso_now();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z'));
    }
}
