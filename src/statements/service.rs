//! Extractions as the API and the job see them: starting one (the original stored and
//! the row written with its job in one transaction), running one (page text with
//! layout in a confined child, then `quire-statements`), and a statement as CSV.
//!
//! The job is idempotent: a re-run deletes the statements an earlier attempt wrote and
//! writes them again with the extraction's result in one transaction.

use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use quire_ingest::{PdfExtractor, PdfOutcome, PopplerTools};
use quire_statements::{Analysis, StatementType};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::jobs::{JobRow, NewJob, announce, enqueue_in};
use crate::state::AppState;
use crate::statements::repo::{self, ExtractionResult, ExtractionRow, StatementRow};
use crate::time::now_ms;

pub const EXTRACT_JOB_TYPE: &str = "statements.extract";
/// The seed's policy: three retries after the first attempt.
pub const EXTRACT_MAX_ATTEMPTS: u32 = 4;

/// Where the PDF comes from.
pub enum Source {
    Upload { file_name: String, bytes: Bytes },
    Document { id: String },
}

/// Optional facts the caller gives about the document.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    pub pages: Option<Vec<u32>>,
}

/// The verdict on one page, as an extraction records it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PageVerdict {
    /// 1-based.
    pub page: u32,
    pub statement_type: String,
    pub confidence: f64,
    /// The page has no text layer (a scan): its text needs OCR, which this server
    /// does not run.
    pub needs_ocr: bool,
}

fn is_pdf(bytes: &[u8]) -> bool {
    bytes.len() >= 5
        && bytes[..1024.min(bytes.len())]
            .windows(5)
            .any(|w| w == b"%PDF-")
}

/// Stores the original (for an upload), writes the extraction and its job in one
/// transaction. A PDF is told by its magic bytes; anything else is a `415`.
pub async fn start_extraction(
    state: &AppState,
    principal: &Principal,
    source: Source,
    options: Options,
) -> Result<(ExtractionRow, JobRow), ApiError> {
    let id = uuid::Uuid::now_v7().to_string();
    let org = principal.org_id.clone();
    let (file_name, storage_key, document_id, owns) = match source {
        Source::Upload { file_name, bytes } => {
            if !is_pdf(&bytes) {
                return Err(ApiError::UnsupportedMediaType(
                    "file: only PDF documents can be extracted".into(),
                ));
            }
            let key = format!("orgs/{org}/extractions/{id}/original.pdf");
            state
                .storage
                .put_bytes(&key, bytes)
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            (file_name, key, None, 1)
        }
        Source::Document { id: document_id } => {
            let document = crate::documents::service::find(state, principal, &document_id).await?;
            if document.doc_type != "pdf" {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "document_id: the document is {}, only PDF documents can be extracted",
                    document.doc_type
                )));
            }
            (document.name, document.storage_key, Some(document.id), 0)
        }
    };
    let now = now_ms();
    let pages_requested = options
        .pages
        .as_ref()
        .map(|p| serde_json::to_string(p).unwrap_or_else(|_| "[]".into()));
    let job = NewJob {
        max_attempts: Some(EXTRACT_MAX_ATTEMPTS),
        ..NewJob::new(
            &org,
            EXTRACT_JOB_TYPE,
            serde_json::json!({ "extraction_id": id }),
        )
    };
    let mut tx = state.db.pool.begin().await?;
    let job = enqueue_in(&state.db, &mut tx, job)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let row = ExtractionRow {
        id,
        org_id: org,
        job_id: job.id.clone(),
        document_id,
        file_name,
        storage_key,
        owns_original: owns,
        status: "queued".into(),
        company_name: options.company_name,
        fiscal_year: options.fiscal_year,
        pages_requested,
        statement_types: "[]".into(),
        confidence: None,
        page_count: None,
        pages: "[]".into(),
        processing_ms: None,
        error: None,
        created_at: now,
        updated_at: now,
    };
    repo::insert_extraction(&mut *tx, &row).await?;
    tx.commit().await?;
    announce(&state.db).await;
    Ok((row, job))
}

