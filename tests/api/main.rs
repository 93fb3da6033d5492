//! One integration test binary: the real application over HTTP.

mod helpers;
mod process;

mod api_keys;
mod auth;
mod cli;
mod errors;
mod foundation;
mod rate_limits;
mod serve;
mod storage;
mod tenancy;
mod users;
