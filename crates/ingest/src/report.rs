use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::reason::{RejectReason, Rejection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    Rejected,
}

/// The type of a document: what an entry was confirmed to be by its content, or (`Text`)
/// plain text given through the API. The one list of document types: the server
/// validates, routes and files by it instead of spelling the names again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocType {
    Pdf,
    Json,
    Csv,
    /// Plain text; never the verdict on an archive entry (judging accepts PDF, JSON and
    /// CSV only), but what a document created from text content is.
    Text,
}

impl DocType {
    /// Every type, in the order messages list them.
    pub const ALL: [DocType; 4] = [Self::Pdf, Self::Json, Self::Csv, Self::Text];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Text => "text",
        }
    }

    /// The type named `s` (as [`DocType::as_str`] spells it).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The media type of an original of this type.
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Json => "application/json",
            Self::Csv => "text/csv",
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    /// "pdf, json, csv or text", for messages.
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

/// Facts about an accepted entry the user may want to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryFlag {
    /// A PDF without a text layer (typically a scan): accepted, nothing to index.
    NoText,
    /// A PDF with more pages than `Limits::pdf_max_pages`; only the first were read.
    PagesTruncated,
    /// Some PDF pages could not be read; their text is empty.
    PagesFailed,
    /// Extracted text hit `Limits::max_text_bytes` and was cut.
    TextTruncated,
}

/// Text of one page. JSON and CSV entries come back as a single page 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageText {
    pub number: u32,
    pub text: String,
}

/// The verdict on one entry. Holds no document content, so a whole bundle's
/// worth of these stays small; content goes to the callback once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryReport {
    /// Normalised path (`/` separators, no `.`/empty segments, NFC). For
    /// entries refused for their path, a best-effort display form.
    pub path: String,
    /// The name exactly as the archive spelled it (lossily decoded).
    pub original_name: String,
    pub verdict: Verdict,
    pub reason: Option<RejectReason>,
    /// Sentence for the user, with specifics; `None` when accepted.
    pub message: Option<String>,
    pub doc_type: Option<DocType>,
    /// Bytes actually inflated (all of them when the entry was read to the end,
    /// otherwise how far reading got before a limit stopped it).
    pub inflated_size: Option<u64>,
    /// Lower-case hex SHA-256 of the entry's bytes, when read completely.
    pub sha256: Option<String>,
    pub page_count: Option<u32>,
    pub flags: Vec<EntryFlag>,
    /// Text encoding a CSV was decoded from (`UTF-8`, `UTF-16LE`, `windows-1252`, ...).
    pub encoding: Option<String>,
}

impl EntryReport {
    pub(crate) fn new(path: String, original_name: String) -> Self {
        Self {
            path,
            original_name,
            verdict: Verdict::Rejected,
            reason: None,
            message: None,
            doc_type: None,
            inflated_size: None,
            sha256: None,
            page_count: None,
            flags: Vec::new(),
            encoding: None,
        }
    }

    pub(crate) fn reject(&mut self, rejection: Rejection) {
        self.verdict = Verdict::Rejected;
        self.reason = Some(rejection.reason);
        self.message = Some(rejection.message);
    }

    pub fn is_accepted(&self) -> bool {
        self.verdict == Verdict::Accepted
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    pub pdf: usize,
    pub json: usize,
    pub csv: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub accepted: usize,
    pub rejected: usize,
    /// Directories and OS metadata (`__MACOSX/`, `.DS_Store`, `Thumbs.db`,
    /// `desktop.ini`), which get no report.
    pub skipped: usize,
    /// Accepted entries by type.
    pub by_type: TypeCounts,
    pub by_reason: BTreeMap<RejectReason, usize>,
}

/// Verdicts on a whole upload, in archive order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleReport {
    pub entries: Vec<EntryReport>,
    pub counts: Counts,
    /// The callback returned `ControlFlow::Break`; later entries were not judged.
    pub stopped_early: bool,
}

impl BundleReport {
    pub(crate) fn push(&mut self, entry: EntryReport) {
        match entry.verdict {
            Verdict::Accepted => {
                self.counts.accepted += 1;
                match entry.doc_type {
                    Some(DocType::Pdf) => self.counts.by_type.pdf += 1,
                    Some(DocType::Json) => self.counts.by_type.json += 1,
                    Some(DocType::Csv) => self.counts.by_type.csv += 1,
                    // Judging never yields text; only the API creates such documents.
                    Some(DocType::Text) | None => {}
                }
            }
            Verdict::Rejected => {
                self.counts.rejected += 1;
                if let Some(reason) = entry.reason {
                    *self.counts.by_reason.entry(reason).or_default() += 1;
                }
            }
        }
        self.entries.push(entry);
    }

    /// The report for a normalised path, if there is exactly one such entry
    /// or the first of several.
    pub fn entry(&self, path: &str) -> Option<&EntryReport> {
        self.entries.iter().find(|entry| entry.path == path)
    }
}

/// How far judging has got, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub entries_done: usize,
    pub entries_total: usize,
    /// Compressed bytes of the entries judged so far.
    pub compressed_bytes_done: u64,
    /// Compressed bytes of all entries (never more than the file's size).
    pub compressed_bytes_total: u64,
}

/// What an accepted entry carries to the caller, exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryContent {
    /// The entry's original bytes, for storage.
    pub bytes: Vec<u8>,
    pub pages: Vec<PageText>,
}

/// Handed to the callback after each judged entry, accepted or not.
#[derive(Debug)]
pub struct Judged<'a> {
    pub report: &'a EntryReport,
    /// `Some` exactly when the entry was accepted.
    pub content: Option<EntryContent>,
    pub progress: Progress,
}
