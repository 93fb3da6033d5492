//! The framework's ceiling on this machine: the smallest axum service, built by the same
//! profile as Quire, for `scripts/bench-http.sh` to measure next to `/api/v1/health`.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "18081".into());
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, app).await
}
