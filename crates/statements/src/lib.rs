//! Financial statements from the text of PDF pages, with no model and no network.
//!
//! Input: the text of each page, in either of the two shapes text extractors give
//! tables — `pdftotext -layout` (columns kept aligned by spaces) or one cell per
//! line. Output: per page a [`Detection`] (the statement type, a confidence, the
//! score of every type and the evidence that decided it), and per statement —
//! pages of one statement stitched together — its periods, scale, currency, line
//! items (sign from brackets or a minus, `—` as zero, wrapped labels joined,
//! footnote markers dropped, a US-GAAP `canonical` id from a synonym table) and
//! the arithmetic [`Check`]s, failed ones lowering the statement's confidence.
//!
//! The stages, each in its own module:
//! - [`text`]: numbers, labels and lines as the other stages see them;
//! - [`detect`]: the statement type of one page (title first, then row labels);
//! - [`rows`]: the rows of a page in either layout, values assigned to columns;
//! - [`header`]: periods, scale and currency from the lines above the rows;
//! - [`canonical`]: label → US-GAAP element name;
//! - [`checks`]: the arithmetic, in the statement's printed units.
//!
//! Values are kept as printed (`values`, in units of `scale`), so a check's
//! `expected`, `actual` and `tolerance` are in those units too; per-share and
//! percentage rows (`kind`) are not scaled.

pub mod canonical;
pub mod checks;
pub mod detect;
pub mod header;
pub mod rows;
pub mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use checks::Check;
pub use detect::{Detection, detect};

/// The kinds of page the detector tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementType {
    IncomeStatement,
    BalanceSheet,
    CashFlow,
    Equity,
    ComprehensiveIncome,
    Other,
}

impl StatementType {
    /// The five statement types (everything but `Other`).
    pub const STATEMENTS: [StatementType; 5] = [
        StatementType::IncomeStatement,
        StatementType::BalanceSheet,
        StatementType::CashFlow,
        StatementType::Equity,
        StatementType::ComprehensiveIncome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatementType::IncomeStatement => "income_statement",
            StatementType::BalanceSheet => "balance_sheet",
            StatementType::CashFlow => "cash_flow",
            StatementType::Equity => "equity",
            StatementType::ComprehensiveIncome => "comprehensive_income",
            StatementType::Other => "other",
        }
    }

    pub fn is_statement(self) -> bool {
        self != StatementType::Other
    }
}

impl fmt::Display for StatementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of the statement type names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatementType(pub String);

impl fmt::Display for UnknownStatementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown statement type `{}`", self.0)
    }
}

impl std::error::Error for UnknownStatementType {}

impl FromStr for StatementType {
    type Err = UnknownStatementType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            StatementType::IncomeStatement,
            StatementType::BalanceSheet,
            StatementType::CashFlow,
            StatementType::Equity,
            StatementType::ComprehensiveIncome,
            StatementType::Other,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| UnknownStatementType(s.to_owned()))
    }
}

/// One column of values: a period (`end_date` ISO, `months` for a duration,
/// none for a point in time) or, in an equity statement, a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub label: String,
    pub end_date: Option<String>,
    pub months: Option<u32>,
}

/// What a row's values measure: amounts are in units of the statement's scale;
/// per-share and percentage rows are as printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    Amount,
    PerShare,
    Percent,
}

/// One row of a statement. `values` has one entry per period (`None` for an
/// empty cell); a row without values is a section heading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub label: String,
    pub level: u32,
    pub is_total: bool,
    pub values: Vec<Option<f64>>,
    pub kind: ValueKind,
    /// 1-based page number.
    pub page: u32,
    pub canonical: Option<String>,
    /// Hand corrections of this row, oldest first (absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<Correction>,
}

/// A hand correction of a line item: who made it, when, and what the row said before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    /// The user who made it (for an API key, the user who created the key).
    pub user_id: Option<String>,
    /// The API key it was made with, if any.
    pub api_key_id: Option<String>,
    /// RFC 3339.
    pub at: String,
    /// The label before, when the label was changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_label: Option<String>,
    /// The values before, when values were changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_values: Option<Vec<Option<f64>>>,
}

impl LineItem {
    pub fn is_heading(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }
}

/// A statement: one or more stitched pages of one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub statement_type: StatementType,
    pub title: Option<String>,
    /// 1-based page numbers.
    pub pages: Vec<u32>,
    pub periods: Vec<Period>,
    /// 1, 1 000, 1 000 000 or 1 000 000 000.
    pub scale: u64,
    /// ISO 4217 code, when a symbol or the header tells it.
    pub currency: Option<String>,
    pub line_items: Vec<LineItem>,
    pub checks: Vec<Check>,
    pub confidence: f64,
    /// `parser` (this crate); an LLM-assisted result says `llm`.
    pub method: String,
}

impl Statement {
    /// The first row with this canonical id.
    pub fn item(&self, canonical: &str) -> Option<&LineItem> {
        self.line_items
            .iter()
            .find(|item| item.canonical.as_deref() == Some(canonical))
    }

    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|check| !check.passed)
    }
}

/// One page's verdict, and the index of the statement it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageResult {
    /// 1-based.
    pub page: u32,
    pub detection: Detection,
    pub statement: Option<usize>,
}

/// Everything found in a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub pages: Vec<PageResult>,
    pub statements: Vec<Statement>,
}

