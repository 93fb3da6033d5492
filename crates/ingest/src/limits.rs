use std::time::Duration;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The deepest JSON nesting this crate can honour: `serde_json` refuses to
/// recurse further, whatever `Limits::json_max_depth` asks for.
pub const JSON_DEPTH_CEILING: usize = 127;

/// Resource limits applied while judging one upload.
///
/// Every size is counted on bytes actually read or inflated, never on the
/// sizes an archive declares about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Size of the uploaded file on disk (the compressed archive). Bounds the
    /// memory the ZIP reader spends on the central directory.
    pub max_archive_bytes: u64,
    /// Inflated size of one entry. Each entry is held in memory while judged,
    /// so this also bounds the crate's peak memory (about twice this).
    pub max_file_bytes: u64,
    /// Inflated bytes over the whole bundle, counting rejected entries too, so
    /// the CPU spent inflating is bounded as well.
    pub max_total_bytes: u64,
    /// Number of file entries (directories are not counted).
    pub max_entries: usize,
    /// Inflated-to-compressed ratio above which an entry looks like a bomb.
    /// Measured against the compressed bytes consumed so far, so a bomb is
    /// stopped early. Deflate tops out near 1032:1; real documents stay far
    /// below 100:1.
    pub max_compression_ratio: u64,
    /// The ratio is only enforced past this many inflated bytes: small files of
    /// repeated text legitimately compress very well.
    pub ratio_grace_bytes: u64,
    /// Deepest nesting of arrays and objects in a JSON entry (at most
    /// [`JSON_DEPTH_CEILING`]).
    pub json_max_depth: usize,
    /// Largest JSON entry parsed.
    pub json_max_bytes: u64,
    /// Wall-clock time one PDF may spend in text extraction.
    pub pdf_timeout: Duration,
    /// Address-space limit (`RLIMIT_AS`) of the PDF extraction child process.
    pub pdf_memory_bytes: u64,
    /// Pages whose text is extracted; later pages are counted but skipped.
    pub pdf_max_pages: u32,
    /// Extracted text kept per entry; a PDF child writing more is killed.
    pub max_text_bytes: u64,
    /// PDFs extracted at the same time (each in its own process) while the
    /// archive is read on; default: the machine's available parallelism.
    pub pdf_workers: usize,
    /// Content of entries read ahead and waiting for their turn to be handed
    /// to the caller (entries whose PDF is being extracted included). One
    /// entry may always wait, whatever its size.
    pub max_buffered_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_archive_bytes: GIB,
            max_file_bytes: 100 * MIB,
            max_total_bytes: GIB,
            max_entries: 1_000,
            max_compression_ratio: 500,
            ratio_grace_bytes: MIB,
            json_max_depth: 64,
            json_max_bytes: 16 * MIB,
            pdf_timeout: Duration::from_secs(30),
            pdf_memory_bytes: GIB,
            pdf_max_pages: 2_000,
            max_text_bytes: 32 * MIB,
            pdf_workers: std::thread::available_parallelism().map_or(1, usize::from),
            max_buffered_bytes: 64 * MIB,
        }
    }
}

/// Renders a byte count the way a person reads it (`100 MiB`).
pub(crate) fn human_bytes(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}
