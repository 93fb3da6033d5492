//! Judging an upload: a ZIP bundle entry by entry, or a single file.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use flate2::read::DeflateDecoder;
use sha2::{Digest, Sha256};
use zip::{CompressionMethod, ZipArchive};

use crate::csv_text::{CsvProblem, csv_to_text};
use crate::json_text::{JsonProblem, json_to_text};
use crate::limits::{JSON_DEPTH_CEILING, Limits, human_bytes};
use crate::path::{display_form, extension, is_os_metadata, normalise};
use crate::pdf::{PdfError, PdfExtractor, PdfOutcome};
use crate::reason::{RejectReason, Rejection};
use crate::report::{
    BundleReport, DocType, EntryContent, EntryFlag, EntryReport, Judged, PageText, Progress,
    Verdict,
};
use crate::sniff::{
    Claim, archive_kind, claim_for_extension, describe, is_pdf, known_format, looks_like_json,
};

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

/// One entry waiting for its turn to be delivered.
struct Slot {
    kind: SlotKind,
    /// Progress as of reading this entry.
    progress: Progress,
    bytes: u64,
}

enum SlotKind {
    /// A directory or OS metadata: counted, not reported.
    Skipped,
    Judged(EntryReport, Option<EntryContent>),
    /// A PDF whose text a pool thread is extracting.
    Extracting(EntryReport, mpsc::Receiver<Extracted>),
}

/// What a pool thread hands back: the outcome and the PDF's bytes, which the
/// caller still needs for storage.
struct Extracted {
    outcome: Result<PdfOutcome, PdfError>,
    bytes: Vec<u8>,
}

/// How far the reading thread got with an entry.
enum Judgement {
    Done(Option<EntryContent>),
    /// A PDF, its type confirmed; the text is still to be extracted.
    Pdf(Vec<u8>),
}

/// Threads that extract PDFs while the reading thread goes on.
struct Pool {
    tasks: Option<mpsc::Sender<Task>>,
    abort: Arc<AtomicBool>,
    inline: Option<(PdfExtractor, Limits)>,
    workers: usize,
}

struct Task {
    bytes: Vec<u8>,
    reply: mpsc::SyncSender<Extracted>,
}

impl Pool {
    /// Hands the PDF to a pool thread; the answer arrives on the receiver.
    /// Without threads (none could be started) it is extracted right here.
    fn submit(&self, bytes: Vec<u8>) -> mpsc::Receiver<Extracted> {
        let (reply, receiver) = mpsc::sync_channel(1);
        let task = Task { bytes, reply };
        let task = match &self.tasks {
            Some(tasks) => match tasks.send(task) {
                Ok(()) => return receiver,
                Err(mpsc::SendError(task)) => task,
            },
            None => task,
        };
        let outcome = match &self.inline {
            Some((pdf, limits)) => pdf.extract_abortable(&task.bytes, limits, &self.abort),
            None => Err(PdfError::Abandoned),
        };
        let _ = task.reply.send(Extracted {
            outcome,
            bytes: task.bytes,
        });
        receiver
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Whatever is still being extracted was read ahead of a stop (or a
        // panic): nobody will look at it, so its processes go now.
        self.abort.store(true, Ordering::Relaxed);
        self.tasks = None;
    }
}

/// Runs `body` with a pool of `limits.pdf_workers` extraction threads, which
/// are stopped and joined before this returns.
fn with_pool<T>(limits: &Limits, pdf: &PdfExtractor, body: impl FnOnce(&Pool) -> T) -> T {
    let workers = limits.pdf_workers.max(1);
    let (sender, receiver) = mpsc::channel::<Task>();
    let receiver = Mutex::new(receiver);
    let abort = Arc::new(AtomicBool::new(false));
    thread::scope(|scope| {
        let mut started = 0;
        for n in 0..workers {
            let (receiver, abort) = (&receiver, Arc::clone(&abort));
            let spawned = thread::Builder::new()
                .name(format!("quire-pdf-{n}"))
                .spawn_scoped(scope, move || {
                    extraction_worker(receiver, pdf, limits, &abort)
                });
            if spawned.is_ok() {
                started += 1;
            }
        }
        let pool = Pool {
            tasks: (started > 0).then_some(sender),
            inline: (started == 0).then(|| (pdf.clone(), limits.clone())),
            abort,
            workers: started.max(1),
        };
        // Dropping the pool (also when `body` panics) closes the queue and
        // kills running extractions, so the scope's join cannot hang.
        body(&pool)
    })
}

fn extraction_worker(
    tasks: &Mutex<mpsc::Receiver<Task>>,
    pdf: &PdfExtractor,
    limits: &Limits,
    abort: &AtomicBool,
) {
    loop {
        let task = match tasks.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(task) = task else {
            return;
        };
        let outcome = if abort.load(Ordering::Relaxed) {
            Err(PdfError::Abandoned)
        } else {
            pdf.extract_abortable(&task.bytes, limits, abort)
        };
        // The judge may have stopped and dropped the receiver: nothing to do.
        let _ = task.reply.send(Extracted {
            outcome,
            bytes: task.bytes,
        });
    }
}

/// Per-archive state the entry loop carries along.
struct ZipState {
    archive_len: u64,
    directory_start: u64,
    /// How many file entries share each normalised path.
    name_counts: HashMap<String, usize>,
    /// Byte ranges (local header to end of data) of entries already read,
    /// start to end, kept disjoint.
    occupied: BTreeMap<u64, u64>,
    files_seen: usize,
}

/// Central-directory facts about one entry, read without touching its data.
struct EntryMeta {
    name: Option<String>,
    original: String,
    is_dir: bool,
    symlink: bool,
    encrypted: bool,
    method: CompressionMethod,
    compressed: u64,
    declared: u64,
    crc: u32,
    header_start: u64,
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

