//! The corpus: page texts with their truth beside them (`tests/corpus/*.txt` +
//! `*.json`, pages separated by form feeds like `pdftotext` writes them), and
//! PDFs rendered from HTML by LibreOffice (`tests/corpus/pdf/*.pdf` + `*.json`,
//! made by `scripts/statements-corpus.sh`) read through `pdftotext -layout`.
//!
//! For every fixture: each page's detected type; each true statement found with
//! its pages, scale, currency and periods; every true line item found by label
//! with the same values (sign and period) and, where the truth says, the same
//! canonical id, kind, total flag and page; the failed checks exactly those the
//! truth lists, with their expected and actual amounts, and all others passing.

use std::path::{Path, PathBuf};
use std::process::Command;

use quire_statements::{Analysis, Statement, analyze, split_pages};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn fixtures(dir: &Path, text_ext: &str) -> Vec<(PathBuf, PathBuf)> {
    let mut out: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|json| (json.with_extension(text_ext), json))
        .collect();
    out.sort();
    out
}

fn same_label(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// Compares an analysis with its truth; returns every difference.
fn compare(name: &str, analysis: &Analysis, truth: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let pages = truth["pages"].as_array().cloned().unwrap_or_default();
    if pages.len() != analysis.pages.len() {
        errors.push(format!(
            "{name}: {} pages, truth has {}",
            analysis.pages.len(),
            pages.len()
        ));
    }
    for (page, expected) in analysis.pages.iter().zip(&pages) {
        let got = page.detection.statement_type.as_str();
        if Some(got) != expected.as_str() {
            errors.push(format!(
                "{name} page {}: detected {got}, truth {expected} (evidence {:?}, scores {:?})",
                page.page, page.detection.evidence, page.detection.scores
            ));
        }
    }
    let truths = truth["statements"].as_array().cloned().unwrap_or_default();
    if truths.len() != analysis.statements.len() {
        errors.push(format!(
            "{name}: {} statements found, truth has {}: {:?}",
            analysis.statements.len(),
            truths.len(),
            analysis
                .statements
                .iter()
                .map(|s| (s.statement_type, s.pages.clone()))
                .collect::<Vec<_>>()
        ));
    }
    for t in &truths {
        let kind = t["statement_type"].as_str().unwrap_or_default();
        let pages: Vec<u32> = t["pages"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_u64())
                    .map(|p| p as u32)
                    .collect()
            })
            .unwrap_or_default();
        let Some(s) = analysis
            .statements
            .iter()
            .find(|s| s.statement_type.as_str() == kind && s.pages == pages)
        else {
            errors.push(format!("{name}: no {kind} on pages {pages:?}"));
            continue;
        };
        errors.extend(compare_statement(&format!("{name} {kind}"), s, t));
    }
    errors
}