/// The engine for page text with layout: Poppler's `pdftotext -layout` when installed,
/// else the engine the server is configured with (no column alignment: the parser
/// reads it as one cell per line).
pub fn layout_extractor(state: &AppState) -> anyhow::Result<PdfExtractor> {
    match PopplerTools::find_on_path() {
        Some(tools) => Ok(PdfExtractor::Pdftotext(tools.with_layout(true))),
        None => crate::documents::ingest::pdf_extractor(state),
    }
}

/// What reading a PDF for statements gave.
pub struct Extracted {
    pub analysis: Analysis,
    pub verdicts: Vec<PageVerdict>,
    pub page_count: u32,
}

/// Why a PDF gave no statements at all.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("the PDF is encrypted")]
    Encrypted,
    #[error("the PDF cannot be read: {0}")]
    Unreadable(String),
    #[error("{0}")]
    Extraction(#[from] quire_ingest::PdfError),
}

/// Page text (confined child), then detection and parsing. Blocking.
pub fn extract_statements(
    extractor: &PdfExtractor,
    limits: &quire_ingest::Limits,
    pdf: &[u8],
    wanted: Option<&[u32]>,
) -> Result<Extracted, ExtractError> {
    let text = match extractor.extract(pdf, limits)? {
        PdfOutcome::Text(text) => text,
        PdfOutcome::Encrypted => return Err(ExtractError::Encrypted),
        PdfOutcome::Unreadable { detail } => return Err(ExtractError::Unreadable(detail)),
    };
    let pages: Vec<(u32, &str)> = text
        .pages
        .iter()
        .filter(|p| wanted.is_none_or(|w| w.contains(&p.number)))
        .map(|p| (p.number, p.text.as_str()))
        .collect();
    let with_text: Vec<(u32, &str)> = pages
        .iter()
        .copied()
        .filter(|(_, t)| !t.trim().is_empty())
        .collect();
    let analysis = quire_statements::analyze_pages(&with_text);
    let verdicts = pages
        .iter()
        .map(
            |(number, text)| match analysis.pages.iter().find(|p| p.page == *number) {
                Some(found) if !text.trim().is_empty() => PageVerdict {
                    page: *number,
                    statement_type: found.detection.statement_type.as_str().to_owned(),
                    confidence: found.detection.confidence,
                    needs_ocr: false,
                },
                _ => PageVerdict {
                    page: *number,
                    statement_type: StatementType::Other.as_str().to_owned(),
                    confidence: 0.0,
                    needs_ocr: true,
                },
            },
        )
        .collect();
    Ok(Extracted {
        analysis,
        verdicts,
        page_count: text.page_count,
    })
}

