//! Statement endpoints: synchronous detection of one page's text, extraction of a PDF
//! (multipart upload or a library document) as a job, extractions and the statements
//! they found (JSON or CSV), deletion.

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use quire_statements::StatementType;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ApiQuery, ListParams, Page, parse_json_body};
use crate::state::AppState;
use crate::statements::repo::{self, ExtractionRow, StatementFilter, StatementRow};
use crate::statements::service::{self, Options, PageVerdict, Source};
use crate::time::ms_to_rfc3339;

/// Text longer than this is not one page.
const MAX_DETECT_TEXT: usize = 1 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(detect_statement))
        // Uploads are bounded by MAX_FILE_SIZE while reading, not by the JSON body limit.
        .routes(routes!(extract_statements).layer(DefaultBodyLimit::disable()))
        .routes(routes!(list_extractions))
        .routes(routes!(get_extraction, delete_extraction))
        .routes(routes!(list_statements))
        .routes(routes!(get_statement, delete_statement))
        .routes(routes!(correct_line_item))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DetectRequest {
    /// One page's text, in either layout (aligned columns or one cell per line).
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DetectResponse {
    /// `income_statement`, `balance_sheet`, `cash_flow`, `equity`,
    /// `comprehensive_income` or `other`.
    pub statement_type: String,
    /// 0 to 1.
    pub confidence: f64,
    /// Each type's share of the evidence, 0 to 1.
    #[schema(value_type = Object)]
    pub scores: Value,
    pub title: Option<String>,
    /// The title line and row labels that decided it.
    pub evidence: Vec<String>,
    /// The page says it continues a statement.
    pub continued: bool,
}

/// Detects the statement type of one page's text, synchronously.
#[utoipa::path(post, path = "/api/v1/detection/detect", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    request_body = DetectRequest,
    responses((status = 200, body = DetectResponse),
              (status = 400, body = crate::error::ErrorBody, description = "malformed JSON"),
              (status = 422, body = crate::error::ErrorBody, description = "empty or too long `text`")))]
