//! Quire: a self-hosted document-intelligence service. See ARCHITECTURE.md for the map.

pub mod api_keys;
pub mod app;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod docs;
pub mod documents;
pub mod error;
pub mod fsutil;
pub mod health;
pub mod http;
pub mod jobs;
pub mod orgs;
pub mod questions;
pub mod ratelimit;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod time;
pub mod users;
pub mod workspaces;
