//! The statement type of one page.
//!
//! Two kinds of evidence, added up per type:
//! - the title, read from the lines above the first row of values with spaces and
//!   punctuation removed, so "Balance Shee t" and "Cash Flow s" still match; a
//!   page listing titles of several types is an index (`other`);
//! - the row labels: each type has keywords with weights ("total current
//!   assets", "investing activities", "other comprehensive"), so a page without
//!   a title is still typed by its rows.
//!
//! Notes, cover pages and prose score `other`: a notes heading, long lines of
//! words without values, few rows with values. The confidence is the winner's
//! share of all scores, damped when the winning score itself is small.

use serde::{Deserialize, Serialize};

use crate::text::{is_value_token, is_year, normalize_label, parse_number, squash, tokens};
use crate::{StatementType, round3, score_map};

/// The verdict on one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub statement_type: StatementType,
    pub confidence: f64,
    pub scores: std::collections::BTreeMap<String, f64>,
    pub title: Option<String>,
    pub evidence: Vec<String>,
    /// The page says it continues a statement ("(continued)").
    pub continued: bool,
    /// Rows carrying at least one value.
    pub data_rows: usize,
}

use StatementType::*;

/// Title fragments (squashed), checked in this order: the first match of a line
/// types it ("Statements of Operations and Comprehensive Income" is an income
/// statement).
const TITLES: &[(StatementType, &str)] = &[
    (IncomeStatement, "statementsofoperations"),
    (IncomeStatement, "statementofoperations"),
    (IncomeStatement, "statementsofincome"),
    (IncomeStatement, "statementofincome"),
    (IncomeStatement, "statementsofearnings"),
    (IncomeStatement, "statementofearnings"),
    (IncomeStatement, "incomestatement"),
    (IncomeStatement, "profitorloss"),
    (IncomeStatement, "profitandloss"),
    (BalanceSheet, "balancesheet"),
    (BalanceSheet, "financialposition"),
    (BalanceSheet, "financialcondition"),
    (CashFlow, "cashflow"),
    (Equity, "stockholdersequity"),
    (Equity, "shareholdersequity"),
    (Equity, "stockholdersdeficit"),
    (Equity, "changesinequity"),
    (Equity, "statementsofequity"),
    (Equity, "statementofequity"),
    (Equity, "partnerscapital"),
    (ComprehensiveIncome, "comprehensiveincome"),
    (ComprehensiveIncome, "comprehensiveloss"),
    (ComprehensiveIncome, "comprehensiveearnings"),
];

/// Headings of pages that are not statements.
const OTHER_TITLES: &[&str] = &[
    "notestoconsolidatedfinancialstatements",
    "notestofinancialstatements",
    "notestothecondensedconsolidated",
    "notestotheconsolidated",
    "notestothefinancialstatements",
    "indextoconsolidatedfinancialstatements",
    "indextofinancialstatements",
    "reportofindependentregisteredpublicaccountingfirm",
    "managementsdiscussionandanalysis",
    "securitiesandexchangecommission",
];

