//! API keys for programs: created with a role no higher than the creator's, shown once,
//! stored as a SHA-256 hash, revocable at once.

pub mod repo;
pub mod routes;

pub use routes::router;
