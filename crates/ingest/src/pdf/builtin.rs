//! The built-in engine: pdf-extract (on lopdf) in a child process that speaks
//! a small JSON protocol, the child's own side of that protocol, and the
//! in-process fallback for contexts that cannot spawn it.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use crate::confine::{Input, describe_status};
use crate::limits::Limits;

use super::{Pages, PdfError, PdfOutcome, clean_page_text, output_limit, run_confined};

/// The hidden subcommand [`PdfChildCommand::current_exe`] passes. A binary that
/// sees it as its first argument must call [`run_pdf_extraction_child`] and
/// exit with its code before doing anything else.
pub const PDF_CHILD_SUBCOMMAND: &str = "__quire-extract-pdf";

const ENV_MAX_PAGES: &str = "QUIRE_PDF_MAX_PAGES";
const ENV_MAX_TEXT: &str = "QUIRE_PDF_MAX_TEXT_BYTES";

/// How to start the extraction child: a program and its arguments. Kept as
/// data rather than a `std::process::Command` because one is needed per PDF
/// and `Command` cannot be cloned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfChildCommand {
    program: PathBuf,
    args: Vec<OsString>,
}

impl PdfChildCommand {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
        }
    }

    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// The running executable with [`PDF_CHILD_SUBCOMMAND`]: what the service
    /// uses once its `main` dispatches that subcommand.
    pub fn current_exe() -> io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?).arg(PDF_CHILD_SUBCOMMAND))
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn args(&self) -> &[OsString] {
        &self.args
    }
}

/// Extracts text by running `child` with the PDF on its stdin and reading a
/// [`PdfOutcome`] as JSON from its stdout.
///
/// The child gets `limits.pdf_timeout` of wall-clock time, after which its
/// whole process group is killed; on Unix it also runs under `RLIMIT_AS =
/// limits.pdf_memory_bytes`, `RLIMIT_CPU` just above the timeout (in case
/// this process dies first), no core dumps, and (Linux) dies with its parent.
pub fn extract_pdf_in_child(
    child: &PdfChildCommand,
    pdf: &[u8],
    limits: &Limits,
) -> Result<PdfOutcome, PdfError> {
    child_extract(child, pdf, limits, &AtomicBool::new(false))
}

pub(super) fn child_extract(
    child: &PdfChildCommand,
    pdf: &[u8],
    limits: &Limits,
    abort: &AtomicBool,
) -> Result<PdfOutcome, PdfError> {
    let mut command = Command::new(&child.program);
    command
        .args(&child.args)
        .env(ENV_MAX_PAGES, limits.pdf_max_pages.to_string())
        .env(ENV_MAX_TEXT, limits.max_text_bytes.to_string());
    let output_limit = output_limit(limits);
    let ran = run_confined(
        command,
        Input::Bytes(pdf),
        limits,
        Instant::now() + limits.pdf_timeout,
        output_limit,
        abort,
    )?;
    let status = match ran.status {
        Some(status) if !ran.overflowed => status,
        _ => {
            return Err(PdfError::OutputTooLarge {
                limit: output_limit,
            });
        }
    };
    if !status.success() {
        return Err(PdfError::Crashed {
            status: describe_status(status),
            stderr: ran.stderr,
        });
    }
    serde_json::from_slice(&ran.stdout).map_err(|e| PdfError::BadOutput(e.to_string()))
}

