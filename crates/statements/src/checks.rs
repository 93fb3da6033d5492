//! The arithmetic of a statement, per period column, in printed units.
//!
//! - `sum`: every "Total …" row equals the rows it totals. Those are found from
//!   the headings: the total of "Current assets:" is "Total current assets"
//!   (names compared normalised), and a total nested inside counts as one row
//!   (its own rows are skipped). A total whose heading cannot be found adds the
//!   rows above it up to the nearest heading or subtotal. A total over fewer than
//!   two rows is not checked: the hierarchy does not show what it adds.
//! - `balance`: total assets = total liabilities and equity (or liabilities +
//!   equity).
//! - `cash`: net change = operating + investing + financing (+ exchange-rate
//!   effect), and = ending − beginning cash.
//! - `gross_profit`: revenue − cost of revenue (cost printed either sign).
//! - `comprehensive`: net income + other comprehensive income.
//!
//! The tolerance is the rounding of the printed figures: half a unit of the
//! statement's scale per term, at least one unit.

use serde::{Deserialize, Serialize};

use crate::text::normalize_label;
use crate::{LineItem, Period, StatementType, ValueKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// The period column's label.
    pub period: String,
    pub passed: bool,
    /// What the other rows add up to.
    pub expected: f64,
    /// What the statement prints.
    pub actual: f64,
    pub tolerance: f64,
    /// The terms, by label.
    pub detail: String,
}

