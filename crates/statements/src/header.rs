//! Periods, scale and currency from the lines above a statement's rows.
//!
//! Periods: the years of the column heading block (the last lines above the
//! rows made only of years, dates and words like "ended", "months"), one per
//! column in reading order; each gets the month and day and the duration of
//! the heading that spans it ("Three Months Ended … Nine Months Ended" over four
//! years: two columns each). Scale: the first of "in billions / millions /
//! thousands" (or `000s`) in the heading. Currency: a named currency in the
//! heading, else the symbols printed in the cells.

use crate::Period;
use crate::text::{is_value_token, is_year, parse_number, tokens};

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub periods: Vec<Period>,
    pub scale: u64,
    pub currency: Option<String>,
}

const MONTHS: [(&str, u32); 12] = [
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_of(word: &str) -> Option<u32> {
    let w = word.trim_end_matches(['.', ',']).to_ascii_lowercase();
    if w.len() < 3 {
        return None;
    }
    MONTHS.iter().find_map(|(abbr, n)| {
        let full = MONTH_NAMES[(*n - 1) as usize].to_ascii_lowercase();
        (w == *abbr || w == full || (w.len() >= 3 && full.starts_with(&w) && w.len() <= full.len()))
            .then_some(*n)
    })
}

/// Words allowed in the lines of a column heading block.
fn is_heading_word(word: &str) -> bool {
    let w = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_lowercase();
    w.is_empty()
        || month_of(&w).is_some()
        || w.chars().all(|c| c.is_ascii_digit())
        || matches!(
            w.as_str(),
            "ended"
                | "ending"
                | "end"
                | "year"
                | "years"
                | "fiscal"
                | "months"
                | "month"
                | "three"
                | "six"
                | "nine"
                | "twelve"
                | "weeks"
                | "week"
                | "quarter"
                | "quarters"
                | "as"
                | "of"
                | "at"
                | "notes"
                | "note"
                | "unaudited"
                | "restated"
                | "period"
                | "periods"
                | "fy"
        )
}

/// Index of the first line carrying a row of values (either layout), or the
/// number of lines.
pub fn first_data_line(lines: &[&str]) -> usize {
    let mut label_before = false;
    for (index, line) in lines.iter().enumerate() {
        let toks = tokens(line);
        // A lone currency symbol (one cell per line) changes nothing.
        if toks.is_empty() || toks.iter().all(|(_, _, t)| t.chars().all(is_symbol)) {
            continue;
        }
        let amounts = toks
            .iter()
            .filter(|(_, _, t)| !is_year(t) && parse_number(t).is_some())
            .count();
        let has_label = toks
            .iter()
            .any(|(_, _, t)| !is_value_token(t) && t.chars().any(char::is_alphabetic));
        if amounts > 0 && (has_label || label_before) {
            return if has_label {
                index
            } else {
                index.saturating_sub(1)
            };
        }
        label_before = has_label && amounts == 0;
    }
    lines.len()
}

fn is_symbol(c: char) -> bool {
    matches!(c, '$' | '€' | '£' | '¥' | '₹')
}

/// A month and day ("December 31"), its year if printed right after, its place.
#[derive(Debug, Clone, Copy)]
struct DateMark {
    month: u32,
    day: Option<u32>,
}

fn durations_in(line: &str) -> Vec<u32> {
    let lower = line.to_ascii_lowercase();
    let mut found: Vec<(usize, u32)> = Vec::new();
    let patterns: [(&str, u32); 12] = [
        ("three months", 3),
        ("3 months", 3),
        ("13 weeks", 3),
        ("quarter ended", 3),
        ("six months", 6),
        ("6 months", 6),
        ("nine months", 9),
        ("9 months", 9),
        ("twelve months", 12),
        ("12 months", 12),
        ("52 weeks", 12),
        ("53 weeks", 12),
    ];
    for (pattern, months) in patterns {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(pattern) {
            found.push((from + pos, months));
            from += pos + pattern.len();
        }
    }
    for pattern in [
        "year ended",
        "years ended",
        "year ending",
        "years ending",
        "fiscal year",
    ] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(pattern) {
            let at = from + pos;
            // "fiscal years ended" is one mention.
            if !found.iter().any(|(p, _)| p.abs_diff(at) < 8) {
                found.push((at, 12));
            }
            from = at + pattern.len();
        }
    }
    found.sort_by_key(|(pos, _)| *pos);
    found.into_iter().map(|(_, m)| m).collect()
}

