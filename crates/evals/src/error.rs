//! Errors a user can act on: each names the line, the field, or both.

use std::fmt;

use serde::Serialize;

/// Which file format an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetFormat {
    Json,
    Csv,
    Yaml,
}

impl SetFormat {
    /// From a file name's extension (`.json`, `.csv`, `.yaml`, `.yml`, any
    /// case); `None` for anything else.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "yaml" | "yml" => Some(Self::Yaml),
            _ => None,
        }
    }
}

impl fmt::Display for SetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "JSON",
            Self::Csv => "CSV",
            Self::Yaml => "YAML",
        })
    }
}

/// A question set that parsed but does not make sense.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
pub struct ValidationError {
    /// 0-based position of the offending question, if the error is about one.
    pub question_index: Option<usize>,
    /// The field inside that question, e.g. `expected_fragments[1].weight`.
    pub field: Option<String>,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn set(message: impl Into<String>) -> Self {
        Self {
            question_index: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(index: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            question_index: Some(index),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// `questions[2].expected_fragments[1].weight`, as in a JSON file.
    pub fn path(&self) -> Option<String> {
        let index = self.question_index?;
        Some(match &self.field {
            Some(field) => format!("questions[{index}].{field}"),
            None => format!("questions[{index}]"),
        })
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path() {
            Some(path) => write!(f, "{path}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A question-set file that could not be read. `Display` gives one line fit
/// for a `400` body, e.g. `YAML line 12, column 7 (tests[2].assert[0]):
/// assertion type `llm-rubric` is not supported …`.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
pub struct ParseError {
    pub format: SetFormat,
    /// 1-based line in the file.
    pub line: Option<usize>,
    /// 1-based column, where the parser knows it.
    pub column: Option<usize>,
    /// Where in the document, in the file's own terms: `questions[3].text`
    /// for JSON, `tests[2].assert[0].type` for YAML, the column name for CSV.
    pub path: Option<String>,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(format: SetFormat, message: impl Into<String>) -> Self {
        Self {
            format,
            line: None,
            column: None,
            path: None,
            message: message.into(),
        }
    }

    pub(crate) fn line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub(crate) fn column(mut self, column: usize) -> Self {
        self.column = Some(column);
        self
    }

    pub(crate) fn path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        if !path.is_empty() && path != "." {
            self.path = Some(path);
        }
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.format)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " line {l}, column {c}")?,
            (Some(l), None) => write!(f, " line {l}")?,
            _ => {}
        }
        if let Some(path) = &self.path {
            write!(f, " ({path})")?;
        }
        write!(f, ": {}", self.message)
    }
}