    fn run_zip(&mut self, path: &Path) -> Result<(), FatalReason> {
        let file = File::open(path)?;
        let archive_len = file.metadata()?.len();
        if archive_len > self.limits.max_archive_bytes {
            return Err(FatalReason::ArchiveTooLarge {
                size: archive_len,
                limit: self.limits.max_archive_bytes,
            });
        }
        let mut file = file;
        let record_cap = self
            .limits
            .max_entries
            .saturating_mul(4)
            .saturating_add(1_000);
        if let Some(declared) = declared_record_count(&mut file, archive_len)?
            && declared > record_cap as u64
        {
            return Err(FatalReason::TooManyEntries {
                declared,
                limit: self.limits.max_entries,
            });
        }
        let mut archive = ZipArchive::new(BufReader::new(file))
            .map_err(|e| FatalReason::CorruptArchive(e.to_string()))?;
        let mut state = ZipState {
            archive_len,
            directory_start: archive.central_directory_start(),
            name_counts: HashMap::new(),
            occupied: BTreeMap::new(),
            files_seen: 0,
        };

        // Duplicates are judged against the whole archive, so the first of
        // two same-named entries is refused as well as the second.
        let mut compressed_total = 0u64;
        for index in 0..archive.len() {
            let Ok(entry) = archive.by_index_data(index) else {
                continue;
            };
            compressed_total = compressed_total.saturating_add(entry.compressed_size());
            if let Ok(name) = entry.name()
                && !is_directory_name(&name)
                && let Ok(path) = normalise(&name)
            {
                *state.name_counts.entry(path).or_default() += 1;
            }
        }
        let hidden = if archive.has_duplicate_names() {
            hidden_duplicates(path, &archive, &mut state)?
        } else {
            Vec::new()
        };
        self.progress = Progress {
            entries_done: 0,
            entries_total: archive.len() + hidden.len(),
            compressed_bytes_done: 0,
            compressed_bytes_total: compressed_total.min(archive_len),
        };

        for index in 0..archive.len() {
            if self.zip_entry(&mut archive, index, &mut state)?.is_break() {
                self.report.stopped_early = true;
                return Ok(());
            }
        }
        for (path, original) in hidden {
            let count = state.name_counts.get(&path).copied().unwrap_or(2);
            let mut report = EntryReport::new(path, original);
            report.reject(duplicate(count, &report.path));
            self.progress.entries_done += 1;
            if self.enqueue(SlotKind::Judged(report, None), 0)?.is_break() {
                self.report.stopped_early = true;
                return Ok(());
            }
        }
        if self.drain()?.is_break() {
            self.report.stopped_early = true;
        }
        Ok(())
    }

