//! MuPDF's `mutool` (Debian `mupdf-tools`) as an engine.
//!
//! MuPDF is licensed under the AGPL, so Quire never links it: `mutool` runs
//! as a separate program, exactly like `pdftotext`, under the same confinement.
//! It reads each page's content stream several times faster than Poppler on
//! real documents (BENCHMARKS.md), with the same text.
//!
//! `mutool draw -F txt -o - /dev/stdin 1-N` writes each page's text followed by
//! a form feed, so pages split as with `pdftotext`. MuPDF seeks in its input
//! and cannot read a pipe: the PDF is handed over as a seekable anonymous file
//! on stdin ([`crate::confine::seekable_input`]). When reading stopped at a
//! limit, `mutool info -M /dev/stdin 1` gives the page count (`Pages: N`)
//! after looking at one page only.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::confine::{Input, describe_status, find_on_path, seekable_input};
use unicode_bidi::BidiInfo;

use crate::limits::Limits;

use super::{
    PdfError, PdfOutcome, clean_page_text, last_line, output_limit, pages_from_form_feeds,
    run_confined,
};

/// MuPDF's command-line tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MupdfTool {
    mutool: PathBuf,
}

impl MupdfTool {
    /// `mutool` at this path.
    pub fn new(mutool: impl Into<PathBuf>) -> Self {
        Self {
            mutool: mutool.into(),
        }
    }

    /// `mutool` from the directories of `PATH`, if one is there.
    pub fn find_on_path() -> Option<Self> {
        find_on_path("mutool").map(Self::new)
    }

    pub fn mutool(&self) -> &Path {
        &self.mutool
    }
}

/// Extracts text with MuPDF's `mutool draw -F txt`, run under the same
/// confinement as every engine (own process group, `RLIMIT_AS`, `RLIMIT_CPU`,
/// no core dumps, parent-death signal, wall-clock timeout, output cap).
pub fn extract_pdf_with_mutool(
    tool: &MupdfTool,
    pdf: &[u8],
    limits: &Limits,
) -> Result<PdfOutcome, PdfError> {
    mutool_extract(tool, pdf, limits, &AtomicBool::new(false))
}

pub(super) fn mutool_extract(
    tool: &MupdfTool,
    pdf: &[u8],
    limits: &Limits,
    abort: &AtomicBool,
) -> Result<PdfOutcome, PdfError> {
    let deadline = Instant::now() + limits.pdf_timeout;
    let mut command = Command::new(&tool.mutool);
    // -q: no progress lines. A page range past the last page is clamped by
    // MuPDF, so `1-N` reads min(N, pages) pages.
    command
        .args(["draw", "-q", "-F", "txt", "-o", "-", "/dev/stdin"])
        .arg(format!("1-{}", limits.pdf_max_pages.max(1)));
    let input = seekable_input(pdf).map_err(PdfError::Io)?;
    let ran = run_confined(
        command,
        Input::File(input),
        limits,
        deadline,
        output_limit(limits),
        abort,
    )?;
    if !ran.overflowed {
        match ran.status.and_then(|status| status.code()) {
            Some(0) => {}
            // mutool exits 1 on every error it reports (opening, a password
            // it does not have, a page it cannot read), its message last.
            Some(1) if needs_password(&ran.stderr) => return Ok(PdfOutcome::Encrypted),
            Some(1) => {
                return Ok(PdfOutcome::Unreadable {
                    detail: format!(
                        "its structure is broken: {}",
                        last_line(&ran.stderr)
                            .map(|line| line.trim_start_matches("error: "))
                            .unwrap_or("it cannot be opened")
                    ),
                });
            }
            _ => {
                return Err(PdfError::Crashed {
                    status: ran
                        .status
                        .map_or_else(|| "no exit status".to_owned(), describe_status),
                    stderr: ran.stderr,
                });
            }
        }
    }
    Ok(pages_from_form_feeds(
        &ran,
        limits,
        |raw| clean_page_text(&logical_order(raw)),
        || page_count(tool, pdf, limits, deadline, abort),
    ))
}

/// MuPDF writes characters in the order they are drawn, which for right-to-left
/// scripts is visual order (PDF writers place glyphs left to right), so Arabic
/// or Hebrew words would come out reversed. Poppler turns such lines back into
/// reading order; so does this, line by line: a line holding right-to-left
/// letters is reordered by the Unicode bidi algorithm, whose reordering undoes
/// itself for such runs (digits and embedded Latin keep their direction).
/// Lines without right-to-left letters are untouched.
fn logical_order(page: &str) -> Cow<'_, str> {
    if !page.chars().any(is_right_to_left) {
        return Cow::Borrowed(page);
    }
    let lines: Vec<Cow<'_, str>> = page
        .split('\n')
        .map(|line| {
            if !line.chars().any(is_right_to_left) {
                return Cow::Borrowed(line);
            }
            let bidi = BidiInfo::new(line, None);
            match bidi.paragraphs.first() {
                Some(paragraph) => Cow::Owned(
                    bidi.reorder_line(paragraph, paragraph.range.clone())
                        .into_owned(),
                ),
                None => Cow::Borrowed(line),
            }
        })
        .collect();
    Cow::Owned(lines.join("\n"))
}

/// Letters of the right-to-left scripts (Hebrew, Arabic, Syriac, Thaana, NKo
/// and their presentation forms).
fn is_right_to_left(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08ff}' | '\u{fb1d}'..='\u{fdff}' | '\u{fe70}'..='\u{feff}')
}

fn needs_password(stderr: &str) -> bool {
    stderr.contains("cannot authenticate password")
}

/// The `Pages:` line of `mutool info -M /dev/stdin 1` (media boxes of page 1
/// only: the cheapest listing that prints the count), under the same
/// confinement and deadline.
fn page_count(
    tool: &MupdfTool,
    pdf: &[u8],
    limits: &Limits,
    deadline: Instant,
    abort: &AtomicBool,
) -> Option<u64> {
    let mut command = Command::new(&tool.mutool);
    command.args(["info", "-M", "/dev/stdin", "1"]);
    let input = seekable_input(pdf).ok()?;
    let ran = run_confined(
        command,
        Input::File(input),
        limits,
        deadline,
        64 * 1024,
        abort,
    )
    .ok()?;
    if ran.overflowed || !ran.status.is_some_and(|status| status.success()) {
        return None;
    }
    String::from_utf8_lossy(&ran.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("Pages:"))
        .and_then(|count| count.trim().parse().ok())
}