/// Row-label keywords (normalised labels) and their weights.
const ROWS: &[(StatementType, &str, f64)] = &[
    (BalanceSheet, "total assets", 2.0),
    (BalanceSheet, "total current assets", 2.0),
    (BalanceSheet, "total current liabilities", 2.0),
    (BalanceSheet, "total liabilities and", 2.5),
    (BalanceSheet, "total liabilities", 1.0),
    (BalanceSheet, "current assets", 1.0),
    (BalanceSheet, "current liabilities", 1.0),
    (BalanceSheet, "accounts receivable", 1.0),
    (BalanceSheet, "inventories", 1.0),
    (BalanceSheet, "accounts payable", 1.0),
    (BalanceSheet, "goodwill", 1.0),
    (BalanceSheet, "prepaid", 0.5),
    (BalanceSheet, "property and equipment net", 1.0),
    (BalanceSheet, "property plant and equipment net", 1.0),
    (BalanceSheet, "accrued", 0.5),
    (BalanceSheet, "long term debt", 0.5),
    (BalanceSheet, "additional paid in capital", 0.5),
    (BalanceSheet, "retained earnings", 0.5),
    (BalanceSheet, "accumulated deficit", 0.5),
    (IncomeStatement, "revenue", 1.0),
    (IncomeStatement, "net sales", 1.0),
    (IncomeStatement, "cost of revenue", 1.5),
    (IncomeStatement, "cost of sales", 1.5),
    (IncomeStatement, "cost of goods sold", 1.5),
    (IncomeStatement, "gross profit", 2.0),
    (IncomeStatement, "gross margin", 1.0),
    (IncomeStatement, "operating expenses", 1.0),
    (IncomeStatement, "research and development", 1.0),
    (IncomeStatement, "selling general and administrative", 1.0),
    (IncomeStatement, "income from operations", 2.0),
    (IncomeStatement, "operating income", 2.0),
    (IncomeStatement, "loss from operations", 2.0),
    (IncomeStatement, "before income taxes", 1.5),
    (IncomeStatement, "provision for income taxes", 1.5),
    (IncomeStatement, "income tax expense", 1.0),
    (IncomeStatement, "per share", 1.5),
    (IncomeStatement, "diluted", 1.0),
    (IncomeStatement, "weighted average", 1.0),
    (IncomeStatement, "net income", 0.5),
    (IncomeStatement, "interest expense", 0.5),
    (CashFlow, "operating activities", 2.0),
    (CashFlow, "investing activities", 2.0),
    (CashFlow, "financing activities", 2.0),
    (CashFlow, "adjustments to reconcile", 2.0),
    (CashFlow, "changes in operating assets", 1.5),
    (CashFlow, "depreciation and amortization", 1.0),
    (CashFlow, "net cash", 1.5),
    (CashFlow, "purchases of property", 1.0),
    (CashFlow, "capital expenditures", 1.0),
    (CashFlow, "proceeds from", 1.0),
    (CashFlow, "repayments", 0.5),
    (CashFlow, "dividends paid", 1.0),
    (CashFlow, "beginning of", 1.0),
    (CashFlow, "net increase", 1.0),
    (CashFlow, "net change in cash", 1.5),
    (Equity, "balance at", 2.0),
    (Equity, "balances at", 2.0),
    (Equity, "balance as of", 2.0),
    (Equity, "beginning balance", 1.0),
    (Equity, "ending balance", 1.0),
    (Equity, "issuance of common stock", 1.0),
    (Equity, "dividends declared", 1.0),
    (Equity, "exercise of stock options", 1.0),
    (Equity, "repurchase", 0.5),
    (Equity, "stock based compensation", 0.3),
    (ComprehensiveIncome, "other comprehensive", 2.0),
    (ComprehensiveIncome, "comprehensive income", 2.0),
    (ComprehensiveIncome, "comprehensive loss", 2.0),
    (ComprehensiveIncome, "foreign currency translation", 1.5),
    (ComprehensiveIncome, "unrealized", 1.0),
    (ComprehensiveIncome, "reclassification", 1.0),
    (ComprehensiveIncome, "cash flow hedges", 1.0),
    (ComprehensiveIncome, "net of tax", 0.5),
];

const TITLE_WEIGHT: f64 = 6.0;
/// Below this the page is `other` whatever wins.
const MIN_SCORE: f64 = 3.0;

/// A page's lines as detection sees them.
struct Lines<'a> {
    /// Lines above the first row with values (at most 15 non-empty ones).
    top: Vec<&'a str>,
    /// Labels of every line that has letters (with or without values).
    labels: Vec<String>,
    data_rows: usize,
    prose_lines: usize,
}

fn is_amount(token: &str) -> bool {
    !is_year(token) && parse_number(token).is_some()
}

