//! Quire's embedded retrieval-and-answer engine.
//!
//! The service feeds it document text and asks it questions; it knows nothing
//! of HTTP routes, the database or storage. The flow:
//!
//! 1. [`chunk_document`] splits a document's pages into [`Chunk`]s (the
//!    service stores them: the database is the source of truth).
//! 2. A [`WorkspaceIndex`] per workspace ranks chunks by BM25. It is a cache:
//!    compare [`WorkspaceIndex::fingerprint`] with [`Fingerprint::of_chunks`]
//!    over the stored chunks and [`WorkspaceIndex::rebuild_from`] when they
//!    differ.
//! 3. [`WorkspaceIndex::search`] returns [`Passage`]s; [`answer_extractive`]
//!    quotes the sentences that answer the question; or [`llm_prompt`] builds
//!    the prompt for a model to write the answer from them and
//!    [`generated_answer`] wraps the model's text. Either way the [`Answer`]
//!    keeps its [`Source`]s. The engine has no HTTP client: the service sends
//!    the prompt through `quire-llm`.
//!
//! ```
//! use quire_engine::{ChunkConfig, WorkspaceIndex, answer_extractive, chunk_document};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pages = [(1, "Term. Two years.\n\nThis Agreement shall be governed by the laws of England and Wales.")];
//! let chunks = chunk_document("msa-1", "pdf", pages, &ChunkConfig::default());
//! let index = WorkspaceIndex::in_memory()?;
//! index.add_chunks(&chunks)?;
//! let question = "What is the governing law?";
//! let passages = index.search(question, 5, None, None)?;
//! let answer = answer_extractive(question, &passages);
//! assert_eq!(answer.text, "This Agreement shall be governed by the laws of England and Wales.");
//! assert_eq!(answer.sources[0].document_id, "msa-1");
//! # Ok(())
//! # }
//! ```

mod answer;
mod chunk;
mod digest;
mod index;
mod prompt;
mod text;
mod thread;

pub use answer::{
    Answer, AnswerKind, ExtractiveOptions, Source, answer_extractive, answer_extractive_with,
};
pub use chunk::{Chunk, ChunkConfig, ChunkConfigError, chunk_document, chunk_id};
pub use index::{Fingerprint, INDEX_FORMAT, IndexError, IndexOptions, Passage, WorkspaceIndex};
pub use prompt::{
    DEFAULT_SYSTEM_PROMPT, LlmPrompt, MAX_HISTORY_TURNS, build_prompt, generated_answer, llm_prompt,
};
pub use thread::{Role, Turn};
