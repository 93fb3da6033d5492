//! Judges untrusted document bundles and extracts their text safely.
//!
//! The service hands over a path to an upload already on local disk (a ZIP
//! bundle, or a single PDF/JSON/CSV file) and gets back a verdict per entry,
//! with a reason a user understands, and the extracted text of accepted
//! entries. Nothing here knows about databases, HTTP or storage.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use quire_ingest::{judge_upload, Limits, PdfChildCommand, PdfExtractor};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pdf = PdfExtractor::Child(PdfChildCommand::current_exe()?);
//! let report = judge_upload(
//!     "upload.zip".as_ref(),
//!     "tender.zip",
//!     &Limits::default(),
//!     &pdf,
//!     |judged| {
//!         if let Some(content) = judged.content {
//!             // Store content.bytes and index content.pages here.
//!             let _ = (judged.report.path.as_str(), content);
//!         }
//!         Ok(ControlFlow::Continue(()))
//!     },
//! )?;
//! println!("{} accepted, {} rejected", report.counts.accepted, report.counts.rejected);
//! # Ok(())
//! # }
//! ```
//!
//! See the crate README for limits, reasons and design decisions.

mod bundle;
pub mod confine;
mod csv_text;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod json_text;
mod limits;
mod path;
mod pdf;
mod reason;
mod report;
mod sniff;

pub use bundle::{BundleError, CallbackError, FatalReason, judge_bundle, judge_file, judge_upload};
pub use limits::{JSON_DEPTH_CEILING, Limits};
pub use pdf::{
    MupdfTool, OcrOutcome, OcrTools, PDF_CHILD_SUBCOMMAND, PdfChildCommand, PdfError, PdfExtractor,
    PdfOutcome, PdfText, PopplerTools, RASTER_SIDE, extract_pdf_in_child, extract_pdf_in_process,
    extract_pdf_with_mutool, extract_pdf_with_pdftotext, is_pdf_extraction_child, layout_from_tsv,
    ocr_pdf_page, run_pdf_extraction_child,
};
pub use reason::RejectReason;
pub use report::{
    BundleReport, Counts, DocType, EntryContent, EntryFlag, EntryReport, Judged, PageText,
    Progress, TypeCounts, Verdict,
};
pub use sniff::{UploadKind, is_empty_zip, sniff_upload};