fn read_lines(text: &str) -> Lines<'_> {
    let mut top = Vec::new();
    let mut labels = Vec::new();
    let mut data_rows = 0;
    let mut prose_lines = 0;
    let mut seen_data = false;
    let mut last_label_without_values = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let toks = tokens(line);
        if toks
            .iter()
            .all(|(_, _, t)| t.chars().all(|c| matches!(c, '$' | '€' | '£' | '¥' | '₹')))
        {
            continue;
        }
        let amounts = toks.iter().filter(|(_, _, t)| is_amount(t)).count();
        let words: Vec<&str> = toks
            .iter()
            .map(|(_, _, t)| *t)
            .filter(|t| !is_value_token(t) && t.chars().any(char::is_alphabetic))
            .collect();
        let has_label = !words.is_empty();
        // One cell per line: a value alone on its line after a label.
        let lone_value = !has_label && amounts > 0;
        if (has_label && amounts > 0) || (lone_value && last_label_without_values) {
            data_rows += 1;
            seen_data = true;
        }
        if !seen_data && top.len() < 15 && !(lone_value || has_label && amounts > 0) {
            top.push(line.trim());
        }
        if has_label {
            labels.push(words.join(" "));
            if words.len() >= 10 && amounts == 0 {
                prose_lines += 1;
            }
        }
        if has_label {
            last_label_without_values = amounts == 0;
        } else if amounts > 0 {
            // stays true across "$" and several values of one row
        } else {
            last_label_without_values = false;
        }
    }
    Lines {
        top,
        labels,
        data_rows,
        prose_lines,
    }
}

fn title_type(line: &str) -> Option<StatementType> {
    let squashed = squash(line);
    if squashed.len() > 120 {
        return None;
    }
    let kind = TITLES
        .iter()
        .find(|(_, needle)| squashed.contains(needle))
        .map(|(kind, _)| *kind)?;
    // Equity and comprehensive income are also row and section names
    // ("Stockholders' equity:"): a title says "statement" or "changes".
    let titled = squashed.contains("statement") || squashed.contains("changesin");
    match kind {
        Equity | ComprehensiveIncome if !titled => None,
        _ => Some(kind),
    }
}

