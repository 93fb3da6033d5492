//! Text analysis shared by indexing, querying and sentence scoring.
//!
//! One function turns text into terms for all three, so a question's terms are
//! exactly the index's terms and the answer picker scores sentences with the
//! same notion of "word" that ranked the passages.

use std::ops::Range;

use frostem::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the analyzer is registered under in the index's tokenizer manager.
pub(crate) const TOKENIZER_NAME: &str = "quire";

/// Longer runs are identifiers, hashes or base64, not words anyone asks about;
/// dropping them keeps the term dictionary small.
const MAX_TOKEN_CHARS: usize = 40;

/// Calls `sink(term, byte_start, byte_end)` for every index term in `text`.
///
/// Words are runs of alphanumeric characters, lowercased, stop words dropped,
/// then stemmed by script (English for Latin, Russian for Cyrillic, none
/// otherwise). Scripts written without spaces (CJK, Thai, ...) become
/// overlapping character bigrams, as Lucene's CJK analyzer does, because a run
/// of ideographs is a whole clause, never a searchable word.
pub(crate) fn for_each_term(text: &str, mut sink: impl FnMut(&str, usize, usize)) {
    let english = Stemmer::new(Algorithm::English);
    let russian = Stemmer::new(Algorithm::Russian);
    let mut lower = String::new();
    let mut word_start: Option<usize> = None;
    let mut bigram_prev: Option<(usize, char)> = None;
    let mut bigram_run = 0usize;
    let mut bigram = String::new();

    let mut emit_word = |start: usize, end: usize, sink: &mut dyn FnMut(&str, usize, usize)| {
        let word = &text[start..end];
        if word.chars().nth(MAX_TOKEN_CHARS).is_some() {
            return;
        }
        lower.clear();
        for c in word.chars() {
            lower.extend(c.to_lowercase());
        }
        if is_stop_word(&lower) {
            return;
        }
        let stemmed = match script_of(&lower) {
            Script::Latin => english.stem(&lower),
            Script::Cyrillic => russian.stem(&lower),
            Script::Other => std::borrow::Cow::Borrowed(lower.as_str()),
        };
        if !stemmed.is_empty() {
            sink(&stemmed, start, end);
        }
    };

    for (i, c) in text.char_indices() {
        if is_unspaced_script(c) {
            if let Some(start) = word_start.take() {
                emit_word(start, i, &mut sink);
            }
            if let Some((prev_i, prev_c)) = bigram_prev {
                bigram.clear();
                bigram.extend(prev_c.to_lowercase());
                bigram.extend(c.to_lowercase());
                sink(&bigram, prev_i, i + c.len_utf8());
            }
            bigram_prev = Some((i, c));
            bigram_run += 1;
            continue;
        }
        if let Some((prev_i, prev_c)) = bigram_prev.take() {
            // A lone ideograph is a word in its own right (e.g. 法 "law").
            if bigram_run == 1 {
                bigram.clear();
                bigram.push(prev_c);
                sink(&bigram, prev_i, prev_i + prev_c.len_utf8());
            }
            bigram_run = 0;
        }
        if is_word_char(c) {
            word_start.get_or_insert(i);
        } else if let Some(start) = word_start.take() {
            emit_word(start, i, &mut sink);
        }
    }
    if let Some(start) = word_start {
        emit_word(start, text.len(), &mut sink);
    }
    if let Some((prev_i, prev_c)) = bigram_prev
        && bigram_run == 1
    {
        bigram.clear();
        bigram.push(prev_c);
        sink(&bigram, prev_i, prev_i + prev_c.len_utf8());
    }
}

/// The distinct terms of `text`, in first-seen order.
pub(crate) fn distinct_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for_each_term(text, |term, _, _| {
        if !terms.iter().any(|t| t == term) {
            terms.push(term.to_owned());
        }
    });
    terms
}

enum Script {
    Latin,
    Cyrillic,
    Other,
}

fn script_of(word: &str) -> Script {
    let mut script = Script::Latin;
    for c in word.chars() {
        match c {
            '\u{0400}'..='\u{052F}' => return Script::Cyrillic,
            c if c.is_ascii() || ('\u{00C0}'..='\u{024F}').contains(&c) => {}
            _ => script = Script::Other,
        }
    }
    script
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        // Combining diacritics and Indic vowel signs are not alphanumeric, but
        // splitting on them would cut words in half.
        || ('\u{0300}'..='\u{036F}').contains(&c)
        || (('\u{0900}'..='\u{0DFF}').contains(&c) && !matches!(c, '\u{0964}' | '\u{0965}'))
}