    fn zip_entry(
        &mut self,
        archive: &mut ZipArchive<BufReader<File>>,
        index: usize,
        state: &mut ZipState,
    ) -> Result<ControlFlow<()>, FatalReason> {
        let meta = match archive.by_index_data(index) {
            Ok(entry) => EntryMeta {
                name: entry.name().ok().map(|name| name.into_owned()),
                // The decoded name (CP437 or UTF-8, as the entry's flag says)
                // when it decodes; the raw bytes, lossily, when it does not.
                original: match entry.name() {
                    Ok(name) => name.into_owned(),
                    Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
                },
                is_dir: entry.is_dir() || entry.name().is_ok_and(|name| is_directory_name(&name)),
                symlink: entry.is_symlink()
                    || entry
                        .unix_mode()
                        .is_some_and(|mode| mode & 0o170_000 == 0o120_000),
                encrypted: entry.encrypted(),
                method: entry.compression(),
                compressed: entry.compressed_size(),
                declared: entry.size(),
                crc: entry.crc32(),
                header_start: entry.header_start(),
            },
            Err(e) => {
                return Err(FatalReason::CorruptArchive(format!(
                    "entry {index} is missing from the central directory: {e}"
                )));
            }
        };
        self.progress.entries_done += 1;
        self.progress.compressed_bytes_done = self
            .progress
            .compressed_bytes_done
            .saturating_add(meta.compressed)
            .min(self.progress.compressed_bytes_total);
        if meta.is_dir {
            return self.enqueue(SlotKind::Skipped, 0);
        }

        let normalised = match &meta.name {
            Some(name) => normalise(name),
            None => Err(Rejection::with(
                RejectReason::InvalidPath,
                "the name is not valid UTF-8",
            )),
        };
        if let Ok(path) = &normalised
            && is_os_metadata(path)
        {
            return self.enqueue(SlotKind::Skipped, 0);
        }
        let shown = meta.name.as_deref().unwrap_or(&meta.original);
        let mut report = EntryReport::new(
            normalised.clone().unwrap_or_else(|_| display_form(shown)),
            meta.original.clone(),
        );
        state.files_seen += 1;
        let judged = self.check_zip_entry(archive, index, &meta, normalised, state, &mut report);
        self.enqueue_judged(report, judged)
    }

    fn check_zip_entry(
        &mut self,
        archive: &mut ZipArchive<BufReader<File>>,
        index: usize,
        meta: &EntryMeta,
        normalised: Result<String, Rejection>,
        state: &mut ZipState,
        report: &mut EntryReport,
    ) -> Result<Judgement, Refusal> {
        let limits = self.limits;
        if state.files_seen > limits.max_entries {
            return Err(Rejection::with(
                RejectReason::TooManyEntries,
                format!("only the first {} files are read", limits.max_entries),
            )
            .into());
        }
        let path = normalised?;
        let count = state.name_counts.get(&path).copied().unwrap_or(1);
        if count > 1 {
            return Err(duplicate(count, &path).into());
        }
        if meta.symlink {
            return Err(Rejection::new(RejectReason::Symlink).into());
        }
        if meta.encrypted {
            return Err(Rejection::new(RejectReason::Encrypted).into());
        }
        if !matches!(
            meta.method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(Rejection::with(
                RejectReason::UnsupportedCompression,
                format!("method {}", meta.method),
            )
            .into());
        }
        let ext = extension(&path);
        let claim = claim_for_extension(ext.as_deref());
        match claim {
            Claim::Archive => {
                return Err(Rejection::with(
                    RejectReason::NestedArchive,
                    format!("'.{}' files are archives", ext.unwrap_or_default()),
                )
                .into());
            }
            Claim::Other => {
                return Err(Rejection::with(
                    RejectReason::UnknownType,
                    format!("'.{}' files are not accepted", ext.unwrap_or_default()),
                )
                .into());
            }
            Claim::Pdf | Claim::Json | Claim::Csv | Claim::Unspecified => {}
        }
        let remaining = limits.max_total_bytes.saturating_sub(self.inflated_total);
        if remaining == 0 {
            return Err(Rejection::with(
                RejectReason::BundleTooLarge,
                format!(
                    "earlier files already used the {} limit",
                    human_bytes(limits.max_total_bytes)
                ),
            )
            .into());
        }

        // The raw (still compressed) data is inflated here rather than by the
        // zip crate, so the compressed bytes consumed are known at every step
        // and the ratio check can stop a bomb early.
        let raw = archive.by_index_raw(index).map_err(|e| {
            Rejection::with(
                RejectReason::CorruptEntry,
                format!("its header cannot be read: {e}"),
            )
        })?;
        let start = meta.header_start;
        let data_start = raw.data_start().unwrap_or(start);
        let end = data_start
            .checked_add(meta.compressed)
            .filter(|end| *end <= state.directory_start && *end <= state.archive_len)
            .ok_or_else(|| {
                Rejection::with(
                    RejectReason::CorruptEntry,
                    "its data runs past the end of the archive (truncated)",
                )
            })?;
        // Disjoint intervals: only the one starting last before `end` can
        // overlap [start, end).
        if let Some((_, previous_end)) = state.occupied.range(..end).next_back()
            && *previous_end > start
        {
            return Err(Rejection::new(RejectReason::OverlappingEntries).into());
        }
        state.occupied.insert(start, end);

        let (file_cap, cap) = if remaining < limits.max_file_bytes {
            (false, remaining)
        } else {
            (true, limits.max_file_bytes)
        };
        let consumed = Cell::new(0u64);
        let counted = Counted {
            inner: raw,
            count: &consumed,
        };
        let read = if meta.method == CompressionMethod::Stored {
            read_bounded(counted, cap, &consumed, meta, limits)
        } else {
            read_bounded(DeflateDecoder::new(counted), cap, &consumed, meta, limits)
        };
        self.inflated_total = self.inflated_total.saturating_add(read.inflated());
        let bytes = match read {
            BoundedRead::Complete(bytes) => bytes,
            BoundedRead::TooLarge(inflated) => {
                report.inflated_size = Some(inflated);
                return Err(if file_cap {
                    Rejection::with(
                        RejectReason::FileTooLarge,
                        format!("it unpacks to more than {}", human_bytes(cap)),
                    )
                } else {
                    Rejection::with(
                        RejectReason::BundleTooLarge,
                        format!(
                            "with this file the bundle unpacks to more than {}",
                            human_bytes(limits.max_total_bytes)
                        ),
                    )
                }
                .into());
            }
            BoundedRead::Ratio(inflated) => {
                report.inflated_size = Some(inflated);
                return Err(Rejection::with(
                    RejectReason::SuspiciousCompressionRatio,
                    format!(
                        "it unpacked to {} before reading stopped, over {} times its compressed size",
                        human_bytes(inflated),
                        limits.max_compression_ratio
                    ),
                )
                .into());
            }
            BoundedRead::Failed(inflated, detail) => {
                report.inflated_size = Some(inflated);
                return Err(Rejection::with(RejectReason::CorruptEntry, detail).into());
            }
        };
        if bytes.len() as u64 != meta.declared {
            report.inflated_size = Some(bytes.len() as u64);
            return Err(Rejection::with(
                RejectReason::CorruptEntry,
                format!(
                    "it unpacks to {} bytes but the archive says {}",
                    bytes.len(),
                    meta.declared
                ),
            )
            .into());
        }
        self.judge_content(report, claim, bytes)
    }

