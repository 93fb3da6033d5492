//! Documents: uploads of bundles, the documents they yield, and their text.

pub mod ingest;
pub mod jobs;
pub mod model;
pub mod repo;
pub mod routes;
pub mod service;
pub mod signed_url;
pub mod upload;
pub mod upload_routes;
pub mod url_routes;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
        .merge(upload_routes::router())
        .merge(url_routes::router())
}
