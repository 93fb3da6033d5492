//! Walking a ZIP archive: counts, sizes and names are read from the bytes, never
//! believed from the headers, before an entry's content reaches `checks`.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

use flate2::read::DeflateDecoder;
use zip::{CompressionMethod, ZipArchive};

use super::checks::duplicate;
use super::delivery::SlotKind;
use super::{CallbackError, FatalReason, Judge, Judgement, Refusal};
use crate::limits::{Limits, human_bytes};
use crate::path::{display_form, extension, is_os_metadata, normalise};
use crate::reason::{RejectReason, Rejection};
use crate::report::{EntryReport, Judged, Progress};
use crate::sniff::{Claim, claim_for_extension};

/// Per-archive state the entry loop carries along.
pub(super) struct ZipState {
    pub(super) archive_len: u64,
    pub(super) directory_start: u64,
    /// How many file entries share each normalised path.
    pub(super) name_counts: HashMap<String, usize>,
    /// Byte ranges (local header to end of data) of entries already read,
    /// start to end, kept disjoint.
    pub(super) occupied: BTreeMap<u64, u64>,
    pub(super) files_seen: usize,
}

/// Central-directory facts about one entry, read without touching its data.
pub(super) struct EntryMeta {
    pub(super) name: Option<String>,
    pub(super) original: String,
    pub(super) is_dir: bool,
    pub(super) symlink: bool,
    pub(super) encrypted: bool,
    pub(super) method: CompressionMethod,
    pub(super) compressed: u64,
    pub(super) declared: u64,
    pub(super) crc: u32,
    pub(super) header_start: u64,
}

impl<F> Judge<'_, F>
where
    F: FnMut(Judged<'_>) -> Result<ControlFlow<()>, CallbackError>,
{
    pub(super) fn run_zip(&mut self, path: &Path) -> Result<(), FatalReason> {
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

    pub(super) fn zip_entry(
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

    pub(super) fn check_zip_entry(
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
}

pub(super) fn is_directory_name(name: &str) -> bool {
    name.ends_with('/') || name.ends_with('\\')
}

pub(super) enum BoundedRead {
    Complete(Vec<u8>),
    TooLarge(u64),
    Ratio(u64),
    Failed(u64, String),
}

impl BoundedRead {
    pub(super) fn inflated(&self) -> u64 {
        match self {
            Self::Complete(bytes) => bytes.len() as u64,
            Self::TooLarge(n) | Self::Ratio(n) | Self::Failed(n, _) => *n,
        }
    }
}

/// Counts the compressed bytes the decompressor has pulled.
pub(super) struct Counted<'a, R> {
    pub(super) inner: R,
    pub(super) count: &'a Cell<u64>,
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
pub(super) fn read_bounded(
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

pub(super) fn describe_read_error(error: &io::Error) -> String {
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
pub(super) fn hidden_duplicates(
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
pub(super) fn central_directory_names(
    path: &Path,
    start: u64,
    archive_len: u64,
) -> io::Result<Vec<Vec<u8>>> {
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
pub(super) fn declared_record_count(file: &mut File, archive_len: u64) -> io::Result<Option<u64>> {
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
