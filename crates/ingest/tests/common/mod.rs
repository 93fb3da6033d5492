//! Builders for hostile and ordinary test uploads, shared by the test files.
#![allow(dead_code)]

use std::io::Write;
use std::ops::ControlFlow;
use std::time::Duration;

use flate2::Compression;
#[allow(unused_imports)]
pub use quire_ingest::fixtures::{PdfBuilder, scanned_pdf, text_pdf, zeros_deflate_stream};
use quire_ingest::{
    BundleError, BundleReport, EntryContent, EntryReport, Limits, MupdfTool, PdfChildCommand,
    PdfExtractor, PopplerTools, RejectReason, Verdict, judge_upload,
};

pub fn child_extractor() -> PdfExtractor {
    PdfExtractor::Child(PdfChildCommand::new(env!(
        "CARGO_BIN_EXE_quire-pdf-extract"
    )))
}

/// Poppler's tools from `PATH`. Missing tools fail the test under CI (which
/// installs poppler-utils), so the pdftotext engine cannot go untested there
/// unnoticed; elsewhere its cases are left out with a note.
pub fn poppler() -> Option<PopplerTools> {
    match PopplerTools::find_on_path() {
        Some(tools) => Some(tools),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI is set but pdftotext is not on PATH: install poppler-utils")
        }
        None => {
            eprintln!("pdftotext is not on PATH: the pdftotext engine is not tested");
            None
        }
    }
}

/// MuPDF's `mutool` from `PATH`; as with [`poppler`], missing fails under CI
/// (which installs mupdf-tools) and is a note elsewhere.
pub fn mupdf() -> Option<MupdfTool> {
    match MupdfTool::find_on_path() {
        Some(tool) => Some(tool),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI is set but mutool is not on PATH: install mupdf-tools")
        }
        None => {
            eprintln!("mutool is not on PATH: the mupdf engine is not tested");
            None
        }
    }
}

/// Every PDF engine the service can use: the built-in child, pdftotext and
/// MuPDF.
pub fn engines() -> Vec<PdfExtractor> {
    let mut engines = vec![child_extractor()];
    engines.extend(poppler().map(PdfExtractor::Pdftotext));
    engines.extend(mupdf().map(PdfExtractor::Mupdf));
    engines
}

/// Limits small enough that bomb tests inflate only a few MiB.
pub fn small_limits() -> Limits {
    Limits {
        max_file_bytes: 4 * 1024 * 1024,
        max_total_bytes: 16 * 1024 * 1024,
        pdf_timeout: Duration::from_secs(20),
        ..Limits::default()
    }
}

/// Everything a test wants to look at after judging.
pub struct Outcome {
    pub report: BundleReport,
    pub delivered: Vec<(EntryReport, Option<EntryContent>)>,
    /// The PDF engine used, for failure messages.
    pub engine: &'static str,
}

impl Outcome {
    pub fn entry(&self, path: &str) -> &EntryReport {
        match self.report.entry(path) {
            Some(entry) => entry,
            None => panic!(
                "[{}] no entry {path:?} in {:#?}",
                self.engine, self.report.entries
            ),
        }
    }

    pub fn content(&self, path: &str) -> &EntryContent {
        let found = self
            .delivered
            .iter()
            .find(|(report, _)| report.path == path)
            .and_then(|(_, content)| content.as_ref());
        match found {
            Some(content) => content,
            None => panic!(
                "[{}] no content for {path:?} in {:#?}",
                self.engine, self.report.entries
            ),
        }
    }

