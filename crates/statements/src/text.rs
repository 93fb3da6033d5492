//! Numbers, labels and words as the other stages see them.

/// A cell's value as printed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    pub value: f64,
    pub percent: bool,
    /// Written with a decimal point (per-share amounts are).
    pub decimal: bool,
}

/// Dashes that stand for zero in a value column.
fn is_dash(token: &str) -> bool {
    matches!(token, "—" | "–" | "-" | "−" | "--" | "—-" | "‒" | "―")
}

fn is_currency_symbol(c: char) -> bool {
    matches!(c, '$' | '€' | '£' | '¥' | '₹' | '₩' | '₣')
}

/// Parses one value token: `1,234`, `(1,234)`, `-1,234`, `$(12.5)`, `12.5%`,
/// `—` (zero). A lone currency symbol or parenthesis is `None` here (see
/// [`is_value_token`]).
pub fn parse_number(token: &str) -> Option<Number> {
    let token = token.trim();
    if is_dash(token) || matches!(token, "(—)" | "(-)" | "(–)") {
        return Some(Number {
            value: 0.0,
            percent: false,
            decimal: false,
        });
    }
    let mut negative = false;
    let mut percent = false;
    let mut body = String::with_capacity(token.len());
    let mut saw_digit = false;
    let mut open = false;
    let mut close = false;
    for (i, c) in token.chars().enumerate() {
        match c {
            '0'..='9' => {
                saw_digit = true;
                body.push(c);
            }
            ',' => {
                if !saw_digit {
                    return None;
                }
            }
            '.' => body.push('.'),
            '(' if !saw_digit => open = true,
            ')' if saw_digit => close = true,
            '-' | '−' | '–' if !saw_digit && i <= 2 => negative = true,
            '%' if saw_digit => percent = true,
            c if is_currency_symbol(c) && !saw_digit => {}
            ' ' => {}
            _ => return None,
        }
    }
    if !saw_digit || token.ends_with(',') || (close && !open) {
        return None;
    }
    let decimal = body.contains('.');
    let mut value: f64 = body.parse().ok()?;
    if open || negative {
        value = -value;
    }
    Some(Number {
        value,
        percent,
        decimal,
    })
}

/// Whether a token belongs to the value part of a row: a number, a dash, a lone
/// currency symbol or bracket, `n/a`.
pub fn is_value_token(token: &str) -> bool {
    let t = token.trim();
    if t.is_empty() {
        return false;
    }
    if t.chars()
        .all(|c| is_currency_symbol(c) || c == '(' || c == ')')
    {
        return true;
    }
    if is_na(t) {
        return true;
    }
    parse_number(t).is_some()
}

/// `n/a`, `NM`: a cell with no value.
pub fn is_na(token: &str) -> bool {
    matches!(
        token.to_ascii_lowercase().as_str(),
        "n/a" | "nm" | "n.m." | "na" | "*"
    )
}

/// A bare year as printed in headers and in labels ("December 31, 2023").
pub fn is_year(token: &str) -> bool {
    let t = token.trim_end_matches([',', '.', ')', ':']);
    t.len() == 4
        && t.chars().all(|c| c.is_ascii_digit())
        && t.parse::<u32>().is_ok_and(|y| (1950..=2100).contains(&y))
}

/// Lower-case letters only: titles broken by the extractor ("Balance Shee t",
/// "Cash Flow s") read the same once spaces and punctuation are gone.
pub fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A label as the keyword tables see it: lower case, parenthesised qualifiers
/// ("(loss)", "(used in)") removed, apostrophes dropped, other punctuation as
/// spaces, single spaces.
pub fn normalize_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut depth = 0u32;
    for c in label.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '\'' | '’' | '‘' => {}
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes footnote markers from the end of a label: `(1)`, `(a)`, `*`,
/// superscript digits, a trailing digit glued by the extractor.
pub fn strip_footnotes(label: &str) -> String {
    let mut s = label.trim().to_owned();
    loop {
        let before = s.len();
        s = s
            .trim_end_matches([
                '*', '†', '‡', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹', '⁰',
            ])
            .trim_end()
            .to_owned();
        if let Some(open) = s.rfind('(')
            && s.ends_with(')')
        {
            let inner = &s[open + 1..s.len() - 1];
            let marker = !inner.is_empty()
                && inner.len() <= 2
                && (inner.chars().all(|c| c.is_ascii_digit())
                    || (inner.len() == 1 && inner.chars().all(|c| c.is_ascii_lowercase())));
            if marker {
                s.truncate(open);
                s = s.trim_end().to_owned();
            }
        }
        if s.len() == before {
            break;
        }
    }
    s
}

/// Whitespace-separated tokens with their character columns `[start, end)`.
pub fn tokens(line: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (char col, byte offset)
    let mut col = 0usize;
    for (byte, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some((scol, sbyte)) = start.take() {
                out.push((scol, col, &line[sbyte..byte]));
            }
        } else if start.is_none() {
            start = Some((col, byte));
        }
        col += 1;
    }
    if let Some((scol, sbyte)) = start {
        out.push((scol, col, &line[sbyte..]));
    }
    out
}

/// Leading spaces of a line (tabs count as four).
pub fn indent(line: &str) -> usize {
    let mut n = 0;
    for c in line.chars() {
        match c {
            ' ' => n += 1,
            '\t' => n += 4,
            _ => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<f64> {
        parse_number(s).map(|n| n.value)
    }

    #[test]
    fn numbers_keep_their_sign() {
        assert_eq!(v("1,234"), Some(1234.0));
        assert_eq!(v("(1,234)"), Some(-1234.0));
        assert_eq!(v("-1,234"), Some(-1234.0));
        assert_eq!(v("−56"), Some(-56.0));
        assert_eq!(v("$(12.50)"), Some(-12.5));
        assert_eq!(v("—"), Some(0.0));
        assert_eq!(v("-"), Some(0.0));
        assert_eq!(v("12.5%"), Some(12.5));
        assert_eq!(v("$1,000"), Some(1000.0));
        assert_eq!(v("Revenue"), None);
        assert_eq!(v("2023,"), None);
        assert!(parse_number("3.2%").is_some_and(|n| n.percent));
    }

    #[test]
    fn labels_lose_qualifiers_and_footnotes() {
        assert_eq!(
            normalize_label("Net cash provided by (used in) operating activities"),
            "net cash provided by operating activities"
        );
        assert_eq!(
            normalize_label("Total stockholders’ equity"),
            "total stockholders equity"
        );
        assert_eq!(strip_footnotes("Revenue (1)"), "Revenue");
        assert_eq!(strip_footnotes("Net sales*"), "Net sales");
        assert_eq!(strip_footnotes("Other income (a)"), "Other income");
        assert_eq!(strip_footnotes("Net income (loss)"), "Net income (loss)");
    }

    #[test]
    fn broken_titles_squash_to_the_same_word() {
        assert_eq!(squash("Balance Shee t"), "balancesheet");
        assert_eq!(squash("Cash Flow s"), "cashflows");
    }
}