async fn detect_statement(
    principal: Principal,
    ApiJson(body): ApiJson<DetectRequest>,
) -> ApiResult<Json<DetectResponse>> {
    principal.require(Role::Viewer)?;
    if body.text.trim().is_empty() {
        return Err(ApiError::invalid_field("text", "must not be empty"));
    }
    if body.text.len() > MAX_DETECT_TEXT {
        return Err(ApiError::invalid_field(
            "text",
            format!("must be at most {MAX_DETECT_TEXT} bytes (one page)"),
        ));
    }
    let text = body.text;
    let detection = tokio::task::spawn_blocking(move || quire_statements::detect(&text))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(DetectResponse {
        statement_type: detection.statement_type.as_str().to_owned(),
        confidence: detection.confidence,
        scores: serde_json::to_value(&detection.scores).unwrap_or(Value::Null),
        title: detection.title,
        evidence: detection.evidence,
        continued: detection.continued,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ExtractRequest {
    /// A PDF of the organisation's document library.
    pub document_id: String,
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    /// 1-based pages to read (default: all).
    pub pages: Option<Vec<u32>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractionLinks {
    /// `GET` this for the extraction, its pages and statements.
    pub extraction: String,
    /// The job.
    pub job: String,
    /// Server-Sent Events of the job's progress.
    pub events: String,
    /// The statements found, once the job has finished.
    pub statements: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractAccepted {
    pub job_id: String,
    pub extraction_id: String,
    pub links: ExtractionLinks,
}

fn links(extraction: &str, job: &str) -> ExtractionLinks {
    ExtractionLinks {
        extraction: format!("/api/v1/extractions/{extraction}"),
        job: format!("/api/v1/jobs/{job}"),
        events: format!("/api/v1/jobs/{job}/events"),
        statements: format!("/api/v1/statements?extraction_id={extraction}"),
    }
}

fn parse_pages(text: &str) -> Result<Vec<u32>, ApiError> {
    let invalid =
        || ApiError::invalid_field("pages", "must list page numbers from 1, like 1,3,5-7");
    let mut pages = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let from: u32 = from.parse().map_err(|_| invalid())?;
        let to: u32 = to.parse().map_err(|_| invalid())?;
        if from == 0 || to < from || to - from > 10_000 {
            return Err(invalid());
        }
        pages.extend(from..=to);
    }
    if pages.is_empty() {
        return Err(invalid());
    }
    Ok(pages)
}

fn check_options(options: &Options) -> Result<(), ApiError> {
    if let Some(year) = options.fiscal_year
        && !(1900..=2200).contains(&year)
    {
        return Err(ApiError::invalid_field("fiscal_year", "must be a year"));
    }
    if let Some(pages) = &options.pages
        && (pages.is_empty() || pages.contains(&0))
    {
        return Err(ApiError::invalid_field(
            "pages",
            "must list page numbers from 1",
        ));
    }
    if options.company_name.as_ref().is_some_and(|c| c.len() > 500) {
        return Err(ApiError::invalid_field("company_name", "is too long"));
    }
    Ok(())
}

async fn text_field(
    field: axum::extract::multipart::Field<'_>,
    name: &str,
) -> Result<String, ApiError> {
    let bytes = field
        .bytes()
        .await
        .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?;
    if bytes.len() > 4096 {
        return Err(ApiError::invalid_field(name, "is too long"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::invalid_field(name, "must be UTF-8"))
}

async fn read_multipart(
    state: &AppState,
    mut multipart: Multipart,
) -> Result<(Source, Options), ApiError> {
    let limit = state.settings.max_file_size.0;
    let mut options = Options::default();
    let mut file: Option<(String, Bytes)> = None;
    // An invalid value is answered after the whole form is read: answering in the middle
    // of the body makes the server close the connection, which a client already reusing
    // it sees as a broken connection instead of the 422.
    let mut invalid: Option<ApiError> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().unwrap_or("document.pdf").to_owned();
                let mut body = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| ApiError::bad_request(format!("file: {e}")))?
                {
                    if (body.len() + chunk.len()) as u64 > limit {
                        return Err(ApiError::PayloadTooLarge(format!(
                            "the file is larger than the {limit}-byte limit (MAX_FILE_SIZE)"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                file = Some((name, Bytes::from(body)));
            }
            "company_name" => {
                options.company_name =
                    Some(text_field(field, "company_name").await?).filter(|c| !c.trim().is_empty());
            }
            "fiscal_year" => {
                let text = text_field(field, "fiscal_year").await?;
                match text.trim().parse() {
                    Ok(year) => options.fiscal_year = Some(year),
                    Err(_) => {
                        invalid.get_or_insert(ApiError::invalid_field(
                            "fiscal_year",
                            "must be a year",
                        ));
                    }
                }
            }
            "pages" => match parse_pages(&text_field(field, "pages").await?) {
                Ok(pages) => options.pages = Some(pages),
                Err(e) => {
                    invalid.get_or_insert(e);
                }
            },
            _ => {}
        }
    }
    if let Some(error) = invalid {
        return Err(error);
    }
    let (file_name, bytes) = file.ok_or_else(|| ApiError::invalid_field("file", "is required"))?;
    Ok((Source::Upload { file_name, bytes }, options))
}

/// Reads a PDF for financial statements, as a `statements.extract` job. Either a
/// multipart form (`file`: the PDF; optional `company_name`, `fiscal_year`, `pages` like
/// `1,3-5`) or JSON `{"document_id", ...}` naming a PDF of the library.
#[utoipa::path(post, path = "/api/v1/extraction/extract", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = ExtractRequest,
        description = "JSON naming a library PDF, or multipart/form-data: `file` (the PDF), optional `company_name`, `fiscal_year`, `pages` (like `1,3-5`)"),
    responses((status = 202, body = ExtractAccepted),
              (status = 400, body = crate::error::ErrorBody, description = "malformed body"),
              (status = 404, body = crate::error::ErrorBody, description = "unknown document"),
              (status = 413, body = crate::error::ErrorBody),
              (status = 415, body = crate::error::ErrorBody, description = "not a PDF, or neither multipart nor JSON"),
              (status = 422, body = crate::error::ErrorBody)))]
async fn extract_statements(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> ApiResult<(StatusCode, Json<ExtractAccepted>)> {
    principal.require(Role::Member)?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (source, options) = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?;
        read_multipart(&state, multipart).await?
    } else if content_type.starts_with("application/json") {
        let limit = usize::try_from(state.settings.max_file_size.0.min(1 << 20)).unwrap_or(1 << 20);
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| ApiError::PayloadTooLarge("the JSON body is too large".into()))?;
        let body: ExtractRequest = parse_json_body(&bytes)?;
        if body.document_id.trim().is_empty() {
            return Err(ApiError::invalid_field("document_id", "is required"));
        }
        (
            Source::Document {
                id: body.document_id,
            },
            Options {
                company_name: body.company_name,
                fiscal_year: body.fiscal_year,
                pages: body.pages,
            },
        )
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send multipart/form-data with a PDF `file`, or JSON with a `document_id`".into(),
        ));
    };
    check_options(&options)?;
    let (extraction, job) = service::start_extraction(&state, &principal, source, options).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ExtractAccepted {
            links: links(&extraction.id, &job.id),
            job_id: job.id,
            extraction_id: extraction.id,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractionResponse {
    pub id: String,
    pub job_id: String,
    pub document_id: Option<String>,
    pub file_name: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// The statement types found.
    pub statement_types: Vec<String>,
    /// The lowest confidence of the statements found.
    pub confidence: Option<f64>,
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    pub page_count: Option<i64>,
    /// Milliseconds the last attempt took.
    pub processing_time_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Every page read, with its verdict.
    pub pages: Vec<PageVerdict>,
    pub statement_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub links: ExtractionLinks,
}

fn extraction_response(row: ExtractionRow, statement_ids: Vec<String>) -> ExtractionResponse {
    ExtractionResponse {
        links: links(&row.id, &row.job_id),
        statement_types: serde_json::from_str(&row.statement_types).unwrap_or_default(),
        pages: serde_json::from_str(&row.pages).unwrap_or_default(),
        id: row.id,
        job_id: row.job_id,
        document_id: row.document_id,
        file_name: row.file_name,
        status: row.status,
        confidence: row.confidence,
        company_name: row.company_name,
        fiscal_year: row.fiscal_year,
        page_count: row.page_count,
        processing_time_ms: row.processing_ms,
        error: row.error,
        statement_ids,
        created_at: ms_to_rfc3339(row.created_at),
        updated_at: ms_to_rfc3339(row.updated_at),
    }
}

/// The organisation's extractions, newest first.
#[utoipa::path(get, path = "/api/v1/extractions", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    params(ListParams),
    responses((status = 200, body = Page<ExtractionResponse>),
              (status = 422, body = crate::error::ErrorBody)))]
async fn list_extractions(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
) -> ApiResult<Json<Page<ExtractionResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    let (rows, total) = repo::list_extractions(&state.db.pool, &principal.org_id, window).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let ids = repo::statement_ids_of(&state.db.pool, &principal.org_id, &row.id).await?;
        items.push(extraction_response(row, ids));
    }
    Ok(Json(Page::new(items, total, window)))
}