    fn run_file(&mut self, path: &Path, name: &str) -> Result<(), FatalReason> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        self.progress = Progress {
            entries_done: 1,
            entries_total: 1,
            compressed_bytes_done: size,
            compressed_bytes_total: size,
        };
        // Browsers used to send the full client path; only the name matters.
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let normalised = normalise(base);
        let mut report = EntryReport::new(
            normalised.clone().unwrap_or_else(|_| display_form(base)),
            name.to_owned(),
        );
        let judged = self.check_file(file, size, normalised, &mut report);
        if self.enqueue_judged(report, judged)?.is_break() || self.drain()?.is_break() {
            self.report.stopped_early = true;
        }
        Ok(())
    }

    fn check_file(
        &mut self,
        file: File,
        size: u64,
        normalised: Result<String, Rejection>,
        report: &mut EntryReport,
    ) -> Result<Judgement, Refusal> {
        let path = normalised?;
        let ext = extension(&path);
        let claim = claim_for_extension(ext.as_deref());
        if claim == Claim::Other {
            return Err(Rejection::with(
                RejectReason::UnknownType,
                format!("'.{}' files are not accepted", ext.unwrap_or_default()),
            )
            .into());
        }
        let limit = self.limits.max_file_bytes;
        let too_large = || {
            Rejection::with(
                RejectReason::FileTooLarge,
                format!("the limit is {}", human_bytes(limit)),
            )
        };
        if size > limit {
            return Err(too_large().into());
        }
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(FatalReason::Io)?;
        self.inflated_total = bytes.len() as u64;
        // The file may have grown since its size was taken.
        if bytes.len() as u64 > limit {
            return Err(too_large().into());
        }
        self.judge_content(report, claim, bytes)
    }

