//! Bounded edit distance over windows of words.

/// Edits allowed for a normalised fragment of `chars` characters: none under
/// 5 (short words differ by one letter too often: `cap`/`car`), then one per
/// 8 characters, at least 1 and at most 3.
pub(crate) fn max_edits(chars: usize) -> usize {
    if chars < 5 {
        0
    } else {
        (chars / 8).clamp(1, 3)
    }
}

/// Levenshtein distance if it is at most `k`, computed on a diagonal band so
/// the cost is `O(len × k)`.
pub(crate) fn bounded_levenshtein(a: &[char], b: &[char], k: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > k {
        return None;
    }
    let big = k + 1;
    let mut prev: Vec<usize> = (0..=b.len()).map(|j| j.min(big)).collect();
    let mut cur = vec![big; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        let row = i + 1;
        let lo = row.saturating_sub(k).max(1);
        let hi = (row + k).min(b.len());
        cur.fill(big);
        cur[0] = row.min(big);
        let mut row_min = cur[0];
        for j in lo..=hi {
            let cost = usize::from(ca != b[j - 1]);
            let v = (prev[j - 1] + cost)
                .min(prev[j] + 1)
                .min(cur[j - 1] + 1)
                .min(big);
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > k {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= k).then_some(d)
}

fn digits(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().filter(char::is_ascii_digit)
}

/// The closest window of `hay`'s words to `needle` (both normalised), as a
/// byte range in `hay`. Windows span one word fewer to one word more than the
/// needle, so a split or merged word (`non refundable`/`nonrefundable`) still
/// lines up. Digits must agree exactly: `2014` is never "close to" `2015`.
pub(crate) fn find_fuzzy(
    hay: &str,
    words: &[(usize, usize)],
    needle: &str,
) -> Option<(usize, usize)> {
    let needle_chars: Vec<char> = needle.chars().collect();
    let k = max_edits(needle_chars.len());
    if k == 0 || words.is_empty() {
        return None;
    }
    let n = needle.split(' ').count();
    let mut best: Option<(usize, usize, usize)> = None;
    let mut window: Vec<char> = Vec::new();
    for start in 0..words.len() {
        for len in [n.saturating_sub(1), n, n + 1] {
            if len == 0 || start + len > words.len() {
                continue;
            }
            let (s, e) = (words[start].0, words[start + len - 1].1);
            let text = &hay[s..e];
            window.clear();
            window.extend(text.chars());
            if window.len().abs_diff(needle_chars.len()) > k || !digits(text).eq(digits(needle)) {
                continue;
            }
            if let Some(d) = bounded_levenshtein(&needle_chars, &window, k)
                && best.is_none_or(|(_, _, bd)| d < bd)
            {
                best = Some((s, e, d));
            }
        }
    }
    best.map(|(s, e, _)| (s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lev(a: &str, b: &str, k: usize) -> Option<usize> {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        bounded_levenshtein(&a, &b, k)
    }

    #[test]
    fn the_band_gives_the_true_distance_within_the_bound() {
        assert_eq!(lev("kitten", "sitting", 3), Some(3));
        assert_eq!(lev("kitten", "sitting", 2), None);
        assert_eq!(lev("licence", "license", 1), Some(1));
        assert_eq!(lev("", "ab", 2), Some(2));
        assert_eq!(lev("same", "same", 0), Some(0));
    }

    #[test]
    fn the_edit_budget_grows_with_length_and_stops_at_three() {
        assert_eq!(max_edits(4), 0);
        assert_eq!(max_edits(5), 1);
        assert_eq!(max_edits(16), 2);
        assert_eq!(max_edits(200), 3);
    }
}
