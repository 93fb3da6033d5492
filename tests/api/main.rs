//! One integration test binary: the real application over HTTP.

// Shared by every test module; no module uses all of it.
#[allow(dead_code)]
mod helpers;
mod job_helpers;
mod process;

mod answer_cache;
mod api_keys;
mod auth;
mod cli;
mod cli_client;
mod contract;
mod deploy;
mod documents;
mod documents_delete;
mod documents_sources;
mod errors;
mod events;
mod fixtures;
mod foundation;
mod jobs;
mod jobs_dedup;
mod jobs_processes;
mod jobs_queue;
mod migrations;
mod openapi;
mod principal_cache;
mod question_sets;
mod questions;
mod rate_limits;
mod restarts;
mod sample;
mod serve;
mod statements;
mod storage;
mod summaries;
mod summaries_processes;
mod tenancy;
mod text_input;
mod users;
mod workspaces;
mod workspaces_llm;