/// Splits `pdftotext` output into pages on the form feed it writes after each
/// page (a trailing empty page is dropped).
pub fn split_pages(text: &str) -> Vec<&str> {
    let mut pages: Vec<&str> = text.split('\x0c').collect();
    if pages.len() > 1 && pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// Detects every page, stitches continued pages and parses each statement.
pub fn analyze<S: AsRef<str>>(pages: &[S]) -> Analysis {
    let numbered: Vec<(u32, &str)> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| (page_number(i), p.as_ref()))
        .collect();
    analyze_pages(&numbered)
}

/// As [`analyze`], for pages given with their own 1-based numbers (a selection of a
/// document's pages).
pub fn analyze_pages(pages: &[(u32, &str)]) -> Analysis {
    let detections: Vec<Detection> = pages.iter().map(|(_, p)| detect(p)).collect();
    let mut results = Vec::with_capacity(pages.len());
    // Groups of page indexes, each one statement.
    let mut groups: Vec<(StatementType, Vec<usize>)> = Vec::new();
    let mut previous: Option<StatementType> = None;
    for (index, detection) in detections.into_iter().enumerate() {
        let mut detection = detection;
        let continues = previous.is_some_and(|prev| {
            let same = detection.statement_type == prev;
            (detection.continued && (same || !detection.statement_type.is_statement()))
                || (same && detection.title.is_none() && detection.data_rows > 0)
        });
        let statement = if let (true, Some(prev)) = (continues, previous) {
            if detection.statement_type != prev {
                detection
                    .evidence
                    .push("continues the previous page's statement".to_owned());
                detection.statement_type = prev;
            }
            if let Some(group) = groups.last_mut() {
                group.1.push(index);
            }
            Some(groups.len() - 1)
        } else if detection.statement_type.is_statement() {
            groups.push((detection.statement_type, vec![index]));
            Some(groups.len() - 1)
        } else {
            None
        };
        previous = statement.map(|_| detection.statement_type);
        results.push(PageResult {
            page: pages[index].0,
            detection,
            statement,
        });
    }
    let statements = groups
        .iter()
        .map(|(kind, indexes)| {
            let texts: Vec<(u32, &str)> = indexes.iter().map(|&i| pages[i]).collect();
            let confidence = indexes
                .iter()
                .map(|&i| results[i].detection.confidence)
                .fold(f64::INFINITY, f64::min);
            let title = indexes
                .iter()
                .find_map(|&i| results[i].detection.title.clone());
            parse_statement(*kind, title, &texts, confidence)
        })
        .collect();
    Analysis {
        pages: results,
        statements,
    }
}

fn page_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Parses the pages of one statement whose type is already known.
pub fn parse_statement(
    statement_type: StatementType,
    title: Option<String>,
    pages: &[(u32, &str)],
    detection_confidence: f64,
) -> Statement {
    let first = pages.first().map(|(_, text)| *text).unwrap_or("");
    let head = header::parse_header(first);
    let mut items: Vec<LineItem> = Vec::new();
    let mut columns = 0usize;
    for (page, text) in pages {
        let page_rows = rows::page_rows(text, head.periods.len());
        columns = columns.max(page_rows.columns);
        items.extend(rows::to_line_items(page_rows.rows, *page));
    }
    let mut periods = head.periods.clone();
    if periods.len() < columns {
        let labels = rows::column_labels(first, columns);
        for index in periods.len()..columns {
            periods.push(Period {
                label: labels
                    .get(index)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| format!("Column {}", index + 1)),
                end_date: None,
                months: None,
            });
        }
    }
    if columns > 0 {
        periods.truncate(columns);
    }
    for item in &mut items {
        item.values.resize(periods.len(), None);
    }
    rows::classify(&mut items, statement_type);
    let checks = checks::run(statement_type, &items, &periods);
    let failed = checks.iter().filter(|c| !c.passed).count();
    let mut confidence = detection_confidence;
    if items.iter().all(LineItem::is_heading) {
        confidence *= 0.3;
    }
    for _ in 0..failed {
        confidence *= 0.75;
    }
    Statement {
        statement_type,
        title,
        pages: pages.iter().map(|(page, _)| *page).collect(),
        periods,
        scale: head.scale,
        currency: head.currency,
        line_items: items,
        checks,
        confidence: round3(confidence),
        method: "parser".to_owned(),
    }
}

/// The checks of a statement whose line items were changed by hand, and its confidence
/// moved by the change in failed checks (each failed check weighs 0.75, as in
/// [`parse_statement`]).
pub fn recheck(
    statement_type: StatementType,
    items: &[LineItem],
    periods: &[Period],
    confidence: f64,
    failed_before: usize,
) -> (Vec<Check>, f64) {
    let checks = checks::run(statement_type, items, periods);
    let failed = checks.iter().filter(|c| !c.passed).count();
    let exponent = i32::try_from(failed).unwrap_or(i32::MAX)
        - i32::try_from(failed_before).unwrap_or(i32::MAX);
    let confidence = (confidence * 0.75f64.powi(exponent)).clamp(0.0, 1.0);
    (checks, round3(confidence))
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Scores by type name, for serialisation.
pub(crate) fn score_map(scores: &[(StatementType, f64)]) -> BTreeMap<String, f64> {
    scores
        .iter()
        .map(|(kind, score)| (kind.as_str().to_owned(), round3(*score)))
        .collect()
}
