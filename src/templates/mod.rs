//! Prompt templates (issue 13): an organisation's own, and the global ones Quire ships
//! ([`globals`], read-only to organisations, which may copy them). Templates are
//! MiniJinja with strict undefined; [`model::PromptTemplate`] parses one and checks
//! its variables, so a bad template is refused when it is stored (`400` naming line
//! and column), not when a summary is made from it.

pub mod globals;
pub mod model;
pub mod repo;
pub mod routes;
pub mod service;

pub use routes::router;
