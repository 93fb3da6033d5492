//! CSV and XLSX exports of a run's results, safe to open in a spreadsheet.

use std::borrow::Cow;

use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde::{Deserialize, Serialize};

use crate::score::FragmentMatch;

/// One scored answer, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub question_id: String,
    pub question: String,
    pub response: String,
    pub confidence: f64,
    pub success: bool,
    pub fragments_found: Vec<FragmentMatch>,
    pub fragments_missing: Vec<String>,
    pub processing_time_ms: u64,
    /// Names of the documents the answer cited.
    pub sources: Vec<String>,
    /// The backend's error, when the question could not be answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer came from the answer cache, not from the backend.
    #[serde(default)]
    pub cached: bool,
}

/// The export header, in column order: the names (and units) of the results API's JSON,
/// so a column means the same in JSON, CSV and XLSX.
pub const EXPORT_COLUMNS: [&str; 11] = [
    "question_id",
    "question",
    "response",
    "confidence_score",
    "success",
    "fragments_found",
    "fragments_missing",
    "processing_time",
    "sources",
    "error",
    "cached",
];

/// Joins list cells; chosen to match the CSV import format's separator.
const LIST_SEPARATOR: &str = " | ";

/// Excel's cell limit, in UTF-16 code units.
const XLSX_MAX_CELL: usize = 32_767;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("could not write the XLSX file: {0}")]
    Xlsx(#[from] XlsxError),
}

/// Neutralises spreadsheet formula injection (OWASP "CSV Injection"): a cell
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return — or the
/// full-width `＝＋－＠` that some locales also evaluate — gets a leading `'`,
/// so spreadsheets show it as text. Anything else is returned unchanged.
pub fn neutralise_cell(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '＝' | '＋' | '－' | '＠') => {
            Cow::Owned(format!("'{value}"))
        }
        _ => Cow::Borrowed(value),
    }
}

/// Four decimals is finer than any threshold people set, and keeps the
/// column readable.
fn format_confidence(c: f64) -> String {
    let rounded = (c * 10_000.0).round() / 10_000.0;
    format!("{rounded}")
}

/// The results JSON gives processing time in seconds; so do the exports.
fn processing_seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn found_cell(found: &[FragmentMatch]) -> String {
    found
        .iter()
        .map(|m| format!("{} ({})", m.fragment, m.how.as_str()))
        .collect::<Vec<_>>()
        .join(LIST_SEPARATOR)
}

/// The row as text cells, before neutralisation.
fn text_cells(row: &ResultRow) -> [String; 11] {
    [
        row.question_id.clone(),
        row.question.clone(),
        row.response.clone(),
        format_confidence(row.confidence),
        row.success.to_string(),
        found_cell(&row.fragments_found),
        row.fragments_missing.join(LIST_SEPARATOR),
        format!("{}", processing_seconds(row.processing_time_ms)),
        row.sources.join(LIST_SEPARATOR),
        row.error.clone().unwrap_or_default(),
        row.cached.to_string(),
    ]
}

fn push_csv_field(out: &mut String, field: &str) {
    let needs_quotes = field.contains([',', '"', '\n', '\r']) || field.starts_with(' ');
    if needs_quotes {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// RFC 4180 CSV (CRLF line ends, fields quoted when needed) with a header
/// row of [`EXPORT_COLUMNS`]; every cell passes through [`neutralise_cell`].
pub fn to_csv(results: &[ResultRow]) -> String {
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_field(&mut out, &neutralise_cell(cell));
        }
        out.push_str("\r\n");
    };
    line(&EXPORT_COLUMNS);
    for row in results {
        let cells = text_cells(row);
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        line(&refs);
    }
    out
}

/// Cuts a string to Excel's cell limit, marking the cut, instead of failing
/// the whole export over one long answer.
fn fit_cell(s: &str) -> Cow<'_, str> {
    if s.len() <= XLSX_MAX_CELL || s.encode_utf16().count() <= XLSX_MAX_CELL {
        return Cow::Borrowed(s);
    }
    const MARK: &str = " … [truncated]";
    let budget = XLSX_MAX_CELL - MARK.encode_utf16().count();
    let mut units = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > budget {
            break;
        }
        end = i + c.len_utf8();
    }
    Cow::Owned(format!("{}{MARK}", &s[..end]))
}

/// An XLSX workbook with one `Results` sheet: a bold, frozen, filterable
/// header row of [`EXPORT_COLUMNS`]; confidence and processing time as
/// numbers, success as a boolean, everything else written with
/// `write_string` — never as a formula — and still neutralised so text
/// copied out of the sheet stays inert.
pub fn to_xlsx(results: &[ResultRow]) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Results")?;
    let bold = Format::new().set_bold();
    for (col, name) in (0u16..).zip(EXPORT_COLUMNS) {
        sheet.write_string_with_format(0, col, name, &bold)?;
    }
    for (row_index, row) in (1u32..).zip(results) {
        let cells = text_cells(row);
        for (col, cell) in (0u16..).zip(cells.iter()) {
            match EXPORT_COLUMNS[usize::from(col)] {
                "confidence_score" => {
                    sheet.write_number(row_index, col, row.confidence)?;
                }
                "success" => {
                    sheet.write_boolean(row_index, col, row.success)?;
                }
                "cached" => {
                    sheet.write_boolean(row_index, col, row.cached)?;
                }
                "processing_time" => {
                    sheet.write_number(
                        row_index,
                        col,
                        processing_seconds(row.processing_time_ms),
                    )?;
                }
                _ => {
                    if !cell.is_empty() {
                        let safe = neutralise_cell(cell);
                        sheet.write_string(row_index, col, fit_cell(&safe).into_owned())?;
                    }
                }
            }
        }
    }
    let widths = [
        14.0, 50.0, 70.0, 11.0, 9.0, 40.0, 40.0, 12.0, 30.0, 30.0, 9.0,
    ];
    for (col, width) in (0u16..).zip(widths) {
        sheet.set_column_width(col, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let last_row = u32::try_from(results.len()).unwrap_or(u32::MAX);
    sheet.autofilter(0, 0, last_row, 10)?;
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dangerous_leading_characters_are_prefixed() {
        assert_eq!(neutralise_cell("=1+1"), "'=1+1");
        assert_eq!(neutralise_cell("-5"), "'-5");
        assert_eq!(neutralise_cell("＝1"), "'＝1");
        assert_eq!(neutralise_cell("\tx"), "'\tx");
        assert_eq!(neutralise_cell("a=b"), "a=b");
        assert_eq!(neutralise_cell(""), "");
    }

    #[test]
    fn a_huge_cell_is_cut_to_the_excel_limit() {
        let long = "é".repeat(40_000);
        let cut = fit_cell(&long);
        assert!(cut.encode_utf16().count() <= XLSX_MAX_CELL);
        assert!(cut.ends_with("[truncated]"));
    }
}
