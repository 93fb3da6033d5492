//! Splitting extracted page text into overlapping chunks for the index.

use serde::{Deserialize, Serialize};

use crate::digest::Digest64;

/// Chunk size and overlap, in characters (Unicode scalar values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkConfig {
    size: usize,
    overlap: usize,
}

/// Why a [`ChunkConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkConfigError {
    #[error("chunk size must be at least 1 character")]
    ZeroSize,
    #[error("chunk overlap ({overlap}) must be smaller than the chunk size ({size})")]
    OverlapNotSmallerThanSize { size: usize, overlap: usize },
}

impl ChunkConfig {
    /// Default size: about a long paragraph, small enough that a passage is
    /// mostly about one thing and large enough to hold a whole clause.
    pub const DEFAULT_SIZE: usize = 1_000;
    /// Default overlap: a sentence or two, so a clause cut at a boundary is
    /// whole in one of its two chunks.
    pub const DEFAULT_OVERLAP: usize = 150;

    pub fn new(size: usize, overlap: usize) -> Result<Self, ChunkConfigError> {
        if size == 0 {
            return Err(ChunkConfigError::ZeroSize);
        }
        if overlap >= size {
            return Err(ChunkConfigError::OverlapNotSmallerThanSize { size, overlap });
        }
        Ok(Self { size, overlap })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn overlap(&self) -> usize {
        self.overlap
    }
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            size: Self::DEFAULT_SIZE,
            overlap: Self::DEFAULT_OVERLAP,
        }
    }
}

/// A piece of one page of one document: the unit the index stores and ranks.
///
/// `start..end` are character offsets (Unicode scalar values, as PostgreSQL's
/// `substring` and most languages count) into the page's text, and `text` is
/// exactly those characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// `{document_id}:{page}:{ordinal}`: the same text chunked with the same
    /// configuration gets the same ids, so re-chunking replaces, never duplicates.
    pub id: String,
    pub document_id: String,
    pub document_type: String,
    pub page: u32,
    /// Position of the chunk within its page, from 0.
    pub ordinal: u32,
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl Chunk {
    /// A stable 64-bit hash of everything the index keeps of this chunk.
    /// The service may store it beside the chunk to compute a
    /// [`Fingerprint`](crate::Fingerprint) without reading chunk texts.
    pub fn digest(&self) -> u64 {
        let mut h = Digest64::new();
        h.write_str(&self.id);
        h.write_str(&self.document_id);
        h.write_str(&self.document_type);
        h.write_u64(u64::from(self.page));
        h.write_u64(self.start as u64);
        h.write_u64(self.end as u64);
        h.write_str(&self.text);
        h.finish()
    }
}

/// The id a chunk gets from its document, page and position on the page.
pub fn chunk_id(document_id: &str, page: u32, ordinal: u32) -> String {
    format!("{document_id}:{page}:{ordinal}")
}

/// Splits a document's pages into chunks.
///
/// Chunks never cross pages, so every chunk has one page number. Within a page
/// a chunk ends, in order of preference, at a paragraph break, a sentence end,
/// a line break or a space found in the second half of its allowed size, and
/// only failing all of those (CJK text without punctuation, a long token) at
/// the size limit, which is always a character boundary. The next chunk starts
/// about `overlap` characters earlier, moved forward to the next sentence or
/// word start so it does not open mid-word.
pub fn chunk_document<I, S>(
    document_id: &str,
    document_type: &str,
    pages: I,
    config: &ChunkConfig,
) -> Vec<Chunk>
where
    I: IntoIterator<Item = (u32, S)>,
    S: AsRef<str>,
{
    let mut chunks = Vec::new();
    for (page, text) in pages {
        let text = text.as_ref();
        let mut starts = CharCursor::default();
        let mut ends = CharCursor::default();
        for (ordinal, range) in split_page(text, config).into_iter().enumerate() {
            let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX);
            chunks.push(Chunk {
                id: chunk_id(document_id, page, ordinal),
                document_id: document_id.to_owned(),
                document_type: document_type.to_owned(),
                page,
                ordinal,
                start: starts.advance_to(text, range.start),
                end: ends.advance_to(text, range.end),
                text: text[range].to_owned(),
            });
        }
    }
    chunks
}

/// Converts increasing byte offsets to character offsets without rescanning
/// the page from its start each time.
#[derive(Default)]
struct CharCursor {
    byte: usize,
    chars: usize,
}

impl CharCursor {
    fn advance_to(&mut self, text: &str, byte: usize) -> usize {
        if byte < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        self.chars += text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars
    }
}

/// Byte ranges of a page's chunks.
fn split_page(text: &str, config: &ChunkConfig) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = skip_whitespace(text, 0);
    while start < text.len() {
        let end = chunk_end(text, start, config.size);
        ranges.push(start..end);
        let rest = skip_whitespace(text, end);
        if rest >= text.len() {
            break;
        }
        let mut next = next_start(text, start, end, config.overlap);
        if next <= start {
            next = rest;
        }
        start = skip_whitespace(text, next);
    }
    ranges
}

fn skip_whitespace(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(text.len(), |(i, _)| from + i)
}

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | ';')
}

fn is_unspaced_terminal(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；')
}

