//! Cross-cutting HTTP pieces: the middleware stack every request passes through,
//! and the extractors and list shapes every handler shares.

mod json;
mod metrics;
mod pagination;
mod request_context;
mod security;

pub use json::{ApiJson, parse_json_body};
pub use metrics::{MetricsHandle, track_metrics};
pub use pagination::{ListParams, Page, Window};
pub use request_context::{RequestId, current_request_id, request_context};
pub use security::{Timeouts, load_shed, request_timeout, security_headers};
