//! Summaries as the API sees them: recording a summary and its job in one transaction,
//! reading them back, and marking them stale when a document's content changes
//! ([`content_changed`], subscribed to the documents capability's hook). The
//! work itself is the `summaries.generate` job in [`super::jobs`].
//!
//! What is decided at request time, and stored, so that the job and any later reader
//! see the same thing: the template text, the LLM settings (resolved server ←
//! request; no key), the rendered prompt for the whole document, the document's
//! content hash, and the cache key (a SHA-256 of content hash, rendered prompt, model
//! settings, format and JSON schema). A request that cannot work fails here: a template
//! that does not render with the given variables (`422` on `variables`), a JSON summary
//! without a model (`422 llm_required`).

use quire_llm::{LlmResolver, LlmSettings};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::documents::repo::DocumentRow;
use crate::error::ApiError;
use crate::hooks::ContentChanged;
use crate::jobs::NewJob;
use crate::jobs::response::JobResponse;
use crate::state::AppState;
use crate::summaries::jobs::{BULK_JOB_TYPE, GENERATE_JOB_TYPE};
use crate::summaries::model::{
    BulkAccepted, BulkSummaryRequest, CreateSummaryRequest, StoredRequest, SummaryAccepted,
    SummaryFormat, SummaryLinks, SummaryResponse, SummarySentence, SummaryStatus, TokensUsed,
};
use crate::summaries::repo::{self, SummaryRow};
use crate::templates::model::{DocumentVars, PageVar, PromptTemplate, RenderContext, TemplateType};
use crate::templates::service::TemplateResponse;
use crate::time::{ms_to_rfc3339, now_ms};

/// `model_used` of a summary made without a model.
pub const EXTRACTIVE: &str = "extractive";

/// The settings a summary runs with: the server's, with the request's on top; `None`
/// for extractive. Unusable settings are a `422` naming `llm.<field>`.
pub fn resolve_llm(
    state: &AppState,
    request: &StoredRequest,
) -> Result<Option<LlmSettings>, quire_llm::SettingsError> {
    LlmResolver::new(state.default_llm.as_ref())
        .organisation(None)
        .request(request.llm.as_ref())
        .resolve()
}

/// The settings as stored and shown: everything that shapes the answer, never the key.
pub fn settings_json(settings: &LlmSettings) -> Value {
    json!({
        "provider": settings.provider.as_str(),
        "base_url": settings.root().unwrap_or_else(|_| settings.base_url.clone()),
        "model": settings.model,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "timeout": settings.timeout.as_secs(),
        "context_tokens": settings.context_tokens,
    })
}

/// The variables a template is rendered with for `document`.
pub fn render_context(
    document: &DocumentRow,
    pages: &[(i64, String)],
    request: &StoredRequest,
) -> RenderContext {
    RenderContext {
        document: DocumentVars {
            id: document.id.clone(),
            title: document.title.clone(),
            content: document_text(pages),
            source_type: document.source_type.clone(),
            pages: pages
                .iter()
                .map(|(number, text)| PageVar {
                    number: *number,
                    text: text.clone(),
                })
                .collect(),
            page_count: pages.len(),
        },
        language: request.language.clone(),
        variables: request.variables.clone(),
    }
}

/// The document's text as `document.content`: its pages, separated by blank lines.
pub fn document_text(pages: &[(i64, String)]) -> String {
    let mut text = String::new();
    for (i, (_, page)) in pages.iter().enumerate() {
        if i > 0 {
            text.push_str("\n\n");
        }
        text.push_str(page);
    }
    text
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The template a request names: by id, by name, inline, or the default.
async fn choose_template(
    state: &AppState,
    org_id: &str,
    request: &CreateSummaryRequest,
) -> Result<(Option<String>, PromptTemplate), ApiError> {
    let given = [
        request.template_id.is_some(),
        request.template_name.is_some(),
        request.prompt.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::invalid_field(
            "template_id",
            "give at most one of template_id, template_name or prompt",
        ));
    }
    let template: TemplateResponse = if let Some(id) = &request.template_id {
        crate::templates::service::find(state, org_id, id).await?
    } else if let Some(name) = &request.template_name {
        crate::templates::service::find_by_id_or_name(state, org_id, name).await?
    } else if let Some(prompt) = &request.prompt {
        let parsed = PromptTemplate::parse(prompt).map_err(|e| ApiError::BadRequest {
            message: format!(
                "prompt: line {}, column {}: {}",
                e.line, e.column, e.message
            ),
            details: Some(
                json!({"field": "prompt", "line": e.line, "column": e.column,
                                 "reason": e.message}),
            ),
        })?;
        return Ok((None, parsed));
    } else {
        crate::templates::service::default_for(state, org_id, TemplateType::Summary)
            .await?
            .ok_or(ApiError::NotFound("default summary template"))?
    };
    Ok((Some(template.id.clone()), template.parsed()?))
}