/// Runs one extraction to its end; an unreadable or hostile PDF ends `failed` with the
/// reason (`Err` carries it for the job).
pub async fn run_extraction(
    state: &AppState,
    org_id: &str,
    extraction_id: &str,
) -> Result<usize, RunError> {
    let Some(row) = repo::find_extraction(&state.db.pool, org_id, extraction_id).await? else {
        return Err(RunError::Gone);
    };
    repo::mark_extraction_running(&state.db.pool, org_id, extraction_id).await?;
    let started = Instant::now();
    let bytes = state
        .storage
        .get_bytes(&row.storage_key)
        .await
        .map_err(|e| RunError::Transient(format!("reading the original: {e}")))?;
    let extractor = layout_extractor(state).map_err(|e| RunError::Transient(format!("{e:#}")))?;
    let limits = crate::documents::ingest::ingest_limits(&state.settings);
    let wanted: Option<Vec<u32>> = row
        .pages_requested
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let outcome = tokio::task::spawn_blocking(move || {
        extract_statements(&extractor, &limits, &bytes, wanted.as_deref())
    })
    .await
    .map_err(|e| RunError::Transient(format!("the extraction task failed: {e}")))?;
    let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let extracted = match outcome {
        Ok(extracted) => extracted,
        Err(e) => {
            let reason = e.to_string();
            repo::fail_extraction(&state.db.pool, org_id, extraction_id, &reason, elapsed).await?;
            return Err(RunError::Failed(reason));
        }
    };
    let mut types: Vec<&str> = Vec::new();
    for statement in &extracted.analysis.statements {
        let name = statement.statement_type.as_str();
        if !types.contains(&name) {
            types.push(name);
        }
    }
    let confidence = extracted
        .analysis
        .statements
        .iter()
        .map(|s| s.confidence)
        .reduce(f64::min);
    let types_json = json(&types);
    let pages_json = json(&extracted.verdicts);
    let now = now_ms();
    let mut tx = state.db.pool.begin().await?;
    repo::delete_statements_of(&mut *tx, org_id, extraction_id).await?;
    for (position, statement) in extracted.analysis.statements.iter().enumerate() {
        let failed = statement.failed_checks().count();
        repo::insert_statement(
            &mut *tx,
            &StatementRow {
                id: uuid::Uuid::now_v7().to_string(),
                org_id: org_id.to_owned(),
                extraction_id: extraction_id.to_owned(),
                position: position as i64,
                statement_type: statement.statement_type.as_str().to_owned(),
                title: statement.title.clone(),
                company_name: row.company_name.clone(),
                fiscal_year: row.fiscal_year,
                pages: json(&statement.pages),
                periods: json(&statement.periods),
                scale: i64::try_from(statement.scale).unwrap_or(i64::MAX),
                currency: statement.currency.clone(),
                line_items: json(&statement.line_items),
                checks: json(&statement.checks),
                checks_failed: failed as i64,
                confidence: statement.confidence,
                method: statement.method.clone(),
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
    }
    repo::finish_extraction(
        &mut *tx,
        org_id,
        extraction_id,
        &ExtractionResult {
            statement_types: &types_json,
            confidence,
            page_count: i64::from(extracted.page_count),
            pages: &pages_json,
            processing_ms: elapsed,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(extracted.analysis.statements.len())
}

/// A JSON column's text; the types stored here always serialise.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the extraction no longer exists")]
    Gone,
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Transient(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Deletes an extraction, its statements and (when uploaded for it) its original.
pub async fn delete_extraction(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(), ApiError> {
    let row = repo::find_extraction(&state.db.pool, &principal.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("extraction"))?;
    let mut tx = state.db.pool.begin().await?;
    repo::delete_statements_of(&mut *tx, &principal.org_id, id).await?;
    repo::delete_extraction(&mut *tx, &principal.org_id, id).await?;
    tx.commit().await?;
    if row.owns_original == 1
        && let Err(e) = state.storage.delete(&row.storage_key).await
    {
        tracing::warn!(error = %e, extraction.id = %id, "could not remove an extraction's original");
    }
    Ok(())
}

fn csv_cell(text: &str) -> String {
    // Formula-safe: a cell a spreadsheet would evaluate is prefixed with a quote.
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// A statement as CSV: one row per line item, one column per period (values as
/// printed, in units of `scale`).
pub fn statement_csv(
    periods: &[quire_statements::Period],
    items: &[quire_statements::LineItem],
) -> String {
    let mut out = String::from("label,level,is_total,kind,canonical,page");
    for period in periods {
        out.push(',');
        out.push_str(&csv_cell(&period.label));
    }
    out.push('\n');
    for item in items {
        let kind = match item.kind {
            quire_statements::ValueKind::Amount => "amount",
            quire_statements::ValueKind::PerShare => "per_share",
            quire_statements::ValueKind::Percent => "percent",
        };
        out.push_str(&format!(
            "{},{},{},{},{},{}",
            csv_cell(&item.label),
            item.level,
            item.is_total,
            kind,
            item.canonical.as_deref().unwrap_or(""),
            item.page
        ));
        for value in &item.values {
            out.push(',');
            if let Some(v) = value {
                out.push_str(&v.to_string());
            }
        }
        out.push('\n');
    }
    out
}
