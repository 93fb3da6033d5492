//! Poppler's `pdftotext` (Debian `poppler-utils`) as an engine: the PDF on
//! stdin, the text on stdout, pages split on the form feed it writes after
//! each page; `pdfinfo` for the page count when the text cannot tell it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::confine::{Input, describe_status, find_on_path, is_executable};
use crate::limits::Limits;

use super::{
    PdfError, PdfOutcome, clean_page_text, last_line, output_limit, pages_from_form_feeds,
    run_confined,
};

/// Poppler's command-line tools: `pdftotext` for the text, and `pdfinfo`
/// for the page count when the text alone cannot tell it (more pages than
/// `Limits::pdf_max_pages`, or output cut at the size cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopplerTools {
    pdftotext: PathBuf,
    pdfinfo: Option<PathBuf>,
    /// `-layout`: columns kept aligned by spaces (what a table parser needs).
    layout: bool,
}

impl PopplerTools {
    /// `pdftotext` at this path; `pdfinfo` is looked for next to it.
    pub fn new(pdftotext: impl Into<PathBuf>) -> Self {
        let pdftotext = pdftotext.into();
        let pdfinfo = pdftotext
            .parent()
            .map(|dir| dir.join("pdfinfo"))
            .filter(|path| is_executable(path));
        Self {
            pdftotext,
            pdfinfo,
            layout: false,
        }
    }

    /// Keeps the physical layout (`pdftotext -layout`): table columns stay aligned.
    #[must_use]
    pub fn with_layout(mut self, layout: bool) -> Self {
        self.layout = layout;
        self
    }

    #[must_use]
    pub fn with_pdfinfo(mut self, pdfinfo: Option<PathBuf>) -> Self {
        self.pdfinfo = pdfinfo;
        self
    }

    /// `pdftotext` from the directories of `PATH`, if one is there.
    pub fn find_on_path() -> Option<Self> {
        find_on_path("pdftotext").map(|path| {
            let tools = Self::new(path);
            if tools.pdfinfo.is_some() {
                tools
            } else {
                let pdfinfo = find_on_path("pdfinfo");
                tools.with_pdfinfo(pdfinfo)
            }
        })
    }

    pub fn pdftotext(&self) -> &Path {
        &self.pdftotext
    }

    pub fn pdfinfo(&self) -> Option<&Path> {
        self.pdfinfo.as_deref()
    }
}

/// Extracts text with Poppler's `pdftotext`, run under the same confinement
/// as the built-in child: own process group, `RLIMIT_AS`, `RLIMIT_CPU`, no
/// core dumps, parent-death signal, wall-clock timeout, output cap. Pages are
/// split on the form feed `pdftotext` writes after each page.
pub fn extract_pdf_with_pdftotext(
    tools: &PopplerTools,
    pdf: &[u8],
    limits: &Limits,
) -> Result<PdfOutcome, PdfError> {
    pdftotext_extract(tools, pdf, limits, &AtomicBool::new(false))
}

pub(super) fn pdftotext_extract(
    tools: &PopplerTools,
    pdf: &[u8],
    limits: &Limits,
    abort: &AtomicBool,
) -> Result<PdfOutcome, PdfError> {
    let deadline = Instant::now() + limits.pdf_timeout;
    let max_pages = limits.pdf_max_pages;
    let mut command = Command::new(&tools.pdftotext);
    // `-` as input is read from stdin (poppler's fd://0), `-` as output is
    // stdout; the last page read is capped like the built-in engine's.
    if tools.layout {
        command.arg("-layout");
    }
    command
        .args(["-enc", "UTF-8", "-l"])
        .arg(max_pages.max(1).to_string())
        .args(["-", "-"]);
    let output_limit = output_limit(limits);
    let ran = run_confined(
        command,
        Input::Bytes(pdf),
        limits,
        deadline,
        output_limit,
        abort,
    )?;
    if !ran.overflowed {
        match ran.status.and_then(|status| status.code()) {
            Some(0) => {}
            // 1: the file cannot be opened, which includes a wrong password;
            // 3: its permissions forbid extracting text.
            Some(1) if needs_password(&ran.stderr) => return Ok(PdfOutcome::Encrypted),
            Some(3) => return Ok(PdfOutcome::Encrypted),
            Some(1) => {
                return Ok(PdfOutcome::Unreadable {
                    detail: format!(
                        "its structure is broken: {}",
                        last_line(&ran.stderr).unwrap_or("it cannot be opened")
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
    // The text cannot tell whether pages follow the last one read when
    // reading stopped at a limit; pdfinfo can.
    Ok(pages_from_form_feeds(&ran, limits, clean_page_text, || {
        tools
            .pdfinfo
            .as_deref()
            .and_then(|pdfinfo| pdfinfo_page_count(pdfinfo, pdf, limits, deadline, abort))
    }))
}

fn needs_password(stderr: &str) -> bool {
    stderr.contains("Incorrect password")
}

/// The `Pages:` line of `pdfinfo -`, run under the same confinement.
fn pdfinfo_page_count(
    pdfinfo: &Path,
    pdf: &[u8],
    limits: &Limits,
    deadline: Instant,
    abort: &AtomicBool,
) -> Option<u64> {
    let mut command = Command::new(pdfinfo);
    command.arg("-");
    let ran = run_confined(
        command,
        Input::Bytes(pdf),
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
