//! PDF text extraction, isolated from the caller.
//!
//! `pdf-extract` panics on many malformed files, can recurse until the stack
//! overflows, allocate without bound, or loop. None of that is catchable in
//! process, so the recommended path runs extraction in a child process with a
//! wall-clock timeout, an address-space limit and a CPU-time backstop.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::report::PageText;

/// The hidden subcommand [`PdfChildCommand::current_exe`] passes. A binary that
/// sees it as its first argument must call [`run_pdf_extraction_child`] and
/// exit with its code before doing anything else.
pub const PDF_CHILD_SUBCOMMAND: &str = "__quire-extract-pdf";

const ENV_MAX_PAGES: &str = "QUIRE_PDF_MAX_PAGES";
const ENV_MAX_TEXT: &str = "QUIRE_PDF_MAX_TEXT_BYTES";

/// Enough of the child's stderr to explain a crash in a log line.
const STDERR_TAIL: usize = 4 * 1024;

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

/// Poppler's command-line tools: `pdftotext` for the text, and `pdfinfo`
/// for the page count when the text alone cannot tell it (more pages than
/// `Limits::pdf_max_pages`, or output cut at the size cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopplerTools {
    pdftotext: PathBuf,
    pdfinfo: Option<PathBuf>,
}

impl PopplerTools {
    /// `pdftotext` at this path; `pdfinfo` is looked for next to it.
    pub fn new(pdftotext: impl Into<PathBuf>) -> Self {
        let pdftotext = pdftotext.into();
        let pdfinfo = pdftotext
            .parent()
            .map(|dir| dir.join("pdfinfo"))
            .filter(|path| is_executable(path));
        Self { pdftotext, pdfinfo }
    }

    #[must_use]
    pub fn with_pdfinfo(mut self, pdfinfo: Option<PathBuf>) -> Self {
        self.pdfinfo = pdfinfo;
        self
    }

