//! The rows of one page, in either layout.
//!
//! - *Aligned* (`pdftotext -layout`): a row is one line, its label on the left,
//!   its values on the right. Values are peeled from the end of the line; a year
//!   or a one- or two-digit marker glued to the label by a single space stays in
//!   the label ("Balance at December 31, 2022", "Revenue (1)"). Columns are the
//!   clusters of the values' right edges over the page, so a row with an empty
//!   cell still puts each value under its period; extra columns on the left of
//!   the expected periods are a "Notes" column and are dropped.
//! - *One cell per line*: label lines, then the row's value lines. A row has as
//!   many values as the heading has periods (extra leading ones are note
//!   references).
//!
//! In both, a label wrapped over two lines is joined when the second part starts
//! in lower case or the first ends with a connecting word, and a label line
//! without values is a section heading.

use crate::header::first_data_line;
use crate::text::{
    Number, indent, is_na, is_value_token, is_year, normalize_label, parse_number, squash,
    strip_footnotes, tokens,
};
use crate::{LineItem, StatementType, ValueKind, canonical};

#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    pub label: String,
    pub indent: usize,
    pub values: Vec<Option<Number>>,
}

impl RawRow {
    fn has_values(&self) -> bool {
        !self.values.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Copy)]
pub enum Layout {
    Aligned,
    OneCellPerLine,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageRows {
    pub rows: Vec<RawRow>,
    pub columns: usize,
    pub layout: Layout,
    /// Right edges (character columns) of the value columns, aligned layout.
    pub edges: Vec<usize>,
}

const CONNECTORS: &[&str] = &[
    "and",
    "of",
    "for",
    "in",
    "to",
    "from",
    "by",
    "on",
    "the",
    "net",
    "or",
    "with",
    "at",
    "as",
    "attributable",
    "less",
    "including",
    "excluding",
    "per",
];

fn continues(first: &str, second: &str) -> bool {
    let first = first.trim_end();
    if first.ends_with(':') {
        return false;
    }
    let starts_lower = second
        .trim_start()
        .chars()
        .next()
        .is_some_and(|c| c.is_lowercase() || c == '(');
    let last_word = first
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    starts_lower
        || first.ends_with([',', '-', '&', '('])
        || CONNECTORS.contains(&last_word.as_str())
}

fn is_footer(line: &str) -> bool {
    let s = squash(line);
    s == "tableofcontents"
        || s.contains("accompanyingnotes")
        || s.contains("integralpartofthese")
        || s.contains("seenotesto")
}

fn is_value_line(line: &str) -> bool {
    let toks = tokens(line);
    !toks.is_empty() && toks.iter().all(|(_, _, t)| is_value_token(t))
}

fn detect_layout(lines: &[&str]) -> Layout {
    let mut aligned = 0;
    let mut lone = 0;
    for line in lines {
        let toks = tokens(line);
        let amounts = toks
            .iter()
            .filter(|(_, _, t)| !is_year(t) && parse_number(t).is_some())
            .count();
        if amounts == 0 {
            continue;
        }
        if is_value_line(line) {
            lone += 1;
        } else {
            aligned += 1;
        }
    }
    if lone > aligned {
        Layout::OneCellPerLine
    } else {
        Layout::Aligned
    }
}

/// Index of the first line of the rows: after the title, the scale line, the
/// column headings and anything with a year above the first row of values.
fn rows_start(lines: &[&str]) -> usize {
    let first = first_data_line(lines);
    let mut start = 0;
    for (index, line) in lines[..first].iter().enumerate() {
        let s = squash(line);
        let cells = line
            .trim()
            .split("  ")
            .filter(|c| !c.trim().is_empty())
            .count();
        let headingish = line.split_whitespace().any(is_year)
            || s.contains("statement")
            || s.contains("balancesheet")
            || s.contains("cashflow")
            || s.contains("inmillions")
            || s.contains("inthousands")
            || s.contains("inbillions")
            || s.contains("continued")
            || s.contains("exceptpershare")
            || s.contains("unaudited")
            || s.contains("ended")
            || cells >= 2;
        if headingish {
            start = index + 1;
        }
    }
    start
}

/// The rows of one page. `expected` is the number of periods the statement's
/// heading shows (0 when unknown).
pub fn page_rows(text: &str, expected: usize) -> PageRows {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !is_footer(l))
        .collect();
    // A page number alone on the last line.
    if lines.last().is_some_and(|l| {
        let t = l.trim();
        t.len() <= 4 && t.chars().all(|c| c.is_ascii_digit())
    }) {
        lines.pop();
    }
    let layout = detect_layout(&lines);
    let start = rows_start(&lines);
    let region = &lines[start.min(lines.len())..];
    let mut page = match layout {
        Layout::Aligned => aligned_rows(region, expected),
        Layout::OneCellPerLine => one_cell_rows(region, expected),
    };
    // Footnotes and remarks below the last row with values.
    while page.rows.last().is_some_and(|r| !r.has_values()) {
        page.rows.pop();
    }
    page
}