/// What a request resolves to before any document is read: the stored form, the
/// model (or none) and the template.
pub struct Prepared {
    pub stored: StoredRequest,
    pub settings: Option<LlmSettings>,
    pub template_id: Option<String>,
    pub template: PromptTemplate,
}

/// Checks a request and resolves its settings and template; the errors are the API's.
pub async fn prepare(
    state: &AppState,
    org_id: &str,
    request: &CreateSummaryRequest,
) -> Result<Prepared, ApiError> {
    let stored = StoredRequest {
        format: request.format,
        json_schema: request.json_schema.clone(),
        language: request.language.clone(),
        variables: request.variables.clone().unwrap_or_default(),
        llm: request.llm.clone(),
        cache: request.cache.unwrap_or(true),
        prompt: request.prompt.clone(),
    };
    if let Some(llm) = &stored.llm {
        llm.validate()
            .map_err(|e| ApiError::invalid_llm_settings("llm", &e))?;
    }
    if stored.json_schema.is_some() && stored.format != SummaryFormat::Json {
        return Err(ApiError::invalid_field(
            "json_schema",
            "is only used with format json",
        ));
    }
    if let Some(schema) = &stored.json_schema
        && let Err(e) = crate::summaries::schema::check_schema(schema)
    {
        return Err(ApiError::Validation {
            message: format!("json_schema: {e}"),
            details: Some(json!({"field": "json_schema", "path": e.path, "reason": e.reason})),
        });
    }
    let settings =
        resolve_llm(state, &stored).map_err(|e| ApiError::invalid_llm_settings("llm", &e))?;
    if settings.is_none() && stored.format == SummaryFormat::Json {
        return Err(ApiError::Unprocessable {
            code: "llm_required",
            message: "format json needs a model: configure LLM_PROVIDER and LLM_BASE_URL, or \
                      give llm settings with the request"
                .into(),
            details: Some(json!({"field": "format"})),
        });
    }
    let (template_id, template) = choose_template(state, org_id, request).await?;
    Ok(Prepared {
        stored,
        settings,
        template_id,
        template,
    })
}

/// Records a pending summary of a document and its job (one transaction), then wakes
/// the workers.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    document_id: &str,
    request: CreateSummaryRequest,
) -> Result<SummaryAccepted, ApiError> {
    create_for(
        state,
        &principal.org_id,
        principal.user_id.clone(),
        document_id,
        request,
    )
    .await
}

/// [`create`] for an organisation and a user id rather than a request's principal.
async fn create_for(
    state: &AppState,
    org_id: &str,
    created_by: Option<String>,
    document_id: &str,
    request: CreateSummaryRequest,
) -> Result<SummaryAccepted, ApiError> {
    let Prepared {
        stored,
        settings,
        template_id,
        template,
    } = prepare(state, org_id, &request).await?;
    let (document, pages) = crate::documents::service::find_with_pages(state, org_id, document_id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    let row = new_row(
        state,
        org_id,
        created_by,
        &document,
        &pages,
        template_id,
        &template,
        &stored,
        settings.as_ref(),
        None,
    )?;
    let (row, job) = record(state, row).await?;
    Ok(SummaryAccepted {
        summary: response(row)?,
        job: JobResponse::from_row(&job, state.settings.job_max_attempts),
    })
}

/// A pending summary row for `document` (not yet stored).
#[allow(clippy::too_many_arguments)]
pub fn new_row(
    _state: &AppState,
    org_id: &str,
    created_by: Option<String>,
    document: &DocumentRow,
    pages: &[(i64, String)],
    template_id: Option<String>,
    template: &PromptTemplate,
    stored: &StoredRequest,
    settings: Option<&LlmSettings>,
    parent_job_id: Option<String>,
) -> Result<SummaryRow, ApiError> {
    let (rendered, settings_value, cache_key) = match settings {
        Some(settings) => {
            let context = render_context(document, pages, stored);
            let rendered = template.render(&context).map_err(|e| {
                ApiError::invalid_field(
                    "variables",
                    format!(
                        "the template does not render (line {}, column {}): {}",
                        e.line, e.column, e.message
                    ),
                )
            })?;
            let settings_value = settings_json(settings);
            let schema = stored
                .json_schema
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default();
            let key = sha256_hex(&[
                &document.sha256,
                &rendered,
                &settings_value.to_string(),
                stored.format.as_str(),
                &schema,
            ]);
            (Some(rendered), Some(settings_value.to_string()), key)
        }
        None => (
            None,
            None,
            sha256_hex(&[&document.sha256, EXTRACTIVE, stored.format.as_str()]),
        ),
    };
    let now = now_ms();
    Ok(SummaryRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org_id.to_owned(),
        document_id: document.id.clone(),
        created_by,
        template_id,
        job_id: None,
        parent_job_id,
        format: stored.format.as_str().to_owned(),
        status: SummaryStatus::Pending.as_str().to_owned(),
        stale: 0,
        summary_text: None,
        sentences: None,
        error: None,
        error_details: None,
        model_used: None,
        prompt_tokens: None,
        completion_tokens: None,
        tokens_estimated: 0,
        llm_calls: 0,
        template_text: Some(template.source().to_owned()),
        rendered_prompt: rendered,
        request: serde_json::to_string(stored).map_err(|e| ApiError::Internal(e.into()))?,
        content_hash: document.sha256.clone(),
        llm_settings: settings_value,
        cache_key: Some(cache_key),
        cached_from: None,
        processing_ms: None,
        created_at: now,
        updated_at: now,
        completed_at: None,
    })
}

