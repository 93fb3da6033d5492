use crate::error::{ParseError, SetFormat};
use crate::model::{
    ASSERTION_TYPES, Assertion, ExpectedFragment, MAX_QUESTIONS, Question, QuestionSet,
    check_assertion, check_weight,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Question,
    Fragments,
    Weights,
    DocTypes,
    Assertions,
    LlmConfig,
    Ignored,
}

/// Header names (case-insensitive; spaces and dashes count as `_`).
fn column_for(header: &str) -> Option<Column> {
    let h: String = header
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    Some(match h.as_str() {
        "id" | "question_id" => Column::Id,
        "question" | "text" => Column::Question,
        "expected_fragments" | "expected" | "fragments" => Column::Fragments,
        "weights" | "weight" | "fragment_weights" => Column::Weights,
        "doc_types" | "document_types" => Column::DocTypes,
        "assertions" | "assert" => Column::Assertions,
        "llm_config" => Column::LlmConfig,
        // Room for people's own annotations in the sheet.
        "notes" | "note" | "comment" | "comments" | "description" => Column::Ignored,
        _ => return None,
    })
}

/// Parses a question set written as CSV. The first row is a header; see the
/// crate README for the columns. Errors name the CSV line (1-based, the
/// header is line 1; a quoted field spanning lines counts from where its
/// record starts) and the column.
pub fn parse_csv(input: &str) -> Result<QuestionSet, ParseError> {
    let input = super::strip_bom(input);
    let err = |line: usize, message: String| ParseError::new(SetFormat::Csv, message).line(line);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| from_csv(&e, "the header row"))?
        .clone();
    let mut columns = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let col = column_for(h).ok_or_else(|| {
            err(
                1,
                format!(
                    "unknown column `{h}` (column {}); expected id, question, expected_fragments, \
                     weights, doc_types, assertions, llm_config or notes",
                    i + 1
                ),
            )
        })?;
        if col != Column::Ignored && columns.contains(&col) {
            return Err(err(1, format!("column `{h}` appears twice")));
        }
        columns.push(col);
    }
    if !columns.contains(&Column::Question) {
        return Err(err(1, "no `question` column in the header row".into()));
    }

    let mut set = QuestionSet::default();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| from_csv(&e, "a row"))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if set.questions.len() == MAX_QUESTIONS {
            return Err(err(
                line,
                format!("more than {MAX_QUESTIONS} questions; split the set"),
            ));
        }
        let question = parse_row(&record, &headers, &columns)
            .map_err(|(col, msg)| err(line, msg).path(col))?;
        set.questions.push(question);
        lines.push(line);
    }
    set.validate().map_err(|e| {
        let line = e.question_index.and_then(|i| lines.get(i).copied());
        let mut out = ParseError::new(SetFormat::Csv, e.message.clone());
        if let Some(field) = &e.field {
            out = out.path(field.clone());
        }
        match line {
            Some(l) => out.line(l),
            None => out,
        }
    })?;
    Ok(set)
}