/// One extraction: status, every page's verdict, the statements found.
#[utoipa::path(get, path = "/api/v1/extractions/{id}", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ExtractionResponse),
              (status = 404, body = crate::error::ErrorBody)))]
async fn get_extraction(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ExtractionResponse>> {
    principal.require(Role::Viewer)?;
    let row = repo::find_extraction(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("extraction"))?;
    let ids = repo::statement_ids_of(&state.db.pool, &principal.org_id, &row.id).await?;
    Ok(Json(extraction_response(row, ids)))
}

/// Deletes an extraction and its statements.
#[utoipa::path(delete, path = "/api/v1/extractions/{id}", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_extraction(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    service::delete_extraction(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementResponse {
    pub id: String,
    pub extraction_id: String,
    pub statement_type: String,
    pub title: Option<String>,
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    /// 1-based pages it spans.
    pub pages: Vec<u32>,
    /// One per value column: `label`, `end_date`, `months`.
    #[schema(value_type = Vec<Object>)]
    pub periods: Value,
    /// Amounts are printed in units of this (1, 1000, 1000000, 1000000000);
    /// per-share and percentage rows are not scaled.
    pub scale: i64,
    pub currency: Option<String>,
    /// `label`, `level`, `is_total`, `values` (one per period, as printed), `kind`,
    /// `page`, `canonical` (US-GAAP element name). Absent from lists.
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_items: Option<Value>,
    /// `name`, `period`, `passed`, `expected`, `actual`, `tolerance` (printed units),
    /// `detail`. Absent from lists.
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Value>,
    pub checks_failed: i64,
    pub confidence: f64,
    /// `parser`.
    pub method: String,
    pub created_at: String,
}

