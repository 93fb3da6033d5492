//! One integration test binary: the real application over HTTP.

mod helpers;
mod job_helpers;

mod cli;
mod errors;
mod foundation;
mod jobs;
mod jobs_processes;
mod jobs_queue;