/// Scripts written without spaces between words.
pub(crate) fn is_unspaced_script(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'     // Hiragana, Katakana
        | '\u{31F0}'..='\u{31FF}'   // Katakana extensions
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}'   // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{20000}'..='\u{2FA1F}' // CJK extensions B..F and supplements
        | '\u{0E00}'..='\u{0EFF}'   // Thai, Lao
        | '\u{1000}'..='\u{109F}'   // Myanmar
        | '\u{1780}'..='\u{17FF}' // Khmer
    )
}

/// Words that carry no meaning for ranking. Removing them at index time keeps
/// the posting lists that every question would touch from existing at all,
/// which is most of what keeps question latency flat as the index grows.
fn is_stop_word(word: &str) -> bool {
    matches!(
        word,
        "a" | "about"
            | "all"
            | "also"
            | "an"
            | "and"
            | "any"
            | "are"
            | "as"
            | "at"
            | "be"
            | "been"
            | "being"
            | "but"
            | "by"
            | "can"
            | "could"
            | "did"
            | "do"
            | "does"
            | "for"
            | "from"
            | "had"
            | "has"
            | "have"
            | "he"
            | "her"
            | "his"
            | "how"
            | "i"
            | "if"
            | "in"
            | "into"
            | "is"
            | "it"
            | "its"
            | "may"
            | "me"
            | "my"
            | "not"
            | "of"
            | "on"
            | "or"
            | "our"
            | "s"
            | "shall"
            | "she"
            | "should"
            | "so"
            | "such"
            | "t"
            | "than"
            | "that"
            | "the"
            | "their"
            | "them"
            | "then"
            | "there"
            | "these"
            | "they"
            | "this"
            | "those"
            | "to"
            | "us"
            | "was"
            | "we"
            | "were"
            | "what"
            | "when"
            | "where"
            | "which"
            | "who"
            | "whom"
            | "whose"
            | "why"
            | "will"
            | "with"
            | "would"
            | "you"
            | "your"
            | "а"
            | "в"
            | "во"
            | "где"
            | "для"
            | "до"
            | "же"
            | "и"
            | "из"
            | "или"
            | "к"
            | "как"
            | "какая"
            | "какие"
            | "какой"
            | "когда"
            | "кто"
            | "ли"
            | "на"
            | "не"
            | "но"
            | "о"
            | "от"
            | "по"
            | "при"
            | "с"
            | "со"
            | "то"
            | "у"
            | "что"
            | "это"
    )
}

/// The analyzer as a tantivy tokenizer, so the index and the query side share
/// [`for_each_term`].
#[derive(Clone, Default)]
pub(crate) struct QuireTokenizer {
    tokens: Vec<Token>,
}

pub(crate) struct QuireTokenStream<'a> {
    tokens: std::vec::Drain<'a, Token>,
    current: Token,
}

impl Tokenizer for QuireTokenizer {
    type TokenStream<'a> = QuireTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> QuireTokenStream<'a> {
        self.tokens.clear();
        let mut position = 0;
        for_each_term(text, |term, from, to| {
            self.tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: term.to_owned(),
                position_length: 1,
            });
            position += 1;
        });
        QuireTokenStream {
            tokens: self.tokens.drain(..),
            current: Token::default(),
        }
    }
}

