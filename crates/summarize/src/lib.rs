//! The pure logic of Quire's summaries (no HTTP, no database, no LLM client):
//!
//! - [`extractive`]: a document's most central sentences, in document order, each
//!   with its page, within a length budget — the summary when no model is configured.
//!   Every sentence is a verbatim slice of a page's text.
//! - [`tokens`]: the token estimate used when a provider reports no `usage` and to
//!   decide whether a prompt fits a model's context.
//! - [`plan`]: the map-reduce plan for a document whose prompt does not fit: how the
//!   text is cut into chunks and how many model calls the summary takes (the formula
//!   is in [`plan::MapReducePlan`]).

pub mod extractive;
pub mod plan;
pub mod tokens;

pub use extractive::{ExtractiveOptions, Sentence, summarize};
pub use plan::{MapReducePlan, PlanError, chunk_pages};
pub use tokens::estimate_tokens;