fn tolerance(terms: usize) -> f64 {
    (terms as f64 / 2.0).ceil().max(1.0)
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn check(
    name: &str,
    period: &Period,
    expected: f64,
    actual: f64,
    terms: usize,
    detail: String,
) -> Check {
    let tolerance = tolerance(terms);
    Check {
        name: name.to_owned(),
        period: period.label.clone(),
        passed: (expected - actual).abs() <= tolerance + 1e-9,
        expected: round(expected),
        actual: round(actual),
        tolerance,
        detail,
    }
}

/// Runs every check that applies to the statement's rows.
pub fn run(statement_type: StatementType, items: &[LineItem], periods: &[Period]) -> Vec<Check> {
    let mut checks = sums(items, periods);
    let find = |id: &str| {
        items
            .iter()
            .find(|i| i.canonical.as_deref() == Some(id) && i.kind == ValueKind::Amount)
    };
    for (column, period) in periods.iter().enumerate() {
        let value = |id: &str| find(id).and_then(|i| i.values.get(column).copied().flatten());
        match statement_type {
            StatementType::BalanceSheet => {
                if let Some(assets) = value("Assets") {
                    if let Some(le) = value("LiabilitiesAndStockholdersEquity") {
                        checks.push(check(
                            "balance: total assets = total liabilities and equity",
                            period,
                            le,
                            assets,
                            2,
                            "Total liabilities and equity".to_owned(),
                        ));
                    } else if let (Some(l), Some(e)) = (
                        value("Liabilities"),
                        value("StockholdersEquity").or_else(|| {
                            value("StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest")
                        }),
                    ) {
                        checks.push(check(
                            "balance: total assets = total liabilities + total equity",
                            period,
                            l + e,
                            assets,
                            3,
                            "Total liabilities + Total equity".to_owned(),
                        ));
                    }
                }
            }
            StatementType::CashFlow => {
                let change = value("CashAndCashEquivalentsPeriodIncreaseDecrease");
                let parts = [
                    value("NetCashProvidedByUsedInOperatingActivities"),
                    value("NetCashProvidedByUsedInInvestingActivities"),
                    value("NetCashProvidedByUsedInFinancingActivities"),
                ];
                if let (Some(change), [Some(op), Some(inv), Some(fin)]) = (change, parts) {
                    let fx = value("EffectOfExchangeRateOnCashAndCashEquivalents");
                    let mut detail = "operating + investing + financing".to_owned();
                    if fx.is_some() {
                        detail.push_str(" + exchange-rate effect");
                    }
                    checks.push(check(
                        "cash: net change = operating + investing + financing",
                        period,
                        op + inv + fin + fx.unwrap_or(0.0),
                        change,
                        4,
                        detail,
                    ));
                }
                if let (Some(change), Some(begin), Some(end)) = (
                    change,
                    value("CashAndCashEquivalentsAtBeginningOfPeriod"),
                    value("CashAndCashEquivalentsAtEndOfPeriod"),
                ) {
                    checks.push(check(
                        "cash: net change = ending - beginning cash",
                        period,
                        end - begin,
                        change,
                        2,
                        "ending cash - beginning cash".to_owned(),
                    ));
                }
            }
            StatementType::IncomeStatement => {
                if let (Some(revenue), Some(cost), Some(gross)) = (
                    value("Revenues"),
                    value("CostOfRevenue"),
                    value("GrossProfit"),
                ) {
                    checks.push(check(
                        "gross_profit: gross profit = revenue - cost of revenue",
                        period,
                        revenue - cost.abs(),
                        gross,
                        2,
                        "revenue - cost of revenue".to_owned(),
                    ));
                }
            }
            StatementType::ComprehensiveIncome => {
                if let (Some(net), Some(oci), Some(total)) = (
                    value("NetIncomeLoss"),
                    value("OtherComprehensiveIncomeLossNetOfTax"),
                    value("ComprehensiveIncomeNetOfTax"),
                ) {
                    checks.push(check(
                        "comprehensive: comprehensive income = net income + other comprehensive income",
                        period,
                        net + oci,
                        total,
                        2,
                        "net income + other comprehensive income".to_owned(),
                    ));
                }
            }
            StatementType::Equity | StatementType::Other => {}
        }
    }
    checks
}

fn is_named_total(item: &LineItem) -> bool {
    let n = normalize_label(&item.label);
    n == "total" || n.starts_with("total ")
}

/// The name a total closes: "Total current assets" → "current assets".
fn total_name(item: &LineItem) -> String {
    let n = normalize_label(&item.label);
    n.strip_prefix("total").unwrap_or(&n).trim().to_owned()
}

fn related(outer: &str, inner: &str) -> bool {
    const WEAK: &[&str] = &["and", "of", "net", "other", "the", "total", "s"];
    inner
        .split(' ')
        .filter(|w| !WEAK.contains(w))
        .any(|w| outer.split(' ').any(|o| o == w))
}

fn sums(items: &[LineItem], periods: &[Period]) -> Vec<Check> {
    let mut checks = Vec::new();
    // For every named total already read: where a total above it resumes
    // after counting it as one row (just above its heading or its first row).
    let mut resume: Vec<Option<isize>> = vec![None; items.len()];
    let mut closed = vec![false; items.len()];
    for t in 0..items.len() {
        let total = &items[t];
        if !is_named_total(total) || total.kind != ValueKind::Amount || total.is_heading() {
            continue;
        }
        let name = total_name(total);
        let mut matched: Option<usize> = None;
        for h in (0..t).rev() {
            if !items[h].is_heading() || closed[h] {
                continue;
            }
            let heading = normalize_label(&items[h].label);
            if heading.is_empty() || name.is_empty() {
                continue;
            }
            let exact = heading == name || name.contains(&heading);
            if exact || heading.contains(&name) {
                matched = Some(h);
                if exact {
                    closed[h] = true;
                }
                break;
            }
        }
        let floor = matched.map_or(-1, |h| h as isize);
        let mut components: Vec<usize> = Vec::new();
        let mut r = t as isize - 1;
        while r > floor {
            let index = r as usize;
            let item = &items[index];
            if let Some(next) = resume[index] {
                // Without a heading, a total above is one of ours only when the
                // names share a word ("Total liabilities" in "Total liabilities
                // and equity", not "Total assets" above "Total liabilities").
                if matched.is_none() && !related(&name, &total_name(item)) {
                    break;
                }
                components.push(index);
                r = next;
                continue;
            }
            if item.is_heading() {
                if matched.is_none() {
                    break;
                }
                r -= 1;
                continue;
            }
            if item.is_total || item.kind != ValueKind::Amount {
                if matched.is_none() || item.is_total {
                    break;
                }
                r -= 1;
                continue;
            }
            components.push(index);
            r -= 1;
        }
        resume[t] = Some(match matched {
            Some(h) => h as isize - 1,
            None => components.last().map_or(t as isize - 1, |&i| {
                // The first row it adds, or the first row of a nested total.
                resume[i]
                    .filter(|_| i != t)
                    .map_or(i as isize - 1, |next| next.min(i as isize - 1))
            }),
        });
        if components.len() < 2 {
            continue;
        }
        components.reverse();
        let detail = components
            .iter()
            .map(|&i| items[i].label.as_str())
            .collect::<Vec<_>>()
            .join(" + ");
        for (column, period) in periods.iter().enumerate() {
            let Some(actual) = total.values.get(column).copied().flatten() else {
                continue;
            };
            let values: Vec<Option<f64>> = components
                .iter()
                .map(|&i| items[i].values.get(column).copied().flatten())
                .collect();
            if values.iter().all(Option::is_none) {
                continue;
            }
            let expected: f64 = values.iter().flatten().sum();
            checks.push(check(
                &format!("sum: {}", total.label),
                period,
                expected,
                actual,
                components.len() + 1,
                detail.clone(),
            ));
        }
    }
    checks
}
