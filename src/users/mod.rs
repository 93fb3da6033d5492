//! The people of an organisation: admins list, create, change and deactivate them.

pub mod repo;
pub mod routes;
pub mod service;

pub use routes::{UserResponse, router};
