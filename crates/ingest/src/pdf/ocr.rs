//! OCR of one PDF page with Tesseract, for pages that have no text layer (scans).
//!
//! Two programs, each under the same confinement as every engine (own process
//! group, `RLIMIT_AS`, `RLIMIT_CPU`, no core dumps, parent-death signal,
//! wall-clock timeout, output cap):
//!
//! 1. Poppler's `pdftoppm` rasterises the page in grey, fitted into a
//!    [`RASTER_SIDE`]-pixel square (about 300 dpi on a letter or A4 page): the
//!    size of the image is bounded whatever page size a hostile PDF declares;
//! 2. `tesseract stdin stdout tsv` reads the image and answers one row per word
//!    with its box (Debian `tesseract-ocr` with `tesseract-ocr-eng`), with
//!    `OMP_THREAD_LIMIT=1` so one page takes one core.
//!
//! [`layout_from_tsv`] then places the words on a character grid the way
//! `pdftotext -layout` does (a word's column from its left edge, one space
//! inside a phrase, at least two between columns), so a table reads the same as
//! a text layer would and the same parsers apply.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::confine::{Input, describe_status, find_on_path};
use crate::limits::Limits;

use super::{PdfError, last_line, run_confined};

/// The longest side of the page image, in pixels.
pub const RASTER_SIDE: u32 = 3300;

/// Bytes of the grey page image `pdftoppm` may write (a PGM of at most
/// `RASTER_SIDE`² pixels and its header).
const RASTER_LIMIT: u64 = (RASTER_SIDE as u64) * (RASTER_SIDE as u64) + 4096;

/// Bytes of Tesseract's TSV answer kept.
const TSV_LIMIT: u64 = 8 * 1024 * 1024;

/// The programs OCR needs: Poppler's `pdftoppm` and `tesseract`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrTools {
    pdftoppm: PathBuf,
    tesseract: PathBuf,
    language: String,
}

/// What OCR of one page gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcrOutcome {
    /// The page's words laid out as `pdftotext -layout` would (may be empty: a
    /// blank page).
    Text(String),
    /// The PDF (or this page) cannot be rasterised.
    Unreadable { detail: String },
}

impl OcrTools {
    pub fn new(pdftoppm: impl Into<PathBuf>, tesseract: impl Into<PathBuf>) -> Self {
        Self {
            pdftoppm: pdftoppm.into(),
            tesseract: tesseract.into(),
            language: "eng".to_owned(),
        }
    }

    /// Both programs from the directories of `PATH`, if both are there.
    pub fn find_on_path() -> Option<Self> {
        Some(Self::new(
            find_on_path("pdftoppm")?,
            find_on_path("tesseract")?,
        ))
    }

    pub fn pdftoppm(&self) -> &Path {
        &self.pdftoppm
    }

    pub fn tesseract(&self) -> &Path {
        &self.tesseract
    }
}