/// Detects the statement type of one page's text (either layout).
pub fn detect(text: &str) -> Detection {
    let lines = read_lines(text);
    let mut scores: Vec<(StatementType, f64)> = StatementType::STATEMENTS
        .iter()
        .map(|kind| (*kind, 0.0))
        .chain([(Other, 0.0)])
        .collect();
    let add = |scores: &mut Vec<(StatementType, f64)>, kind: StatementType, weight: f64| {
        if let Some(entry) = scores.iter_mut().find(|(k, _)| *k == kind) {
            entry.1 += weight;
        }
    };
    let mut evidence: Vec<(StatementType, String)> = Vec::new();
    let mut title: Option<(StatementType, String)> = None;
    let mut titled_types: Vec<StatementType> = Vec::new();
    let mut continued = false;
    for line in &lines.top {
        let squashed = squash(line);
        if squashed.contains("continued") {
            continued = true;
        }
        let footer = squashed.contains("accompanyingnotes") || squashed.starts_with("see");
        if let Some(needle) = OTHER_TITLES
            .iter()
            .find(|n| !footer && squashed.contains(*n))
        {
            add(&mut scores, Other, 8.0);
            evidence.push((Other, format!("heading: {line} ({needle})")));
            continue;
        }
        if let Some(kind) = title_type(line) {
            if !titled_types.contains(&kind) {
                titled_types.push(kind);
                add(&mut scores, kind, TITLE_WEIGHT);
            }
            if title.is_none() {
                let clean = line
                    .split("  ")
                    .map(str::trim)
                    .find(|part| title_type(part).is_some())
                    .unwrap_or(line);
                title = Some((kind, clean.to_owned()));
                evidence.push((kind, format!("title: {clean}")));
            }
        }
    }
    if titled_types.len() >= 2 && lines.data_rows < 3 {
        add(&mut scores, Other, TITLE_WEIGHT * titled_types.len() as f64);
        evidence.push((
            Other,
            format!(
                "lists {} statement titles with no rows of values (an index)",
                titled_types.len()
            ),
        ));
    }
    let mut matched: Vec<&str> = Vec::new();
    for label in &lines.labels {
        let normalized = normalize_label(label);
        let accumulated = normalized.contains("accumulated other comprehensive");
        for (kind, needle, weight) in ROWS {
            if matched.contains(needle) || !normalized.contains(needle) {
                continue;
            }
            if accumulated && *kind == ComprehensiveIncome {
                continue;
            }
            matched.push(needle);
            add(&mut scores, *kind, *weight);
            evidence.push((*kind, format!("row: {label}")));
        }
    }
    if lines.data_rows == 0 {
        // A title alone (a divider page, a heading) is not a statement.
        add(&mut scores, Other, TITLE_WEIGHT);
    }
    if lines.data_rows < 3 {
        add(&mut scores, Other, 4.0);
        evidence.push((Other, format!("{} rows with values", lines.data_rows)));
    }
    if lines.prose_lines > 0 {
        add(&mut scores, Other, 0.5 * lines.prose_lines as f64);
        evidence.push((Other, format!("{} lines of prose", lines.prose_lines)));
    }
    let total: f64 = scores.iter().map(|(_, s)| s).sum();
    let (mut best, best_score) =
        scores.iter().copied().fold(
            (Other, f64::MIN),
            |acc, (k, s)| if s > acc.1 { (k, s) } else { acc },
        );
    if best.is_statement() && best_score < MIN_SCORE {
        best = Other;
    }
    let share = if total > 0.0 {
        scores
            .iter()
            .find(|(k, _)| *k == best)
            .map_or(0.0, |(_, s)| s / total)
    } else {
        1.0
    };
    let confidence = if total > 0.0 {
        share * (1.0 - (-best_score.max(0.0) / 4.0).exp())
    } else {
        0.5
    };
    let normalized: Vec<(StatementType, f64)> = scores
        .iter()
        .map(|(k, s)| (*k, if total > 0.0 { s / total } else { 0.0 }))
        .collect();
    let mut chosen: Vec<String> = evidence
        .into_iter()
        .filter(|(kind, _)| *kind == best)
        .map(|(_, text)| text)
        .take(6)
        .collect();
    if chosen.is_empty() && best == Other {
        chosen.push("no statement title and too few statement rows".to_owned());
    }
    Detection {
        statement_type: best,
        confidence: round3(confidence.clamp(0.0, 1.0)),
        scores: score_map(&normalized),
        title: title.filter(|(kind, _)| *kind == best).map(|(_, t)| t),
        evidence: chosen,
        continued,
        data_rows: lines.data_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_title_still_types_the_page() {
        let page = "ACME CORP\nConsolidated Balance Shee t\n(In millions)\n\
                    Cash   $ 10  $ 8\nTotal assets   20   18\n";
        let d = detect(page);
        assert_eq!(d.statement_type, BalanceSheet);
        assert_eq!(d.title.as_deref(), Some("Consolidated Balance Shee t"));
    }

    #[test]
    fn rows_without_a_title_tell_a_cash_flow_statement() {
        let page = "Net income   100   90\nDepreciation and amortization   10   9\n\
                    Net cash provided by operating activities   110   99\n\
                    Purchases of property and equipment   (20)   (15)\n\
                    Net cash used in investing activities   (20)   (15)\n\
                    Net cash used in financing activities   (5)   (4)\n";
        let d = detect(page);
        assert_eq!(d.statement_type, CashFlow);
        assert!(d.title.is_none());
    }

    #[test]
    fn an_index_of_statements_is_other() {
        let page = "Index to Financial Statements\nConsolidated Balance Sheets   45\n\
                    Consolidated Statements of Operations   46\n\
                    Consolidated Statements of Cash Flows   47\n";
        assert_eq!(detect(page).statement_type, Other);
    }
}