    /// `pdftotext` from the directories of `PATH`, if one is there.
    pub fn find_on_path() -> Option<Self> {
        find_executable("pdftotext").map(|path| {
            let tools = Self::new(path);
            if tools.pdfinfo.is_some() {
                tools
            } else {
                let pdfinfo = find_executable("pdfinfo");
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

fn find_executable(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Where PDF text extraction runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdfExtractor {
    /// In a child process, killed on timeout and confined by `RLIMIT_AS`.
    Child(PdfChildCommand),
    /// Poppler's `pdftotext`, under the same confinement as [`Self::Child`].
    Pdftotext(PopplerTools),
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
            Self::InProcess => extract_pdf_in_process(pdf, limits),
        }
    }

    /// A short name for logs: `builtin`, `pdftotext` or `in-process`.
    pub fn engine_name(&self) -> &'static str {
        match self {
            Self::Child(_) => "builtin",
            Self::Pdftotext(_) => "pdftotext",
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

fn child_extract(
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
        pdf,
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

/// Everything a child may write: JSON escaping at most doubles text once
/// control characters are gone.
fn output_limit(limits: &Limits) -> u64 {
    limits
        .max_text_bytes
        .saturating_mul(2)
        .saturating_add(64 * 1024)
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

fn pdftotext_extract(
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
    command
        .args(["-enc", "UTF-8", "-l"])
        .arg(max_pages.max(1).to_string())
        .args(["-", "-"]);
    let output_limit = output_limit(limits);
    let ran = run_confined(command, pdf, limits, deadline, output_limit, abort)?;
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
    let text = String::from_utf8_lossy(&ran.stdout);
    let mut segments: Vec<&str> = text.split('\u{c}').collect();
    // Each page ends with a form feed, so the last segment is what follows
    // the last complete page: nothing, or (output cut) a partial page.
    let partial = segments
        .pop()
        .filter(|rest| ran.overflowed && !rest.is_empty());
    let complete = segments.len();
    if complete == 0 && partial.is_none() {
        return Ok(PdfOutcome::Unreadable {
            detail: "it has no pages".to_owned(),
        });
    }
    let read = complete + usize::from(partial.is_some());
    // The text cannot tell whether pages follow the last one read when
    // reading stopped at a limit; pdfinfo can.
    let page_count = if ran.overflowed || complete >= max_pages as usize {
        tools
            .pdfinfo
            .as_deref()
            .and_then(|pdfinfo| pdfinfo_page_count(pdfinfo, pdf, limits, deadline, abort))
            .unwrap_or(read as u64)
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
        if pages.push(number, clean_page_text(raw)).is_break() {
            break;
        }
    }
    let mut result = pages.finish(page_count, max_pages);
    result.text_truncated |= ran.overflowed;
    Ok(PdfOutcome::Text(result))
}

fn needs_password(stderr: &str) -> bool {
    stderr.contains("Incorrect password")
}

fn last_line(stderr: &str) -> Option<&str> {
    let line = stderr.lines().rev().find(|line| !line.trim().is_empty())?;
    let line = line.trim();
    let mut cut = line.len().min(200);
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(&line[..cut])
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
    let ran = run_confined(command, pdf, limits, deadline, 64 * 1024, abort).ok()?;
    if ran.overflowed || !ran.status.is_some_and(|status| status.success()) {
        return None;
    }
    String::from_utf8_lossy(&ran.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("Pages:"))
        .and_then(|count| count.trim().parse().ok())
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

/// What a confined process left behind. `status` is `None` when it was
/// killed for flooding its output (then `overflowed` is set and `stdout`
/// holds what fitted).
struct Confined {
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: String,
    overflowed: bool,
}

/// Runs `command` with `input` on its stdin under the confinement described
/// in [`extract_pdf_in_child`]: killed (with its whole process group) at
/// `deadline`, when its stdout passes `output_limit`, or once `abort` is set.
fn run_confined(
    mut command: Command,
    input: &[u8],
    limits: &Limits,
    deadline: Instant,
    output_limit: u64,
    abort: &AtomicBool,
) -> Result<Confined, PdfError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    confine(&mut command, limits);
    let mut process = command.spawn().map_err(PdfError::Spawn)?;

    let overflow = AtomicBool::new(false);
    let stdin = process.stdin.take();
    let stdout = process.stdout.take();
    let stderr = process.stderr.take();

    let (waited, stdout, stderr) = thread::scope(|scope| {
        // Separate threads for each pipe: a child that stops reading its input
        // while its output fills up would otherwise deadlock with us.
        scope.spawn(move || {
            if let Some(mut stdin) = stdin {
                // A child that dies early closes the pipe; its exit status
                // tells the story, not this write error.
                let _ = stdin.write_all(input);
            }
        });
        let overflow = &overflow;
        // Each reader says when its pipe closed: that is when the child (and
        // anything it started) is done, so nobody sleeps past that moment.
        // (Polling the exit status in growing sleeps used to add up to half
        // of a short extraction's time.)
        let (closed, pipes_closed) = mpsc::channel::<()>();
        let out_closed = closed.clone();
        let out_reader = scope.spawn(move || {
            let read = match stdout {
                Some(pipe) => read_capped(pipe, output_limit, overflow),
                None => Ok(Vec::new()),
            };
            let _ = out_closed.send(());
            read
        });
        let err_reader = scope.spawn(move || {
            let tail = match stderr {
                Some(pipe) => read_tail(pipe, STDERR_TAIL),
                None => Vec::new(),
            };
            let _ = closed.send(());
            tail
        });
        let mut open = 2;
        let mut stopped: Option<Waited> = None;
        while open > 0 {
            let now = Instant::now();
            let stop = if abort.load(Ordering::Relaxed) {
                Some(Waited::Aborted)
            } else if overflow.load(Ordering::Relaxed) {
                Some(Waited::Overflowed)
            } else if now >= deadline {
                // A child that answered in time but left something behind
                // on our pipes keeps its answer.
                match process.try_wait() {
                    Ok(Some(status)) => Some(Waited::Exited(status)),
                    _ => Some(Waited::TimedOut),
                }
            } else {
                None
            };
            if stopped.is_none()
                && let Some(stop) = stop
            {
                // The group still exists while one of its processes holds
                // our pipes, so its id cannot have been reused.
                kill_group(process.id());
                stopped = Some(stop);
            }
            // Short slices while waiting: an abort must be seen promptly.
            let slice = deadline
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            match pipes_closed.recv_timeout(slice) {
                Ok(()) => open -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let waited = match stopped {
            None => wait_until(&mut process, deadline, overflow, abort),
            Some(Waited::Exited(status)) => Ok(Waited::Exited(status)),
            Some(reason) => {
                kill(&mut process);
                Ok(reason)
            }
        };
        let stdout = out_reader.join();
        let stderr = err_reader.join().unwrap_or_default();
        (waited, stdout, stderr)
    });

    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let waited = waited.map_err(PdfError::Io)?;
    let stdout = match stdout {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(PdfError::Io(e)),
        Err(_) => return Err(PdfError::Io(io::Error::other("stdout reader panicked"))),
    };
    // Checked before the exit status: a flooding child may die of the closed
    // pipe before the wait loop sees the flag.
    if overflow.load(Ordering::Relaxed) {
        return Ok(Confined {
            status: None,
            stdout,
            stderr,
            overflowed: true,
        });
    }
    match waited {
        Waited::Exited(status) => Ok(Confined {
            status: Some(status),
            stdout,
            stderr,
            overflowed: false,
        }),
        Waited::TimedOut => Err(PdfError::Timeout(limits.pdf_timeout)),
        Waited::Aborted => Err(PdfError::Abandoned),
        Waited::Overflowed => Ok(Confined {
            status: None,
            stdout,
            stderr,
            overflowed: true,
        }),
    }
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

/// Drops control characters (other than line breaks and tabs) that broken
/// font maps produce, and the invisible bidi marks Poppler wraps right-to-left
/// runs in: they carry no meaning for a reader and split words for an index.
fn clean_page_text(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .filter(|c| !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect::<String>()
        .trim()
        .to_owned()
}

#[derive(Debug, Clone, Copy)]
enum Waited {
    Exited(ExitStatus),
    TimedOut,
    Overflowed,
    Aborted,
}

fn wait_until(
    process: &mut Child,
    deadline: Instant,
    overflow: &AtomicBool,
    abort: &AtomicBool,
) -> io::Result<Waited> {
    let mut pause = Duration::from_micros(100);
    loop {
        match process.try_wait() {
            Ok(Some(status)) => return Ok(Waited::Exited(status)),
            Ok(None) => {}
            Err(e) => {
                kill(process);
                return Err(e);
            }
        }
        if overflow.load(Ordering::Relaxed) {
            kill(process);
            return Ok(Waited::Overflowed);
        }
        if abort.load(Ordering::Relaxed) {
            kill(process);
            return Ok(Waited::Aborted);
        }
        let now = Instant::now();
        if now >= deadline {
            kill(process);
            return Ok(Waited::TimedOut);
        }
        // Only reached once the pipes are closed, so the child is exiting:
        // short pauses.
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Kills the child's whole process group (it may have forked, and a
/// grandchild holding our pipes would keep the reader threads waiting), then
/// reaps it. Only called while the child is unreaped, so its pid still names
/// our group.
fn kill(process: &mut Child) {
    kill_group(process.id());
    let _ = process.kill();
    let _ = process.wait();
}

fn kill_group(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

fn read_capped(mut pipe: impl Read, limit: u64, overflow: &AtomicBool) -> io::Result<Vec<u8>> {
    let mut output = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(0) => return Ok(output),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if (output.len() + n) as u64 > limit {
            overflow.store(true, Ordering::Relaxed);
            return Ok(output);
        }
        output.extend_from_slice(&chunk[..n]);
    }
}

/// Keeps the last `keep` bytes: an abort message comes at the end.
fn read_tail(mut pipe: impl Read, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 2 * keep {
                    tail.drain(..tail.len() - keep);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                libc::SIGABRT => " (SIGABRT: aborted, e.g. out of memory or stack overflow)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV: e.g. stack overflow)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGXCPU => " (SIGXCPU: CPU time limit)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "unknown exit status".to_owned(),
    }
}

#[cfg(unix)]
fn confine(command: &mut Command, limits: &Limits) {
    use std::os::unix::process::CommandExt;

    // Own process group, so a timeout kills everything the child started.
    command.process_group(0);
    let memory = libc::rlim_t::try_from(limits.pdf_memory_bytes).unwrap_or(libc::RLIM_INFINITY);
    let cpu_seconds = limits.pdf_timeout.as_secs().saturating_add(2);
    let cpu = libc::rlim_t::try_from(cpu_seconds).unwrap_or(libc::RLIM_INFINITY);
    // SAFETY: the closure runs between fork and exec, so it only calls
    // async-signal-safe functions (getrlimit, setrlimit, prctl) and does not
    // allocate.
    unsafe {
        command.pre_exec(move || {
            lower_limit(libc::RLIMIT_AS, memory)?;
            lower_limit(libc::RLIMIT_CPU, cpu)?;
            lower_limit(libc::RLIMIT_CORE, 0)?;
            #[cfg(target_os = "linux")]
            {
                // Should this process die, the child must not outlive it.
                // (The signal fires when the spawning *thread* exits; that
                // thread waits for the child, so it never cuts one short.)
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            }
            Ok(())
        });
    }
}

/// Sets both soft and hard limit to `value`, or to the existing hard limit if
/// that is already lower (raising it would fail).
#[cfg(unix)]
fn lower_limit(resource: LimitResource, value: libc::rlim_t) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read only the struct passed in.
    unsafe {
        if libc::getrlimit(resource, &mut current) != 0 {
            return Err(io::Error::last_os_error());
        }
        let value = value.min(current.rlim_max);
        let wanted = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        if libc::setrlimit(resource, &wanted) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(all(unix, target_os = "linux", target_env = "gnu"))]
type LimitResource = libc::__rlimit_resource_t;
#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
type LimitResource = libc::c_int;