fn compare_statement(name: &str, s: &Statement, t: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(scale) = t["scale"].as_u64()
        && scale != s.scale
    {
        errors.push(format!("{name}: scale {}, truth {scale}", s.scale));
    }
    if let Some(currency) = t.get("currency")
        && currency.as_str() != s.currency.as_deref()
    {
        errors.push(format!(
            "{name}: currency {:?}, truth {currency}",
            s.currency
        ));
    }
    if let Some(title) = t["title"].as_str()
        && s.title.as_deref() != Some(title)
    {
        errors.push(format!("{name}: title {:?}, truth {title:?}", s.title));
    }
    if let Some(periods) = t["periods"].as_array() {
        if periods.len() != s.periods.len() {
            errors.push(format!(
                "{name}: {} periods {:?}, truth {}",
                s.periods.len(),
                s.periods,
                periods.len()
            ));
        }
        for (got, want) in s.periods.iter().zip(periods) {
            if got.end_date.as_deref() != want["end_date"].as_str()
                || got.months.map(u64::from) != want["months"].as_u64()
            {
                errors.push(format!("{name}: period {got:?}, truth {want}"));
            }
        }
    }
    if let Some(columns) = t["columns"].as_u64()
        && s.periods.len() as u64 != columns
    {
        errors.push(format!(
            "{name}: {} columns, truth {columns}",
            s.periods.len()
        ));
    }
    if let Some(last) = t["last_column_label"].as_str()
        && !s.periods.last().is_some_and(|p| p.label.contains(last))
    {
        errors.push(format!(
            "{name}: last column {:?}, truth {last}",
            s.periods.last()
        ));
    }
    for item in t["items"].as_array().cloned().unwrap_or_default() {
        let label = item["label"].as_str().unwrap_or_default();
        let candidates: Vec<_> = s
            .line_items
            .iter()
            .filter(|i| same_label(&i.label, label))
            .collect();
        let want: Vec<Option<f64>> = item["values"]
            .as_array()
            .map(|a| a.iter().map(Value::as_f64).collect())
            .unwrap_or_default();
        let Some(found) = candidates.iter().find(|i| {
            i.values.len() == want.len()
                && i.values.iter().zip(&want).all(|(g, w)| match (g, w) {
                    (Some(g), Some(w)) => (g - w).abs() < 1e-9,
                    (None, None) => true,
                    _ => false,
                })
        }) else {
            errors.push(format!(
                "{name}: item {label:?} {want:?} not found; same label: {:?}",
                candidates.iter().map(|i| &i.values).collect::<Vec<_>>()
            ));
            continue;
        };
        if let Some(canonical) = item["canonical"].as_str()
            && found.canonical.as_deref() != Some(canonical)
        {
            errors.push(format!(
                "{name}: {label:?} canonical {:?}, truth {canonical}",
                found.canonical
            ));
        }
        if let Some(total) = item["is_total"].as_bool()
            && found.is_total != total
        {
            errors.push(format!(
                "{name}: {label:?} is_total {}, truth {total}",
                found.is_total
            ));
        }
        if let Some(kind) = item["kind"].as_str() {
            let got = serde_json::to_value(found.kind).unwrap_or_default();
            if got.as_str() != Some(kind) {
                errors.push(format!("{name}: {label:?} kind {got}, truth {kind}"));
            }
        }
        if let Some(page) = item["page"].as_u64()
            && u64::from(found.page) != page
        {
            errors.push(format!(
                "{name}: {label:?} on page {}, truth {page}",
                found.page
            ));
        }
    }
    let failed: Vec<_> = s.failed_checks().collect();
    let want_failed = t["failed_checks"].as_array().cloned().unwrap_or_default();
    for want in &want_failed {
        let hit = failed.iter().any(|c| {
            let end = s
                .periods
                .iter()
                .find(|p| p.label == c.period)
                .and_then(|p| p.end_date.as_deref());
            Some(c.name.as_str()) == want["name"].as_str()
                && end == want["end_date"].as_str()
                && Some(c.expected) == want["expected"].as_f64()
                && Some(c.actual) == want["actual"].as_f64()
        });
        if !hit {
            errors.push(format!(
                "{name}: failed check {want} not shown; failed: {failed:?}"
            ));
        }
    }
    if failed.len() != want_failed.len() {
        errors.push(format!(
            "{name}: {} failed checks, truth {}: {failed:#?}",
            failed.len(),
            want_failed.len()
        ));
    }
    if s.statement_type != quire_statements::StatementType::Equity && s.checks.is_empty() {
        errors.push(format!("{name}: no check ran"));
    }
    errors
}

#[test]
fn text_corpus_matches_its_truth() {
    let mut errors = Vec::new();
    let mut count = 0;
    for (text, json) in fixtures(&corpus_dir(), "txt") {
        let name = text
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let body = std::fs::read_to_string(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let truth: Value = serde_json::from_str(
            &std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{name}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name} truth: {e}"));
        let analysis = analyze(&split_pages(&body));
        errors.extend(compare(&name, &analysis, &truth));
        count += 1;
    }
    assert!(count >= 8, "only {count} text fixtures");
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn a_corrupted_statement_shows_its_failed_checks_and_loses_confidence() {
    let path = corpus_dir().join("aligned_corrupted_balance_sheet.txt");
    let body = std::fs::read_to_string(path).unwrap_or_default();
    let analysis = analyze(&split_pages(&body));
    let statement = &analysis.statements[0];
    let failed: Vec<_> = statement.failed_checks().collect();
    assert!(!failed.is_empty());
    for check in &failed {
        assert!(
            (check.expected - check.actual).abs() > check.tolerance,
            "{check:?}"
        );
    }
    assert!(statement.confidence < analysis.pages[0].detection.confidence);
}

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// `pdftotext -layout` of a PDF, pages split on form feeds.
fn pdftotext_layout(pdf: &Path) -> Option<String> {
    let output = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(pdf)
        .arg("-")
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "pdftotext failed on {}",
        pdf.display()
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn rendered_pdf_corpus_matches_its_truth() {
    let dir = corpus_dir().join("pdf");
    let mut errors = Vec::new();
    let mut count = 0;
    for (pdf, json) in fixtures(&dir, "pdf") {
        let name = pdf
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(text) = pdftotext_layout(&pdf) else {
            assert!(!ci(), "pdftotext (poppler-utils) is required in CI");
            eprintln!("SKIPPED {name}: pdftotext (poppler-utils) is not installed");
            return;
        };
        let truth: Value = serde_json::from_str(
            &std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{name}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name} truth: {e}"));
        let analysis = analyze(&split_pages(&text));
        errors.extend(compare(&name, &analysis, &truth));
        count += 1;
    }
    assert!(count >= 1, "no rendered PDFs in {}", dir.display());
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