    /// Confirms the claimed type from the bytes and extracts text.
    fn judge_content(
        &mut self,
        report: &mut EntryReport,
        claim: Claim,
        bytes: Vec<u8>,
    ) -> Result<Judgement, Refusal> {
        report.inflated_size = Some(bytes.len() as u64);
        report.sha256 = Some(format!("{:x}", Sha256::digest(&bytes)));
        if bytes.is_empty() {
            return Err(Rejection::new(RejectReason::EmptyFile).into());
        }
        if let Some(kind) = archive_kind(&bytes) {
            return Err(Rejection::with(
                RejectReason::NestedArchive,
                format!("it is a {kind} archive"),
            )
            .into());
        }
        let mismatch = |named: &str| {
            Rejection::with(
                RejectReason::TypeMismatch,
                format!("it is named {named} but contains {}", describe(&bytes)),
            )
        };
        let doc_type = match claim {
            Claim::Pdf if is_pdf(&bytes) => DocType::Pdf,
            Claim::Pdf => return Err(mismatch(".pdf").into()),
            Claim::Json if known_format(&bytes).is_some() => return Err(mismatch(".json").into()),
            Claim::Json => DocType::Json,
            Claim::Csv if known_format(&bytes).is_some() => return Err(mismatch(".csv").into()),
            Claim::Csv => DocType::Csv,
            Claim::Archive => return Err(mismatch("like an archive").into()),
            Claim::Unspecified if is_pdf(&bytes) => DocType::Pdf,
            Claim::Unspecified if looks_like_json(&bytes) => DocType::Json,
            Claim::Unspecified | Claim::Other => {
                return Err(Rejection::with(
                    RejectReason::UnknownType,
                    "it has no extension and is neither a PDF nor JSON",
                )
                .into());
            }
        };
        match doc_type {
            DocType::Pdf => Ok(Judgement::Pdf(bytes)),
            DocType::Json => self.accept_json(report, bytes).map(Judgement::Done),
            // No claim yields `Text` (it is the API's type); were one to, it reads as CSV does.
            DocType::Csv | DocType::Text => self.accept_csv(report, bytes).map(Judgement::Done),
        }
    }

    fn accept_json(
        &mut self,
        report: &mut EntryReport,
        bytes: Vec<u8>,
    ) -> Result<Option<EntryContent>, Refusal> {
        let limits = self.limits;
        if bytes.len() as u64 > limits.json_max_bytes {
            return Err(Rejection::with(
                RejectReason::JsonTooLarge,
                format!("the limit is {}", human_bytes(limits.json_max_bytes)),
            )
            .into());
        }
        let max_text = usize::try_from(limits.max_text_bytes).unwrap_or(usize::MAX);
        match json_to_text(&bytes, limits.json_max_depth, max_text) {
            Ok(json) => {
                if json.truncated {
                    report.flags.push(EntryFlag::TextTruncated);
                }
                let pages = vec![PageText {
                    number: 1,
                    text: json.text,
                }];
                Ok(accept(report, DocType::Json, 1, pages, bytes))
            }
            Err(JsonProblem::TooDeep) => Err(Rejection::with(
                RejectReason::JsonTooDeep,
                format!(
                    "more than {} levels",
                    limits.json_max_depth.min(JSON_DEPTH_CEILING)
                ),
            )
            .into()),
            Err(JsonProblem::Invalid(detail)) => {
                Err(Rejection::with(RejectReason::InvalidJson, detail).into())
            }
        }
    }

    fn accept_csv(
        &mut self,
        report: &mut EntryReport,
        bytes: Vec<u8>,
    ) -> Result<Option<EntryContent>, Refusal> {
        let max_text = usize::try_from(self.limits.max_text_bytes).unwrap_or(usize::MAX);
        match csv_to_text(&bytes, max_text) {
            Ok(csv) => {
                report.encoding = Some(csv.encoding.to_owned());
                if csv.truncated {
                    report.flags.push(EntryFlag::TextTruncated);
                }
                let pages = vec![PageText {
                    number: 1,
                    text: csv.text,
                }];
                Ok(accept(report, DocType::Csv, 1, pages, bytes))
            }
            Err(CsvProblem::NotText(detail)) => {
                Err(Rejection::with(RejectReason::NotText, detail).into())
            }
            Err(CsvProblem::Inconsistent {
                row,
                expected,
                found,
            }) => Err(Rejection::with(
                RejectReason::InconsistentCsvColumns,
                format!("row {row} has {found} columns where the header has {expected}"),
            )
            .into()),
            Err(CsvProblem::Invalid(detail)) => {
                Err(Rejection::with(RejectReason::InvalidCsv, detail).into())
            }
        }
    }

    /// Queues a judged entry, or hands a PDF to the pool first.
    fn enqueue_judged(
        &mut self,
        mut report: EntryReport,
        judged: Result<Judgement, Refusal>,
    ) -> Result<ControlFlow<()>, FatalReason> {
        match judged {
            Ok(Judgement::Done(content)) => {
                let bytes = content.as_ref().map_or(0, |c| c.bytes.len() as u64);
                self.enqueue(SlotKind::Judged(report, content), bytes)
            }
            Ok(Judgement::Pdf(bytes)) => {
                let size = bytes.len() as u64;
                let receiver = self.pool.submit(bytes);
                self.enqueue(SlotKind::Extracting(report, receiver), size)
            }
            Err(Refusal::Entry(rejection)) => {
                report.reject(rejection);
                self.enqueue(SlotKind::Judged(report, None), 0)
            }
            Err(Refusal::Fatal(reason)) => Err(reason),
        }
    }

