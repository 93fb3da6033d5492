//! Question sets and scored runs: the pure logic behind Quire's
//! `/api/v1/question-sets`, `/api/v1/questions/*` and `quire ask`.
//!
//! * Parse a set from JSON, CSV or promptfoo-style YAML ([`parse_json`],
//!   [`parse_csv`], [`parse_promptfoo_yaml`]); errors name the line or field.
//! * Score an answer against a question ([`score`]), with a matching ladder
//!   per expected fragment: exact, normalised, numeric, date, fuzzy.
//! * Export results to CSV or XLSX without formula injection ([`to_csv`],
//!   [`to_xlsx`]).
//! * Compare two runs question by question ([`compare`]).
//!
//! No I/O, no async: everything is a function of its arguments.
//!
//! ```
//! use quire_evals::{parse_json, score, SourceRef};
//!
//! let set = parse_json(r#"[{"text": "Governing law?", "expected_fragments": ["State of Delaware"]}]"#)?;
//! let s = score("It is governed by the laws of the state of Delaware.", &[], &set.questions[0], 0.8);
//! assert!(s.success);
//! assert_eq!(set.questions[0].id, "q1");
//! # Ok::<(), quire_evals::ParseError>(())
//! ```

mod compare;
mod error;
mod export;
mod fuzzy;
mod model;
mod parse;
mod score;
mod semantic;
mod text;

pub use compare::{Change, CompareTotals, Comparison, QuestionDelta, RunResult, compare};
pub use error::{ParseError, SetFormat, ValidationError};
pub use export::{EXPORT_COLUMNS, ExportError, ResultRow, neutralise_cell, to_csv, to_xlsx};
pub use model::{
    ASSERTION_TYPES, Assertion, ExpectedFragment, MAX_ASSERTIONS, MAX_FRAGMENTS, MAX_ID_CHARS,
    MAX_QUESTIONS, Question, QuestionSet,
};
pub use parse::{parse, parse_csv, parse_json, parse_promptfoo_yaml};
pub use score::{
    AssertionOutcome, FragmentMatch, MatchHow, RepeatSummary, Score, SourceRef, pass_at_n, score,
};