fn statement_response(row: StatementRow, full: bool) -> StatementResponse {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    StatementResponse {
        pages: serde_json::from_str(&row.pages).unwrap_or_default(),
        periods: parse(&row.periods),
        line_items: full.then(|| parse(&row.line_items)),
        checks: full.then(|| parse(&row.checks)),
        id: row.id,
        extraction_id: row.extraction_id,
        statement_type: row.statement_type,
        title: row.title,
        company_name: row.company_name,
        fiscal_year: row.fiscal_year,
        scale: row.scale,
        currency: row.currency,
        checks_failed: row.checks_failed,
        confidence: row.confidence,
        method: row.method,
        created_at: ms_to_rfc3339(row.created_at),
    }
}

/// The statement types a filter may name (every type but `other`).
fn statement_type_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::docs::contract::one_of([
        "income_statement",
        "balance_sheet",
        "cash_flow",
        "equity",
        "comprehensive_income",
    ])
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    pub company_name: Option<String>,
    pub fiscal_year: Option<i64>,
    /// `income_statement`, `balance_sheet`, `cash_flow`, `equity`, `comprehensive_income`.
    #[param(schema_with = statement_type_schema)]
    pub statement_type: Option<String>,
    pub extraction_id: Option<String>,
}

/// The organisation's statements, newest first (without line items and checks).
#[utoipa::path(get, path = "/api/v1/statements", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    params(ListParams, StatementQuery),
    responses((status = 200, body = Page<StatementResponse>),
              (status = 422, body = crate::error::ErrorBody, description = "an invalid filter, named in `details.field`")))]
async fn list_statements(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(list): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<StatementQuery>,
) -> ApiResult<Json<Page<StatementResponse>>> {
    principal.require(Role::Viewer)?;
    let window = list.window()?;
    if let Some(kind) = &query.statement_type
        && !kind
            .parse::<StatementType>()
            .is_ok_and(StatementType::is_statement)
    {
        return Err(ApiError::invalid_field(
            "statement_type",
            "must be income_statement, balance_sheet, cash_flow, equity or comprehensive_income",
        ));
    }
    let filter = StatementFilter {
        company_name: query.company_name,
        fiscal_year: query.fiscal_year,
        statement_type: query.statement_type,
        extraction_id: query.extraction_id,
    };
    let (rows, total) =
        repo::list_statements(&state.db.pool, &principal.org_id, &filter, window).await?;
    Ok(Json(Page::new(
        rows.into_iter()
            .map(|r| statement_response(r, false))
            .collect(),
        total,
        window,
    )))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementFormat {
    /// `json` (default) or `csv`: one row per line item, one column per period.
    pub format: Option<String>,
}

/// One statement with its periods, line items and checks; `?format=csv` downloads it.
#[utoipa::path(get, path = "/api/v1/statements/{id}", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), StatementFormat),
    responses((status = 200, body = StatementResponse, description = "JSON, or a text/csv attachment"),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody, description = "unknown `format`")))]
