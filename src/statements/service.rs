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

use quire_ingest::{OcrOutcome, OcrTools, PdfExtractor, PdfOutcome};
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
    /// The page has no text layer (a scan) and was not read by OCR: OCR is off
    /// (`STATEMENTS_OCR=off`), Tesseract is not installed, or it failed on the page.
    pub needs_ocr: bool,
    /// The page has no text layer and its text was read by OCR (Tesseract).
    #[serde(default)]
    pub ocr: bool,
}

/// Pages of one extraction read by OCR at most; further pages without a text layer
/// are reported as `needs_ocr`.
pub const MAX_OCR_PAGES: usize = 50;

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

/// Page text (confined child), OCR of the pages without a text layer when `ocr` is
/// given (each page rasterised and read by Tesseract, confined too), then detection
/// and parsing. Blocking.
pub fn extract_statements(
    extractor: &PdfExtractor,
    ocr: Option<&OcrTools>,
    limits: &quire_ingest::Limits,
    pdf: &[u8],
    wanted: Option<&[u32]>,
) -> Result<Extracted, ExtractError> {
    let text = match extractor.extract(pdf, limits)? {
        PdfOutcome::Text(text) => text,
        PdfOutcome::Encrypted => return Err(ExtractError::Encrypted),
        PdfOutcome::Unreadable { detail } => return Err(ExtractError::Unreadable(detail)),
    };
    struct Page {
        number: u32,
        text: String,
        ocr: bool,
    }
    let mut pages: Vec<Page> = text
        .pages
        .into_iter()
        .filter(|p| wanted.is_none_or(|w| w.contains(&p.number)))
        .map(|p| Page {
            number: p.number,
            text: p.text,
            ocr: false,
        })
        .collect();
    if let Some(tools) = ocr {
        for page in pages
            .iter_mut()
            .filter(|p| p.text.trim().is_empty())
            .take(MAX_OCR_PAGES)
        {
            match quire_ingest::ocr_pdf_page(tools, pdf, page.number, limits) {
                Ok(OcrOutcome::Text(text)) => {
                    page.text = text;
                    page.ocr = true;
                }
                Ok(OcrOutcome::Unreadable { detail }) => {
                    tracing::info!(page = page.number, %detail, "a page could not be drawn for OCR");
                }
                Err(e) => {
                    tracing::warn!(page = page.number, error = %e, "OCR of a page failed");
                }
            }
        }
    }
    let with_text: Vec<(u32, &str)> = pages
        .iter()
        .filter(|p| !p.text.trim().is_empty())
        .map(|p| (p.number, p.text.as_str()))
        .collect();
    let analysis = quire_statements::analyze_pages(&with_text);
    let verdicts = pages
        .iter()
        .map(|page| {
            let empty = page.text.trim().is_empty();
            match analysis.pages.iter().find(|p| p.page == page.number) {
                Some(found) if !empty => PageVerdict {
                    page: page.number,
                    statement_type: found.detection.statement_type.as_str().to_owned(),
                    confidence: found.detection.confidence,
                    needs_ocr: false,
                    ocr: page.ocr,
                },
                _ => PageVerdict {
                    page: page.number,
                    statement_type: StatementType::Other.as_str().to_owned(),
                    confidence: 0.0,
                    needs_ocr: empty && !page.ocr,
                    ocr: page.ocr,
                },
            }
        })
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
    let extractor = crate::pdf::layout_extractor(&state.settings)
        .map_err(|e| RunError::Transient(format!("{e:#}")))?;
    let ocr = crate::pdf::ocr_tools(&state.settings);
    let limits = crate::pdf::limits(&state.settings);
    let wanted: Option<Vec<u32>> = row
        .pages_requested
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let outcome = tokio::task::spawn_blocking(move || {
        extract_statements(&extractor, ocr.as_ref(), &limits, &bytes, wanted.as_deref())
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

/// A hand correction of one line item: a new label, new values (one per period, in
/// the statement's printed units), or both.
#[derive(Debug, Clone, Default)]
pub struct LineItemFix {
    pub label: Option<String>,
    pub values: Option<Vec<Option<f64>>>,
}

/// Writes attempts of a correction racing another writer before answering `409`.
const CORRECTION_ATTEMPTS: usize = 5;

/// Corrects line item `index` (0-based, its position in `line_items`) of a statement:
/// the correction is kept on the item with who and when and what it said before, the
/// checks are run again and the confidence follows the change in failed checks. A
/// concurrent correction of the same statement is not lost: the write only lands on
/// the version read, else the whole correction is redone on the newer one.
pub async fn correct_line_item(
    state: &AppState,
    principal: &Principal,
    statement_id: &str,
    index: usize,
    fix: &LineItemFix,
) -> Result<StatementRow, ApiError> {
    for _ in 0..CORRECTION_ATTEMPTS {
        let row = repo::find_statement(&state.db.pool, &principal.org_id, statement_id)
            .await?
            .ok_or(ApiError::NotFound("statement"))?;
        let periods: Vec<quire_statements::Period> =
            serde_json::from_str(&row.periods).map_err(|e| ApiError::Internal(e.into()))?;
        let mut items: Vec<quire_statements::LineItem> =
            serde_json::from_str(&row.line_items).map_err(|e| ApiError::Internal(e.into()))?;
        let statement_type: StatementType =
            row.statement_type
                .parse()
                .map_err(|e: quire_statements::UnknownStatementType| {
                    ApiError::Internal(anyhow::anyhow!(e))
                })?;
        if let Some(values) = &fix.values
            && values.len() != periods.len()
        {
            return Err(ApiError::invalid_field(
                "values",
                format!(
                    "must have one entry per period ({}), null for an empty cell",
                    periods.len()
                ),
            ));
        }
        let item = items
            .get_mut(index)
            .ok_or(ApiError::NotFound("line item"))?;
        let mut correction = quire_statements::Correction {
            user_id: principal.user_id.clone(),
            api_key_id: match &principal.credential {
                crate::auth::model::Credential::ApiKey { key_id } => Some(key_id.clone()),
                crate::auth::model::Credential::AccessToken { .. } => None,
            },
            at: crate::time::now_rfc3339(),
            previous_label: None,
            previous_values: None,
        };
        if let Some(label) = &fix.label {
            correction.previous_label = Some(std::mem::replace(&mut item.label, label.clone()));
        }
        if let Some(values) = &fix.values {
            correction.previous_values = Some(std::mem::replace(&mut item.values, values.clone()));
        }
        item.corrections.push(correction);
        let failed_before = usize::try_from(row.checks_failed).unwrap_or(0);
        let (checks, confidence) = quire_statements::recheck(
            statement_type,
            &items,
            &periods,
            row.confidence,
            failed_before,
        );
        let failed = checks.iter().filter(|c| !c.passed).count();
        let items_json = json(&items);
        let checks_json = json(&checks);
        let written = repo::update_corrected_statement(
            &state.db.pool,
            &principal.org_id,
            statement_id,
            row.updated_at,
            &repo::CorrectedStatement {
                line_items: &items_json,
                checks: &checks_json,
                checks_failed: failed as i64,
                confidence,
            },
        )
        .await?;
        if written {
            return repo::find_statement(&state.db.pool, &principal.org_id, statement_id)
                .await?
                .ok_or(ApiError::NotFound("statement"));
        }
    }
    Err(ApiError::Conflict(
        "the statement is being corrected by someone else; try again".into(),
    ))
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