/// Extracts text on a dedicated thread of this process. See
/// [`PdfExtractor::InProcess`] for what this cannot protect against.
pub fn extract_pdf_in_process(pdf: &[u8], limits: &Limits) -> Result<PdfOutcome, PdfError> {
    let bytes = pdf.to_vec();
    let max_pages = limits.pdf_max_pages;
    let max_text = limits.max_text_bytes;
    let (sender, receiver) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("quire-pdf-extract".to_owned())
        // Malformed PDFs recurse deeply; a large stack turns some would-be
        // aborts into ordinary (caught) failures.
        .stack_size(64 * 1024 * 1024)
        .spawn(move || {
            let _ = sender.send(extract(&bytes, max_pages, max_text));
        })
        .map_err(PdfError::Spawn)?;
    match receiver.recv_timeout(limits.pdf_timeout) {
        Ok(outcome) => Ok(outcome),
        // The thread cannot be stopped; it is left to finish on its own.
        Err(mpsc::RecvTimeoutError::Timeout) => Err(PdfError::Timeout(limits.pdf_timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(PdfError::Crashed {
            status: "the extraction thread panicked".to_owned(),
            stderr: String::new(),
        }),
    }
}

/// Whether this process was started as the extraction child, i.e. its first
/// argument is [`PDF_CHILD_SUBCOMMAND`]. The service's `main` checks this
/// before any other startup work.
pub fn is_pdf_extraction_child() -> bool {
    std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(PDF_CHILD_SUBCOMMAND))
}

/// The body of the extraction child: reads a PDF from stdin, writes one
/// [`PdfOutcome`] as JSON to stdout, and returns the exit code for
/// `std::process::exit`: 0, or 2 when its own I/O failed. A crash or an abort
/// is read by the parent from the exit status.
pub fn run_pdf_extraction_child() -> i32 {
    // Panics are expected and caught; the default hook would print each one.
    std::panic::set_hook(Box::new(|_| {}));
    let mut protocol = match protocol_stdout() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("cannot set up the output channel: {e}");
            return 2;
        }
    };
    let mut input = Vec::new();
    if let Err(e) = io::stdin().lock().read_to_end(&mut input) {
        eprintln!("cannot read the PDF from stdin: {e}");
        return 2;
    }
    let defaults = Limits::default();
    let max_pages = env_number(ENV_MAX_PAGES).unwrap_or(u64::from(defaults.pdf_max_pages));
    let max_pages = u32::try_from(max_pages).unwrap_or(u32::MAX);
    let max_text = env_number(ENV_MAX_TEXT).unwrap_or(defaults.max_text_bytes);
    let outcome = extract(&input, max_pages, max_text);
    drop(input);
    let written = serde_json::to_writer(&mut protocol, &outcome)
        .map_err(io::Error::from)
        .and_then(|()| protocol.flush());
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot write the result: {e}");
            2
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The stream the protocol answer goes to. On Unix the real stdout is moved
/// aside and fd 1 pointed at stderr, so a stray `println!` in a dependency
/// cannot corrupt the JSON.
#[cfg(unix)]
fn protocol_stdout() -> io::Result<Box<dyn Write>> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup/dup2 only touch this process's standard descriptors, and
    // the duplicated descriptor is owned by the returned File alone.
    unsafe {
        let saved = libc::dup(libc::STDOUT_FILENO);
        if saved < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            let error = io::Error::last_os_error();
            libc::close(saved);
            return Err(error);
        }
        Ok(Box::new(io::BufWriter::new(std::fs::File::from_raw_fd(
            saved,
        ))))
    }
}

#[cfg(not(unix))]
fn protocol_stdout() -> io::Result<Box<dyn Write>> {
    Ok(Box::new(io::stdout()))
}

/// Parses the PDF and pulls text page by page, each page under its own
/// `catch_unwind` so one bad page does not cost the others.
pub(crate) fn extract(bytes: &[u8], max_pages: u32, max_text: u64) -> PdfOutcome {
    use pdf_extract::{Document, Error as PdfLibError};

    let loaded = catch_unwind(AssertUnwindSafe(|| Document::load_mem(bytes)));
    let document = match loaded {
        Ok(Ok(document)) => document,
        Ok(Err(PdfLibError::Decryption(_) | PdfLibError::InvalidPassword)) => {
            return PdfOutcome::Encrypted;
        }
        Ok(Err(e)) => {
            return PdfOutcome::Unreadable {
                detail: format!("its structure is broken: {e}"),
            };
        }
        Err(_) => {
            return PdfOutcome::Unreadable {
                detail: "the PDF parser failed on it".to_owned(),
            };
        }
    };
    // lopdf opens files whose user password is empty and drops /Encrypt; one
    // still carrying it needs a password we do not have.
    if document.trailer.get(b"Encrypt").is_ok() {
        return PdfOutcome::Encrypted;
    }
    let Ok(page_ids) = catch_unwind(AssertUnwindSafe(|| document.get_pages())) else {
        return PdfOutcome::Unreadable {
            detail: "its page tree is broken".to_owned(),
        };
    };
    if page_ids.is_empty() {
        return PdfOutcome::Unreadable {
            detail: "it has no pages".to_owned(),
        };
    }
    let page_count = page_ids.len() as u64;
    let mut pages = Pages::new(max_text);
    for &number in page_ids.keys().take(max_pages as usize) {
        let page = catch_unwind(AssertUnwindSafe(|| {
            let mut text = String::new();
            let mut output = pdf_extract::PlainTextOutput::new(&mut text);
            pdf_extract::output_doc_page(&document, &mut output, number).map(|()| text)
        }));
        let pushed = match page {
            Ok(Ok(text)) => pages.push(number, clean_page_text(&text)),
            _ => pages.push_failed(number),
        };
        if pushed.is_break() {
            break;
        }
    }
    let result = pages.finish(page_count, max_pages);
    if !result.pages.is_empty() && result.failed_pages.len() == result.pages.len() {
        return PdfOutcome::Unreadable {
            detail: "none of its pages could be read".to_owned(),
        };
    }
    PdfOutcome::Text(result)
}
