//! Generators of ordinary documents and bundles (PDFs with a text layer, scanned-style
//! PDFs, ZIPs), for tests, benchmarks and the sample bundle. Behind the `fixtures`
//! feature: production code never needs them.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

/// A PDF assembled from numbered object bodies, with a correct xref table.
#[derive(Default)]
pub struct PdfBuilder {
    objects: Vec<Vec<u8>>,
}

impl PdfBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves the next object number.
    pub fn reserve(&mut self) -> usize {
        self.objects.push(Vec::new());
        self.objects.len()
    }

    pub fn set(&mut self, id: usize, body: impl AsRef<[u8]>) {
        self.objects[id - 1] = body.as_ref().to_vec();
    }

    pub fn add(&mut self, body: impl AsRef<[u8]>) -> usize {
        let id = self.reserve();
        self.set(id, body);
        id
    }

    pub fn stream(&mut self, dict_extra: &str, data: &[u8]) -> usize {
        let mut body = format!("<< /Length {} {dict_extra} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.add(body)
    }

    pub fn build(&self, root: usize) -> Vec<u8> {
        self.build_with_trailer(&format!("/Root {root} 0 R"))
    }

    pub fn build_with_trailer(&self, trailer: &str) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in self.objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n", self.objects.len() + 1).as_bytes());
        out.extend_from_slice(b"0000000000 65535 f \n");
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} {trailer} >>\nstartxref\n{xref}\n%%EOF\n",
                self.objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}

fn escape_pdf_string(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

/// Characters per line in [`text_pdf`]: at 7 pt Helvetica, ordinary text of this
/// length stays inside the page's margins.
const LINE_CHARS: usize = 140;

/// Splits text into lines of at most [`LINE_CHARS`] characters at spaces (a longer
/// word gets a line of its own).
fn wrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > LINE_CHARS {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// A PDF with each page's text in Helvetica lines that fit on the page, as a PDF
/// writer lays text out (a reader like Poppler leaves out what falls off the page).
pub fn text_pdf(pages: &[&str]) -> Vec<u8> {
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let font = pdf
        .add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    let mut kids = Vec::new();
    for text in pages {
        let lines: Vec<String> = wrap(text)
            .iter()
            .map(|line| format!("({}) Tj", escape_pdf_string(line)))
            .collect();
        let content = format!("BT /F1 7 Tf 9 TL 36 756 Td {} ET", lines.join(" T* "));
        let contents = pdf.stream("", content.as_bytes());
        let page = pdf.add(format!(
            "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 {font} 0 R >> >> /Contents {contents} 0 R >>"
        ));
        kids.push(format!("{page} 0 R"));
    }
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            kids.len()
        ),
    );
    pdf.build(catalog)
}

/// A one-page PDF showing these lines top to bottom in Helvetica, one per line,
/// exactly as given (no wrapping): for line-level checks like hyphenation.
pub fn lines_pdf(lines: &[&str]) -> Vec<u8> {
    let shown: Vec<String> = lines
        .iter()
        .map(|line| format!("({}) Tj", escape_pdf_string(line)))
        .collect();
    one_page_pdf(&format!(
        "BT /F1 11 Tf 14 TL 72 720 Td {} ET",
        shown.join(" T* ")
    ))
}

/// A one-page PDF with two columns of Helvetica lines side by side, drawn the
/// way typesetters do (the whole left column, then the right one): a reader
/// that goes by position line by line across the page mixes the columns.
pub fn two_column_pdf(left: &[&str], right: &[&str]) -> Vec<u8> {
    let column = |x: u32, lines: &[&str]| {
        let shown: Vec<String> = lines
            .iter()
            .map(|line| format!("({}) Tj", escape_pdf_string(line)))
            .collect();
        format!("BT /F1 10 Tf 13 TL {x} 720 Td {} ET", shown.join(" T* "))
    };
    one_page_pdf(&format!("{}\n{}", column(56, left), column(318, right)))
}

fn one_page_pdf(content: &str) -> Vec<u8> {
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let font = pdf
        .add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    let contents = pdf.stream("", content.as_bytes());
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] \
         /Resources << /Font << /F1 {font} 0 R >> >> /Contents {contents} 0 R >>"
    ));
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.build(catalog)
}

/// A one-page PDF whose only content is an image, as a scanner makes.
pub fn scanned_pdf() -> Vec<u8> {
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let image = pdf.stream(
        "/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray /BitsPerComponent 8",
        &[0x00, 0xff, 0xff, 0x00],
    );
    let contents = pdf.stream("", b"q 400 0 0 400 100 200 cm /Im1 Do Q");
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] \
         /Resources << /XObject << /Im1 {image} 0 R >> >> /Contents {contents} 0 R >>"
    ));
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.build(catalog)
}

/// A ZIP written by the `zip` crate itself, deflate-compressed.
pub fn zip_of(files: &[(&str, &[u8])]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        writer.start_file(*name, options)?;
        writer.write_all(content)?;
    }
    Ok(writer.finish()?.into_inner())
}
