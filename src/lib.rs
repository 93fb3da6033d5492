//! Quire: a self-hosted document-intelligence service. See ARCHITECTURE.md for the map.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod docs;
pub mod error;
pub mod fsutil;
pub mod health;
pub mod http;
pub mod jobs;
pub mod telemetry;
pub mod time;