    pub fn text(&self, path: &str) -> String {
        self.content(path)
            .pages
            .iter()
            .map(|page| page.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn assert_rejected(&self, path: &str, reason: RejectReason) {
        let entry = self.entry(path);
        let engine = self.engine;
        assert_eq!(entry.verdict, Verdict::Rejected, "[{engine}] {entry:#?}");
        assert_eq!(entry.reason, Some(reason), "[{engine}] {entry:#?}");
        assert!(
            entry.message.as_deref().is_some_and(|m| !m.is_empty()),
            "[{engine}] {entry:#?}"
        );
    }

    pub fn assert_accepted(&self, path: &str) -> &EntryReport {
        let entry = self.entry(path);
        assert_eq!(
            entry.verdict,
            Verdict::Accepted,
            "[{}] {entry:#?}",
            self.engine
        );
        entry
    }
}

pub fn try_judge_bytes(
    bytes: &[u8],
    name: &str,
    limits: &Limits,
) -> Result<Outcome, Box<BundleError>> {
    try_judge_bytes_with(&child_extractor(), bytes, name, limits)
}

pub fn try_judge_bytes_with(
    pdf: &PdfExtractor,
    bytes: &[u8],
    name: &str,
    limits: &Limits,
) -> Result<Outcome, Box<BundleError>> {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("no temp dir: {e}"),
    };
    let path = dir.path().join("upload.bin");
    if let Err(e) = std::fs::write(&path, bytes) {
        panic!("cannot write upload: {e}");
    }
    let mut delivered = Vec::new();
    let result = judge_upload(&path, name, limits, pdf, |judged| {
        delivered.push((judged.report.clone(), judged.content));
        Ok(ControlFlow::Continue(()))
    });
    match result {
        Ok(report) => {
            assert_eq!(report.entries.len(), delivered.len());
            Ok(Outcome {
                report,
                delivered,
                engine: pdf.engine_name(),
            })
        }
        Err(e) => Err(Box::new(e)),
    }
}

pub fn judge_bytes(bytes: &[u8], name: &str, limits: &Limits) -> Outcome {
    match try_judge_bytes(bytes, name, limits) {
        Ok(outcome) => outcome,
        Err(e) => panic!("judging failed: {e} ({:#?})", e.judged_so_far),
    }
}

pub fn judge_zip(bytes: &[u8]) -> Outcome {
    judge_bytes(bytes, "bundle.zip", &small_limits())
}

pub fn judge_bytes_with(pdf: &PdfExtractor, bytes: &[u8], name: &str, limits: &Limits) -> Outcome {
    match try_judge_bytes_with(pdf, bytes, name, limits) {
        Ok(outcome) => outcome,
        Err(e) => panic!(
            "[{}] judging failed: {e} ({:#?})",
            pdf.engine_name(),
            e.judged_so_far
        ),
    }
}

pub fn judge_zip_with(pdf: &PdfExtractor, bytes: &[u8]) -> Outcome {
    judge_bytes_with(pdf, bytes, "bundle.zip", &small_limits())
}

/// A ZIP written by the `zip` crate itself, deflate-compressed.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    match quire_ingest::fixtures::zip_of(files) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot build zip: {e}"),
    }
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

pub fn raw_deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
    if let Err(e) = encoder.write_all(bytes) {
        panic!("deflate failed: {e}");
    }
    match encoder.finish() {
        Ok(out) => out,
        Err(e) => panic!("deflate failed: {e}"),
    }
}

/// One entry of a hand-built archive, with every field under test control.
#[derive(Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    /// The bytes stored in the archive (already compressed for method 8).
    pub data: Vec<u8>,
    pub method: u16,
    pub crc: u32,
    pub uncompressed: u64,
    pub flags: u16,
    pub external: u32,
    pub made_by: u16,
}

impl RawEntry {
    pub fn stored(name: &str, content: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            data: content.to_vec(),
            method: 0,
            crc: crc32(content),
            uncompressed: content.len() as u64,
            // UTF-8 names.
            flags: 1 << 11,
            // Regular file, rw-r--r--.
            external: 0o100_644 << 16,
            // Made by Unix, spec 2.0.
            made_by: (3 << 8) | 20,
        }
    }

    pub fn deflated(name: &str, content: &[u8]) -> Self {
        Self {
            data: raw_deflate(content),
            method: 8,
            ..Self::stored(name, content)
        }
    }

    fn zip64(&self) -> bool {
        self.uncompressed >= 0xffff_ffff || self.data.len() as u64 >= 0xffff_ffff
    }
}