    /// Puts an entry in line, then delivers every entry at the front whose
    /// verdict is ready, waiting for them while the line is over its bounds.
    fn enqueue(&mut self, kind: SlotKind, bytes: u64) -> Result<ControlFlow<()>, FatalReason> {
        self.waiting.push_back(Slot {
            kind,
            progress: self.progress,
            bytes,
        });
        self.waiting_bytes = self.waiting_bytes.saturating_add(bytes);
        let window = 2 * self.pool.workers + 1;
        loop {
            let full =
                self.waiting.len() > window || self.waiting_bytes > self.limits.max_buffered_bytes;
            match self.deliver_front(full)? {
                Some(ControlFlow::Continue(())) => {}
                Some(ControlFlow::Break(())) => return Ok(ControlFlow::Break(())),
                None => return Ok(ControlFlow::Continue(())),
            }
        }
    }

    /// Delivers every waiting entry, in order.
    fn drain(&mut self) -> Result<ControlFlow<()>, FatalReason> {
        while !self.waiting.is_empty() {
            if let Some(ControlFlow::Break(())) = self.deliver_front(true)? {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Delivers the first waiting entry if its verdict is ready (or, with
    /// `wait`, once it is). `None`: nothing was delivered. After a stop or a
    /// failure the entries read ahead are dropped unseen.
    fn deliver_front(&mut self, wait: bool) -> Result<Option<ControlFlow<()>>, FatalReason> {
        let Some(front) = self.waiting.front() else {
            return Ok(None);
        };
        let extracted = match &front.kind {
            SlotKind::Extracting(_, receiver) if wait => Some(receiver.recv()),
            SlotKind::Extracting(_, receiver) => match receiver.try_recv() {
                Ok(extracted) => Some(Ok(extracted)),
                Err(mpsc::TryRecvError::Empty) => return Ok(None),
                Err(mpsc::TryRecvError::Disconnected) => Some(Err(mpsc::RecvError)),
            },
            SlotKind::Skipped | SlotKind::Judged(..) => None,
        };
        let Some(slot) = self.waiting.pop_front() else {
            return Ok(None);
        };
        self.waiting_bytes = self.waiting_bytes.saturating_sub(slot.bytes);
        let delivered = self.deliver_slot(slot, extracted);
        if !matches!(delivered, Ok(ControlFlow::Continue(()))) {
            self.waiting.clear();
            self.waiting_bytes = 0;
        }
        delivered.map(Some)
    }

    fn deliver_slot(
        &mut self,
        slot: Slot,
        extracted: Option<Result<Extracted, mpsc::RecvError>>,
    ) -> Result<ControlFlow<()>, FatalReason> {
        let (report, content) = match (slot.kind, extracted) {
            (SlotKind::Skipped, _) => {
                self.report.counts.skipped += 1;
                return Ok(ControlFlow::Continue(()));
            }
            (SlotKind::Judged(report, content), _) => (report, content),
            (SlotKind::Extracting(mut report, _), Some(Ok(extracted))) => {
                match pdf_verdict(&mut report, extracted) {
                    Ok(content) => (report, content),
                    Err(Refusal::Entry(rejection)) => {
                        report.reject(rejection);
                        (report, None)
                    }
                    Err(Refusal::Fatal(reason)) => return Err(reason),
                }
            }
            (SlotKind::Extracting(..), _) => {
                return Err(FatalReason::ExtractorUnavailable(
                    "an extraction thread stopped without an answer".to_owned(),
                ));
            }
        };
        self.deliver(report, content, slot.progress)
    }

    /// Records the entry and hands it to the callback.
    fn deliver(
        &mut self,
        report: EntryReport,
        content: Option<EntryContent>,
        progress: Progress,
    ) -> Result<ControlFlow<()>, FatalReason> {
        self.report.push(report);
        let Some(report) = self.report.entries.last() else {
            return Ok(ControlFlow::Continue(()));
        };
        (self.on_entry)(Judged {
            report,
            content,
            progress,
        })
        .map_err(FatalReason::Callback)
    }
}

/// The verdict on a PDF once its text extraction has finished.
fn pdf_verdict(
    report: &mut EntryReport,
    Extracted { outcome, bytes }: Extracted,
) -> Result<Option<EntryContent>, Refusal> {
    let text = match outcome {
        Ok(PdfOutcome::Text(text)) => text,
        Ok(PdfOutcome::Encrypted) => {
            return Err(Rejection::with(
                RejectReason::Encrypted,
                "the PDF needs a password to open",
            )
            .into());
        }
        Ok(PdfOutcome::Unreadable { detail }) => {
            return Err(Rejection::with(RejectReason::UnreadablePdf, detail).into());
        }
        Err(PdfError::Timeout(limit)) => {
            return Err(Rejection::with(
                RejectReason::PdfTimeout,
                format!("no result within {} s", limit.as_secs_f32()),
            )
            .into());
        }
        Err(
            e @ (PdfError::Crashed { .. }
            | PdfError::OutputTooLarge { .. }
            | PdfError::BadOutput(_)),
        ) => {
            let detail = match e {
                PdfError::OutputTooLarge { .. } => "reading it produced far too much output",
                _ => "the PDF reader crashed on it",
            };
            return Err(Rejection::with(RejectReason::UnreadablePdf, detail).into());
        }
        Err(e @ (PdfError::Spawn(_) | PdfError::Io(_) | PdfError::Abandoned)) => {
            return Err(FatalReason::ExtractorUnavailable(e.to_string()).into());
        }
    };
    if text.pages.iter().all(|page| page.text.is_empty()) && text.failed_pages.is_empty() {
        report.flags.push(EntryFlag::NoText);
    }
    if text.pages_truncated {
        report.flags.push(EntryFlag::PagesTruncated);
    }
    if !text.failed_pages.is_empty() {
        report.flags.push(EntryFlag::PagesFailed);
    }
    if text.text_truncated {
        report.flags.push(EntryFlag::TextTruncated);
    }
    Ok(accept(
        report,
        DocType::Pdf,
        text.page_count,
        text.pages,
        bytes,
    ))
}

fn accept(
    report: &mut EntryReport,
    doc_type: DocType,
    page_count: u32,
    pages: Vec<PageText>,
    bytes: Vec<u8>,
) -> Option<EntryContent> {
    report.verdict = Verdict::Accepted;
    report.doc_type = Some(doc_type);
    report.page_count = Some(page_count);
    Some(EntryContent { bytes, pages })
}

fn duplicate(count: usize, path: &str) -> Rejection {
    Rejection::with(
        RejectReason::DuplicateName,
        format!("{count} files are named '{path}'; none of them is used"),
    )
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

fn is_directory_name(name: &str) -> bool {
    name.ends_with('/') || name.ends_with('\\')
}

enum BoundedRead {
    Complete(Vec<u8>),
    TooLarge(u64),
    Ratio(u64),
    Failed(u64, String),
}

impl BoundedRead {
    fn inflated(&self) -> u64 {
        match self {
            Self::Complete(bytes) => bytes.len() as u64,
            Self::TooLarge(n) | Self::Ratio(n) | Self::Failed(n, _) => *n,
        }
    }
}

/// Counts the compressed bytes the decompressor has pulled.
struct Counted<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get().saturating_add(n as u64));
        Ok(n)
    }
}

/// Inflates at most `cap + 1` bytes, whatever the archive claims, stopping as
/// soon as a limit is crossed or the data outgrows its declared size, so a
/// bomb costs no more than the limit; checks the CRC once the data ends.
fn read_bounded(
    reader: impl Read,
    cap: u64,
    consumed: &Cell<u64>,
    meta: &EntryMeta,
    limits: &Limits,
) -> BoundedRead {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut limited = reader.take(cap.saturating_add(1));
    let mut crc = crc32fast::Hasher::new();
    loop {
        let n = match limited.read(&mut chunk) {
            Ok(0) if crc.clone().finalize() != meta.crc => {
                return BoundedRead::Failed(
                    bytes.len() as u64,
                    "its checksum (CRC-32) does not match its content".to_owned(),
                );
            }
            Ok(0) => return BoundedRead::Complete(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return BoundedRead::Failed(bytes.len() as u64, describe_read_error(&e)),
        };
        crc.update(&chunk[..n]);
        bytes.extend_from_slice(&chunk[..n]);
        let inflated = bytes.len() as u64;
        if inflated > cap {
            return BoundedRead::TooLarge(inflated);
        }
        // The declared size is never trusted to allow more, but output past
        // it proves the entry lies, so reading stops there.
        if inflated > meta.declared {
            return BoundedRead::Failed(
                inflated,
                "it unpacks to more than the size the archive declares".to_owned(),
            );
        }
        let ratio_ceiling = limits
            .max_compression_ratio
            .saturating_mul(consumed.get().max(1));
        if inflated > limits.ratio_grace_bytes && inflated > ratio_ceiling {
            return BoundedRead::Ratio(inflated);
        }
    }
}

fn describe_read_error(error: &io::Error) -> String {
    let text = error.to_string();
    if error.kind() == io::ErrorKind::UnexpectedEof {
        "its data is truncated".to_owned()
    } else {
        format!("its data cannot be unpacked: {text}")
    }
}

/// The ZIP reader keeps one entry per exact name, silently hiding the others;
/// finds those hidden occurrences in the central directory so they are
/// reported, and counts them towards their visible namesake so it is refused
/// too.
fn hidden_duplicates(
    path: &Path,
    archive: &ZipArchive<BufReader<File>>,
    state: &mut ZipState,
) -> Result<Vec<(String, String)>, FatalReason> {
    let raw_names = central_directory_names(path, state.directory_start, state.archive_len)?;
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for name in &raw_names {
        *seen.entry(name.as_slice()).or_default() += 1;
    }
    let mut hidden = Vec::new();
    for (raw, count) in seen {
        if count < 2 {
            continue;
        }
        let Some(index) = archive.index_for_name_raw(raw) else {
            continue;
        };
        let original = String::from_utf8_lossy(raw).into_owned();
        let decoded = archive
            .by_index_data(index)
            .ok()
            .and_then(|entry| entry.name().ok().map(|name| name.into_owned()));
        let Some(decoded) = decoded else {
            continue;
        };
        if is_directory_name(&decoded) {
            continue;
        }
        let path = match normalise(&decoded) {
            Ok(path) => {
                *state.name_counts.entry(path.clone()).or_default() += count - 1;
                path
            }
            Err(_) => display_form(&decoded),
        };
        for _ in 1..count {
            hidden.push((path.clone(), original.clone()));
        }
    }
    hidden.sort();
    Ok(hidden)
}

/// Raw names of every central-directory record, read straight from the file.
fn central_directory_names(path: &Path, start: u64, archive_len: u64) -> io::Result<Vec<Vec<u8>>> {
    const RECORD: u64 = 46;
    let mut reader = BufReader::new(File::open(path)?);
    reader.seek(SeekFrom::Start(start))?;
    let mut names = Vec::new();
    let mut position = start;
    while position + RECORD <= archive_len {
        let mut header = [0u8; RECORD as usize];
        reader.read_exact(&mut header)?;
        if header[..4] != *b"PK\x01\x02" {
            break;
        }
        let field = |at: usize| u64::from(u16::from_le_bytes([header[at], header[at + 1]]));
        let (name_len, extra_len, comment_len) = (field(28), field(30), field(32));
        let mut name = vec![0u8; name_len as usize];
        reader.read_exact(&mut name)?;
        let skip = extra_len + comment_len;
        reader.seek_relative(i64::try_from(skip).unwrap_or(i64::MAX))?;
        position += RECORD + name_len + skip;
        names.push(name);
    }
    Ok(names)
}

/// The number of central-directory records the archive declares, read from
/// its end-of-central-directory record (ZIP64 aware) before the zip reader
/// allocates a record for each. `None` when there is no such record; the
/// reader then reports the archive as corrupt.
fn declared_record_count(file: &mut File, archive_len: u64) -> io::Result<Option<u64>> {
    const EOCD: u64 = 22;
    let tail_len = archive_len.min(EOCD + u64::from(u16::MAX));
    let tail_start = archive_len - tail_len;
    file.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::new();
    (&mut *file).take(tail_len).read_to_end(&mut tail)?;
    file.seek(SeekFrom::Start(0))?;
    let Some(at) = tail
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .filter(|at| at + EOCD as usize <= tail.len())
    else {
        return Ok(None);
    };
    let count = u16::from_le_bytes([tail[at + 10], tail[at + 11]]);
    if count != u16::MAX {
        return Ok(Some(u64::from(count)));
    }
    // ZIP64: the locator sits just before the classic record and points at
    // the ZIP64 record, whose count is a u64.
    let Some(locator) = at
        .checked_sub(20)
        .filter(|l| tail[*l..*l + 4] == *b"PK\x06\x07")
    else {
        return Ok(Some(u64::from(count)));
    };
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&tail[locator + 8..locator + 16]);
    let record = u64::from_le_bytes(offset);
    if record.saturating_add(56) > archive_len {
        return Ok(Some(u64::from(count)));
    }
    let mut zip64 = [0u8; 56];
    file.seek(SeekFrom::Start(record))?;
    let read = file.read_exact(&mut zip64);
    file.seek(SeekFrom::Start(0))?;
    read?;
    if zip64[..4] != *b"PK\x06\x06" {
        return Ok(Some(u64::from(count)));
    }
    let mut total = [0u8; 8];
    total.copy_from_slice(&zip64[32..40]);
    Ok(Some(u64::from_le_bytes(total)))
}
