//! Financial statements (issue 14): PDFs read for statements as `statements.extract`
//! jobs (page text with layout in a confined child, then the pure `quire-statements`
//! crate: detection, line items, periods, scale, checks), the statements they found,
//! and synchronous detection of one page's text. Routes under `/api/v1/detection`,
//! `/api/v1/extraction`, `/api/v1/extractions` and `/api/v1/statements`.

pub mod cli;
pub mod jobs;
pub mod repo;
pub mod routes;
pub mod service;

pub use routes::router;
