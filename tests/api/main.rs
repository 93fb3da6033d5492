//! One integration test binary: the real application over HTTP.

mod helpers;

mod cli;
mod errors;
mod foundation;
mod storage;
