//! A typed client for the AnythingLLM developer REST API (`/api/v1`), with
//! retries and a circuit breaker (from `quire-resilience`), metrics, and — behind the `test-double`
//! feature — an in-process HTTP imitation of that API for tests.
//!
//! The client follows what the server's handlers do rather than its Swagger
//! examples: a bad key is a 403, `GET /v1/workspace/{slug}` answers an array,
//! many errors are plain text, unknown paths answer 200 with HTML, chats can
//! fail with status 200 and `type:"abort"`, and update-embeddings reports
//! success without saying which documents it skipped.
//!
//! ```no_run
//! use anythingllm::{ChatMode, ChatRequest, Client, ClientConfig, FileUpload, WorkspaceSettings};
//!
//! # async fn example() -> anythingllm::Result<()> {
//! let client = Client::new(ClientConfig::new("http://anythingllm:3001/api", "api-key"))?;
//! let workspace = client
//!     .create_workspace("Contracts", &WorkspaceSettings::default())
//!     .await?;
//! let pdf = std::fs::read("lease.pdf").unwrap_or_default();
//! let document = client
//!     .upload_file(&FileUpload::new("lease.pdf", pdf).in_folder("pdf"))
//!     .await?;
//! let outcome = client
//!     .attach_documents(&workspace.slug, &[document.location])
//!     .await?;
//! assert!(outcome.missing.is_empty(), "embedding skipped {:?}", outcome.missing);
//! let reply = client
//!     .chat(&workspace.slug, &ChatRequest::new("When does the lease end?", ChatMode::Query))
//!     .await?;
//! println!("{} ({} sources)", reply.text, reply.sources.len());
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod transport;
mod types;

#[cfg(feature = "test-double")]
pub mod testing;

// The retry policy and breaker are quire-resilience's, re-exported so that
// users of this crate configure them without a second dependency.
pub use client::Client;
pub use config::{ApiKey, BreakerConfig, ClientConfig, RetryPolicy};
pub use error::{Error, Result};
pub use quire_resilience::{BreakerState, Clock, ManualClock, SystemClock};
pub use types::{
    ChatMode, ChatRequest, ChatResponse, Document, DocumentMetadata, EmbedOutcome,
    EmbeddingChanges, FileMove, FileUpload, MoveOutcome, NewThread, RawTextUpload, Source, Thread,
    ThreadRef, VectorSearchMode, Workspace, WorkspaceDocument, WorkspaceSettings,
};
