//! What an entry is: a single uploaded file, the type its name claims checked
//! against its content, JSON and CSV turned into text, and the verdict on a PDF
//! once its text came back from the pool.

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::pool::Extracted;
use super::{CallbackError, FatalReason, Judge, Judgement, Refusal};
use crate::csv_text::{CsvProblem, csv_to_text};
use crate::json_text::{JsonProblem, json_to_text};
use crate::limits::{JSON_DEPTH_CEILING, human_bytes};
use crate::path::{display_form, extension, normalise};
use crate::pdf::{PdfError, PdfOutcome};
use crate::reason::{RejectReason, Rejection};
use crate::report::{
    DocType, EntryContent, EntryFlag, EntryReport, Judged, PageText, Progress, Verdict,
};
use crate::sniff::{
    Claim, archive_kind, claim_for_extension, describe, is_pdf, known_format, looks_like_json,
};

impl<F> Judge<'_, F>
where
    F: FnMut(Judged<'_>) -> Result<ControlFlow<()>, CallbackError>,
{
    pub(super) fn run_file(&mut self, path: &Path, name: &str) -> Result<(), FatalReason> {
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

    pub(super) fn check_file(
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
    pub(super) fn judge_content(
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

    pub(super) fn accept_json(
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

    pub(super) fn accept_csv(
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
}

/// The verdict on a PDF once its text extraction has finished.
pub(super) fn pdf_verdict(
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

pub(super) fn accept(
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

pub(super) fn duplicate(count: usize, path: &str) -> Rejection {
    Rejection::with(
        RejectReason::DuplicateName,
        format!("{count} files are named '{path}'; none of them is used"),
    )
}