async fn get_statement(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<StatementFormat>,
) -> ApiResult<Response> {
    principal.require(Role::Viewer)?;
    let row = repo::find_statement(&state.db.pool, &principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("statement"))?;
    match query.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(statement_response(row, true)).into_response()),
        "csv" => {
            let periods: Vec<quire_statements::Period> =
                serde_json::from_str(&row.periods).map_err(|e| ApiError::Internal(e.into()))?;
            let items: Vec<quire_statements::LineItem> =
                serde_json::from_str(&row.line_items).map_err(|e| ApiError::Internal(e.into()))?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"statement-{}.csv\"", row.id),
                    ),
                ],
                service::statement_csv(&periods, &items),
            )
                .into_response())
        }
        _ => Err(ApiError::invalid_field("format", "must be json or csv")),
    }
}

/// Deletes one statement.
#[utoipa::path(delete, path = "/api/v1/statements/{id}", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_statement(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Member)?;
    if !repo::delete_statement(&state.db.pool, &principal.org_id, &id).await? {
        return Err(ApiError::NotFound("statement"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Largest magnitude a corrected value may have (in the statement's printed units).
const MAX_CORRECTED_VALUE: f64 = 1e15;

/// A corrected amount as the OpenAPI document states it (the body holds plain numbers):
/// at most `MAX_CORRECTED_VALUE` in magnitude.
#[derive(ToSchema)]
#[schema(value_type = f64, minimum = -1e15, maximum = 1e15)]
#[allow(dead_code)]
pub struct CorrectedValue(f64);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct LineItemCorrection {
    /// The row's new label.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = crate::text::Title, required = false)]
    pub label: Option<String>,
    /// The row's new values, one per period of the statement (null for an empty cell),
    /// in the statement's printed units (amounts in units of `scale`).
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Vec<Option<CorrectedValue>>, required = false)]
    pub values: Option<Vec<Option<f64>>>,
}

/// Corrects one line item by hand (its label, its values or both): the correction is
/// kept on the item with who made it, when, and what it said before; the statement's
/// checks are run again. `item` is the row's 0-based position in `line_items`.
#[utoipa::path(patch, path = "/api/v1/statements/{id}/line-items/{item}", tag = "statements",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), ("item" = u32, Path, description = "0-based position in `line_items`")),
    request_body = LineItemCorrection,
    responses((status = 200, body = StatementResponse, description = "the statement with the corrected item and its checks run again"),
              (status = 404, body = crate::error::ErrorBody, description = "no such statement or line item"),
              (status = 409, body = crate::error::ErrorBody, description = "corrections of the statement kept racing; try again")))]
async fn correct_line_item(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, item)): Path<(String, String)>,
    ApiJson(body): ApiJson<LineItemCorrection>,
) -> ApiResult<Json<StatementResponse>> {
    principal.require(Role::Member)?;
    // A path that is not a position names no line item.
    let index: usize = item.parse().map_err(|_| ApiError::NotFound("line item"))?;
    if body.label.is_none() && body.values.is_none() {
        return Err(ApiError::invalid_field(
            "label",
            "give a label, values or both",
        ));
    }
    let label = match &body.label {
        Some(raw) => Some(crate::text::parse_name(
            "label",
            raw,
            crate::text::MAX_TITLE_CHARS,
        )?),
        None => None,
    };
    if let Some(values) = &body.values
        && values
            .iter()
            .flatten()
            .any(|v| !v.is_finite() || v.abs() > MAX_CORRECTED_VALUE)
    {
        return Err(ApiError::invalid_field(
            "values",
            "each value must be a number of magnitude at most 1e15, or null",
        ));
    }
    let fix = service::LineItemFix {
        label,
        values: body.values,
    };
    let row = service::correct_line_item(&state, &principal, &id, index, &fix).await?;
    Ok(Json(statement_response(row, true)))
}
