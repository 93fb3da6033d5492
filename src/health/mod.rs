//! Liveness, dependency health and Prometheus metrics.

mod routes;

pub use routes::router;
