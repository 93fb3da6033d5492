//! `quire extract FILE.pdf`: the statement pipeline on this machine, no server and no
//! network: page text with layout in a confined child (`pdftotext -layout` when
//! installed, else the built-in engine), then a table per statement with its checks.

use std::io::Write;
use std::path::PathBuf;

use quire_ingest::{Limits, OcrTools, PdfChildCommand, PdfExtractor, PopplerTools};

use crate::config::StatementsOcr;
use quire_statements::{Statement, ValueKind};

use crate::statements::service::{ExtractError, Extracted, extract_statements};

#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// The PDF to read.
    pub file: PathBuf,
    /// `table` (default) or `json` (the whole analysis).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ExtractFormat,
    /// OCR of pages with no text layer: auto (when tesseract and pdftoppm are on PATH) or off.
    #[arg(long, env = "STATEMENTS_OCR", value_enum, default_value = "auto")]
    pub ocr: StatementsOcr,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExtractFormat {
    Table,
    Json,
}

fn extractor() -> anyhow::Result<PdfExtractor> {
    Ok(match PopplerTools::find_on_path() {
        Some(tools) => PdfExtractor::Pdftotext(tools.with_layout(true)),
        None => PdfExtractor::Child(PdfChildCommand::current_exe()?),
    })
}

/// Runs the command; returns the exit code (1: the PDF could not be read, 2: usage).
pub fn run(args: &ExtractArgs) -> i32 {
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return 2;
        }
    };
    let engine = match extractor() {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: no PDF text engine: {e:#}");
            return 1;
        }
    };
    eprintln!(
        "reading {} ({} bytes) with {}…",
        args.file.display(),
        bytes.len(),
        engine.engine_name()
    );
    let ocr = match args.ocr {
        StatementsOcr::Auto => OcrTools::find_on_path(),
        StatementsOcr::Off => None,
    };
    let started = std::time::Instant::now();
    let extracted =
        match extract_statements(&engine, ocr.as_ref(), &Limits::default(), &bytes, None) {
            Ok(extracted) => extracted,
            Err(e @ (ExtractError::Encrypted | ExtractError::Unreadable(_))) => {
                eprintln!("error: {e}");
                return 1;
            }
            Err(e) => {
                eprintln!("error: extraction failed: {e}");
                return 1;
            }
        };
    eprintln!(
        "{} pages read in {} ms; {} statements",
        extracted.page_count,
        started.elapsed().as_millis(),
        extracted.analysis.statements.len()
    );
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        ExtractFormat::Json => serde_json::to_writer_pretty(&mut out, &extracted.analysis)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
        ExtractFormat::Table => write_tables(&mut out, &extracted),
    };
    match written {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn amount(value: Option<f64>, kind: ValueKind) -> String {
    let Some(v) = value else {
        return String::new();
    };
    let body = match kind {
        ValueKind::PerShare => format!("{:.2}", v.abs()),
        ValueKind::Percent => format!("{:.1}%", v.abs()),
        ValueKind::Amount => {
            let digits = format!("{:.0}", v.abs());
            let mut grouped = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            grouped
        }
    };
    if v < 0.0 { format!("({body})") } else { body }
}

fn write_statement(out: &mut impl Write, s: &Statement) -> std::io::Result<()> {
    let pages: Vec<String> = s.pages.iter().map(u32::to_string).collect();
    writeln!(
        out,
        "\n== {} (page {}) {} — confidence {:.2}",
        s.statement_type,
        pages.join(", "),
        s.title.as_deref().unwrap_or(""),
        s.confidence
    )?;
    writeln!(
        out,
        "   scale {}, currency {}",
        s.scale,
        s.currency.as_deref().unwrap_or("unknown")
    )?;
    const LABEL: usize = 48;
    let width = 16usize;
    write!(out, "{:LABEL$}", "")?;
    for period in &s.periods {
        let head = period
            .end_date
            .clone()
            .unwrap_or_else(|| period.label.clone());
        let head: String = head.chars().take(width - 1).collect();
        write!(out, "{head:>width$}")?;
    }
    writeln!(out)?;
    write!(out, "{:LABEL$}", "")?;
    for period in &s.periods {
        let months = period
            .months
            .map_or_else(|| "point".to_owned(), |m| format!("{m} months"));
        write!(out, "{months:>width$}")?;
    }
    writeln!(out)?;
    for item in &s.line_items {
        let indent = "  ".repeat(item.level.min(6) as usize);
        let label: String = format!("{indent}{}", item.label)
            .chars()
            .take(LABEL - 1)
            .collect();
        write!(out, "{label:LABEL$}")?;
        for value in &item.values {
            write!(out, "{:>width$}", amount(*value, item.kind))?;
        }
        writeln!(out)?;
    }
    if s.checks.is_empty() {
        writeln!(out, "   checks: none apply")?;
    }
    for check in &s.checks {
        writeln!(
            out,
            "   {} {} [{}]: expected {}, actual {} (tolerance {})",
            if check.passed { "PASS" } else { "FAIL" },
            check.name,
            check.period,
            check.expected,
            check.actual,
            check.tolerance
        )?;
    }
    Ok(())
}

fn write_tables(out: &mut impl Write, extracted: &Extracted) -> std::io::Result<()> {
    writeln!(out, "pages:")?;
    for page in &extracted.verdicts {
        writeln!(
            out,
            "  {:>4}  {:<22} {:.2}{}",
            page.page,
            page.statement_type,
            page.confidence,
            if page.needs_ocr {
                "  needs OCR (no text layer)"
            } else if page.ocr {
                "  read by OCR"
            } else {
                ""
            }
        )?;
    }
    for statement in &extracted.analysis.statements {
        write_statement(out, statement)?;
    }
    let failed: usize = extracted
        .analysis
        .statements
        .iter()
        .map(|s| s.failed_checks().count())
        .sum();
    writeln!(
        out,
        "\n{} statements, {} checks failed",
        extracted.analysis.statements.len(),
        failed
    )
}
