//! `quire bench …` (cargo feature `bench`): measurements of parts of Quire on this
//! machine. They sit beside the command line, not inside a capability, because they
//! assemble the application (`crate::app`) as `quire serve` does.

pub mod cache;
pub mod jobs;
pub mod questions;
pub mod summaries;
