//! The caller's organisation: its name and settings.

pub mod repo;
pub mod routes;

pub use routes::{OrganisationResponse, router};
