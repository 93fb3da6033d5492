//! Generators of ordinary documents and bundles (PDFs with a text layer, scanned-style
//! PDFs, ZIPs), for tests, benchmarks and the sample bundle. Behind the `fixtures`
//! feature: production code never needs them.

use std::io::{Cursor, Write};

use flate2::{Compress, Compression, FlushCompress};
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

/// A raw deflate stream inflating to `total` zero bytes without ever holding
/// them: one sync-flushed block of zeros is repeated, which is valid because
/// its back-references only ever see zeros.
pub fn zeros_deflate_stream(total: u64) -> Vec<u8> {
    const BLOCK: usize = 1024 * 1024;
    let zeros = vec![0u8; BLOCK];
    let mut compressor = Compress::new(Compression::best(), false);
    let mut deflate = |flush: FlushCompress, input: &[u8]| -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        let mut consumed = 0usize;
        loop {
            let before_in = compressor.total_in();
            if let Err(e) = compressor.compress_vec(&input[consumed..], &mut out, flush) {
                panic!("deflate failed: {e}");
            }
            consumed += (compressor.total_in() - before_in) as usize;
            if consumed == input.len() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(64 * 1024);
        }
    };
    let first = deflate(FlushCompress::Sync, &zeros);
    let repeated = deflate(FlushCompress::Sync, &zeros);
    let last = deflate(FlushCompress::Finish, &[]);
    let blocks = total.div_ceil(BLOCK as u64).max(1);
    let mut stream = first;
    for _ in 1..blocks {
        stream.extend_from_slice(&repeated);
    }
    stream.extend_from_slice(&last);
    stream
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

/// The hostile PDFs every reader of untrusted PDFs is tested with (built to crash,
/// hang or exhaust a reader), by name: the ingest crate's `tests/hostile_pdfs.rs`
/// judges them with every engine, the statements API extracts them.
pub fn hostile_pdfs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("broken-xref.pdf", broken_xref_pdf()),
        ("no-startxref.pdf", no_startxref_pdf()),
        ("page-tree-loop.pdf", page_tree_containing_itself_pdf()),
        ("parent-loop.pdf", parent_loop_pdf()),
        ("reference-loop.pdf", reference_loop_pdf()),
        ("self-drawing-form.pdf", self_drawing_form_pdf()),
        ("two-billion-pages.pdf", two_billion_pages_pdf()),
        ("decompression-bomb.pdf", decompression_bomb_pdf()),
    ]
}

/// Offsets of the xref table overwritten with nines.
pub fn broken_xref_pdf() -> Vec<u8> {
    let mut pdf = text_pdf(&["Broken but readable?"]);
    let xref = find(&pdf, b"xref\n0 ");
    for byte in &mut pdf[xref + 30..xref + 80] {
        if byte.is_ascii_digit() {
            *byte = b'9';
        }
    }
    pdf
}

/// The `startxref` offset is not a number.
pub fn no_startxref_pdf() -> Vec<u8> {
    let mut pdf = text_pdf(&["No way in"]);
    let at = find(&pdf, b"startxref\n") + "startxref\n".len();
    pdf[at] = b'x';
    pdf
}

/// The page tree lists itself among its kids.
pub fn page_tree_containing_itself_pdf() -> Vec<u8> {
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let contents = pdf.stream("", b"BT /F1 12 Tf (loop) Tj ET");
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] /Contents {contents} 0 R >>"
    ));
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{tree} 0 R {page} 0 R {tree} 0 R] /Count 3 >>"),
    );
    pdf.build(catalog)
}

/// No MediaBox anywhere and `/Parent` pointing in a circle: a reader that walks up
/// for inherited attributes never stops.
pub fn parent_loop_pdf() -> Vec<u8> {
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let other = pdf.reserve();
    let contents = pdf.stream("", b"BT (x) Tj ET");
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {other} 0 R /Contents {contents} 0 R >>"
    ));
    pdf.set(
        other,
        format!("<< /Type /Pages /Parent {other} 0 R /Kids [] /Count 0 >>"),
    );
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.build(catalog)
}

/// Two objects that are references to each other, used as the page's box,
/// resources and contents.
pub fn reference_loop_pdf() -> Vec<u8> {
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let a = pdf.reserve();
    let b = pdf.reserve();
    pdf.set(a, format!("{b} 0 R"));
    pdf.set(b, format!("{a} 0 R"));
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {tree} 0 R /MediaBox {a} 0 R /Resources {b} 0 R /Contents {a} 0 R >>"
    ));
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.build(catalog)
}

/// A form XObject whose content draws itself.
pub fn self_drawing_form_pdf() -> Vec<u8> {
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let form = pdf.reserve();
    let body = b"/Fm1 Do";
    let mut form_body = format!(
        "<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /Fm1 {form} 0 R >> >> /Length {} >>\nstream\n",
        body.len()
    )
    .into_bytes();
    form_body.extend_from_slice(body);
    form_body.extend_from_slice(b"\nendstream");
    pdf.set(form, form_body);
    let contents = pdf.stream("", b"/Fm1 Do");
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] \
         /Resources << /XObject << /Fm1 {form} 0 R >> >> /Contents {contents} 0 R >>"
    ));
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.build(catalog)
}

/// One page whose tree claims 2,147,483,647; the xref offsets after the edit are off
/// by a few bytes, as in many real damaged files.
pub fn two_billion_pages_pdf() -> Vec<u8> {
    let pdf = text_pdf(&["Only page"]);
    let needle = b"/Count 1 >>";
    let at = find(&pdf, needle);
    let mut huge = pdf[..at].to_vec();
    huge.extend_from_slice(b"/Count 2147483647 >>");
    huge.extend_from_slice(&pdf[at + needle.len()..]);
    huge
}

/// A page whose content stream inflates to 4 GiB of zeros (about 4 MB on disk).
pub fn decompression_bomb_pdf() -> Vec<u8> {
    let mut zlib = vec![0x78, 0xda];
    zlib.extend_from_slice(&zeros_deflate_stream(4 * 1024 * 1024 * 1024));
    zlib.extend_from_slice(&[0, 0, 0, 0]);
    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let contents = pdf.stream("/Filter /FlateDecode", &zlib);
    let page = pdf.add(format!(
        "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] /Contents {contents} 0 R >>"
    ));
    pdf.set(catalog, format!("<< /Type /Catalog /Pages {tree} 0 R >>"));
    pdf.set(
        tree,
        format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"),
    );
    pdf.build(catalog)
}
