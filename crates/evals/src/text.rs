//! Text views used by the matcher, each keeping a map back to the original
//! answer so a match can be reported as the words the model actually wrote.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{canonical_combining_class, is_combining_mark};

/// Text derived from an original string, with the original byte range each
/// byte came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mapped {
    pub text: String,
    starts: Vec<usize>,
    ends: Vec<usize>,
}

impl Mapped {
    fn push(&mut self, c: char, (start, end): (usize, usize)) {
        self.text.push(c);
        for _ in 0..c.len_utf8() {
            self.starts.push(start);
            self.ends.push(end);
        }
    }

    /// The original byte range behind `self.text[start..end]` (non-empty).
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        let s = self.starts.get(start).copied().unwrap_or(0);
        let e = end
            .checked_sub(1)
            .and_then(|i| self.ends.get(i).copied())
            .unwrap_or(s);
        (s, e.max(s))
    }

    fn source_of(&self, byte: usize) -> (usize, usize) {
        (
            self.starts.get(byte).copied().unwrap_or(0),
            self.ends.get(byte).copied().unwrap_or(0),
        )
    }
}

/// Unicode NFKC and case folding, nothing else removed: the base for the
/// number and date tokenizer, which needs punctuation.
pub(crate) fn fold(s: &str) -> Mapped {
    let mut out = Mapped {
        text: String::with_capacity(s.len()),
        starts: Vec::with_capacity(s.len()),
        ends: Vec::with_capacity(s.len()),
    };
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut k = 0;
    while k < chars.len() {
        let (start, _) = chars[k];
        // NFKC composes a base with its following marks, so those travel
        // together and share one original range.
        let mut j = k + 1;
        while j < chars.len() && canonical_combining_class(chars[j].1) != 0 {
            j += 1;
        }
        let end = chars.get(j).map_or(s.len(), |&(b, _)| b);
        let segment = &s[start..end];
        if segment.is_ascii() {
            for c in segment.chars() {
                out.push(c.to_ascii_lowercase(), (start, end));
            }
        } else {
            for c in segment.nfkc() {
                push_case_folded(&mut out, c, (start, end));
            }
        }
        k = j;
    }
    out
}

/// `to_lowercase` plus the few full case folds it misses, so `STRASSE`,
/// `Straße` and `strasse` agree.
fn push_case_folded(out: &mut Mapped, c: char, range: (usize, usize)) {
    match c {
        'ß' | 'ẞ' => {
            out.push('s', range);
            out.push('s', range);
        }
        'ς' => out.push('σ', range),
        _ => {
            for l in c.to_lowercase() {
                out.push(l, range);
            }
        }
    }
}

/// Characters that separate words when punctuation is stripped, so that
/// `30-day` and `30 day`, `and/or` and `and or` agree.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '/' | '\\' | '_' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{00b7}'
        )
}

/// The `normalised` view of folded text: diacritics dropped, separators
/// collapsed to one space, other punctuation and symbols removed — except a
/// `.` or `,` between two digits, so `1.5` does not become `15`.
pub(crate) fn normalise(folded: &Mapped) -> Mapped {
    let mut out = Mapped {
        text: String::with_capacity(folded.text.len()),
        starts: Vec::with_capacity(folded.text.len()),
        ends: Vec::with_capacity(folded.text.len()),
    };
    let chars: Vec<(usize, char)> = folded.text.char_indices().collect();
    let mut pending_space = false;
    for (idx, &(byte, c)) in chars.iter().enumerate() {
        let range = folded.source_of(byte);
        if c.is_alphanumeric() {
            if pending_space && !out.text.is_empty() {
                out.push(' ', (range.0, range.0));
            }
            pending_space = false;
            if c.is_ascii() {
                out.push(c, range);
            } else {
                for d in std::iter::once(c).nfd() {
                    if !is_combining_mark(d) {
                        out.push(d, range);
                    }
                }
            }
        } else if is_separator(c) {
            pending_space = true;
        } else if matches!(c, '.' | ',')
            && !pending_space
            && idx > 0
            && chars[idx - 1].1.is_ascii_digit()
            && chars.get(idx + 1).is_some_and(|&(_, n)| n.is_ascii_digit())
        {
            out.push(c, range);
        }
    }
    out
}

/// Byte ranges of the space-separated words of normalised text.
pub(crate) fn words(normalised: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in normalised.char_indices() {
        if c == ' ' {
            if let Some(s) = start.take() {
                out.push((s, i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, normalised.len()));
    }
    out
}

/// Finds `needle` in `hay` where a match does not cut through a number: a
/// needle that starts (ends) with a digit must not have a digit — or a `.`/`,`
/// followed by a digit — just before (after) it, nor a minus sign before it.
/// Without this, `15` would be "found" in `150`, `2015` and `-15`.
pub(crate) fn find_bounded(hay: &str, needle: &str) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    let first_digit = needle.chars().next().is_some_and(|c| c.is_ascii_digit());
    let last_digit = needle
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_digit());
    hay.match_indices(needle).find_map(|(start, m)| {
        let end = start + m.len();
        if first_digit {
            let mut before = hay[..start].chars().rev();
            match (before.next(), before.next()) {
                (Some(b), _) if b.is_ascii_digit() => return None,
                (Some('.' | ','), Some(b)) if b.is_ascii_digit() => return None,
                // A minus sign (not a range's dash, as in `5-10`) makes it
                // another number: `123` is not in `-123`.
                (Some('-' | '\u{2212}'), b) if !b.is_some_and(char::is_alphanumeric) => {
                    return None;
                }
                _ => {}
            }
        }
        if last_digit {
            let mut after = hay[end..].chars();
            match (after.next(), after.next()) {
                (Some(a), _) if a.is_ascii_digit() => return None,
                (Some('.' | ','), Some(a)) if a.is_ascii_digit() => return None,
                _ => {}
            }
        }
        Some((start, end))
    })
}

/// Whitespace runs collapsed and ends trimmed: what "the answer changed"
/// compares, so a re-wrapped answer is not a change.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalise(&fold(s)).text
    }

    #[test]
    fn normalising_folds_case_width_accents_and_punctuation() {
        assert_eq!(norm("  The  STATE of\tDelaware. "), "the state of delaware");
        assert_eq!(norm("ＡＢＣ"), "abc");
        assert_eq!(norm("Société Générale"), "societe generale");
        assert_eq!(norm("Straße"), "strasse");
        assert_eq!(norm("U.S.A."), "usa");
        assert_eq!(norm("30-day notice"), "30 day notice");
        assert_eq!(norm("$1,500.50!"), "1,500.50");
    }

    #[test]
    fn a_normalised_match_maps_back_to_the_original_words() {
        let original = "Governed by the laws of the STATE  of Delaware.";
        let n = normalise(&fold(original));
        let (s, e) = find_bounded(&n.text, "state of delaware").unwrap_or_default();
        let (os, oe) = n.original(s, e);
        assert_eq!(&original[os..oe], "STATE  of Delaware");
    }

    #[test]
    fn a_number_is_not_found_inside_a_longer_number() {
        assert_eq!(find_bounded("paid 150 in 2015", "15"), None);
        assert_eq!(find_bounded("paid 1.15 or 15,000", "15"), None);
        assert!(find_bounded("paid 15.", "15").is_some());
        assert_eq!(find_bounded("a loss of -15", "15"), None);
        assert!(find_bounded("pages 5-15", "15").is_some());
        assert!(find_bounded("Delawareans", "delaware").is_none());
        assert!(find_bounded("delawareans", "delaware").is_some());
    }
}