/// Writes local headers and a central directory exactly as told, including
/// things no honest writer produces.
#[derive(Default)]
pub struct RawZip {
    body: Vec<u8>,
    central: Vec<u8>,
    records: u64,
}

impl RawZip {
    pub fn new() -> Self {
        Self::default()
    }

    /// Local header and data plus the matching central record.
    pub fn add(&mut self, entry: &RawEntry) -> u64 {
        let offset = self.add_local(entry);
        self.add_central(entry, offset);
        offset
    }

    pub fn add_local(&mut self, entry: &RawEntry) -> u64 {
        let offset = self.body.len() as u64;
        let zip64 = entry.zip64();
        let b = &mut self.body;
        b.extend_from_slice(b"PK\x03\x04");
        b.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        b.extend_from_slice(&entry.flags.to_le_bytes());
        b.extend_from_slice(&entry.method.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&entry.crc.to_le_bytes());
        if zip64 {
            b.extend_from_slice(&u32::MAX.to_le_bytes());
            b.extend_from_slice(&u32::MAX.to_le_bytes());
        } else {
            b.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
            b.extend_from_slice(&(entry.uncompressed as u32).to_le_bytes());
        }
        b.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        b.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        b.extend_from_slice(&entry.name);
        if zip64 {
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&16u16.to_le_bytes());
            b.extend_from_slice(&entry.uncompressed.to_le_bytes());
            b.extend_from_slice(&(entry.data.len() as u64).to_le_bytes());
        }
        b.extend_from_slice(&entry.data);
        offset
    }

    /// A central record pointing at `offset`, which may belong to another
    /// entry (that is how overlapping-entry bombs are made).
    pub fn add_central(&mut self, entry: &RawEntry, offset: u64) {
        let big_size = entry.uncompressed >= 0xffff_ffff;
        let c = &mut self.central;
        c.extend_from_slice(b"PK\x01\x02");
        c.extend_from_slice(&entry.made_by.to_le_bytes());
        c.extend_from_slice(&(if big_size { 45u16 } else { 20 }).to_le_bytes());
        c.extend_from_slice(&entry.flags.to_le_bytes());
        c.extend_from_slice(&entry.method.to_le_bytes());
        c.extend_from_slice(&0u32.to_le_bytes());
        c.extend_from_slice(&entry.crc.to_le_bytes());
        c.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
        if big_size {
            c.extend_from_slice(&u32::MAX.to_le_bytes());
        } else {
            c.extend_from_slice(&(entry.uncompressed as u32).to_le_bytes());
        }
        c.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        c.extend_from_slice(&(if big_size { 12u16 } else { 0 }).to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&entry.external.to_le_bytes());
        c.extend_from_slice(&(offset as u32).to_le_bytes());
        c.extend_from_slice(&entry.name);
        if big_size {
            c.extend_from_slice(&1u16.to_le_bytes());
            c.extend_from_slice(&8u16.to_le_bytes());
            c.extend_from_slice(&entry.uncompressed.to_le_bytes());
        }
        self.records += 1;
    }

    pub fn finish(self) -> Vec<u8> {
        let mut out = self.body;
        let directory_start = out.len() as u32;
        out.extend_from_slice(&self.central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(self.records as u16).to_le_bytes());
        out.extend_from_slice(&(self.records as u16).to_le_bytes());
        out.extend_from_slice(&(self.central.len() as u32).to_le_bytes());
        out.extend_from_slice(&directory_start.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }
}

