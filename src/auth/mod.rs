//! Who is calling: organisations, users, API keys, tokens, and the [`Principal`]
//! every tenant-scoped handler takes.

pub mod bootstrap;
pub mod cache;
pub mod extractor;
pub mod model;
pub mod password;
pub mod repo;
pub mod routes;
pub mod service;
pub mod tokens;

pub use model::{Principal, Role};
pub use routes::router;
