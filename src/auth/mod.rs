//! Who is calling: organisations, users, API keys, tokens, and the [`Principal`]
//! every tenant-scoped handler takes.

pub mod extractor;
pub mod model;
pub mod repo;
pub mod tokens;

pub use model::{Principal, Role};