impl RawZip {
    /// Ends the archive with ZIP64 end records declaring `declared` entries
    /// (honest when it equals the number added).
    pub fn finish_zip64(self, declared: u64) -> Vec<u8> {
        let mut out = self.body;
        let directory_start = out.len() as u64;
        out.extend_from_slice(&self.central);
        let record = out.len() as u64;
        out.extend_from_slice(b"PK\x06\x06");
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&declared.to_le_bytes());
        out.extend_from_slice(&declared.to_le_bytes());
        out.extend_from_slice(&(self.central.len() as u64).to_le_bytes());
        out.extend_from_slice(&directory_start.to_le_bytes());
        out.extend_from_slice(b"PK\x06\x07");
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&record.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&u16::MAX.to_le_bytes());
        out.extend_from_slice(&u16::MAX.to_le_bytes());
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }
}

pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut zip = RawZip::new();
    for entry in entries {
        zip.add(entry);
    }
    zip.finish()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> usize {
    match haystack.windows(needle.len()).position(|w| w == needle) {
        Some(at) => at,
        None => panic!("{needle:?} not found"),
    }
}

/// A one-page PDF showing `text` through a Type0 font with a ToUnicode map,
/// the way real PDFs carry Cyrillic, CJK and Arabic text.
pub fn unicode_pdf(text: &str) -> Vec<u8> {
    let mut chars: Vec<char> = text.chars().collect();
    chars.sort_unstable();
    chars.dedup();
    let cid = |c: char| chars.iter().position(|x| *x == c).map_or(0, |i| i + 1);
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    cmap.push_str(&format!("{} beginbfchar\n", chars.len()));
    for c in &chars {
        let mut units = [0u16; 2];
        let hex: String = c
            .encode_utf16(&mut units)
            .iter()
            .map(|u| format!("{u:04X}"))
            .collect();
        cmap.push_str(&format!("<{:04X}> <{hex}>\n", cid(*c)));
    }
    cmap.push_str("endbfchar\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    let shown: String = text.chars().map(|c| format!("{:04X}", cid(c))).collect();

    let mut pdf = PdfBuilder::new();
    let catalog = pdf.reserve();
    let tree = pdf.reserve();
    let to_unicode = pdf.stream("", cmap.as_bytes());
    let descriptor = pdf.add(
        "<< /Type /FontDescriptor /FontName /TestSans /Flags 4 /FontBBox [0 -200 1000 900] \
         /ItalicAngle 0 /Ascent 900 /Descent -200 /CapHeight 700 /StemV 80 >>",
    );
    let descendant = pdf.add(format!(
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /TestSans \
         /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
         /FontDescriptor {descriptor} 0 R /DW 600 >>"
    ));
    let font = pdf.add(format!(
        "<< /Type /Font /Subtype /Type0 /BaseFont /TestSans /Encoding /Identity-H \
         /DescendantFonts [{descendant} 0 R] /ToUnicode {to_unicode} 0 R >>"
    ));
    let content = format!("BT /F1 14 Tf 72 720 Td <{shown}> Tj ET");
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

/// `plain` encrypted by lopdf (RC4, 128-bit) with the given user password.
pub fn encrypted_pdf(plain: &[u8], user_password: &str) -> Vec<u8> {
    use pdf_extract::{
        Document, EncryptionState, EncryptionVersion, Object, Permissions, StringFormat,
    };

    let mut document = match Document::load_mem(plain) {
        Ok(document) => document,
        Err(e) => panic!("test PDF does not load: {e}"),
    };
    let id = Object::String(b"0123456789abcdef".to_vec(), StringFormat::Hexadecimal);
    document
        .trailer
        .set("ID", Object::Array(vec![id.clone(), id]));
    let version = EncryptionVersion::V2 {
        document: &document,
        owner_password: "owner-secret",
        user_password,
        key_length: 128,
        permissions: Permissions::all(),
    };
    let state = match EncryptionState::try_from(version) {
        Ok(state) => state,
        Err(e) => panic!("cannot set up encryption: {e}"),
    };
    if let Err(e) = document.encrypt(&state) {
        panic!("cannot encrypt: {e}");
    }
    let mut out = Vec::new();
    if let Err(e) = document.save_to(&mut out) {
        panic!("cannot save: {e}");
    }
    out
}