/// A value token of a row with its right edge.
struct Cell {
    end: usize,
    value: Option<Number>,
}

/// Splits an aligned line into label and value cells.
fn split_aligned(line: &str) -> (String, usize, Vec<Cell>) {
    let toks = tokens(line);
    let mut cut = toks.len();
    while cut > 0 {
        let (start, _, tok) = toks[cut - 1];
        if !is_value_token(tok) {
            break;
        }
        if cut >= 2 {
            let (_, prev_end, prev) = toks[cut - 2];
            let glued = start.saturating_sub(prev_end) <= 1 && !is_value_token(prev);
            let digits = tok.chars().filter(char::is_ascii_digit).count();
            let small_marker = digits <= 2 && !tok.contains([',', '.', '%']) && tok != "$";
            let is_dash_only = parse_number(tok).is_some_and(|n| n.value == 0.0) && digits == 0;
            if glued && (is_year(tok) || small_marker) && !is_dash_only {
                break;
            }
        }
        cut -= 1;
    }
    // A value glued to the label by one space ("… of $1,200 and $950   22,340")
    // belongs to the label when a wider gap further right separates the values.
    if cut > 0
        && cut < toks.len()
        && toks[cut].0.saturating_sub(toks[cut - 1].1) < 2
        && let Some(wider) =
            (cut + 1..toks.len()).find(|&b| toks[b].0.saturating_sub(toks[b - 1].1) >= 2)
        && toks[cut..wider]
            .iter()
            .any(|(_, _, t)| t.chars().any(|c| c.is_ascii_digit()))
    {
        cut = wider;
    }
    let label = toks[..cut]
        .iter()
        .map(|(_, _, t)| *t)
        .collect::<Vec<_>>()
        .join(" ");
    let mut cells: Vec<Cell> = Vec::new();
    let mut pending_open = false;
    for (_, end, tok) in &toks[cut..] {
        let t = tok.trim_start_matches(['$', '€', '£', '¥']);
        if t.is_empty() {
            continue;
        }
        if t == "(" {
            pending_open = true;
            continue;
        }
        if t == ")" {
            if let Some(last) = cells.last_mut() {
                last.end = *end;
                if let Some(n) = last.value.as_mut()
                    && n.value > 0.0
                {
                    n.value = -n.value;
                }
            }
            continue;
        }
        let value = if is_na(t) {
            None
        } else {
            let mut n = parse_number(t).or_else(|| parse_number(t.trim_end_matches(')')));
            if let Some(number) = n.as_mut()
                && (pending_open || (t.ends_with(')') && !t.contains('(')))
                && number.value > 0.0
            {
                number.value = -number.value;
            }
            n
        };
        pending_open = false;
        cells.push(Cell { end: *end, value });
    }
    (label, indent(line), cells)
}

