/// How far into a file `%PDF-` may appear. Acrobat tolerates up to 1 KiB of
/// leading junk (mail headers, BOMs, whitespace), and so do we.
const PDF_HEADER_WINDOW: usize = 1024;

/// The claim an entry's extension makes; content must confirm it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Pdf,
    Json,
    Csv,
    Archive,
    /// No extension: the content alone decides between PDF and JSON.
    Unspecified,
    Other,
}

pub(crate) fn claim_for_extension(ext: Option<&str>) -> Claim {
    match ext {
        None => Claim::Unspecified,
        Some("pdf") => Claim::Pdf,
        Some("json") => Claim::Json,
        Some("csv") => Claim::Csv,
        Some(
            "zip" | "jar" | "7z" | "rar" | "gz" | "tgz" | "tar" | "bz2" | "tbz2" | "xz" | "txz"
            | "zst" | "lz" | "lzma" | "cab" | "iso",
        ) => Claim::Archive,
        Some(_) => Claim::Other,
    }
}

pub(crate) fn is_pdf(bytes: &[u8]) -> bool {
    let window = &bytes[..bytes.len().min(PDF_HEADER_WINDOW)];
    window.windows(5).any(|w| w == b"%PDF-")
}

/// Archive formats recognised by magic bytes, so a renamed archive is still
/// refused as nested rather than slipping through as some other type.
pub(crate) fn archive_kind(bytes: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"PK\x03\x04", "ZIP"),
        (b"PK\x05\x06", "ZIP"),
        (b"PK\x07\x08", "ZIP"),
        (b"\x1f\x8b", "gzip"),
        (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
        (b"Rar!\x1a\x07", "RAR"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"MSCF\x00\x00\x00\x00", "CAB"),
    ];
    if let Some((_, kind)) = MAGICS.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Some(kind);
    }
    // Short magics are checked with what follows them, so a CSV whose first
    // cell happens to start with the same letters is not mistaken for one.
    if bytes.starts_with(b"BZh")
        && bytes.get(3).is_some_and(|d| (b'1'..=b'9').contains(d))
        && bytes.get(4..10) == Some(b"1AY&SY")
    {
        return Some("bzip2");
    }
    if bytes.get(257..262) == Some(b"ustar") {
        return Some("tar");
    }
    None
}

/// Names formats that are clearly not JSON or CSV, so a file named `.csv`
/// that is really a PNG is reported as a type mismatch rather than as "not
/// text".
pub(crate) fn known_format(bytes: &[u8]) -> Option<&'static str> {
    if is_pdf(bytes) {
        return Some("a PDF");
    }
    if let Some(kind) = archive_kind(bytes) {
        return Some(if kind == "ZIP" {
            "a ZIP archive"
        } else {
            "a compressed archive"
        });
    }
    const OTHERS: &[(&[u8], &str)] = &[
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"II*\x00", "a TIFF image"),
        (b"MM\x00*", "a TIFF image"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "an old Microsoft Office document",
        ),
        (b"\x7fELF", "a program"),
        (b"MZ\x90\x00", "a program"),
    ];
    OTHERS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, what)| *what)
}

/// A short description of what the content looks like, for `type_mismatch`
/// messages.
pub(crate) fn describe(bytes: &[u8]) -> &'static str {
    if let Some(known) = known_format(bytes) {
        return known;
    }
    let head = &bytes[..bytes.len().min(512)];
    if head.contains(&0) {
        "binary data"
    } else {
        "text"
    }
}

/// Whether content without an extension is worth trying as JSON.
pub(crate) fn looks_like_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// What the first bytes of a whole upload say it is: a bundle, or a single document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    Zip,
    Pdf,
    Json,
    Csv,
}

/// Judges the first bytes of an upload (at least the first KiB, when there is one), so
/// the server refuses what cannot be a bundle or a document before storing a byte. The
/// one magic-byte sniffer: judging entries uses the same [`is_pdf`] and
/// [`looks_like_json`]. CSV has no magic: it is accepted by name when its first bytes
/// are text; judging checks the rest.
pub fn sniff_upload(head: &[u8], file_name: &str) -> Option<UploadKind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(UploadKind::Zip);
    }
    if is_pdf(head) {
        return Some(UploadKind::Pdf);
    }
    if looks_like_json(head) {
        return Some(UploadKind::Json);
    }
    let lower = file_name.to_ascii_lowercase();
    let utf16 = head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF");
    if lower.ends_with(".csv") && (utf16 || !head.contains(&0)) {
        return Some(UploadKind::Csv);
    }
    None
}

/// Whether an upload is a ZIP archive with no entries: one that opens with its
/// end-of-central-directory record (`PK\x05\x06`), whose entry count is 0. Such an
/// archive is a whole upload of at most 22 bytes plus its comment, so the first bytes
/// tell it, and it can be refused at once instead of "succeeding" with nothing.
pub fn is_empty_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x05\x06") && head.len() >= 22 && head[8..12] == [0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_of_only_its_directory_end_is_empty() {
        let mut empty = b"PK\x05\x06".to_vec();
        empty.extend_from_slice(&[0; 18]);
        assert!(is_empty_zip(&empty));
        let mut one = b"PK\x05\x06".to_vec();
        one.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        one.extend_from_slice(&[0; 10]);
        assert!(!is_empty_zip(&one));
        assert!(!is_empty_zip(b"PK\x03\x04rest"));
    }

    #[test]
    fn uploads_are_judged_by_their_first_bytes() {
        assert_eq!(
            sniff_upload(b"PK\x03\x04rest", "x.bin"),
            Some(UploadKind::Zip)
        );
        assert_eq!(
            sniff_upload(b"%PDF-1.7\n", "contract.zip"),
            Some(UploadKind::Pdf)
        );
        assert_eq!(
            sniff_upload(b"\xEF\xBB\xBF  {\"a\":1}", "t"),
            Some(UploadKind::Json)
        );
        assert_eq!(
            sniff_upload(b"item,price\nchair,12\n", "prices.csv"),
            Some(UploadKind::Csv)
        );
        assert_eq!(sniff_upload(b"item,price\n", "prices.txt"), None);
        assert_eq!(sniff_upload(b"\x7fELF\x02\x01", "a.zip"), None);
        assert_eq!(sniff_upload(b"MZ\x90\x00", "a.csv"), None);
    }

    #[test]
    fn pdf_header_may_follow_up_to_a_kibibyte_of_junk() {
        assert!(is_pdf(b"%PDF-1.7\n"));
        let mut late = vec![b' '; 1000];
        late.extend_from_slice(b"%PDF-1.4");
        assert!(is_pdf(&late));
        let mut too_late = vec![b' '; 1024];
        too_late.extend_from_slice(b"%PDF-1.4");
        assert!(!is_pdf(&too_late));
    }

    #[test]
    fn archives_are_recognised_by_magic() {
        assert_eq!(archive_kind(b"PK\x03\x04rest"), Some("ZIP"));
        assert_eq!(archive_kind(b"\x1f\x8b\x08"), Some("gzip"));
        assert_eq!(archive_kind(b"%PDF-1.4"), None);
    }
}
