//! Workspaces: named collections of documents on one backend.

pub mod repo;