/// The `summaries.generate` job of a summary row.
pub fn generate_job(state: &AppState, row: &SummaryRow) -> NewJob {
    let mut job = NewJob::new(
        &row.org_id,
        GENERATE_JOB_TYPE,
        json!({"summary_id": row.id, "document_id": row.document_id}),
    );
    job.max_attempts = Some(state.settings.job_max_attempts);
    job
}

/// Stores the summary and its `summaries.generate` job in one transaction.
async fn record(
    state: &AppState,
    mut row: SummaryRow,
) -> Result<(SummaryRow, crate::jobs::JobRow), ApiError> {
    let job = generate_job(state, &row);
    let mut tx = state.db.pool.begin().await?;
    let job_row = crate::jobs::enqueue_in(&state.db, &mut tx, job)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    row.job_id = Some(job_row.id.clone());
    repo::insert_summary(&mut *tx, &row).await?;
    tx.commit().await?;
    crate::jobs::announce(&state.db).await;
    Ok((row, job_row))
}

/// Starts a bulk run: the documents are fixed now (ids given, or the organisation's
/// documents in a workspace and/or of a source type), the request is checked as a single
/// summary's would be, and one `summaries.bulk` job makes them.
pub async fn create_bulk(
    state: &AppState,
    principal: &Principal,
    request: BulkSummaryRequest,
) -> Result<BulkAccepted, ApiError> {
    let single = request.single();
    prepare(state, &principal.org_id, &single).await?;
    let org = &principal.org_id;
    let ids: Vec<String> = match (
        &request.document_ids,
        &request.workspace_id,
        &request.source_type,
    ) {
        (Some(ids), None, None) => {
            let mut unique: Vec<String> = Vec::with_capacity(ids.len());
            for id in ids {
                if unique.contains(id) {
                    continue;
                }
                crate::documents::service::find(state, principal, id).await?;
                unique.push(id.clone());
            }
            unique
        }
        (None, workspace, source) if workspace.is_some() || source.is_some() => {
            if let Some(ws) = workspace {
                crate::documents::service::own_workspaces(
                    state,
                    principal,
                    std::slice::from_ref(ws),
                )
                .await?;
            }
            crate::documents::service::find_ids(state, org, workspace.as_deref(), source.as_deref())
                .await?
        }
        _ => {
            return Err(ApiError::invalid_field(
                "document_ids",
                "give document_ids, or workspace_id and/or source_type",
            ));
        }
    };
    if ids.is_empty() {
        return Err(ApiError::invalid_field(
            "document_ids",
            "no document matches",
        ));
    }
    if ids.len() > MAX_BULK_DOCUMENTS {
        return Err(ApiError::invalid_field(
            "document_ids",
            format!("at most {MAX_BULK_DOCUMENTS} documents per bulk run"),
        ));
    }
    let total = ids.len();
    let payload = json!({"request": single, "document_ids": ids, "created_by": principal.user_id});
    let job = crate::jobs::enqueue(&state.db, NewJob::new(org, BULK_JOB_TYPE, payload))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(BulkAccepted {
        total_documents: total as u64,
        job: JobResponse::from_row(&job, state.settings.job_max_attempts),
    })
}

/// Documents one bulk run may cover.
pub const MAX_BULK_DOCUMENTS: usize = 10_000;

