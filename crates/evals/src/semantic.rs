//! Numbers and dates as values: the tokenizer behind the `numeric` and `date`
//! matching modes. It reads folded text (see [`crate::text::fold`]), so it
//! only ever sees lower case.

/// A token and its byte range in the folded text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Word(String),
    /// The value, and whether it was written in parentheses: `(30)` is
    /// `-30` in accounts but `30` in "thirty (30) days".
    Num(f64, bool),
    /// Year, month, day.
    Date(i32, u32, u32),
}

fn close(a: f64, b: f64) -> bool {
    let scale = a.abs().max(b.abs()).max(1.0);
    (a - b).abs() <= scale * 1e-9
}

impl Tok {
    /// `self` is from the expected fragment, `answer` from the answer. A
    /// fragment's parentheses mean a negative amount (the user chose that
    /// notation); an answer's may be either, since models write both
    /// `(123)` for a loss and `thirty (30) days`.
    fn same(&self, answer: &Tok) -> bool {
        match (self, answer) {
            (Tok::Word(a), Tok::Word(b)) => a == b,
            (Tok::Num(a, _), Tok::Num(b, answer_paren)) => {
                close(*a, *b) || (*answer_paren && close(*a, -*b))
            }
            (Tok::Date(y1, m1, d1), Tok::Date(y2, m2, d2)) => (y1, m1, d1) == (y2, m2, d2),
            _ => false,
        }
    }
}

/// Currency is ignored when comparing amounts: `$1.5M` = `1.5 million EUR`
/// is wrong in general, but an expected fragment almost never hinges on the
/// currency and answers name it inconsistently.
const CURRENCY_WORDS: &[&str] = &[
    "usd", "eur", "gbp", "chf", "jpy", "cad", "aud", "dollar", "dollars", "euro", "euros",
];

fn is_currency_symbol(c: char) -> bool {
    matches!(c, '$' | '€' | '£' | '¥' | '₹' | '₩' | '₽' | '¢')
}

fn is_minus(c: char) -> bool {
    matches!(c, '-' | '\u{2212}' | '\u{2013}')
}

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("jan", 1),
    ("february", 2),
    ("feb", 2),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("june", 6),
    ("jun", 6),
    ("july", 7),
    ("jul", 7),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oct", 10),
    ("november", 11),
    ("nov", 11),
    ("december", 12),
    ("dec", 12),
];

struct Chars {
    cs: Vec<(usize, char)>,
    len: usize,
}

impl Chars {
    fn new(s: &str) -> Self {
        Self {
            cs: s.char_indices().collect(),
            len: s.len(),
        }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.cs.get(i).map(|&(_, c)| c)
    }

    fn is(&self, i: usize, f: impl Fn(char) -> bool) -> bool {
        self.at(i).is_some_and(f)
    }

    fn digit(&self, i: usize) -> bool {
        self.is(i, |c| c.is_ascii_digit())
    }

    fn offset(&self, i: usize) -> usize {
        self.cs.get(i).map_or(self.len, |&(b, _)| b)
    }

    /// A run of ASCII digits from `i`: its value (saturating), length, end.
    fn digits(&self, i: usize) -> (u64, usize, usize) {
        let mut j = i;
        let mut v: u64 = 0;
        while let Some(d) = self.at(j).and_then(|c| c.to_digit(10)) {
            v = v.saturating_mul(10).saturating_add(u64::from(d));
            j += 1;
        }
        (v, j - i, j)
    }

    /// A run of alphabetic characters from `i`.
    fn letters(&self, i: usize) -> (String, usize) {
        let mut j = i;
        let mut w = String::new();
        while let Some(c) = self.at(j).filter(|c| c.is_alphabetic()) {
            w.push(c);
            j += 1;
        }
        (w, j)
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while self.is(i, char::is_whitespace) {
            i += 1;
        }
        i
    }
}

