//! PDF text extraction, isolated from the caller.
//!
//! `pdf-extract` panics on many malformed files, can recurse until the stack
//! overflows, allocate without bound, or loop; external readers can crash or
//! hang on hostile files too. None of that is catchable in process, so every
//! engine runs as a child process under [`crate::confine`] (wall-clock timeout,
//! address-space limit, CPU-time backstop, output cap): `builtin` (this crate's
//! own child, pdf-extract on lopdf), `poppler` (`pdftotext`) and `mupdf`
//! (`mutool`, AGPL, so only ever a separate program). This module holds what they share: the outcome types, the page
//! budget and the text clean-up, so every engine answers the same way.

mod builtin;
mod mupdf;
mod ocr;
mod poppler;

use std::io;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::confine::{self, ConfineError, Confinement, Finished, Input};
use crate::limits::Limits;
use crate::report::PageText;

use builtin::child_extract;
pub use builtin::{
    PDF_CHILD_SUBCOMMAND, PdfChildCommand, extract_pdf_in_child, extract_pdf_in_process,
    is_pdf_extraction_child, run_pdf_extraction_child,
};
use mupdf::mutool_extract;
pub use mupdf::{MupdfTool, extract_pdf_with_mutool};
pub use ocr::{OcrOutcome, OcrTools, RASTER_SIDE, layout_from_tsv, ocr_pdf_page};
use poppler::pdftotext_extract;
pub use poppler::{PopplerTools, extract_pdf_with_pdftotext};

/// Where PDF text extraction runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdfExtractor {
    /// In a child process, killed on timeout and confined by `RLIMIT_AS`.
    Child(PdfChildCommand),
    /// Poppler's `pdftotext`, under the same confinement as [`Self::Child`].
    Pdftotext(PopplerTools),
    /// MuPDF's `mutool` (AGPL: run as a separate program, never linked),
    /// under the same confinement.
    Mupdf(MupdfTool),
    /// On a thread of this process. Panics are caught and a timeout is
    /// reported, but a timed-out thread keeps running, memory is not limited,
    /// and a stack overflow or allocation failure aborts the whole process.
    /// Only for contexts that cannot spawn the child.
    InProcess,
}

impl PdfExtractor {
    /// Extracts text with this engine. Blocking.
    pub fn extract(&self, pdf: &[u8], limits: &Limits) -> Result<PdfOutcome, PdfError> {
        self.extract_abortable(pdf, limits, &AtomicBool::new(false))
    }

    /// As [`Self::extract`]; a child process is killed as soon as `abort` is
    /// set (the in-process engine cannot be stopped and just finishes).
    pub(crate) fn extract_abortable(
        &self,
        pdf: &[u8],
        limits: &Limits,
        abort: &AtomicBool,
    ) -> Result<PdfOutcome, PdfError> {
        match self {
            Self::Child(command) => child_extract(command, pdf, limits, abort),
            Self::Pdftotext(tools) => pdftotext_extract(tools, pdf, limits, abort),
            Self::Mupdf(tool) => mutool_extract(tool, pdf, limits, abort),
            Self::InProcess => extract_pdf_in_process(pdf, limits),
        }
    }

    /// A short name for logs: `builtin`, `pdftotext`, `mupdf` or `in-process`.
    pub fn engine_name(&self) -> &'static str {
        match self {
            Self::Child(_) => "builtin",
            Self::Pdftotext(_) => "pdftotext",
            Self::Mupdf(_) => "mupdf",
            Self::InProcess => "in-process",
        }
    }
}