fn dates_in(line: &str) -> Vec<DateMark> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, tok) in toks.iter().enumerate() {
        let Some(month) = month_of(tok) else { continue };
        // "May" alone is a word too; require a day or a year next to it.
        let day = toks
            .get(i + 1)
            .map(|t| t.trim_end_matches([',', '.']))
            .and_then(|t| t.parse::<u32>().ok())
            .filter(|d| (1..=31).contains(d));
        let year_next = toks.get(i + 1).is_some_and(|t| is_year(t));
        if day.is_some() || year_next {
            out.push(DateMark { month, day });
        }
    }
    out
}

fn years_in(line: &str) -> Vec<i32> {
    line.split_whitespace()
        .filter(|t| is_year(t))
        .filter_map(|t| t.trim_end_matches([',', '.', ')', ':']).parse().ok())
        .collect()
}

fn last_day(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Spreads `marks` over `n` columns: one each, in equal groups, or one for all.
fn spread<T: Copy>(marks: &[T], n: usize) -> Vec<Option<T>> {
    if marks.is_empty() || n == 0 {
        return vec![None; n];
    }
    if marks.len() >= n {
        return marks[marks.len() - n..].iter().copied().map(Some).collect();
    }
    if n.is_multiple_of(marks.len()) {
        let group = n / marks.len();
        return (0..n).map(|i| Some(marks[i / group])).collect();
    }
    vec![Some(marks[0]); n]
}

/// Periods, scale and currency of the page that opens a statement.
pub fn parse_header(text: &str) -> Header {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let end = first_data_line(&lines);
    let head = &lines[..end];
    let periods = periods(head);
    let head_text = head.join("\n");
    Header {
        periods,
        scale: scale(&head_text),
        currency: currency(&head_text, text),
    }
}

fn periods(head: &[&str]) -> Vec<Period> {
    // The column heading block: trailing lines of heading words with a year,
    // date or duration.
    // Section headings ("ASSETS", "Current assets:") may sit between the
    // column headings and the first row.
    let meaningful_line = |line: &str| {
        !years_in(line).is_empty() || !dates_in(line).is_empty() || !durations_in(line).is_empty()
    };
    let end = head
        .iter()
        .rposition(|line| meaningful_line(line) && line.split_whitespace().all(is_heading_word))
        .map_or(head.len(), |i| i + 1);
    let head = &head[..end];
    let mut start = head.len();
    while start > 0 {
        let line = head[start - 1];
        let words_ok = line.split_whitespace().all(is_heading_word);
        let meaningful = !years_in(line).is_empty()
            || !dates_in(line).is_empty()
            || !durations_in(line).is_empty();
        let filler = start < head.len() && line.trim().len() < 3;
        if words_ok && (meaningful || filler) {
            start -= 1;
        } else {
            break;
        }
    }
    let block = &head[start..];
    let mut years: Vec<i32> = block.iter().flat_map(|l| years_in(l)).collect();
    let above = &head[..start];
    if years.is_empty() {
        // "For the years ended December 31, 2023 and 2022": the only years.
        years = above.iter().flat_map(|l| years_in(l)).collect();
    }
    let n = years.len();
    if n == 0 {
        return Vec::new();
    }
    let mut durations: Vec<u32> = block.iter().flat_map(|l| durations_in(l)).collect();
    if durations.is_empty() {
        durations = above.iter().flat_map(|l| durations_in(l)).collect();
        if durations.len() != n {
            durations.truncate(1);
        }
    }
    let mut dates: Vec<DateMark> = block.iter().flat_map(|l| dates_in(l)).collect();
    if dates.is_empty() {
        dates = above.iter().flat_map(|l| dates_in(l)).collect();
        if dates.len() != n {
            dates.truncate(1);
        }
    }
    let months = spread(&durations, n);
    let dates = spread(&dates, n);
    years
        .iter()
        .zip(months)
        .zip(dates)
        .map(|((year, months), date)| {
            let end_date = date.map(|d| {
                let day = d.day.unwrap_or_else(|| last_day(*year, d.month));
                format!("{year:04}-{:02}-{day:02}", d.month)
            });
            let when = date.map(|d| {
                let name = MONTH_NAMES[(d.month - 1) as usize];
                match d.day {
                    Some(day) => format!("{name} {day}, {year}"),
                    None => format!("{name} {year}"),
                }
            });
            let label = match (months, when) {
                (Some(12), Some(when)) => format!("Year Ended {when}"),
                (Some(m), Some(when)) => format!("{} Months Ended {when}", month_word(m)),
                (None, Some(when)) => when,
                (Some(12), None) => format!("Fiscal {year}"),
                (_, None) => year.to_string(),
            };
            Period {
                label,
                end_date,
                months,
            }
        })
        .collect()
}

fn month_word(months: u32) -> String {
    match months {
        3 => "Three".to_owned(),
        6 => "Six".to_owned(),
        9 => "Nine".to_owned(),
        m => m.to_string(),
    }
}

/// 1, 1 000, 1 000 000 or 1 000 000 000 from the heading's first mention.
pub fn scale(head: &str) -> u64 {
    let lower = head.to_ascii_lowercase();
    let marks: [(&str, u64); 9] = [
        ("billions", 1_000_000_000),
        ("in billion", 1_000_000_000),
        ("millions", 1_000_000),
        ("in million", 1_000_000),
        ("thousands", 1_000),
        ("in thousand", 1_000),
        ("000s", 1_000),
        ("000's", 1_000),
        ("000 omitted", 1_000),
    ];
    marks
        .iter()
        .filter_map(|(mark, scale)| lower.find(mark).map(|pos| (pos, *scale)))
        .min_by_key(|(pos, _)| *pos)
        .map_or(1, |(_, scale)| scale)
}

/// ISO code: a currency named in the heading, else the symbols on the page.
pub fn currency(head: &str, page: &str) -> Option<String> {
    let lower = head.to_lowercase();
    let named: [(&str, &str); 16] = [
        ("canadian dollar", "CAD"),
        ("australian dollar", "AUD"),
        ("hong kong dollar", "HKD"),
        ("u.s. dollar", "USD"),
        ("us dollar", "USD"),
        ("usd", "USD"),
        ("euro", "EUR"),
        ("eur ", "EUR"),
        ("pounds sterling", "GBP"),
        ("gbp", "GBP"),
        ("swiss franc", "CHF"),
        ("chf", "CHF"),
        ("renminbi", "CNY"),
        ("rmb", "CNY"),
        ("japanese yen", "JPY"),
        ("rupees", "INR"),
    ];
    if let Some((_, code)) = named
        .iter()
        .filter_map(|(name, code)| lower.find(name).map(|pos| (pos, *code)))
        .min_by_key(|(pos, _)| *pos)
    {
        return Some(code.to_owned());
    }
    let symbols: [(char, &str); 5] = [
        ('€', "EUR"),
        ('£', "GBP"),
        ('¥', "JPY"),
        ('₹', "INR"),
        ('$', "USD"),
    ];
    symbols
        .iter()
        .map(|(symbol, code)| (page.matches(*symbol).count(), *code))
        .filter(|(count, _)| *count > 0)
        .max_by_key(|(count, _)| *count)
        .map(|(_, code)| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_years_ended_december() {
        let h = parse_header(
            "ACME\nConsolidated Statements of Operations\n(In millions, except per share data)\n\
             Years Ended December 31,\n  2023    2022    2021\nRevenue  $ 1,000  $ 900  $ 800\n",
        );
        assert_eq!(h.scale, 1_000_000);
        assert_eq!(h.currency.as_deref(), Some("USD"));
        assert_eq!(h.periods.len(), 3);
        assert_eq!(h.periods[0].end_date.as_deref(), Some("2023-12-31"));
        assert_eq!(h.periods[2].months, Some(12));
        assert_eq!(h.periods[1].label, "Year Ended December 31, 2022");
    }

    #[test]
    fn quarter_and_year_to_date_columns() {
        let h = parse_header(
            "Condensed Statements of Income\n(Dollars in thousands)\n\
             Three Months Ended      Nine Months Ended\n   September 30,          September 30,\n\
             2024     2023     2024     2023\nNet sales   10   9   30   27\n",
        );
        let months: Vec<_> = h.periods.iter().map(|p| p.months).collect();
        assert_eq!(months, [Some(3), Some(3), Some(9), Some(9)]);
        assert_eq!(h.periods[3].end_date.as_deref(), Some("2023-09-30"));
        assert_eq!(h.scale, 1_000);
    }

    #[test]
    fn point_in_time_columns() {
        let h = parse_header(
            "Balance Sheets\n(in thousands of euros)\nJune 30, 2024    June 30, 2023\nCash   € 5   € 4\n",
        );
        assert_eq!(h.currency.as_deref(), Some("EUR"));
        assert_eq!(h.periods[1].end_date.as_deref(), Some("2023-06-30"));
        assert_eq!(h.periods[1].months, None);
    }
}