/// Splits folded text into words, numbers and dates.
pub(crate) fn tokenize(s: &str) -> Vec<Token> {
    let cs = Chars::new(s);
    let n = cs.cs.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let Some(c) = cs.at(i) else { break };
        let boundary = i == 0 || !cs.is(i - 1, char::is_alphanumeric);
        if boundary
            && (c.is_ascii_digit() || c.is_alphabetic())
            && let Some((y, m, d, j)) = parse_date(&cs, i)
        {
            out.push(Token {
                tok: Tok::Date(y, m, d),
                start: cs.offset(i),
                end: cs.offset(j),
            });
            i = j;
            continue;
        }
        if boundary
            && (c.is_ascii_digit() || c == '(' || is_minus(c) || is_currency_symbol(c))
            && let Some(num) = parse_number(&cs, i)
        {
            out.push(Token {
                tok: Tok::Num(num.value, num.paren),
                start: cs.offset(i),
                end: cs.offset(num.end),
            });
            if let Some(p) = num.percent_at {
                out.push(Token {
                    tok: Tok::Word("percent".into()),
                    start: cs.offset(p),
                    end: cs.offset(p + 1),
                });
            }
            i = num.end;
            continue;
        }
        if c.is_alphanumeric() {
            let mut j = i;
            let mut word = String::new();
            while let Some(c) = cs.at(j).filter(|c| c.is_alphanumeric()) {
                word.push(c);
                j += 1;
            }
            let start = cs.offset(i);
            if CURRENCY_WORDS.contains(&word.as_str()) {
                i = j;
                continue;
            }
            if word == "per" {
                let k = cs.skip_spaces(j);
                let (next, end) = cs.letters(k);
                if k > j && next == "cent" && !cs.is(end, char::is_alphanumeric) {
                    out.push(Token {
                        tok: Tok::Word("percent".into()),
                        start,
                        end: cs.offset(end),
                    });
                    i = end;
                    continue;
                }
            }
            out.push(Token {
                tok: Tok::Word(word),
                start,
                end: cs.offset(j),
            });
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

struct Number {
    value: f64,
    paren: bool,
    percent_at: Option<usize>,
    end: usize,
}

/// `1,500,000`, `1.5`, `$1.5M`, `1.5k`, `1.5 million`, `(123)`, `-123`, `5%`.
/// Commas are thousands separators only in groups of three after a first
/// group of at most three digits; `.` is always the decimal point.
fn parse_number(cs: &Chars, i: usize) -> Option<Number> {
    let mut j = i;
    let paren = cs.at(j) == Some('(');
    if paren {
        j += 1;
    }
    let mut negative = false;
    if cs.is(j, is_minus) {
        negative = true;
        j += 1;
    }
    if cs.is(j, is_currency_symbol) {
        j += 1;
        if !negative && cs.is(j, is_minus) {
            negative = true;
            j += 1;
        }
    }
    if !cs.digit(j) {
        return None;
    }
    let mut text = String::new();
    let run_start = j;
    while let Some(c) = cs.at(j).filter(char::is_ascii_digit) {
        text.push(c);
        j += 1;
    }
    if j - run_start <= 3 {
        while cs.at(j) == Some(',')
            && cs.digit(j + 1)
            && cs.digit(j + 2)
            && cs.digit(j + 3)
            && !cs.digit(j + 4)
        {
            for k in 1..=3 {
                if let Some(c) = cs.at(j + k) {
                    text.push(c);
                }
            }
            j += 4;
        }
    }
    if cs.at(j) == Some('.') && cs.digit(j + 1) {
        text.push('.');
        j += 1;
        while let Some(c) = cs.at(j).filter(char::is_ascii_digit) {
            text.push(c);
            j += 1;
        }
    }
    let mut value: f64 = text.parse().ok()?;
    let (suffix, after_suffix) = cs.letters(j);
    if !suffix.is_empty() {
        if !cs.is(after_suffix, char::is_alphanumeric) {
            let scale = match suffix.as_str() {
                "k" => Some(1e3),
                "m" | "mm" | "mn" | "mio" => Some(1e6),
                "b" | "bn" => Some(1e9),
                // Ordinals: `8th` is the number 8.
                "st" | "nd" | "rd" | "th" => Some(1.0),
                _ => None,
            };
            if let Some(scale) = scale {
                value *= scale;
                j = after_suffix;
            }
        }
    } else {
        let k = cs.skip_spaces(j);
        let (word, end) = cs.letters(k);
        if k > j && !cs.is(end, char::is_alphanumeric) {
            let scale = match word.as_str() {
                "thousand" => Some(1e3),
                "million" | "mn" => Some(1e6),
                "billion" | "bn" => Some(1e9),
                "trillion" => Some(1e12),
                _ => None,
            };
            if let Some(scale) = scale {
                value *= scale;
                j = end;
            }
        }
    }
    let mut percent_at = None;
    if cs.at(j) == Some('%') {
        percent_at = Some(j);
        j += 1;
    }
    if paren {
        if cs.at(j) != Some(')') {
            return None;
        }
        j += 1;
        negative = true;
    }
    if negative {
        value = -value;
    }
    Some(Number {
        value,
        paren,
        percent_at,
        end: j,
    })
}

fn month_at(cs: &Chars, i: usize) -> Option<(u32, usize)> {
    let (word, mut end) = cs.letters(i);
    let month = MONTHS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|&(_, m)| m)?;
    // `Sept.` and friends.
    if word.len() <= 4 && cs.at(end) == Some('.') {
        end += 1;
    }
    Some((month, end))
}

fn ordinal_suffix(cs: &Chars, i: usize) -> usize {
    let (word, end) = cs.letters(i);
    if matches!(word.as_str(), "st" | "nd" | "rd" | "th") {
        end
    } else {
        i
    }
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

fn valid(y: u64, m: u64, d: u64) -> Option<(i32, u32, u32)> {
    let y = i32::try_from(y).ok()?;
    let m = u32::try_from(m).ok()?;
    let d = u32::try_from(d).ok()?;
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some((y, m, d))
}

/// `2014-05-08`, `2014/05/08`, `May 8, 2014`, `May 8th 2014`, `8 May 2014`,
/// `8th of May, 2014`, `08.05.2014` (dots: day first) and `08/05/2014` or
/// `05-08-2014` only when unambiguous (one part above 12, or both equal).
fn parse_date(cs: &Chars, i: usize) -> Option<(i32, u32, u32, usize)> {
    let (y, m, d, end, iso) = if cs.digit(i) {
        let (a, alen, j) = cs.digits(i);
        let sep = cs.at(j).filter(|c| matches!(c, '-' | '/' | '.'));
        if let Some(sep) = sep {
            let (b, blen, k) = cs.digits(j + 1);
            if blen == 0 || blen > 2 || cs.at(k) != Some(sep) {
                return None;
            }
            let (c, clen, end) = cs.digits(k + 1);
            if alen == 4 && (1..=2).contains(&clen) {
                (a, b, c, end, true)
            } else if (1..=2).contains(&alen) && clen == 4 {
                let (d, m) = if sep == '.' || (a > 12 && b <= 12) || a == b {
                    (a, b)
                } else if b > 12 && a <= 12 {
                    (b, a)
                } else {
                    return None;
                };
                (c, m, d, end, false)
            } else {
                return None;
            }
        } else {
            if alen > 2 {
                return None;
            }
            let mut k = ordinal_suffix(cs, j);
            let spaced = cs.skip_spaces(k);
            if spaced == k {
                return None;
            }
            k = spaced;
            let (of, after_of) = cs.letters(k);
            if of == "of" {
                k = cs.skip_spaces(after_of);
            }
            let (m, after_month) = month_at(cs, k)?;
            let (y, end) = year_after(cs, after_month)?;
            (y, u64::from(m), a, end, false)
        }
    } else {
        let (m, after_month) = month_at(cs, i)?;
        let k = cs.skip_spaces(after_month);
        if k == after_month {
            return None;
        }
        let (d, dlen, after_day) = cs.digits(k);
        if !(1..=2).contains(&dlen) {
            return None;
        }
        let (y, end) = year_after(cs, ordinal_suffix(cs, after_day))?;
        (y, u64::from(m), d, end, false)
    };
    let next_ok = match cs.at(end) {
        None => true,
        Some(c) if c.is_ascii_digit() => false,
        // `2014-05-08t10:00` (an ISO timestamp, folded to lower case).
        Some('t') if iso => true,
        Some(c) => !c.is_alphanumeric(),
    };
    if !next_ok {
        return None;
    }
    let (y, m, d) = valid(y, m, d)?;
    Some((y, m, d, end))
}

/// `[,] YYYY` after a day or a month.
fn year_after(cs: &Chars, mut i: usize) -> Option<(u64, usize)> {
    if cs.at(i) == Some(',') {
        i += 1;
    }
    let k = cs.skip_spaces(i);
    if k == i && cs.at(i.wrapping_sub(1)) != Some(',') {
        return None;
    }
    let (y, ylen, end) = cs.digits(k);
    (ylen == 4).then_some((y, end))
}

/// What kind of fragment this is, if it has numbers or dates at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Numeric,
    Date,
}

pub(crate) fn kind_of(tokens: &[Token]) -> Option<Kind> {
    if tokens.iter().any(|t| matches!(t.tok, Tok::Date(..))) {
        Some(Kind::Date)
    } else if tokens.iter().any(|t| matches!(t.tok, Tok::Num(..))) {
        Some(Kind::Numeric)
    } else {
        None
    }
}

/// The first run of `hay` tokens equal to `needle`, as token indices.
pub(crate) fn find_tokens(hay: &[Token], needle: &[Token]) -> Option<(usize, usize)> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .find(|&s| {
            needle
                .iter()
                .zip(&hay[s..])
                .all(|(n, h)| n.tok.same(&h.tok))
        })
        .map(|s| (s, s + needle.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).into_iter().map(|t| t.tok).collect()
    }

    fn num(s: &str) -> Vec<Tok> {
        toks(s)
    }

    #[test]
    fn amounts_in_many_spellings_read_as_the_same_number() {
        let m = vec![Tok::Num(1_500_000.0, false)];
        assert_eq!(num("1,500,000"), m);
        assert_eq!(num("1.5 million"), m);
        assert_eq!(num("$1.5m"), m);
        assert_eq!(num("1500000"), m);
        assert_eq!(num("usd 1,500,000"), m);
        assert_eq!(num("1.5k"), vec![Tok::Num(1500.0, false)]);
        assert_eq!(num("(123)"), vec![Tok::Num(-123.0, true)]);
        assert_eq!(num("-123"), vec![Tok::Num(-123.0, false)]);
        assert_eq!(num("($1,234.50)"), vec![Tok::Num(-1234.5, true)]);
    }

    #[test]
    fn percent_signs_and_words_read_the_same() {
        let p = vec![Tok::Num(5.0, false), Tok::Word("percent".into())];
        assert_eq!(num("5%"), p);
        assert_eq!(num("5 percent"), p);
        assert_eq!(num("5 per cent"), p);
    }

    #[test]
    fn a_hyphen_between_numbers_is_a_range_not_a_sign() {
        assert_eq!(
            num("5-10"),
            vec![Tok::Num(5.0, false), Tok::Num(10.0, false)]
        );
        assert_eq!(
            num("covid-19"),
            vec![Tok::Word("covid".into()), Tok::Num(19.0, false)]
        );
    }

    #[test]
    fn dates_in_several_spellings_read_as_one_date() {
        let d = vec![Tok::Date(2014, 5, 8)];
        assert_eq!(toks("2014-05-08"), d);
        assert_eq!(toks("may 8, 2014"), d);
        assert_eq!(toks("may 8th 2014"), d);
        assert_eq!(toks("8 may 2014"), d);
        assert_eq!(toks("8th of may, 2014"), d);
        assert_eq!(toks("08.05.2014"), d);
        assert_eq!(
            toks("2014-05-08t10:00").first(),
            Some(&Tok::Date(2014, 5, 8))
        );
    }

    #[test]
    fn an_ambiguous_slashed_date_is_not_a_date() {
        assert!(
            !toks("08/05/2014")
                .iter()
                .any(|t| matches!(t, Tok::Date(..)))
        );
        assert_eq!(toks("13/05/2014"), vec![Tok::Date(2014, 5, 13)]);
        assert_eq!(toks("05/13/2014"), vec![Tok::Date(2014, 5, 13)]);
        assert!(
            !toks("2014-02-30")
                .iter()
                .any(|t| matches!(t, Tok::Date(..)))
        );
    }
}
