//! Question sets and runs as the API sees them: recording a run (its row and its job in
//! one transaction), reading a run and its scores back, comparisons and exports. The
//! run itself is the job in [`super::run`].

use std::collections::HashMap;

use quire_evals::{Comparison, Question, RunResult};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::backends::BackendError;
use crate::error::ApiError;
use crate::jobs::repo::JobRow;
use crate::jobs::{JobStatus, NewJob};
use crate::questions::model::{
    BaselineFlips, ExecuteAccepted, ExecuteRequest, FragmentFound, QuestionSetResponse,
    ResultResponse, RunResponse, RunSettings, execute_links, inline_set, parse_file,
};
use crate::questions::repo::{self, QuestionSetRow, ResultRow, RunRow};
use crate::state::AppState;
use crate::time::{ms_to_rfc3339, now_ms};
use crate::workspaces::repo::WorkspaceRow;

use crate::questions::run::RUN_JOB_TYPE;

pub fn set_response(row: QuestionSetRow) -> Result<QuestionSetResponse, ApiError> {
    let questions: Vec<Question> =
        serde_json::from_str(&row.questions).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(QuestionSetResponse {
        id: row.id,
        name: row.name,
        description: row.description,
        question_count: row.question_count,
        questions,
        created_at: ms_to_rfc3339(row.created_at),
        updated_at: ms_to_rfc3339(row.updated_at),
    })
}

pub fn questions_json(questions: &[Question]) -> Result<String, ApiError> {
    serde_json::to_string(questions).map_err(|e| ApiError::Internal(e.into()))
}

/// Records a run and its job in one transaction, then wakes the workers.
pub async fn start_run(
    state: &AppState,
    principal: &Principal,
    request: ExecuteRequest,
) -> Result<ExecuteAccepted, ApiError> {
    let settings = request.settings()?;
    let ws = crate::workspaces::service::find(state, principal, &request.workspace_id).await?;
    let pool = &state.db.pool;
    let (questions, set_id) = match (
        request.question_set_id,
        request.questions,
        request.question_set,
    ) {
        (Some(id), None, None) => {
            let set = repo::find_question_set(pool, &principal.org_id, &id)
                .await?
                .ok_or(ApiError::NotFound("question set"))?;
            let questions: Vec<Question> =
                serde_json::from_str(&set.questions).map_err(|e| ApiError::Internal(e.into()))?;
            (questions, Some(set.id))
        }
        (None, Some(questions), None) => (inline_set(questions)?.questions, None),
        (None, None, Some(file)) => (parse_file(file.format, &file.content)?.questions, None),
        _ => {
            return Err(ApiError::invalid_field(
                "question_set_id",
                "give exactly one of question_set_id, questions or question_set",
            ));
        }
    };
    if questions.is_empty() {
        return Err(ApiError::invalid_field(
            "questions",
            "the run has no questions",
        ));
    }
    let total = questions.len() as i64;
    let kind = ws.backend_kind();
    if !state.backends.is_available(kind) {
        return Err(crate::error::ApiError::from(BackendError::NotConfigured(
            "set ANYTHINGLLM_URL and ANYTHINGLLM_API_KEY to run questions on this workspace".into(),
        )));
    }
    let job_row = record_run(state, &ws, questions, set_id, &settings).await?;
    Ok(ExecuteAccepted {
        links: execute_links(&job_row.id),
        job_id: job_row.id,
        status: "queued".into(),
        total_questions: total,
    })
}

/// Records a run of `questions` on `ws` and its job in one transaction (so no worker
/// can claim the job before the run exists), then wakes the workers.
pub async fn record_run(
    state: &AppState,
    ws: &WorkspaceRow,
    questions: Vec<Question>,
    set_id: Option<String>,
    settings: &RunSettings,
) -> Result<JobRow, ApiError> {
    let pool = &state.db.pool;
    let total = questions.len() as i64;
    let settings_json = serde_json::to_value(settings).map_err(|e| ApiError::Internal(e.into()))?;
    let mut job = NewJob::new(
        &ws.org_id,
        RUN_JOB_TYPE,
        json!({ "workspace_id": ws.id, "question_set_id": set_id, "total": total,
                "settings": settings_json }),
    );
    job.workspace_id = Some(ws.id.clone());
    let mut tx = pool.begin().await?;
    let job_row = crate::jobs::enqueue_in(&state.db, &mut tx, job)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    repo::insert_run(
        &mut *tx,
        &RunRow {
            id: job_row.id.clone(),
            org_id: ws.org_id.clone(),
            workspace_id: ws.id.clone(),
            question_set_id: set_id,
            questions: questions_json(&questions)?,
            total,
            threshold: settings.threshold,
            repeats: i64::from(settings.repeats),
            settings: settings_json.to_string(),
            baseline_run_id: ws.baseline_run_id.clone(),
            created_at: now_ms(),
        },
    )
    .await?;
    tx.commit().await?;
    crate::jobs::announce(&state.db).await;
    Ok(job_row)
}

/// A run of the organisation with its job; `404` for anything else.
pub async fn find_run(
    state: &AppState,
    org_id: &str,
    id: &str,
) -> Result<(JobRow, RunRow), ApiError> {
    let job = crate::jobs::repo::find_job(&state.db.pool, org_id, id)
        .await?
        .filter(|j| j.job_type == RUN_JOB_TYPE)
        .ok_or(ApiError::NotFound("question run"))?;
    let run = repo::find_run(&state.db.pool, org_id, id)
        .await?
        .ok_or(ApiError::NotFound("question run"))?;
    Ok((job, run))
}