fn parse_row(
    record: &::csv::StringRecord,
    headers: &::csv::StringRecord,
    columns: &[Column],
) -> Result<Question, (String, String)> {
    let mut q = Question::new("", "");
    let mut weights: Option<(String, Vec<f64>)> = None;
    for ((value, col), header) in record.iter().zip(columns).zip(headers.iter()) {
        let name = || header.trim().to_owned();
        let value = value.trim();
        match col {
            Column::Id => q.id = value.to_owned(),
            Column::Question => q.text = value.to_owned(),
            Column::Fragments => {
                q.expected_fragments = split_raw(value, '|')
                    .into_iter()
                    .filter_map(|item| {
                        let mut parts = split_list(item, ';').into_iter();
                        let text = parts.next()?;
                        Some(ExpectedFragment::new(text).with_alternatives(parts))
                    })
                    .collect();
            }
            Column::Weights => {
                let parsed = split_list(value, '|')
                    .iter()
                    .map(|w| {
                        let n: f64 = w
                            .parse()
                            .map_err(|_| (name(), format!("`{w}` is not a number")))?;
                        check_weight(n).map_err(|m| (name(), m))?;
                        Ok::<f64, (String, String)>(n)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                weights = Some((name(), parsed));
            }
            Column::DocTypes => q.doc_types = split_list(value, '|'),
            Column::Assertions => {
                q.assertions = parse_assertions(value).map_err(|m| (name(), m))?;
            }
            Column::LlmConfig => {
                if !value.is_empty() {
                    let cfg: serde_json::Value = serde_json::from_str(value)
                        .map_err(|e| (name(), format!("not valid JSON: {e}")))?;
                    q.llm_config = Some(cfg);
                }
            }
            Column::Ignored => {}
        }
    }
    if let Some((col, weights)) = weights
        && !weights.is_empty()
    {
        if weights.len() != q.expected_fragments.len() {
            return Err((
                col,
                format!(
                    "{} weights for {} expected fragments; give one per fragment or leave it empty",
                    weights.len(),
                    q.expected_fragments.len()
                ),
            ));
        }
        for (f, w) in q.expected_fragments.iter_mut().zip(weights) {
            f.weight = w;
        }
    }
    Ok(q)
}

/// The `assertions` cell: a JSON array of assertion objects, or the compact
/// `type:value|type:value` form where list types separate values with `;`.
fn parse_assertions(cell: &str) -> Result<Vec<Assertion>, String> {
    if cell.is_empty() {
        return Ok(Vec::new());
    }
    if cell.starts_with('[') {
        let mut de = serde_json::Deserializer::from_str(cell);
        let list: Vec<Assertion> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            format!(
                "not a valid JSON list of assertions at {}: {}",
                e.path(),
                e.inner()
            )
        })?;
        for a in &list {
            check_assertion(a)?;
        }
        return Ok(list);
    }
    let mut out = Vec::new();
    for item in split_raw(cell, '|') {
        if item.trim().is_empty() {
            continue;
        }
        let Some((kind, value)) = item.split_once(':') else {
            return Err(format!(
                "`{}` should be `type:value`, e.g. `icontains:Delaware`",
                item.trim()
            ));
        };
        let kind = kind.trim();
        let values = if Assertion::kind_takes_list(kind) {
            split_list(value, ';')
        } else {
            vec![unescape(value).trim().to_owned()]
        };
        let a = Assertion::from_parts(kind, values, 1.0).ok_or_else(|| {
            format!(
                "assertion type `{kind}` is not supported; use one of {}",
                ASSERTION_TYPES.join(", ")
            )
        })?;
        check_assertion(&a)?;
        out.push(a);
    }
    Ok(out)
}

/// Splits on unescaped `sep`, leaving escapes in place so an item can be
/// split again on another separator before [`unescape`].
fn split_raw(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// Resolves `\|`, `\;` and `\\`; any other backslash is kept so regexes
/// like `\d+` survive.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && matches!(n, '|' | ';' | '\\')
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// A `sep`-separated cell as trimmed items; empty ones are dropped (a
/// trailing `|` is a common spreadsheet slip).
fn split_list(s: &str, sep: char) -> Vec<String> {
    split_raw(s, sep)
        .into_iter()
        .map(|item| unescape(item).trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

fn from_csv(e: &::csv::Error, what: &str) -> ParseError {
    let line = e.position().map(|p| p.line() as usize);
    let message = match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("this row has {len} fields but the header has {expected_len}"),
        ::csv::ErrorKind::Utf8 { .. } => "the file is not valid UTF-8".to_owned(),
        _ => format!("cannot read {what}: {e}"),
    };
    let err = ParseError::new(SetFormat::Csv, message);
    match line {
        Some(l) => err.line(l),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::{split_list, split_raw};

    #[test]
    fn escaped_separators_stay_inside_an_item() {
        assert_eq!(split_list(r"a\|b|c", '|'), vec!["a|b", "c"]);
        assert_eq!(split_list(r"\d+|x", '|'), vec![r"\d+", "x"]);
        assert_eq!(split_list("a| |b|", '|'), vec!["a", "b"]);
    }

    #[test]
    fn an_escaped_semicolon_survives_the_outer_split() {
        let items = split_raw(r"a\;b;c|d", '|');
        assert_eq!(items, vec![r"a\;b;c", "d"]);
        assert_eq!(split_list(items[0], ';'), vec!["a;b", "c"]);
    }
}
