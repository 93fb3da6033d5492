//! Documents: uploads of bundles, the documents they yield, and their text.

pub mod ingest;
pub mod jobs;
pub mod model;
pub mod repo;
pub mod routes;
pub mod upload;

pub use routes::router;
