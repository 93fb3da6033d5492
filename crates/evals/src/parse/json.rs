use crate::error::{ParseError, SetFormat};
use crate::model::{Question, QuestionSet};

/// Parses a question set written as JSON: either a set object
/// (`{"name": …, "description": …, "questions": [...]}`) or a bare array of
/// questions. Errors carry the line and column from `serde_json` and the path
/// of the offending field (`questions[3].expected_fragments[0].weight`).
pub fn parse_json(input: &str) -> Result<QuestionSet, ParseError> {
    let input = super::strip_bom(input);
    let first = input.trim_start().chars().next();
    let mut de = serde_json::Deserializer::from_str(input);
    let bare_array = match first {
        Some('[') => true,
        Some('{') => false,
        None => return Err(ParseError::new(SetFormat::Json, "the file is empty")),
        Some(_) => {
            let (line, column) = position_of_first_non_space(input);
            return Err(ParseError::new(
                SetFormat::Json,
                "expected a question-set object `{...}` or an array of questions `[...]`",
            )
            .line(line)
            .column(column));
        }
    };
    let mut set = if bare_array {
        let questions: Vec<Question> =
            serde_path_to_error::deserialize(&mut de).map_err(from_serde)?;
        QuestionSet {
            questions,
            ..QuestionSet::default()
        }
    } else {
        serde_path_to_error::deserialize(&mut de).map_err(from_serde)?
    };
    de.end().map_err(|e| {
        ParseError::new(
            SetFormat::Json,
            "unexpected content after the end of the JSON value",
        )
        .line(e.line())
        .column(e.column())
    })?;
    set.validate().map_err(|e| {
        let path = match (bare_array, e.question_index, &e.field) {
            (true, Some(i), Some(field)) => Some(format!("[{i}].{field}")),
            (true, Some(i), None) => Some(format!("[{i}]")),
            _ => e.path(),
        };
        let err = ParseError::new(SetFormat::Json, e.message);
        match path {
            Some(p) => err.path(p),
            None => err,
        }
    })?;
    Ok(set)
}

fn from_serde(e: serde_path_to_error::Error<serde_json::Error>) -> ParseError {
    // serde_path_to_error writes `?` for a segment it could not name (e.g.
    // after a syntax error); it adds nothing for the reader.
    let path = e.path().to_string();
    let path = path.trim_end_matches(".?").trim_end_matches('?').to_owned();
    let inner = e.into_inner();
    let (line, column) = (inner.line(), inner.column());
    let text = inner.to_string();
    // serde_json appends " at line L column C"; we report those separately.
    let message = match text.rfind(" at line ") {
        Some(idx) => text[..idx].to_owned(),
        None => text,
    };
    let err = ParseError::new(SetFormat::Json, message).path(path);
    if line > 0 {
        err.line(line).column(column)
    } else {
        err
    }
}

fn position_of_first_non_space(input: &str) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in input.chars() {
        if !c.is_whitespace() {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}
