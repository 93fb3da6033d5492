//! JSON to readable `key.path[0].leaf: value` lines, in document order.
//!
//! Walks the parser's events instead of building a `serde_json::Value`: no
//! second copy of the document is held, object keys keep their order without
//! `serde_json/preserve_order` (a feature that would change map ordering for
//! every crate in the workspace), and depth is checked as the walk descends.

use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::limits::JSON_DEPTH_CEILING;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonProblem {
    Invalid(String),
    TooDeep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonText {
    pub text: String,
    pub truncated: bool,
}

pub(crate) fn json_to_text(
    bytes: &[u8],
    max_depth: usize,
    max_text: usize,
) -> Result<JsonText, JsonProblem> {
    // Windows editors prepend a BOM that the JSON grammar does not allow.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut out = Out {
        text: String::new(),
        path: String::new(),
        depth: 0,
        max_depth: max_depth.min(JSON_DEPTH_CEILING),
        max_text,
        truncated: false,
        too_deep: false,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let walked = Node(&mut out).deserialize(&mut de).and_then(|()| de.end());
    match walked {
        Ok(()) => Ok(JsonText {
            text: out.text,
            truncated: out.truncated,
        }),
        // serde_json's own recursion guard fires at 128 levels; report it the
        // same way as ours so the reason does not depend on which fired.
        Err(_) if out.too_deep => Err(JsonProblem::TooDeep),
        Err(e) if e.to_string().contains("recursion limit exceeded") => Err(JsonProblem::TooDeep),
        Err(e) => Err(JsonProblem::Invalid(e.to_string())),
    }
}

struct Out {
    text: String,
    path: String,
    depth: usize,
    max_depth: usize,
    max_text: usize,
    truncated: bool,
    too_deep: bool,
}

impl Out {
    fn line(&mut self, value: &dyn fmt::Display) {
        if self.truncated {
            return;
        }
        let before = self.text.len();
        // Writing into a String cannot fail.
        let _ = if self.path.is_empty() {
            writeln!(self.text, "{value}")
        } else {
            writeln!(self.text, "{}: {value}", self.path)
        };
        if self.text.len() > self.max_text {
            self.text.truncate(before);
            self.truncated = true;
        }
    }

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth >= self.max_depth {
            self.too_deep = true;
            return Err(E::custom("nesting too deep"));
        }
        self.depth += 1;
        Ok(())
    }

    fn push_key(&mut self, key: &str) {
        let plain = !key.is_empty()
            && !key.chars().any(|c| {
                matches!(c, '.' | '[' | ']' | '"' | ':') || c.is_whitespace() || c.is_control()
            });
        if plain {
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(key);
        } else {
            self.path.push('[');
            // A JSON string literal is an unambiguous way to spell any key.
            match serde_json::to_string(key) {
                Ok(quoted) => self.path.push_str(&quoted),
                Err(_) => self.path.push_str("\"?\""),
            }
            self.path.push(']');
        }
    }
}

struct Node<'a>(&'a mut Out);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.line(&v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.line(&v);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.line(&v);
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.line(&v);
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.line(&v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.line(&"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        out.enter()?;
        let base = out.path.len();
        let mut index = 0usize;
        loop {
            out.path.truncate(base);
            let _ = write!(out.path, "[{index}]");
            if seq.next_element_seed(Node(&mut *out))?.is_none() {
                break;
            }
            index += 1;
        }
        out.path.truncate(base);
        if index == 0 {
            out.line(&"[]");
        }
        out.depth -= 1;
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.enter()?;
        let base = out.path.len();
        let mut empty = true;
        while let Some(key) = map.next_key::<String>()? {
            empty = false;
            out.path.truncate(base);
            out.push_key(&key);
            map.next_value_seed(Node(&mut *out))?;
        }
        out.path.truncate(base);
        if empty {
            out.line(&"{}");
        }
        out.depth -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> String {
        match json_to_text(json.as_bytes(), 64, usize::MAX) {
            Ok(t) => t.text,
            Err(e) => panic!("{json} failed: {e:?}"),
        }
    }

    #[test]
    fn nested_values_become_key_paths_in_document_order() {
        let json =
            r#"{"tender":{"lots":[{"title":"Office chairs","qty":12}],"open":true,"note":null}}"#;
        assert_eq!(
            text(json),
            "tender.lots[0].title: Office chairs\ntender.lots[0].qty: 12\ntender.open: true\ntender.note: null\n"
        );
    }

    #[test]
    fn awkward_keys_are_quoted_and_empty_containers_shown() {
        assert_eq!(text(r#"{"a.b":{},"":[]}"#), "[\"a.b\"]: {}\n[\"\"]: []\n");
        assert_eq!(text(r#"[1,"x"]"#), "[0]: 1\n[1]: x\n");
        assert_eq!(text(r#""alone""#), "alone\n");
    }

    #[test]
    fn depth_beyond_the_limit_is_reported_as_too_deep() {
        let deep = format!("{}{}", "[".repeat(10), "]".repeat(10));
        assert_eq!(
            json_to_text(deep.as_bytes(), 5, 1000),
            Err(JsonProblem::TooDeep)
        );
        let very_deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert_eq!(
            json_to_text(very_deep.as_bytes(), 10_000, 1000),
            Err(JsonProblem::TooDeep)
        );
    }

    #[test]
    fn trailing_garbage_is_invalid() {
        assert!(matches!(
            json_to_text(b"{} x", 5, 1000),
            Err(JsonProblem::Invalid(_))
        ));
    }

    #[test]
    fn output_past_the_text_limit_is_cut_at_a_line() {
        let json = format!("[{}]", vec!["\"abcdef\""; 100].join(","));
        let Ok(out) = json_to_text(json.as_bytes(), 5, 50) else {
            panic!("valid JSON refused");
        };
        assert!(out.truncated);
        assert!(out.text.len() <= 50);
        assert!(out.text.ends_with('\n'));
    }
}