fn is_closing(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '”' | '’' | '»')
}

/// Where the chunk that starts at `start` ends (exclusive byte offset, never
/// after trailing whitespace, never inside a character).
fn chunk_end(text: &str, start: usize, size: usize) -> usize {
    let min_chars = size.div_ceil(2);
    let mut count = 0usize;
    let mut last_non_ws_end = start;
    // Whether the text since the last non-whitespace character held a line
    // break: a second one makes a blank line, i.e. a paragraph break.
    let mut newline_since_text = false;
    // The last character that is not whitespace or a closing quote/bracket,
    // to see a sentence end through `."` or `.)`.
    let mut last_core: char = ' ';
    let mut prev: char = ' ';
    let (mut paragraph, mut sentence, mut line, mut space) = (None, None, None, None);

    for (offset, c) in text[start..].char_indices() {
        let pos = start + offset;
        if count == size {
            let cut = paragraph.or(sentence).or(line).or(space);
            return cut.unwrap_or_else(|| trim_end(text, start, pos));
        }
        count += 1;
        let eligible = count > min_chars && last_non_ws_end > start;
        if eligible {
            if c.is_whitespace() && !prev.is_whitespace() && is_terminal(last_core) {
                sentence = Some(last_non_ws_end);
            }
            if !c.is_whitespace() && is_unspaced_terminal(prev) {
                sentence = Some(pos);
            }
            if c == '\n' {
                if newline_since_text {
                    paragraph = Some(last_non_ws_end);
                }
                line = Some(last_non_ws_end);
            }
            if c.is_whitespace() {
                space = Some(last_non_ws_end);
            }
        }
        if c.is_whitespace() {
            if c == '\n' {
                newline_since_text = true;
            }
        } else {
            last_non_ws_end = pos + c.len_utf8();
            newline_since_text = false;
            if !is_closing(c) {
                last_core = c;
            }
        }
        prev = c;
    }
    trim_end(text, start, text.len())
}

fn trim_end(text: &str, start: usize, end: usize) -> usize {
    let trimmed = start + text[start..end].trim_end().len();
    if trimmed > start { trimmed } else { end }
}

/// Where the chunk after `start..end` begins: `overlap` characters before
/// `end`, moved forward to a sentence start, else a word start, in the overlap.
fn next_start(text: &str, start: usize, end: usize, overlap: usize) -> usize {
    if overlap == 0 {
        return end;
    }
    let target = text[start..end]
        .char_indices()
        .rev()
        .nth(overlap - 1)
        .map_or(start, |(i, _)| start + i);
    let window = &text[target..end];
    let mut prev = ' ';
    let mut word_start = None;
    for (i, c) in window.char_indices() {
        if !c.is_whitespace() && i > 0 {
            if prev.is_whitespace() {
                let before = window[..i].trim_end();
                let after_sentence = before.ends_with(is_terminal)
                    || before.ends_with(is_unspaced_terminal)
                    || before.ends_with(|c: char| is_closing(c))
                        && before.trim_end_matches(is_closing).ends_with(is_terminal);
                if after_sentence {
                    return target + i;
                }
                word_start.get_or_insert(target + i);
            } else if is_unspaced_terminal(prev) {
                return target + i;
            }
        }
        prev = c;
    }
    word_start.unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars_at(text: &str, start: usize, end: usize) -> String {
        text.chars().skip(start).take(end - start).collect()
    }

    #[test]
    fn a_short_page_is_one_chunk_without_its_surrounding_whitespace() {
        let chunks = chunk_document(
            "d",
            "pdf",
            [(1, "  Hello world.  \n")],
            &ChunkConfig::default(),
        );
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "Hello world.");
        assert_eq!((chunks[0].start, chunks[0].end), (2, 14));
        assert_eq!(chunks[0].id, "d:1:0");
    }

    #[test]
    fn chunks_prefer_sentence_ends_and_overlap_starts_at_a_sentence() {
        let text = "One two three four. Five six seven eight. Nine ten eleven twelve. \
                    Thirteen fourteen fifteen.";
        let config = ChunkConfig::new(45, 25).unwrap();
        let chunks = chunk_document("d", "pdf", [(1, text)], &config);
        for c in &chunks {
            assert_eq!(chars_at(text, c.start, c.end), c.text);
        }
        assert_eq!(chunks[0].text, "One two three four. Five six seven eight.");
        assert!(
            chunks[1].text.starts_with("Five six"),
            "{:?}",
            chunks[1].text
        );
    }

    #[test]
    fn text_without_any_break_is_cut_at_character_boundaries() {
        let text = "契約".repeat(100);
        let config = ChunkConfig::new(30, 5).unwrap();
        let chunks = chunk_document("d", "pdf", [(1, text.as_str())], &config);
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert!(c.text.chars().count() <= 30);
            assert_eq!(chars_at(&text, c.start, c.end), c.text);
        }
        assert_eq!(chunks.last().map(|c| c.end), Some(200));
    }

    #[test]
    fn a_config_with_overlap_as_large_as_size_is_refused() {
        assert!(ChunkConfig::new(100, 100).is_err());
        assert!(ChunkConfig::new(0, 0).is_err());
    }
}