/// Clusters right edges into columns: edges within 3 characters are one column.
fn cluster_edges(edges: &mut [usize], rows_with_values: usize) -> Vec<usize> {
    edges.sort_unstable();
    let mut clusters: Vec<(usize, usize, usize)> = Vec::new(); // (min, max, count)
    for &e in edges.iter() {
        match clusters.last_mut() {
            Some(c) if e <= c.1 + 3 => {
                c.1 = e;
                c.2 += 1;
            }
            _ => clusters.push((e, e, 1)),
        }
    }
    let support = if rows_with_values >= 8 {
        (rows_with_values / 5).max(2)
    } else {
        1
    };
    clusters
        .into_iter()
        .filter(|c| c.2 >= support)
        .map(|c| c.1)
        .collect()
}

fn nearest(edges: &[usize], end: usize) -> usize {
    edges
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| e.abs_diff(end))
        .map_or(0, |(i, _)| i)
}

fn aligned_rows(lines: &[&str], expected: usize) -> PageRows {
    let split: Vec<(String, usize, Vec<Cell>)> =
        lines.iter().map(|line| split_aligned(line)).collect();
    let mut all_edges: Vec<usize> = split
        .iter()
        .flat_map(|(_, _, cells)| cells.iter().map(|c| c.end))
        .collect();
    let rows_with_values = split.iter().filter(|(_, _, c)| !c.is_empty()).count();
    let mut edges = cluster_edges(&mut all_edges, rows_with_values);
    let mut drop_left = 0;
    if expected > 0 && edges.len() > expected {
        drop_left = edges.len() - expected;
    }
    let columns = edges.len() - drop_left;
    let mut rows: Vec<RawRow> = Vec::new();
    for (label, ind, cells) in split {
        let mut values: Vec<Option<Number>> = Vec::new();
        if !cells.is_empty() && !edges.is_empty() {
            let mut slots: Vec<Option<Option<Number>>> = vec![None; edges.len()];
            let mut collided = false;
            for cell in &cells {
                let slot = nearest(&edges, cell.end);
                if slots[slot].is_some() {
                    collided = true;
                }
                slots[slot] = Some(cell.value);
            }
            if collided {
                // Right-align in order.
                slots = vec![None; edges.len()];
                let offset = edges.len().saturating_sub(cells.len());
                for (i, cell) in cells.iter().rev().take(edges.len()).rev().enumerate() {
                    slots[(offset + i).min(edges.len() - 1)] = Some(cell.value);
                }
            }
            values = slots[drop_left..].iter().map(|s| s.flatten()).collect();
            if values.iter().all(Option::is_none) && slots[drop_left..].iter().all(Option::is_none)
            {
                // Only a note reference: a heading.
                values.clear();
            }
        }
        let label = label.trim().to_owned();
        if label.is_empty() {
            // Values under a label printed on the line above.
            if let Some(prev) = rows.last_mut()
                && !prev.has_values()
                && !values.is_empty()
            {
                prev.values = values;
            }
            continue;
        }
        push_joined(
            &mut rows,
            RawRow {
                label,
                indent: ind,
                values,
            },
        );
    }
    edges.drain(..drop_left);
    PageRows {
        rows,
        columns,
        layout: Layout::Aligned,
        edges,
    }
}

/// Appends a row, joining wrapped labels.
fn push_joined(rows: &mut Vec<RawRow>, row: RawRow) {
    if let Some(prev) = rows.last_mut() {
        if !prev.has_values() && continues(&prev.label, &row.label) {
            prev.label = format!("{} {}", prev.label, row.label);
            prev.values = row.values;
            return;
        }
        if prev.has_values() && !row.has_values() && starts_lower(&row.label) {
            prev.label = format!("{} {}", prev.label, row.label);
            return;
        }
    }
    rows.push(row);
}

fn starts_lower(s: &str) -> bool {
    s.trim_start()
        .chars()
        .next()
        .is_some_and(char::is_lowercase)
}