/// OCRs page `page` (1-based) of `pdf`. Blocking; each program gets
/// `limits.pdf_timeout` and `limits.pdf_memory_bytes`.
pub fn ocr_pdf_page(
    tools: &OcrTools,
    pdf: &[u8],
    page: u32,
    limits: &Limits,
) -> Result<OcrOutcome, PdfError> {
    let abort = AtomicBool::new(false);
    let mut raster = Command::new(&tools.pdftoppm);
    raster
        .args(["-gray", "-scale-to"])
        .arg(RASTER_SIDE.to_string())
        .arg("-f")
        .arg(page.to_string())
        .arg("-l")
        .arg(page.to_string())
        // `-` reads the PDF from stdin; with no output root the image goes to stdout.
        .arg("-");
    let ran = run_confined(
        raster,
        Input::Bytes(pdf),
        limits,
        Instant::now() + limits.pdf_timeout,
        RASTER_LIMIT,
        &abort,
    )?;
    if ran.overflowed {
        return Ok(OcrOutcome::Unreadable {
            detail: "its page image is larger than expected".to_owned(),
        });
    }
    match ran.status.and_then(|status| status.code()) {
        Some(0) if !ran.stdout.is_empty() => {}
        Some(0) => {
            return Ok(OcrOutcome::Unreadable {
                detail: format!("page {page} could not be drawn"),
            });
        }
        Some(1 | 3 | 99) => {
            return Ok(OcrOutcome::Unreadable {
                detail: format!(
                    "page {page} could not be drawn: {}",
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
    let image = ran.stdout;
    let mut ocr = Command::new(&tools.tesseract);
    ocr.env("OMP_THREAD_LIMIT", "1").args([
        "stdin",
        "stdout",
        "-l",
        &tools.language,
        "--psm",
        "6",
        "tsv",
    ]);
    let ran = run_confined(
        ocr,
        Input::Bytes(&image),
        limits,
        Instant::now() + limits.pdf_timeout,
        TSV_LIMIT,
        &abort,
    )?;
    if ran.overflowed {
        return Err(PdfError::OutputTooLarge { limit: TSV_LIMIT });
    }
    if !ran.status.is_some_and(|status| status.success()) {
        return Err(PdfError::Crashed {
            status: ran
                .status
                .map_or_else(|| "no exit status".to_owned(), describe_status),
            stderr: ran.stderr,
        });
    }
    Ok(OcrOutcome::Text(layout_from_tsv(&String::from_utf8_lossy(
        &ran.stdout,
    ))))
}

/// One recognised word and its box, in pixels.
#[derive(Debug, Clone, PartialEq)]
struct Word {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    text: String,
}

impl Word {
    fn middle(&self) -> f64 {
        self.top + self.height / 2.0
    }
}

fn words_of(tsv: &str) -> Vec<Word> {
    tsv.lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            // level, page, block, par, line, word, left, top, width, height, conf, text
            if cells.len() < 12 || cells[0] != "5" {
                return None;
            }
            let text = cells[11..].join(" ").trim().to_owned();
            if text.is_empty() {
                return None;
            }
            let number = |i: usize| cells[i].trim().parse::<f64>().ok();
            Some(Word {
                left: number(6)?,
                top: number(7)?,
                width: number(8)?.max(1.0),
                height: number(9)?.max(1.0),
                text,
            })
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Tesseract's words (`tsv` output) as lines of text with the columns kept
/// aligned by spaces, like `pdftotext -layout`: words whose vertical middles are
/// within half a line of each other form a line; a word starts at the column
/// of its left edge on a grid of the median character width; words closer than
/// a character stay one space apart (a phrase), others at least two (columns).
pub fn layout_from_tsv(tsv: &str) -> String {
    let mut words = words_of(tsv);
    let Some(char_width) = median(
        words
            .iter()
            .filter(|w| w.text.chars().count() >= 3)
            .map(|w| w.width / w.text.chars().count() as f64)
            .collect(),
    ) else {
        return String::new();
    };
    let char_width = char_width.max(1.0);
    let Some(line_height) = median(words.iter().map(|w| w.height).collect()) else {
        return String::new();
    };
    words.sort_by(|a, b| a.middle().total_cmp(&b.middle()));
    let mut lines: Vec<Vec<Word>> = Vec::new();
    let mut line_middle = f64::NEG_INFINITY;
    for word in words {
        match lines.last_mut() {
            Some(line) if (word.middle() - line_middle).abs() <= line_height / 2.0 => {
                line.push(word);
                line_middle = line.iter().map(Word::middle).sum::<f64>() / line.len() as f64;
            }
            _ => {
                line_middle = word.middle();
                lines.push(vec![word]);
            }
        }
    }
    let mut out = String::new();
    for mut line in lines {
        line.sort_by(|a, b| a.left.total_cmp(&b.left));
        let mut text = String::new();
        let mut column = 0usize;
        let mut previous_right: Option<f64> = None;
        for word in &line {
            let grid = (word.left / char_width).round().max(0.0) as usize;
            let start = match previous_right {
                None => grid,
                Some(right) if word.left - right < char_width => column + 1,
                Some(_) => grid.max(column + 2),
            };
            while column < start {
                text.push(' ');
                column += 1;
            }
            text.push_str(&word.text);
            column += word.text.chars().count();
            previous_right = Some(word.left + word.width);
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsv(words: &[(u32, u32, u32, &str)]) -> String {
        let mut out = String::from(
            "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n",
        );
        out.push_str("1\t1\t0\t0\t0\t0\t0\t0\t2550\t3300\t-1\t\n");
        for (left, top, width, text) in words {
            out.push_str(&format!(
                "5\t1\t1\t1\t1\t1\t{left}\t{top}\t{width}\t24\t95.0\t{text}\n"
            ));
        }
        out
    }

    #[test]
    fn words_of_a_row_keep_their_columns_and_phrases_one_space_apart() {
        // 20 px per character; "Net sales" a phrase, two value columns.
        let text = layout_from_tsv(&tsv(&[
            (200, 600, 60, "Net"),
            (270, 601, 100, "sales"),
            (1500, 598, 120, "81,450"),
            (1800, 600, 120, "74,200"),
            (200, 700, 80, "Cost"),
            (1520, 702, 100, "8,870"),
            (1820, 700, 100, "5,260"),
        ]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("          Net sales "), "{text}");
        assert_eq!(lines[0].find("81,450"), Some(75), "{text}");
        assert_eq!(lines[0].find("74,200"), Some(90), "{text}");
        assert_eq!(lines[1].find("8,870"), Some(76), "{text}");
        assert_eq!(lines[1].find("5,260"), Some(91), "{text}");
    }

    #[test]
    fn no_words_is_no_text() {
        assert_eq!(layout_from_tsv(""), "");
        assert_eq!(layout_from_tsv(&tsv(&[])), "");
    }
}