/// What extraction found. Also the child's stdout protocol (one JSON value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PdfOutcome {
    Text(PdfText),
    /// Opening needs a password (an empty user password is tried first).
    Encrypted,
    Unreadable {
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfText {
    /// Pages in the document's page tree (not its self-declared `/Count`).
    pub page_count: u32,
    /// Text per page, in page order, for the pages read.
    pub pages: Vec<PageText>,
    /// Pages whose extraction failed; they appear in `pages` with empty text.
    pub failed_pages: Vec<u32>,
    /// More pages than `Limits::pdf_max_pages`.
    pub pages_truncated: bool,
    /// Text hit `Limits::max_text_bytes`.
    pub text_truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("PDF text extraction did not finish within {0:?}")]
    Timeout(Duration),
    #[error("the PDF extraction process failed ({status}){}", stderr_suffix(.stderr))]
    Crashed { status: String, stderr: String },
    #[error("the PDF extraction process wrote more than {limit} bytes")]
    OutputTooLarge { limit: u64 },
    #[error("the PDF extraction process gave an unexpected answer: {0}")]
    BadOutput(String),
    #[error("the PDF extraction process could not be started: {0}")]
    Spawn(#[source] io::Error),
    #[error("talking to the PDF extraction process failed: {0}")]
    Io(#[source] io::Error),
    /// The caller stopped judging while this PDF was being read; the process
    /// was killed and its result is of no use.
    #[error("PDF text extraction was abandoned")]
    Abandoned,
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Everything a child may write: JSON escaping at most doubles text once
/// control characters are gone.
fn output_limit(limits: &Limits) -> u64 {
    limits
        .max_text_bytes
        .saturating_mul(2)
        .saturating_add(64 * 1024)
}

/// Page texts gathered under the text budget, shared by both engines.
struct Pages {
    pages: Vec<PageText>,
    failed: Vec<u32>,
    used: usize,
    max_text: usize,
    truncated: bool,
}

impl Pages {
    fn new(max_text: u64) -> Self {
        Self {
            pages: Vec::new(),
            failed: Vec::new(),
            used: 0,
            max_text: usize::try_from(max_text).unwrap_or(usize::MAX),
            truncated: false,
        }
    }

    fn push_failed(&mut self, number: u32) -> std::ops::ControlFlow<()> {
        self.failed.push(number);
        self.push(number, String::new())
    }

    /// Keeps the page, cut at the budget; `Break` once the budget is spent.
    fn push(&mut self, number: u32, mut text: String) -> std::ops::ControlFlow<()> {
        if self.used + text.len() > self.max_text {
            let mut cut = self.max_text - self.used;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            self.truncated = true;
        }
        self.used += text.len();
        self.pages.push(PageText { number, text });
        if self.truncated {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    }

    fn finish(self, page_count: u64, max_pages: u32) -> PdfText {
        PdfText {
            page_count: u32::try_from(page_count).unwrap_or(u32::MAX),
            pages: self.pages,
            failed_pages: self.failed,
            pages_truncated: page_count > u64::from(max_pages),
            text_truncated: self.truncated,
        }
    }
}

/// The confinement every engine runs under, from the judging limits: the
/// PDF's timeout and memory limit, and an output cap for all a child may
/// write (JSON escaping at most doubles text once control characters are gone).
fn confinement(limits: &Limits, output_limit: u64) -> Confinement {
    Confinement {
        memory_bytes: limits.pdf_memory_bytes,
        timeout: limits.pdf_timeout,
        output_limit,
    }
}

/// Runs an engine's program under [`crate::confine`], mapping its failures to
/// the PDF's: past the deadline is a [`PdfError::Timeout`] of `pdf_timeout`.
fn run_confined(
    command: Command,
    input: Input<'_>,
    limits: &Limits,
    deadline: Instant,
    output_limit: u64,
    abort: &AtomicBool,
) -> Result<Finished, PdfError> {
    confine::run_until(
        command,
        input,
        &confinement(limits, output_limit),
        deadline,
        abort,
    )
    .map_err(|e| match e {
        ConfineError::Spawn(e) => PdfError::Spawn(e),
        ConfineError::Io(e) => PdfError::Io(e),
        ConfineError::TimedOut => PdfError::Timeout(limits.pdf_timeout),
        ConfineError::Aborted => PdfError::Abandoned,
    })
}

/// Drops control characters (other than line breaks and tabs) that broken
/// font maps produce, and the invisible bidi marks Poppler wraps right-to-left
/// runs in: they carry no meaning for a reader and split words for an index.
/// Typographic ligatures (U+FB00–FB06, which engines pass through differently)
/// become their letters, so `ﬁnancial` is found by a search for `financial`
/// whichever engine read it.
fn clean_page_text(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len());
    for c in raw.chars() {
        if (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            continue;
        }
        match ligature(c) {
            Some(letters) => text.push_str(letters),
            None => text.push(c),
        }
    }
    text.trim().to_owned()
}

fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{fb00}' => "ff",
        '\u{fb01}' => "fi",
        '\u{fb02}' => "fl",
        '\u{fb03}' => "ffi",
        '\u{fb04}' => "ffl",
        '\u{fb05}' | '\u{fb06}' => "st",
        _ => return None,
    })
}

/// The text of a program that writes a form feed after each page (`pdftotext`,
/// `mutool draw -F txt`), split into pages under the text budget. When
/// reading stopped at a limit (`pdf_max_pages`, or the output cap) the text
/// cannot tell how many pages follow, so `count_pages` asks the engine's
/// page-count tool; without an answer the pages read are the count.
fn pages_from_form_feeds(
    ran: &Finished,
    limits: &Limits,
    clean: impl Fn(&str) -> String,
    count_pages: impl FnOnce() -> Option<u64>,
) -> PdfOutcome {
    let max_pages = limits.pdf_max_pages;
    let text = String::from_utf8_lossy(&ran.stdout);
    let mut segments: Vec<&str> = text.split('\u{c}').collect();
    // Each page ends with a form feed, so the last segment is what follows
    // the last complete page: nothing, or (output cut) a partial page.
    let partial = segments
        .pop()
        .filter(|rest| ran.overflowed && !rest.is_empty());
    let complete = segments.len();
    if complete == 0 && partial.is_none() {
        return PdfOutcome::Unreadable {
            detail: "it has no pages".to_owned(),
        };
    }
    let read = complete + usize::from(partial.is_some());
    let page_count = if ran.overflowed || complete >= max_pages as usize {
        count_pages().unwrap_or(read as u64)
    } else {
        read as u64
    };
    let mut pages = Pages::new(limits.max_text_bytes);
    for (index, raw) in segments
        .into_iter()
        .chain(partial)
        .take(max_pages as usize)
        .enumerate()
    {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if pages.push(number, clean(raw)).is_break() {
            break;
        }
    }
    let mut result = pages.finish(page_count, max_pages);
    result.text_truncated |= ran.overflowed;
    PdfOutcome::Text(result)
}

/// The last non-empty line of a program's stderr, at most 200 bytes: what a
/// reader says when it gives up.
fn last_line(stderr: &str) -> Option<&str> {
    let line = stderr.lines().rev().find(|line| !line.trim().is_empty())?;
    let line = line.trim();
    let mut cut = line.len().min(200);
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(&line[..cut])
}
