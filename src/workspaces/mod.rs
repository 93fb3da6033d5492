//! Workspaces: named collections of documents on one backend.

pub mod model;
pub mod prompts;
pub mod repo;
pub mod routes;
pub mod service;
pub mod threads;

pub use routes::router;