fn one_cell_rows(lines: &[&str], expected: usize) -> PageRows {
    // (label lines, values)
    let mut groups: Vec<(Vec<String>, Vec<Option<Number>>)> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut values: Vec<Option<Number>> = Vec::new();
    for line in lines {
        if is_value_line(line) {
            let toks = tokens(line);
            let mut open = false;
            for (_, _, tok) in toks {
                let t = tok.trim_start_matches(['$', '€', '£', '¥']);
                match t {
                    "" => {}
                    "(" => open = true,
                    ")" => {
                        if let Some(Some(n)) = values.last_mut()
                            && n.value > 0.0
                        {
                            n.value = -n.value;
                        }
                    }
                    _ if is_na(t) => values.push(None),
                    _ => {
                        let mut n = parse_number(t);
                        if let Some(number) = n.as_mut()
                            && open
                            && number.value > 0.0
                        {
                            number.value = -number.value;
                        }
                        open = false;
                        values.push(n);
                    }
                }
            }
        } else {
            if !values.is_empty() {
                groups.push((std::mem::take(&mut labels), std::mem::take(&mut values)));
            }
            labels.push(line.trim().to_owned());
        }
    }
    groups.push((labels, values));
    let columns = if expected > 0 {
        expected
    } else {
        // The most common number of values per row.
        let mut counts = std::collections::BTreeMap::new();
        for (_, v) in &groups {
            if !v.is_empty() {
                *counts.entry(v.len()).or_insert(0usize) += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(len, count)| (*count, *len))
            .map_or(0, |(len, _)| len)
    };
    let mut rows: Vec<RawRow> = Vec::new();
    for (label_lines, mut vals) in groups {
        // Leading extras are note references.
        if vals.len() > columns {
            vals.drain(..vals.len() - columns);
        }
        let mut parts: Vec<String> = Vec::new();
        for line in label_lines {
            match parts.last_mut() {
                Some(last) if continues(last, &line) => {
                    last.push(' ');
                    last.push_str(&line);
                }
                _ => parts.push(line),
            }
        }
        let count = parts.len();
        for (i, label) in parts.into_iter().enumerate() {
            let row_values = if i + 1 == count {
                vals.clone()
            } else {
                Vec::new()
            };
            rows.push(RawRow {
                label,
                indent: 0,
                values: row_values,
            });
        }
    }
    PageRows {
        rows,
        columns,
        layout: Layout::OneCellPerLine,
        edges: Vec::new(),
    }
}

/// Column headings read off the aligned lines above the rows (the component
/// columns of an equity statement): the words of each heading cell go to the
/// column whose right edge is nearest.
pub fn column_labels(text: &str, columns: usize) -> Vec<Option<String>> {
    let page = page_rows(text, 0);
    if page.layout != Layout::Aligned || page.edges.len() != columns {
        return vec![None; columns];
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let first = first_data_line(&lines);
    let mut labels: Vec<Vec<String>> = vec![Vec::new(); columns];
    for line in &lines[..first] {
        let cells = cells_of(line);
        if cells.len() < 2 {
            continue;
        }
        for (end, cell) in cells {
            let index = nearest(&page.edges, end);
            if page.edges[index].abs_diff(end) <= 12 {
                labels[index].push(cell);
            }
        }
    }
    labels
        .into_iter()
        .map(|words| (!words.is_empty()).then(|| words.join(" ")))
        .collect()
}

/// Cells of a line separated by two or more spaces, with their right edges.
fn cells_of(line: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut last_end = 0usize;
    for (start, end, tok) in tokens(line) {
        match out.last_mut() {
            Some(cell) if start.saturating_sub(last_end) <= 1 => {
                cell.1.push(' ');
                cell.1.push_str(tok);
                cell.0 = end;
            }
            _ => out.push((end, tok.to_owned())),
        }
        last_end = end;
    }
    out
}

/// Line items of one page's rows (labels cleaned, levels from indentation).
pub fn to_line_items(rows: Vec<RawRow>, page: u32) -> Vec<LineItem> {
    let mut indents: Vec<usize> = rows.iter().map(|r| r.indent).collect();
    indents.sort_unstable();
    indents.dedup();
    // Indents one character apart are one level.
    let mut levels: Vec<usize> = Vec::new();
    for i in indents {
        if levels.last().is_none_or(|last| i > last + 1) {
            levels.push(i);
        }
    }
    let all_flat = levels.len() <= 1;
    let mut section_level = false;
    rows.into_iter()
        .map(|row| {
            let level = if all_flat {
                // One cell per line: headings 0, their rows 1.
                if row.has_values() {
                    u32::from(section_level)
                } else {
                    section_level = true;
                    0
                }
            } else {
                levels
                    .iter()
                    .rposition(|l| *l <= row.indent)
                    .map_or(0, |p| u32::try_from(p).unwrap_or(0))
            };
            let percent = row.values.iter().flatten().any(|n| n.percent);
            LineItem {
                label: strip_footnotes(&row.label),
                level,
                is_total: false,
                values: row.values.iter().map(|v| v.map(|n| n.value)).collect(),
                kind: if percent {
                    ValueKind::Percent
                } else {
                    ValueKind::Amount
                },
                page,
                canonical: None,
                corrections: Vec::new(),
            }
        })
        .collect()
}

/// Sets `canonical`, `is_total` and per-share kinds, reading each row with the
/// heading it sits under.
pub fn classify(items: &mut [LineItem], statement_type: StatementType) {
    let mut section = String::new();
    for item in items.iter_mut() {
        let normalized = normalize_label(&item.label);
        if item.is_heading() {
            section = normalized;
            continue;
        }
        item.canonical =
            canonical::lookup(&normalized, &section, statement_type).map(str::to_owned);
        let per_share_label = normalized.contains("per share")
            || normalized.contains("per common share")
            || normalized.contains("per diluted share")
            || normalized.contains("per basic share");
        let under_per_share = (section.contains("per share")
            || section.contains("per common share"))
            && !section.contains("shares");
        let counts_shares = normalized.contains("shares") && !per_share_label;
        if item.kind == ValueKind::Amount
            && !counts_shares
            && (per_share_label
                || (under_per_share && matches!(normalized.as_str(), "basic" | "diluted"))
                || item
                    .canonical
                    .as_deref()
                    .is_some_and(|c| c.starts_with("EarningsPerShare")))
        {
            item.kind = ValueKind::PerShare;
        }
        // A margin in percent is not the amount its label names.
        if item.kind == ValueKind::Percent {
            item.canonical = None;
        }
        item.is_total = normalized.starts_with("total ")
            || normalized == "total"
            || item
                .canonical
                .as_deref()
                .is_some_and(|c| canonical::is_subtotal(c, statement_type));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_rows_keep_empty_cells_in_their_column() {
        let text = "Revenue                 $ 1,000   $   900\n\
                    Other income                  —        12\n\
                    Impairment                          (45)\n\
                    Net income              $   300   $   250\n";
        let page = page_rows(text, 2);
        assert_eq!(page.columns, 2);
        let impairment = &page.rows[2];
        assert_eq!(impairment.values[0], None);
        assert_eq!(impairment.values[1].map(|n| n.value), Some(-45.0));
        assert_eq!(page.rows[1].values[0].map(|n| n.value), Some(0.0));
    }

    #[test]
    fn wrapped_labels_are_joined() {
        let text = "Net cash provided by (used in)\n   operating activities     1,200    (300)\n\
                    Cash   5   6\n";
        let page = page_rows(text, 2);
        assert_eq!(
            page.rows[0].label,
            "Net cash provided by (used in) operating activities"
        );
        assert_eq!(page.rows[0].values[1].map(|n| n.value), Some(-300.0));
    }

    #[test]
    fn one_cell_per_line_rows() {
        let text = "Current assets:\nCash and cash\nequivalents\n$\n1,234\n$\n1,000\n\
                    Receivables\n(5)\n-7\n";
        let page = page_rows(text, 2);
        assert_eq!(page.layout, Layout::OneCellPerLine);
        assert_eq!(page.rows[0].label, "Current assets:");
        assert_eq!(page.rows[1].label, "Cash and cash equivalents");
        assert_eq!(page.rows[2].values[1].map(|n| n.value), Some(-7.0));
    }
}