/// A new summary made like `id` was, never from the cache.
pub async fn regenerate(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<SummaryAccepted, ApiError> {
    let old = find(state, &principal.org_id, id).await?;
    let mut request = request_like(&old)?;
    request.cache = Some(false);
    create(state, principal, &old.document_id, request).await
}

/// The request that would make a summary like `old` again (same template or prompt,
/// format, schema, language, variables and model).
fn request_like(old: &SummaryRow) -> Result<CreateSummaryRequest, ApiError> {
    let stored: StoredRequest =
        serde_json::from_str(&old.request).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(CreateSummaryRequest {
        template_id: if stored.prompt.is_some() {
            None
        } else {
            old.template_id.clone()
        },
        template_name: None,
        prompt: stored.prompt.clone(),
        format: stored.format,
        json_schema: stored.json_schema.clone(),
        language: stored.language.clone(),
        variables: Some(stored.variables.clone()),
        llm: stored.llm.clone(),
        cache: Some(stored.cache),
    })
}

/// A document's content changed (the documents capability's hook, subscribed by the
/// assembly): its summaries are marked stale and, when the organisation's
/// `auto_resummarize` is on, one fresh summary is enqueued for each way the stale ones
/// were made (template or prompt, format, settings). A summary whose template has
/// since been deleted is not remade (logged).
pub async fn content_changed(state: &AppState, change: &ContentChanged) -> Result<(), ApiError> {
    let org_id = &change.org_id;
    let pool = &state.db.pool;
    let fresh = repo::fresh_of_document(pool, org_id, &change.document_id).await?;
    repo::mark_stale_for_document(pool, org_id, &change.document_id, now_ms()).await?;
    if fresh.is_empty() || !crate::orgs::repo::auto_resummarize(pool, org_id).await? {
        return Ok(());
    }
    let mut made = std::collections::HashSet::new();
    for old in &fresh {
        if !made.insert((old.template_id.clone(), old.request.clone())) {
            continue;
        }
        let request = request_like(old)?;
        let created_by = change.changed_by.clone().or_else(|| old.created_by.clone());
        match create_for(state, org_id, created_by, &change.document_id, request).await {
            Ok(accepted) => {
                tracing::info!(summary.id = %accepted.summary.id, stale.id = %old.id,
                    "fresh summary enqueued (auto_resummarize)");
            }
            Err(e) => {
                tracing::warn!(summary.id = %old.id, error = %e,
                    "stale summary not remade (auto_resummarize)");
            }
        }
    }
    Ok(())
}

/// A summary of the organisation, or `404`.
pub async fn find(state: &AppState, org_id: &str, id: &str) -> Result<SummaryRow, ApiError> {
    repo::find_summary(&state.db.pool, org_id, id)
        .await?
        .ok_or(ApiError::NotFound("summary"))
}

pub fn response(row: SummaryRow) -> Result<SummaryResponse, ApiError> {
    let internal = |what: &str| ApiError::Internal(anyhow::anyhow!("stored summary {what}"));
    let format = SummaryFormat::parse(&row.format).ok_or_else(|| internal("format"))?;
    let status = SummaryStatus::parse(&row.status).ok_or_else(|| internal("status"))?;
    let sentences: Option<Vec<SummarySentence>> = match &row.sentences {
        Some(text) => Some(serde_json::from_str(text).map_err(|e| ApiError::Internal(e.into()))?),
        None => None,
    };
    let parse_json =
        |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str(t).ok());
    let tokens_used = match (row.prompt_tokens, row.completion_tokens) {
        (Some(p), Some(c)) => Some(TokensUsed {
            prompt: p,
            completion: c,
            total: p + c,
            estimated: row.tokens_estimated == 1,
        }),
        _ => None,
    };
    Ok(SummaryResponse {
        links: SummaryLinks {
            self_: format!("/api/v1/summaries/{}", row.id),
            document: format!("/api/v1/documents/{}", row.document_id),
            regenerate: format!("/api/v1/summaries/{}/regenerate", row.id),
            job: row.job_id.as_ref().map(|j| format!("/api/v1/jobs/{j}")),
        },
        error_details: parse_json(&row.error_details),
        llm_settings: parse_json(&row.llm_settings),
        id: row.id,
        document_id: row.document_id,
        template_id: row.template_id,
        format,
        status,
        stale: row.stale == 1,
        summary_text: row.summary_text,
        sentences,
        error: row.error,
        model_used: row.model_used,
        tokens_used,
        llm_calls: row.llm_calls,
        template_text: row.template_text,
        rendered_prompt: row.rendered_prompt,
        content_hash: row.content_hash,
        cached_from: row.cached_from,
        processing_time_ms: row.processing_ms,
        created_by: row.created_by,
        job_id: row.job_id,
        created_at: ms_to_rfc3339(row.created_at),
        completed_at: row.completed_at.map(ms_to_rfc3339),
    })
}
