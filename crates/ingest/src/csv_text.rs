//! CSV to header-aware row text (`Row 2: item=Chair; price=120.00`).

use std::fmt::Write as _;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;

/// Delimiters seen in the wild: Excel in many European locales writes `;`.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CsvProblem {
    NotText(String),
    Inconsistent { row: u64, expected: u64, found: u64 },
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsvText {
    pub text: String,
    pub encoding: &'static str,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedText {
    pub text: String,
    pub encoding: &'static str,
}

/// Decodes bytes that claim to be text: a BOM wins, then UTF-8, then the
/// legacy encoding `chardetng` finds most likely (it tells Windows-1252 from
/// Windows-1251, Shift_JIS, GBK and others by byte statistics). UTF-16
/// without a BOM is not guessed: it is indistinguishable from binary data.
pub(crate) fn decode_text(bytes: &[u8]) -> Result<DecodedText, String> {
    let (text, encoding) = if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let body = &bytes[bom_len..];
        match encoding.decode_without_bom_handling_and_without_replacement(body) {
            Some(text) => (text.into_owned(), encoding),
            None => return Err(format!("it is not valid {}", encoding.name())),
        }
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        (text.to_owned(), encoding_rs::UTF_8)
    } else {
        let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
        detector.feed(bytes, true);
        let encoding = detector.guess(None, Utf8Detection::Deny);
        match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
            Some(text) => (text.into_owned(), encoding),
            None => return Err("its text encoding could not be recognised".to_owned()),
        }
    };
    check_printable(&text)?;
    Ok(DecodedText {
        text,
        encoding: encoding.name(),
    })
}

/// Every single-byte legacy encoding "decodes" any byte string, so binary data
/// is caught afterwards by its control characters.
fn check_printable(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err("it contains NUL bytes, so it is binary data".to_owned());
    }
    let total = text.chars().count();
    let controls = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
        .count();
    if controls * 100 > total {
        return Err("it contains control characters, so it is binary data".to_owned());
    }
    Ok(())
}

pub(crate) fn csv_to_text(bytes: &[u8], max_text: usize) -> Result<CsvText, CsvProblem> {
    let decoded = decode_text(bytes).map_err(CsvProblem::NotText)?;
    let delimiter = guess_delimiter(&decoded.text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .delimiter(delimiter)
        .from_reader(decoded.text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(CsvProblem::Invalid(e.to_string())),
        None => return Err(CsvProblem::Invalid("there is no header row".to_owned())),
    };
    let columns: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, name)| match one_line(name.trim()) {
            name if name.is_empty() => format!("column {}", i + 1),
            name => name,
        })
        .collect();
    let mut out = Lines::new(max_text);
    out.push(&format!("Columns: {}", columns.join("; ")));
    // The header is row 1, as in a spreadsheet, so row numbers match what the
    // user sees when opening the file.
    let mut row_number = 1u64;
    for record in records {
        row_number += 1;
        let record = record.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => CsvProblem::Inconsistent {
                row: row_number,
                expected: *expected_len,
                found: *len,
            },
            _ => CsvProblem::Invalid(e.to_string()),
        })?;
        if out.truncated {
            // Keep parsing: a malformed row further down must still reject the file.
            continue;
        }
        let mut line = String::new();
        for (name, value) in columns.iter().zip(record.iter()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if !line.is_empty() {
                line.push_str("; ");
            }
            let _ = write!(line, "{name}={}", one_line(value));
        }
        if !line.is_empty() {
            out.push(&format!("Row {row_number}: {line}"));
        }
    }
    Ok(CsvText {
        text: out.text,
        encoding: decoded.encoding,
        truncated: out.truncated,
    })
}

/// Quoted cells may span lines; flattening them keeps one row per line.
fn one_line(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Picks the candidate occurring most often (outside quotes) in the first
/// record; ties and single-column files fall back to a comma.
fn guess_delimiter(text: &str) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for byte in text.bytes() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = DELIMITERS.iter().position(|d| *d == byte) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    for i in 1..DELIMITERS.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

struct Lines {
    text: String,
    max: usize,
    truncated: bool,
}

impl Lines {
    fn new(max: usize) -> Self {
        Self {
            text: String::new(),
            max,
            truncated: false,
        }
    }

    fn push(&mut self, line: &str) {
        if self.truncated || self.text.len() + line.len() + 1 > self.max {
            self.truncated = true;
            return;
        }
        self.text.push_str(line);
        self.text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> CsvText {
        match csv_to_text(bytes, usize::MAX) {
            Ok(t) => t,
            Err(e) => panic!("refused: {e:?}"),
        }
    }

    #[test]
    fn rows_are_written_with_their_header_names_and_spreadsheet_numbers() {
        let out = text(b"item,price\nChair,120.00\nDesk,\n");
        assert_eq!(
            out.text,
            "Columns: item; price\nRow 2: item=Chair; price=120.00\nRow 3: item=Desk\n"
        );
        assert_eq!(out.encoding, "UTF-8");
    }

    #[test]
    fn semicolon_separated_files_are_understood() {
        let out = text("Artikel;Preis\nStuhl;12,50\n".as_bytes());
        assert!(
            out.text.contains("Row 2: Artikel=Stuhl; Preis=12,50"),
            "{}",
            out.text
        );
    }

    #[test]
    fn ragged_rows_are_reported_with_the_row_number() {
        assert_eq!(
            csv_to_text(b"a,b\n1,2\n3\n", usize::MAX),
            Err(CsvProblem::Inconsistent {
                row: 3,
                expected: 2,
                found: 1
            })
        );
    }

    #[test]
    fn binary_data_is_not_text() {
        assert!(matches!(
            csv_to_text(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", usize::MAX),
            Err(CsvProblem::NotText(_))
        ));
    }

    #[test]
    fn utf16_with_a_bom_is_decoded() {
        let mut bytes = vec![0xff, 0xfe];
        for unit in "имя,цена\nСтул,10\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let out = text(&bytes);
        assert_eq!(out.encoding, "UTF-16LE");
        assert!(
            out.text.contains("Row 2: имя=Стул; цена=10"),
            "{}",
            out.text
        );
    }
}
