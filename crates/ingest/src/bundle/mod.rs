//! Judging an upload: a ZIP bundle entry by entry, or a single file.
//!
//! One `Judge` walks the upload on the calling thread; its work is split by idea:
//! `archive` reads the ZIP (central directory, bombs, overlaps, hidden
//! duplicates, bounded inflating), `checks` decides what an entry's bytes are
//! (type, JSON, CSV, the PDF verdict), `pool` extracts PDF text on worker threads
//! while reading goes on, and `delivery` hands verdicts to the caller strictly in
//! archive order through a bounded window, so a stop, a duplicate or a re-run never
//! depends on which PDF finished first.

mod archive;
mod checks;
mod delivery;
mod pool;

use self::delivery::Slot;
use self::pool::{Pool, with_pool};

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;

use crate::limits::{Limits, human_bytes};
use crate::pdf::PdfExtractor;
use crate::reason::Rejection;
use crate::report::{BundleReport, EntryContent, Judged, Progress};

/// What the callback may fail with; `anyhow::Error` converts into it with `?`.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// Why judging stopped before the end of the upload. Unlike a
/// [`RejectReason`], this is about the upload or the environment, not one
/// entry.
#[derive(Debug, thiserror::Error)]
pub enum FatalReason {
    #[error("the upload could not be read: {0}")]
    Io(#[from] io::Error),
    #[error("the upload is {} on disk, over the {} limit", human_bytes(*.size), human_bytes(*.limit))]
    ArchiveTooLarge { size: u64, limit: u64 },
    #[error("the archive is damaged and cannot be opened: {0}")]
    CorruptArchive(String),
    #[error("the archive lists {declared} entries; at most {limit} files are read")]
    TooManyEntries { declared: u64, limit: usize },
    #[error("PDF text extraction is unavailable: {0}")]
    ExtractorUnavailable(String),
    #[error("the entry handler failed: {0}")]
    Callback(CallbackError),
}

impl FatalReason {
    /// Stable snake_case code, like [`RejectReason::code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io(_) => "io_error",
            Self::ArchiveTooLarge { .. } => "archive_too_large",
            Self::CorruptArchive(_) => "corrupt_archive",
            Self::TooManyEntries { .. } => "too_many_entries",
            Self::ExtractorUnavailable(_) => "extractor_unavailable",
            Self::Callback(_) => "callback_failed",
        }
    }
}

/// Judging stopped early; `judged_so_far` holds every entry judged before.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct BundleError {
    pub judged_so_far: Box<BundleReport>,
    pub reason: FatalReason,
}

/// Judges a ZIP bundle entry by entry.
///
/// `on_entry` is called on the calling thread once per judged entry, in
/// archive order, accepted or rejected, with the entry's report, its content
/// when accepted, and progress. Returning `ControlFlow::Break` stops before
/// the next entry (the report then has `stopped_early`); returning an error
/// stops with [`FatalReason::Callback`].
///
/// PDFs are extracted by up to `limits.pdf_workers` threads at once while
/// this thread reads ahead and judges the next entries; verdicts still reach
/// `on_entry` strictly in archive order. At most `2 × pdf_workers + 1`
/// entries and about `limits.max_buffered_bytes` of their content wait for
/// their turn at a time. Entries read ahead of a stop are dropped unseen and
/// their extraction processes killed.
///
/// Blocking: call it from `spawn_blocking` or a worker thread.
pub fn judge_bundle<F>(
    path: &Path,
    limits: &Limits,
    pdf: &PdfExtractor,
    on_entry: F,
) -> Result<BundleReport, BundleError>
where
    F: FnMut(Judged<'_>) -> Result<ControlFlow<()>, CallbackError>,
{
    with_pool(limits, pdf, |pool| {
        let mut judge = Judge::new(limits, pool, on_entry);
        let outcome = judge.run_zip(path);
        judge.finish(outcome)
    })
}

/// Judges one non-archive file as a one-entry bundle. `name` is the name the
/// user gave it (only its last path segment is used); its extension states
/// the claimed type, which the content must confirm.
pub fn judge_file<F>(
    path: &Path,
    name: &str,
    limits: &Limits,
    pdf: &PdfExtractor,
    on_entry: F,
) -> Result<BundleReport, BundleError>
where
    F: FnMut(Judged<'_>) -> Result<ControlFlow<()>, CallbackError>,
{
    with_pool(limits, pdf, |pool| {
        let mut judge = Judge::new(limits, pool, on_entry);
        let outcome = judge.run_file(path, name);
        judge.finish(outcome)
    })
}

/// Judges whatever was uploaded: a file starting with a ZIP signature as a
/// bundle ([`judge_bundle`]), anything else as a single file
/// ([`judge_file`]).
pub fn judge_upload<F>(
    path: &Path,
    name: &str,
    limits: &Limits,
    pdf: &PdfExtractor,
    on_entry: F,
) -> Result<BundleReport, BundleError>
where
    F: FnMut(Judged<'_>) -> Result<ControlFlow<()>, CallbackError>,
{
    let mut magic = Vec::with_capacity(4);
    let opened = File::open(path).and_then(|file| file.take(4).read_to_end(&mut magic));
    if let Err(e) = opened {
        return Err(BundleError {
            judged_so_far: Box::default(),
            reason: FatalReason::Io(e),
        });
    }
    if magic == b"PK\x03\x04" || magic == b"PK\x05\x06" {
        judge_bundle(path, limits, pdf, on_entry)
    } else {
        judge_file(path, name, limits, pdf, on_entry)
    }
}

struct Judge<'a, F> {
    limits: &'a Limits,
    pool: &'a Pool,
    on_entry: F,
    report: BundleReport,
    progress: Progress,
    inflated_total: u64,
    /// Entries judged (or being extracted) but not yet handed to `on_entry`,
    /// in archive order.
    waiting: VecDeque<Slot>,
    /// Content bytes held by `waiting`.
    waiting_bytes: u64,
}

/// How far the reading thread got with an entry.
enum Judgement {
    Done(Option<EntryContent>),
    /// A PDF, its type confirmed; the text is still to be extracted.
    Pdf(Vec<u8>),
}

impl<F> Judge<'_, F>
where
    F: FnMut(Judged<'_>) -> Result<ControlFlow<()>, CallbackError>,
{
    fn new<'a>(limits: &'a Limits, pool: &'a Pool, on_entry: F) -> Judge<'a, F> {
        Judge {
            limits,
            pool,
            on_entry,
            report: BundleReport::default(),
            progress: Progress::default(),
            inflated_total: 0,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
        }
    }

    fn finish(mut self, outcome: Result<(), FatalReason>) -> Result<BundleReport, BundleError> {
        // A reading failure comes after every entry still waiting: they are
        // delivered first, and a stop or failure among them wins.
        let outcome = match outcome {
            Ok(()) => Ok(()),
            Err(reason) => match self.drain() {
                Ok(ControlFlow::Continue(())) => Err(reason),
                Ok(ControlFlow::Break(())) => {
                    self.report.stopped_early = true;
                    Ok(())
                }
                Err(earlier) => Err(earlier),
            },
        };
        match outcome {
            Ok(()) => Ok(self.report),
            Err(reason) => Err(BundleError {
                judged_so_far: Box::new(self.report),
                reason,
            }),
        }
    }
}

/// An entry is refused, or judging as a whole must stop.
enum Refusal {
    Entry(Rejection),
    Fatal(FatalReason),
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        Self::Entry(rejection)
    }
}

impl From<FatalReason> for Refusal {
    fn from(reason: FatalReason) -> Self {
        Self::Fatal(reason)
    }
}
