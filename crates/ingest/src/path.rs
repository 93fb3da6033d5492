use unicode_normalization::UnicodeNormalization;

use crate::reason::{RejectReason, Rejection};

/// Longer names are refused: no legitimate document needs them, and they
/// would bloat every report and log line that repeats them.
const MAX_PATH_CHARS: usize = 1024;

/// Turns an archive entry name into the canonical relative path used for
/// reports and duplicate detection, or says why the name is unsafe.
///
/// `\` counts as a separator because Windows tools write it and Windows
/// extractors honour it, so `..\x` is as dangerous as `../x`.
pub(crate) fn normalise(name: &str) -> Result<String, Rejection> {
    if name.chars().any(char::is_control) {
        return Err(Rejection::with(
            RejectReason::InvalidPath,
            "it contains control characters",
        ));
    }
    if name.chars().count() > MAX_PATH_CHARS {
        return Err(Rejection::with(
            RejectReason::InvalidPath,
            format!("it is longer than {MAX_PATH_CHARS} characters"),
        ));
    }
    let unified = name.replace('\\', "/");
    if unified.starts_with("//") {
        return Err(Rejection::new(RejectReason::UncPath));
    }
    if unified.starts_with('/') {
        return Err(Rejection::new(RejectReason::AbsolutePath));
    }
    if has_drive_letter(&unified) {
        return Err(Rejection::new(RejectReason::DriveLetter));
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(Rejection::new(RejectReason::PathTraversal)),
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err(Rejection::with(
            RejectReason::InvalidPath,
            "the name is empty",
        ));
    }
    Ok(parts.join("/").nfc().collect())
}

/// A readable stand-in for a name that failed [`normalise`], so the report
/// still says which entry was meant.
pub(crate) fn display_form(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .map(|c| if c == '\\' { '/' } else { c })
        .take(MAX_PATH_CHARS)
        .collect()
}

fn has_drive_letter(path: &str) -> bool {
    let mut chars = path.chars();
    matches!((chars.next(), chars.next()), (Some(letter), Some(':')) if letter.is_ascii_alphabetic())
}

/// Entries that operating systems add to archives behind the user's back;
/// refusing them would only produce noise.
pub(crate) fn is_os_metadata(path: &str) -> bool {
    if path.starts_with("__MACOSX/") {
        return true;
    }
    let file = path.rsplit('/').next().unwrap_or(path);
    matches!(file, ".DS_Store" | "Thumbs.db" | "desktop.ini")
}

/// Lower-cased extension of the last path segment, if any.
pub(crate) fn extension(path: &str) -> Option<String> {
    let file = path.rsplit('/').next().unwrap_or(path);
    let (stem, ext) = file.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> RejectReason {
        match normalise(name) {
            Ok(path) => panic!("{name:?} was accepted as {path:?}"),
            Err(rejection) => rejection.reason,
        }
    }

    #[test]
    fn separators_and_dot_segments_are_folded() {
        assert_eq!(
            normalise("a\\b//./c.pdf").ok().as_deref(),
            Some("a/b/c.pdf")
        );
        assert_eq!(normalise("./x.csv").ok().as_deref(), Some("x.csv"));
    }

    #[test]
    fn unsafe_names_get_their_specific_reason() {
        assert_eq!(reason("../x.pdf"), RejectReason::PathTraversal);
        assert_eq!(reason("a\\..\\..\\x.pdf"), RejectReason::PathTraversal);
        assert_eq!(reason("/etc/passwd"), RejectReason::AbsolutePath);
        assert_eq!(reason("\\x.pdf"), RejectReason::AbsolutePath);
        assert_eq!(reason("//server/share/x.pdf"), RejectReason::UncPath);
        assert_eq!(reason("\\\\server\\x.pdf"), RejectReason::UncPath);
        assert_eq!(reason("C:\\x.pdf"), RejectReason::DriveLetter);
        assert_eq!(reason("c:x.pdf"), RejectReason::DriveLetter);
        assert_eq!(reason("a\0b.pdf"), RejectReason::InvalidPath);
        assert_eq!(reason("./"), RejectReason::InvalidPath);
    }

    #[test]
    fn decomposed_unicode_is_composed_so_duplicates_are_found() {
        let nfd = "Cafe\u{301}.pdf";
        assert_eq!(normalise(nfd).ok().as_deref(), Some("Caf\u{e9}.pdf"));
    }

    #[test]
    fn extensions_are_case_insensitive_and_need_a_stem() {
        assert_eq!(extension("a/B.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension(".json"), None);
        assert_eq!(extension("README"), None);
    }
}