impl TokenStream for QuireTokenStream<'_> {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// Byte ranges of the sentences in `text`, trimmed of surrounding whitespace.
///
/// A sentence ends at `.`, `!` or `?` followed by whitespace (and then not by a
/// lowercase letter), at `。！？`, at a blank line, and at a line break after a
/// short line: PDF extraction hard-wraps long lines mid-sentence, but headings
/// and list items are short lines of their own.
pub(crate) fn sentence_spans(text: &str) -> Vec<Range<usize>> {
    const SHORT_LINE_CHARS: usize = 60;
    let mut spans = Vec::new();
    let mut start = 0usize;
    let mut line_start = 0usize;
    let mut chars = text.char_indices().peekable();

    while let Some((i, c)) = chars.next() {
        let after = i + c.len_utf8();
        let cut = match c {
            '。' | '！' | '？' => true,
            '.' | '!' | '?' | '…' => {
                let mut end = after;
                while let Some(&(j, q)) = chars.peek() {
                    if matches!(q, '"' | '\'' | ')' | ']' | '”' | '’' | '»') {
                        chars.next();
                        end = j + q.len_utf8();
                    } else {
                        break;
                    }
                }
                let next_is_space = chars.peek().is_none_or(|&(_, n)| n.is_whitespace());
                if next_is_space
                    && !(c == '.' && is_abbreviation(&text[start..i]))
                    && !next_word_is_lowercase(&text[end..])
                {
                    push_span(text, start..end, &mut spans);
                    start = end;
                }
                false
            }
            '\n' => {
                let line = &text[line_start..i];
                let blank = line.trim().is_empty();
                let short = line.trim().chars().nth(SHORT_LINE_CHARS).is_none();
                line_start = after;
                blank || short
            }
            _ => false,
        };
        if cut {
            push_span(text, start..after, &mut spans);
            start = after;
        }
    }
    push_span(text, start..text.len(), &mut spans);
    spans
}

fn push_span(text: &str, range: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let slice = &text[range.clone()];
    let trimmed_start = slice.len() - slice.trim_start().len();
    let trimmed_end = slice.trim_end().len();
    if trimmed_end > trimmed_start {
        spans.push(range.start + trimmed_start..range.start + trimmed_end);
    }
}

/// Whether the period that ends `before` belongs to an abbreviation, an
/// initial or a clause number ("12. Governing Law") rather than ending a
/// sentence.
fn is_abbreviation(before: &str) -> bool {
    let trimmed = before.trim_start();
    let last = trimmed
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if last.is_empty() {
        return false;
    }
    let is_number = last.chars().all(|c| c.is_ascii_digit() || c == '.');
    // A number is a clause number only when it opens the sentence; "paid
    // within 30." ends one.
    if is_number {
        return last.len() == trimmed.len();
    }
    if last.chars().count() == 1 {
        return true;
    }
    matches!(
        last.to_lowercase().as_str(),
        "e.g"
            | "i.e"
            | "mr"
            | "mrs"
            | "ms"
            | "dr"
            | "no"
            | "nos"
            | "art"
            | "sec"
            | "cl"
            | "vs"
            | "st"
    )
}

fn next_word_is_lowercase(rest: &str) -> bool {
    rest.trim_start()
        .chars()
        .next()
        .is_some_and(|c| c.is_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_term(text, |t, _, _| out.push(t.to_owned()));
        out
    }

    #[test]
    fn english_words_are_lowercased_stemmed_and_stop_words_dropped() {
        assert_eq!(terms("What is the Governing Law?"), ["govern", "law"]);
        assert_eq!(terms("governed by the laws"), ["govern", "law"]);
    }

    #[test]
    fn cyrillic_words_are_stemmed_with_the_russian_stemmer() {
        assert_eq!(terms("Договора"), terms("договор"));
    }

    #[test]
    fn cjk_runs_become_bigrams_and_lone_ideographs_unigrams() {
        assert_eq!(terms("适用法律"), ["适用", "用法", "法律"]);
        assert_eq!(terms("法 law"), ["法", "law"]);
    }

    #[test]
    fn token_offsets_point_at_the_original_text() {
        let text = "Le contrat été signé";
        for_each_term(text, |_, from, to| assert!(text.get(from..to).is_some()));
    }

    #[test]
    fn sentences_split_at_terminators_but_not_at_clause_numbers() {
        let text = "12. Governing Law\nThis Agreement shall be governed by the laws of England. \
                    Payment is due in 30 days.";
        let got: Vec<&str> = sentence_spans(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            got,
            [
                "12. Governing Law",
                "This Agreement shall be governed by the laws of England.",
                "Payment is due in 30 days."
            ]
        );
    }

    #[test]
    fn sentences_split_after_cjk_full_stops() {
        let text = "本协议受英国法律管辖。付款期限为三十天。";
        assert_eq!(sentence_spans(text).len(), 2);
    }
}
