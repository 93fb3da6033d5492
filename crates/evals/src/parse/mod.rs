//! Reading question sets from the three formats users bring.
//!
//! Every parser ends with [`QuestionSet::validate`], so a set that parses in
//! one format parses the same in the others, ids included.

mod csv;
mod json;
mod yaml;

pub use self::csv::parse_csv;
pub use self::json::parse_json;
pub use self::yaml::parse_promptfoo_yaml;

use crate::model::QuestionSet;
use crate::{ParseError, SetFormat};

/// Parses `input` as `format`; see [`SetFormat::from_file_name`] to pick one
/// from an upload's name.
pub fn parse(format: SetFormat, input: &str) -> Result<QuestionSet, ParseError> {
    match format {
        SetFormat::Json => parse_json(input),
        SetFormat::Csv => parse_csv(input),
        SetFormat::Yaml => parse_promptfoo_yaml(input),
    }
}

/// Editors on Windows still write a byte-order mark; no parser wants it.
fn strip_bom(input: &str) -> &str {
    input.strip_prefix('\u{feff}').unwrap_or(input)
}
