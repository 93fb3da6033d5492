//! Document summaries (issue 13): from a template or an inline prompt, on any LLM the
//! resolver gives or none (extractive), as `summaries.generate` jobs; map-reduce for
//! documents longer than the model's context, one repair attempt for invalid JSON, a
//! cache keyed by content, rendered prompt and model settings, and `stale` marks when a
//! document's content changes. The pure logic (extractive summariser, token estimate,
//! map-reduce planner) is the `quire-summarize` crate.

pub mod hooks;
pub mod jobs;
pub mod model;
pub mod repo;
pub mod routes;
pub mod schema;
pub mod service;

pub use routes::router;
