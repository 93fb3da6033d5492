//! Standalone PDF extraction child: reads a PDF on stdin, writes a
//! `PdfOutcome` as JSON on stdout. The service binary normally plays this
//! role itself through its hidden subcommand; this one serves the tests and
//! deployments that prefer a separate helper.

fn main() {
    std::process::exit(quire_ingest::run_pdf_extraction_child());
}
