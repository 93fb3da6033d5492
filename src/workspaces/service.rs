//! Workspace logic spanning the database and the backend.

use std::time::Instant;

use serde_json::json;

use crate::auth::Principal;
use crate::backends::{AskOptions, BackendError, BackendKind};
use crate::error::ApiError;
use crate::jobs::response::JobResponse;
use crate::jobs::{NewJob, enqueue};
use crate::state::AppState;
use crate::workspaces::model::{
    ChatRequest, ChatResponse, CreateWorkspaceRequest, UpdateWorkspaceRequest, validate_llm,
    validate_name, validate_settings,
};
use crate::workspaces::repo::{self, WorkspaceRow, new_workspace_row, slugify};
use crate::workspaces::threads;

pub const EMBED_JOB_TYPE: &str = "workspaces.embed";

pub async fn find(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<WorkspaceRow, ApiError> {
    repo::find_workspace(&state.db.pool, &principal.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("workspace"))
}

/// `409` when another workspace's name differs from `name` only in case, spacing or
/// punctuation ("Contracts 2026" and "contracts-2026"): both would have one slug, and a
/// person reading a list (or `quire ask -w contracts 2026`) could not tell them apart.
/// Refusing is kinder than inventing `contracts-2026-2`, which no one would type.
async fn refuse_slug_twin(
    state: &AppState,
    org_id: &str,
    name: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let slug = slugify(name);
    if slug.is_empty() {
        return Ok(());
    }
    match repo::find_workspace_by_slug(&state.db.pool, org_id, &slug).await? {
        Some(twin) if Some(twin.id.as_str()) != except => Err(ApiError::Conflict(format!(
            "the workspace '{}' has the same slug '{slug}'; names must differ in more than case or punctuation",
            twin.name
        ))),
        _ => Ok(()),
    }
}

/// Creates a workspace; with `reuse_existing` an existing one of that name is returned
/// instead (the seed's create-or-reuse). Returns the row and whether it was created.
pub async fn create_or_reuse(
    state: &AppState,
    principal: &Principal,
    request: CreateWorkspaceRequest,
) -> Result<(WorkspaceRow, bool), ApiError> {
    let name = validate_name(&request.name)?;
    validate_settings(
        request.top_n,
        request.similarity_threshold,
        request.prompt_preset.as_deref(),
        request.llm_config.as_ref(),
    )?;
    if let Some(existing) =
        repo::find_workspace_by_name(&state.db.pool, &principal.org_id, &name).await?
    {
        if request.reuse_existing {
            return Ok((existing, false));
        }
        return Err(ApiError::Conflict(format!(
            "a workspace named '{name}' exists; pass reuse_existing to get it"
        )));
    }
    refuse_slug_twin(state, &principal.org_id, &name, None).await?;
    let backend = request.backend.unwrap_or(BackendKind::Embedded);
    if !state.backends.is_available(backend) {
        return Err(ApiError::from(BackendError::NotConfigured(
            "set ANYTHINGLLM_URL and ANYTHINGLLM_API_KEY to use the anythingllm backend".into(),
        )));
    }
    let mut row = new_workspace_row(&principal.org_id, &name, backend.as_str());
    row.slug = slugify(&name);
    row.description = request.description;
    row.llm_config = request.llm_config.as_ref().map(|l| l.to_json().to_string());
    row.system_prompt = request.system_prompt;
    row.prompt_preset = request.prompt_preset;
    row.top_n = i64::from(request.top_n.unwrap_or(4));
    row.similarity_threshold = request.similarity_threshold.unwrap_or(0.25);
    row.chat_mode = request
        .chat_mode
        .map(|m| m.as_str())
        .unwrap_or("query")
        .to_owned();

    // The backend first: a workspace row never points at a backend workspace that
    // failed to exist.
    row.backend_ref = state
        .backends
        .create_workspace(&row)
        .await
        .map_err(ApiError::from)?;
    match repo::insert_workspace(&state.db.pool, &row).await {
        Ok(()) => Ok((row, true)),
        Err(e) => {
            // Lost a race with a concurrent create of the same name: undo the backend side.
            if let Err(undo) = state.backends.delete_workspace(&row, &[]).await {
                tracing::warn!(error = %undo, "could not remove a backend workspace after a failed insert");
            }
            if let Some(existing) =
                repo::find_workspace_by_name(&state.db.pool, &principal.org_id, &name).await?
            {
                if request.reuse_existing {
                    return Ok((existing, false));
                }
                return Err(ApiError::Conflict(format!(
                    "a workspace named '{name}' exists"
                )));
            }
            Err(e.into())
        }
    }
}

pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: &str,
    request: UpdateWorkspaceRequest,
) -> Result<WorkspaceRow, ApiError> {
    let mut row = find(state, principal, id).await?;
    validate_settings(
        request.top_n,
        request.similarity_threshold,
        request.prompt_preset.as_deref(),
        request.llm_config.as_ref(),
    )?;
    if let Some(name) = request.name {
        let name = validate_name(&name)?;
        if name != row.name
            && repo::find_workspace_by_name(&state.db.pool, &principal.org_id, &name)
                .await?
                .is_some()
        {
            return Err(ApiError::Conflict(format!(
                "a workspace named '{name}' exists"
            )));
        }
        refuse_slug_twin(state, &principal.org_id, &name, Some(&row.id)).await?;
        row.slug = slugify(&name);
        row.name = name;
    }
    if let Some(d) = request.description {
        row.description = Some(d);
    }
    if let Some(l) = request.llm_config {
        row.llm_config = Some(l.to_json().to_string());
    }
    if let Some(p) = request.system_prompt {
        row.system_prompt = Some(p);
    }
    if let Some(p) = request.prompt_preset {
        row.prompt_preset = Some(p);
    }
    if let Some(n) = request.top_n {
        row.top_n = i64::from(n);
    }
    if let Some(t) = request.similarity_threshold {
        row.similarity_threshold = t;
    }
    if let Some(m) = request.chat_mode {
        row.chat_mode = m.as_str().to_owned();
    }
    state
        .backends
        .update_workspace(&row)
        .await
        .map_err(ApiError::from)?;
    repo::update_workspace(&state.db.pool, &row).await?;
    find(state, principal, id).await
}

