//! Workspaces: named collections of documents on one backend.

pub mod prompts;
pub mod repo;
