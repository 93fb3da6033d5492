use serde::{Deserialize, Serialize};

/// Why an entry was refused. The serialised form (and [`RejectReason::code`])
/// is a stable snake_case code that the service may store and match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    AbsolutePath,
    DriveLetter,
    UncPath,
    PathTraversal,
    InvalidPath,
    Symlink,
    Encrypted,
    DuplicateName,
    NestedArchive,
    FileTooLarge,
    BundleTooLarge,
    TooManyEntries,
    SuspiciousCompressionRatio,
    OverlappingEntries,
    UnsupportedCompression,
    CorruptEntry,
    EmptyFile,
    UnknownType,
    TypeMismatch,
    InvalidJson,
    JsonTooDeep,
    JsonTooLarge,
    NotText,
    InconsistentCsvColumns,
    InvalidCsv,
    UnreadablePdf,
    PdfTimeout,
}

impl RejectReason {
    /// Every reason, in documentation order.
    pub const ALL: [RejectReason; 27] = [
        Self::AbsolutePath,
        Self::DriveLetter,
        Self::UncPath,
        Self::PathTraversal,
        Self::InvalidPath,
        Self::Symlink,
        Self::Encrypted,
        Self::DuplicateName,
        Self::NestedArchive,
        Self::FileTooLarge,
        Self::BundleTooLarge,
        Self::TooManyEntries,
        Self::SuspiciousCompressionRatio,
        Self::OverlappingEntries,
        Self::UnsupportedCompression,
        Self::CorruptEntry,
        Self::EmptyFile,
        Self::UnknownType,
        Self::TypeMismatch,
        Self::InvalidJson,
        Self::JsonTooDeep,
        Self::JsonTooLarge,
        Self::NotText,
        Self::InconsistentCsvColumns,
        Self::InvalidCsv,
        Self::UnreadablePdf,
        Self::PdfTimeout,
    ];

    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::AbsolutePath => "absolute_path",
            Self::DriveLetter => "drive_letter",
            Self::UncPath => "unc_path",
            Self::PathTraversal => "path_traversal",
            Self::InvalidPath => "invalid_path",
            Self::Symlink => "symlink",
            Self::Encrypted => "encrypted",
            Self::DuplicateName => "duplicate_name",
            Self::NestedArchive => "nested_archive",
            Self::FileTooLarge => "file_too_large",
            Self::BundleTooLarge => "bundle_too_large",
            Self::TooManyEntries => "too_many_entries",
            Self::SuspiciousCompressionRatio => "suspicious_compression_ratio",
            Self::OverlappingEntries => "overlapping_entries",
            Self::UnsupportedCompression => "unsupported_compression",
            Self::CorruptEntry => "corrupt_entry",
            Self::EmptyFile => "empty_file",
            Self::UnknownType => "unknown_type",
            Self::TypeMismatch => "type_mismatch",
            Self::InvalidJson => "invalid_json",
            Self::JsonTooDeep => "json_too_deep",
            Self::JsonTooLarge => "json_too_large",
            Self::NotText => "not_text",
            Self::InconsistentCsvColumns => "inconsistent_csv_columns",
            Self::InvalidCsv => "invalid_csv",
            Self::UnreadablePdf => "unreadable_pdf",
            Self::PdfTimeout => "pdf_timeout",
        }
    }

    /// A sentence a user understands, without entry-specific details (those
    /// go into [`crate::EntryReport::message`]).
    pub fn summary(self) -> &'static str {
        match self {
            Self::AbsolutePath => {
                "The path is absolute; files in a bundle must use relative paths."
            }
            Self::DriveLetter => "The path starts with a drive letter such as C:.",
            Self::UncPath => "The path points at a network share (starts with // or \\\\).",
            Self::PathTraversal => "The path climbs out of the bundle with '..'.",
            Self::InvalidPath => "The file name is not usable.",
            Self::Symlink => "Symbolic links are not accepted.",
            Self::Encrypted => "The file is password-protected.",
            Self::DuplicateName => "Another file in the bundle has the same name.",
            Self::NestedArchive => {
                "Archives inside the bundle are not opened; add their files directly."
            }
            Self::FileTooLarge => "The file is larger than the size limit for a single file.",
            Self::BundleTooLarge => "The bundle as a whole unpacks to more than the size limit.",
            Self::TooManyEntries => "The bundle holds more files than allowed.",
            Self::SuspiciousCompressionRatio => {
                "The file is compressed far more than real documents are (possible zip bomb)."
            }
            Self::OverlappingEntries => {
                "The file shares its data with another file in the archive (possible zip bomb)."
            }
            Self::UnsupportedCompression => {
                "The file is compressed with a method other than deflate or store."
            }
            Self::CorruptEntry => "The file is damaged inside the archive.",
            Self::EmptyFile => "The file is empty.",
            Self::UnknownType => "Only PDF, JSON and CSV files are accepted.",
            Self::TypeMismatch => "The file's content does not match its extension.",
            Self::InvalidJson => "The file is not valid JSON.",
            Self::JsonTooDeep => "The JSON is nested too deeply.",
            Self::JsonTooLarge => "The JSON file is larger than the limit for JSON.",
            Self::NotText => "The file is not readable text.",
            Self::InconsistentCsvColumns => {
                "The CSV rows do not all have the same number of columns."
            }
            Self::InvalidCsv => "The file is not valid CSV.",
            Self::UnreadablePdf => "The PDF could not be read.",
            Self::PdfTimeout => "Reading the PDF took too long.",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A reason plus the entry-specific sentence shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub reason: RejectReason,
    pub message: String,
}

impl Rejection {
    pub fn new(reason: RejectReason) -> Self {
        Self {
            reason,
            message: reason.summary().to_owned(),
        }
    }

    /// Appends a detail to the summary, e.g. which limit was crossed.
    pub fn with(reason: RejectReason, detail: impl std::fmt::Display) -> Self {
        let summary = reason.summary().trim_end_matches('.');
        Self {
            reason,
            message: format!("{summary} ({detail})."),
        }
    }
}