pub async fn delete(
    state: &AppState,
    principal: &Principal,
    id: &str,
    force: bool,
) -> Result<(), ApiError> {
    let row = find(state, principal, id).await?;
    let active =
        crate::jobs::repo::active_jobs_of_workspace(&state.db.pool, &principal.org_id, &row.id)
            .await?;
    if !active.is_empty() && !force {
        return Err(ApiError::Conflict(format!(
            "{} job(s) of this workspace are queued or running; wait, cancel them, or pass force=true",
            active.len()
        )));
    }
    for job_id in &active {
        crate::jobs::repo::request_cancel(&state.db.pool, &principal.org_id, job_id).await?;
    }
    let leaving =
        crate::documents::service::workspace_leaving(state, &principal.org_id, &row.id).await?;
    state
        .backends
        .delete_workspace(&row, &leaving.backend_locations)
        .await
        .map_err(ApiError::from)?;
    let documents = crate::documents::repo::storage_keys_of_workspace(
        &state.db.pool,
        &principal.org_id,
        &row.id,
    )
    .await?;
    repo::delete_workspace(&state.db.pool, &principal.org_id, &row.id).await?;
    crate::documents::service::workspace_left(state, &principal.org_id, &leaving).await?;
    for key in documents {
        if let Err(e) = state.storage.delete(&key).await {
            tracing::warn!(error = %e, "could not delete a document original of a deleted workspace");
        }
    }
    Ok(())
}

/// The job that embeds a workspace's `extracted` documents. Its dedup key is the
/// workspace: a request while one waits joins it (it will see the new documents), and
/// two never run at once, so they never hand the same documents to the backend.
pub fn embed_job(org_id: &str, workspace_id: &str) -> NewJob {
    NewJob::new(
        org_id,
        EMBED_JOB_TYPE,
        json!({ "workspace_id": workspace_id }),
    )
    .workspace(workspace_id)
    .dedup_key(workspace_id)
}

pub async fn enqueue_embedding(
    state: &AppState,
    org_id: &str,
    workspace_id: &str,
) -> Result<JobResponse, ApiError> {
    let row = enqueue(&state.db, embed_job(org_id, workspace_id))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(JobResponse::from_row(&row, state.settings.job_max_attempts))
}

/// One question answered at once, optionally inside a thread.
pub async fn chat(
    state: &AppState,
    principal: &Principal,
    ws: &WorkspaceRow,
    request: ChatRequest,
) -> Result<ChatResponse, ApiError> {
    if let Some(l) = &request.llm_config {
        validate_llm(l, "llm_config")?;
    }
    for t in &request.doc_types {
        if quire_ingest::DocType::parse(t).is_none() {
            return Err(ApiError::invalid_field(
                "doc_types",
                format!("each must be {}", quire_ingest::DocType::names()),
            ));
        }
    }
    let started = Instant::now();
    let thread = match (&request.thread_id, request.new_thread) {
        (Some(id), _) => Some(threads::find_open(state, principal, ws, id).await?),
        (None, true) => Some(threads::open(state, ws, "chat").await?),
        (None, false) => None,
    };
    let history = match &thread {
        Some(t) => threads::history(state, t).await?,
        None => Vec::new(),
    };
    let options = AskOptions {
        thread: thread.as_ref().and_then(|t| t.backend_ref.clone()),
        doc_types: request.doc_types,
        document_ids: request.document_ids,
        llm_override: request.llm_config.clone(),
    };
    let answer = state
        .backends
        .ask(ws, &request.message, &options, &history)
        .await
        .map_err(ApiError::from)?;
    if let Some(t) = &thread {
        threads::append(state, t, &request.message, &answer.text).await?;
    }
    Ok(ChatResponse {
        answer: answer.text,
        sources: answer.sources,
        thread_id: thread.map(|t| t.id),
        processing_time_ms: started.elapsed().as_millis() as u64,
    })
}
