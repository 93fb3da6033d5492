//! Cross-cutting HTTP pieces: the middleware stack every request passes through,
//! and the extractors and list shapes every handler shares.

pub mod disposition;
mod json;
mod metrics;
mod pagination;
mod query;
mod request_context;
mod security;
pub mod stack;
pub mod version;

pub use json::{ApiJson, parse_json_body, present};
pub use metrics::{MetricsHandle, RouteTemplates};
pub use pagination::{ListParams, Page, Window};
pub use query::{ApiQuery, parse_query};
pub use request_context::{Edge, EdgeService, InFlight, current_request_id};
pub use security::Timeouts;
