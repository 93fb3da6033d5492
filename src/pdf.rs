//! The PDF programs as the settings choose them, shared by every capability that reads
//! PDFs (document uploads, statement extraction): the judging limits, the text engine
//! (`PDF_TEXT_ENGINE`), the layout engine for tables, and the OCR tools
//! (`STATEMENTS_OCR`). Each is looked up on `PATH` when asked for, so installing a
//! program needs no restart.

use quire_ingest::{
    MupdfTool, OcrTools, PDF_CHILD_SUBCOMMAND, PdfChildCommand, PdfExtractor, PopplerTools,
};

use crate::config::{PdfTextEngine, Settings, StatementsOcr};

/// The judging limits from the settings (`MAX_FILE_SIZE`, `PDF_WORKERS`), shared by
/// uploads and statement extraction.
pub fn limits(settings: &Settings) -> quire_ingest::Limits {
    let file_limit = settings.max_file_size.0;
    let defaults = quire_ingest::Limits::default();
    quire_ingest::Limits {
        max_archive_bytes: file_limit,
        // 0 keeps the default: one extraction process per core.
        pdf_workers: match settings.pdf_workers {
            0 => defaults.pdf_workers,
            n => usize::from(n),
        },
        ..defaults
    }
}

/// The PDF text engine `PDF_TEXT_ENGINE` asks for, found on `PATH` now (so installing
/// one needs no restart). `auto` takes the fastest installed engine that passes the
/// quality tests (crates/ingest/tests/quality.rs): MuPDF's `mutool`, else Poppler's
/// `pdftotext`, else the built-in child.
pub fn text_extractor(settings: &Settings) -> anyhow::Result<PdfExtractor> {
    let missing =
        |tool: &str| anyhow::anyhow!("PDF_TEXT_ENGINE asks for {tool}, but it is not on PATH");
    let found = match settings.pdf_text_engine {
        PdfTextEngine::Builtin => None,
        PdfTextEngine::Auto => MupdfTool::find_on_path()
            .map(PdfExtractor::Mupdf)
            .or_else(|| PopplerTools::find_on_path().map(PdfExtractor::Pdftotext)),
        PdfTextEngine::Mupdf => Some(PdfExtractor::Mupdf(
            MupdfTool::find_on_path().ok_or_else(|| missing("mutool"))?,
        )),
        PdfTextEngine::Pdftotext => Some(PdfExtractor::Pdftotext(
            PopplerTools::find_on_path().ok_or_else(|| missing("pdftotext"))?,
        )),
    };
    if let Some(engine) = found {
        return Ok(engine);
    }
    let command = match &settings.pdf_extractor {
        Some(path) => PdfChildCommand::new(path.clone()).arg(PDF_CHILD_SUBCOMMAND),
        None => PdfChildCommand::current_exe()?,
    };
    Ok(PdfExtractor::Child(command))
}

/// The engine for page text with layout (tables): Poppler's `pdftotext -layout` when
/// installed, else [`text_extractor`] (no column alignment: a table parser reads it as
/// one cell per line).
pub fn layout_extractor(settings: &Settings) -> anyhow::Result<PdfExtractor> {
    match PopplerTools::find_on_path() {
        Some(tools) => Ok(PdfExtractor::Pdftotext(tools.with_layout(true))),
        None => text_extractor(settings),
    }
}

/// The OCR programs (`tesseract`, `pdftoppm`) when `STATEMENTS_OCR` allows OCR and
/// both are on `PATH`.
pub fn ocr_tools(settings: &Settings) -> Option<OcrTools> {
    match settings.statements_ocr {
        StatementsOcr::Auto => OcrTools::find_on_path(),
        StatementsOcr::Off => None,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn settings(args: &[&str]) -> Settings {
        let argv = ["quire", "serve"].iter().chain(args);
        crate::cli::Cli::try_parse_from(argv)
            .expect("test settings parse")
            .settings
    }

    #[test]
    fn pdf_workers_sets_the_extraction_pool_and_zero_means_one_per_core() {
        assert_eq!(limits(&settings(&["--pdf-workers=3"])).pdf_workers, 3);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(limits(&settings(&[])).pdf_workers, cores);
        assert_eq!(
            limits(&settings(&["--max-file-size=5MB"])).max_archive_bytes,
            5 << 20
        );
    }
}
