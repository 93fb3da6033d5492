//! Question sets and scored runs (issue 7): stored sets parsed from JSON, CSV or
//! promptfoo YAML; runs of a set against a workspace as `questions.run` jobs, each
//! answer scored and written as it completes; results, exports, comparisons and a
//! workspace's baseline run. The pure logic (parsing, scoring, export, compare) lives in
//! the `quire-evals` crate; see [`run`] for how a run is paced and resumed.

pub mod model;
pub mod pacing;
pub mod repo;
pub mod routes;
pub mod run;
pub mod service;

pub use routes::router;