pub async fn run_response(
    state: &AppState,
    job: &JobRow,
    run: &RunRow,
) -> Result<RunResponse, ApiError> {
    let (answered, passed) =
        repo::run_counts(&state.db.pool, &run.org_id, &run.id, run.repeats).await?;
    let settings: RunSettings =
        serde_json::from_str(&run.settings).map_err(|e| ApiError::Internal(e.into()))?;
    let baseline = match (&run.baseline_run_id, job.status()) {
        (Some(baseline), JobStatus::Succeeded) => {
            baseline_flips(state, &run.org_id, baseline, run).await?
        }
        _ => None,
    };
    Ok(RunResponse {
        job: crate::jobs::response::JobResponse::from_row(job, state.settings.job_max_attempts),
        question_set_id: run.question_set_id.clone(),
        total: run.total,
        answered,
        passed,
        failed: answered - passed,
        pass_rate: (answered > 0).then(|| passed as f64 / answered as f64),
        threshold: run.threshold,
        repeats: run.repeats,
        settings,
        baseline,
    })
}

async fn baseline_flips(
    state: &AppState,
    org_id: &str,
    baseline_id: &str,
    run: &RunRow,
) -> Result<Option<BaselineFlips>, ApiError> {
    let Some(baseline) = repo::find_run(&state.db.pool, org_id, baseline_id).await? else {
        return Ok(None);
    };
    let comparison = quire_evals::compare(
        &run_results(state, &baseline).await?,
        &run_results(state, run).await?,
    );
    let ids = |change: quire_evals::Change| -> Vec<String> {
        comparison
            .per_question
            .iter()
            .filter(|d| d.change == change)
            .map(|d| d.question_id.clone())
            .collect()
    };
    Ok(Some(BaselineFlips {
        run_id: baseline.id.clone(),
        pass_to_fail: comparison.totals.pass_to_fail,
        fail_to_pass: comparison.totals.fail_to_pass,
        regressions: ids(quire_evals::Change::PassToFail),
        fixes: ids(quire_evals::Change::FailToPass),
    }))
}

/// One row per question for comparisons: success when every repeat succeeded, the mean
/// confidence, the first repeat's answer.
pub async fn run_results(state: &AppState, run: &RunRow) -> Result<Vec<RunResult>, ApiError> {
    let (rows, _) = repo::list_results(&state.db.pool, &run.org_id, &run.id, None, None).await?;
    let mut out: Vec<RunResult> = Vec::new();
    let mut index: HashMap<String, (usize, usize)> = HashMap::new();
    for row in rows {
        match index.get_mut(&row.question_id) {
            Some((at, n)) => {
                let r = &mut out[*at];
                r.success &= row.success == 1;
                r.confidence = (r.confidence * *n as f64 + row.confidence) / (*n as f64 + 1.0);
                *n += 1;
            }
            None => {
                index.insert(row.question_id.clone(), (out.len(), 1));
                out.push(RunResult {
                    question_id: row.question_id,
                    success: row.success == 1,
                    confidence: row.confidence,
                    response: row.response,
                });
            }
        }
    }
    Ok(out)
}

pub async fn compare_runs(
    state: &AppState,
    org_id: &str,
    before: &str,
    after: &str,
) -> Result<Comparison, ApiError> {
    let (_, a) = find_run(state, org_id, before).await?;
    let (_, b) = find_run(state, org_id, after).await?;
    Ok(quire_evals::compare(
        &run_results(state, &a).await?,
        &run_results(state, &b).await?,
    ))
}

pub fn result_response(row: ResultRow) -> ResultResponse {
    let fragments: Vec<quire_evals::FragmentMatch> =
        serde_json::from_str(&row.fragments_found).unwrap_or_default();
    ResultResponse {
        question_id: row.question_id,
        question: row.question,
        response: row.response,
        confidence_score: row.confidence,
        success: row.success == 1,
        fragments_found: fragments
            .into_iter()
            .map(|f| FragmentFound {
                fragment: f.fragment,
                how: f.how.as_str().to_owned(),
                matched_text: f.matched_text,
                alternative: f.alternative,
            })
            .collect(),
        fragments_missing: serde_json::from_str(&row.fragments_missing).unwrap_or_default(),
        assertions: serde_json::from_str(&row.assertions).unwrap_or_default(),
        processing_time: row.processing_time_ms as f64 / 1000.0,
        sources: serde_json::from_str(&row.sources).unwrap_or_default(),
        error: row.error,
        repeat: row.repeat_no,
        cached: row.cached == 1,
        details: row
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
    }
}

/// A result row as the quire-evals exporters take it.
pub fn export_row(row: ResultRow) -> quire_evals::ResultRow {
    let sources: Vec<Value> = serde_json::from_str(&row.sources).unwrap_or_default();
    let mut names: Vec<String> = Vec::new();
    for s in &sources {
        if let Some(n) = s.get("document_name").and_then(Value::as_str)
            && !names.iter().any(|x| x == n)
        {
            names.push(n.to_owned());
        }
    }
    quire_evals::ResultRow {
        question_id: row.question_id,
        question: row.question,
        response: row.response,
        confidence: row.confidence,
        success: row.success == 1,
        fragments_found: serde_json::from_str(&row.fragments_found).unwrap_or_default(),
        fragments_missing: serde_json::from_str(&row.fragments_missing).unwrap_or_default(),
        processing_time_ms: u64::try_from(row.processing_time_ms).unwrap_or(0),
        sources: names,
        error: row.error,
        cached: row.cached == 1,
    }
}
