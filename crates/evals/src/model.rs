//! The question-set model shared by every parser, the scorer and the service.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// More questions than this in one set is refused: a run of the cap already
/// takes minutes against a real model, and the service keeps a set in memory.
pub const MAX_QUESTIONS: usize = 10_000;
/// Per question, for the same reason and to keep scoring linear in practice.
pub const MAX_FRAGMENTS: usize = 200;
/// Per question.
pub const MAX_ASSERTIONS: usize = 200;
/// Question ids end up in URLs, file names of exports and log lines.
pub const MAX_ID_CHARS: usize = 128;
/// Compiled-program bound for `regex` assertions, so a hostile set cannot make
/// the scorer build a huge automaton.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A named list of questions, as stored by the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QuestionSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub questions: Vec<Question>,
}

/// One question and what a good answer to it contains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Empty in input means "generate one": see [`QuestionSet::validate`].
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(alias = "question")]
    pub text: String,
    #[serde(default)]
    pub expected_fragments: Vec<ExpectedFragment>,
    #[serde(default)]
    pub assertions: Vec<Assertion>,
    #[serde(default)]
    pub doc_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_config: Option<serde_json::Value>,
}

impl Question {
    /// A question with only its text; handy for the service's inline runs.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            expected_fragments: Vec::new(),
            assertions: Vec::new(),
            doc_types: Vec::new(),
            llm_config: None,
        }
    }
}

/// Text the answer should contain. In JSON either a bare string or an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedFragment {
    pub text: String,
    pub weight: f64,
    /// Other spellings that count as this fragment (e.g. `"Net 30"` for
    /// `"thirty days"`); the strongest match over all of them wins.
    pub alternatives: Vec<String>,
}

impl ExpectedFragment {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            weight: 1.0,
            alternatives: Vec::new(),
        }
    }

    pub fn with_weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    pub fn with_alternatives<I, S>(mut self, alternatives: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.alternatives = alternatives.into_iter().map(Into::into).collect();
        self
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FragmentObject {
    text: String,
    #[serde(default = "one")]
    weight: f64,
    #[serde(default)]
    alternatives: Vec<String>,
}

impl<'de> Deserialize<'de> for ExpectedFragment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Hand-written rather than `#[serde(untagged)]`, whose only error is
        // "did not match any variant" and would hide which field is wrong.
        struct FragmentVisitor;
        impl<'de> Visitor<'de> for FragmentVisitor {
            type Value = ExpectedFragment;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an object with `text`, `weight`, `alternatives`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ExpectedFragment::new(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ExpectedFragment::new(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ExpectedFragment::new(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ExpectedFragment::new(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let o = FragmentObject::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ExpectedFragment {
                    text: o.text,
                    weight: o.weight,
                    alternatives: o.alternatives,
                })
            }
        }
        deserializer.deserialize_any(FragmentVisitor)
    }
}

/// A promptfoo-style check on the answer, tagged by `type`.
///
/// Every variant has a `value` and a `weight` (default 1); `contains-any`,
/// `contains-all` and their case-insensitive forms take a list of strings
/// (a single string is split on commas, as promptfoo does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Assertion {
    /// Case-sensitive substring.
    Contains {
        #[serde(deserialize_with = "string_or_number")]
        value: String,
        #[serde(default = "one")]
        weight: f64,
    },
    /// Case-insensitive substring.
    Icontains {
        #[serde(deserialize_with = "string_or_number")]
        value: String,
        #[serde(default = "one")]
        weight: f64,
    },
    /// At least one value is a case-sensitive substring.
    ContainsAny {
        #[serde(deserialize_with = "string_list")]
        value: Vec<String>,
        #[serde(default = "one")]
        weight: f64,
    },
    /// Every value is a case-sensitive substring.
    ContainsAll {
        #[serde(deserialize_with = "string_list")]
        value: Vec<String>,
        #[serde(default = "one")]
        weight: f64,
    },
    /// At least one value is a case-insensitive substring.
    IcontainsAny {
        #[serde(deserialize_with = "string_list")]
        value: Vec<String>,
        #[serde(default = "one")]
        weight: f64,
    },
    /// Every value is a case-insensitive substring.
    IcontainsAll {
        #[serde(deserialize_with = "string_list")]
        value: Vec<String>,
        #[serde(default = "one")]
        weight: f64,
    },
    /// The regular expression (Rust `regex` syntax) matches somewhere.
    Regex {
        value: String,
        #[serde(default = "one")]
        weight: f64,
    },
    /// The value is not a case-sensitive substring.
    NotContains {
        #[serde(deserialize_with = "string_or_number")]
        value: String,
        #[serde(default = "one")]
        weight: f64,
    },
    /// The answer, trimmed, equals the value, trimmed.
    Equals {
        #[serde(deserialize_with = "string_or_number")]
        value: String,
        #[serde(default = "one")]
        weight: f64,
    },
    /// The answer's sources include this document (by name or id).
    Source {
        value: String,
        #[serde(default = "one")]
        weight: f64,
    },
}

/// The `type` names accepted in every format, for error messages.
pub const ASSERTION_TYPES: &[&str] = &[
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "icontains-any",
    "icontains-all",
    "regex",
    "not-contains",
    "equals",
    "source",
];

impl Assertion {
    /// Builds an assertion from its `type` name; `None` for an unknown type.
    /// List types take `values`; the others take the first value.
    pub fn from_parts(kind: &str, values: Vec<String>, weight: f64) -> Option<Self> {
        let first = || values.first().cloned().unwrap_or_default();
        Some(match kind {
            "contains" => Self::Contains {
                value: first(),
                weight,
            },
            "icontains" => Self::Icontains {
                value: first(),
                weight,
            },
            "regex" => Self::Regex {
                value: first(),
                weight,
            },
            "not-contains" => Self::NotContains {
                value: first(),
                weight,
            },
            "equals" => Self::Equals {
                value: first(),
                weight,
            },
            "source" => Self::Source {
                value: first(),
                weight,
            },
            "contains-any" => Self::ContainsAny {
                value: values,
                weight,
            },
            "contains-all" => Self::ContainsAll {
                value: values,
                weight,
            },
            "icontains-any" => Self::IcontainsAny {
                value: values,
                weight,
            },
            "icontains-all" => Self::IcontainsAll {
                value: values,
                weight,
            },
            _ => return None,
        })
    }

    /// Whether `value` is a list for this `type`.
    pub fn kind_takes_list(kind: &str) -> bool {
        matches!(
            kind,
            "contains-any" | "contains-all" | "icontains-any" | "icontains-all"
        )
    }

    /// The `type` tag as written in files.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Contains { .. } => "contains",
            Self::Icontains { .. } => "icontains",
            Self::ContainsAny { .. } => "contains-any",
            Self::ContainsAll { .. } => "contains-all",
            Self::IcontainsAny { .. } => "icontains-any",
            Self::IcontainsAll { .. } => "icontains-all",
            Self::Regex { .. } => "regex",
            Self::NotContains { .. } => "not-contains",
            Self::Equals { .. } => "equals",
            Self::Source { .. } => "source",
        }
    }

    pub fn weight(&self) -> f64 {
        match self {
            Self::Contains { weight, .. }
            | Self::Icontains { weight, .. }
            | Self::ContainsAny { weight, .. }
            | Self::ContainsAll { weight, .. }
            | Self::IcontainsAny { weight, .. }
            | Self::IcontainsAll { weight, .. }
            | Self::Regex { weight, .. }
            | Self::NotContains { weight, .. }
            | Self::Equals { weight, .. }
            | Self::Source { weight, .. } => *weight,
        }
    }

    /// The values to check, as a slice whatever the variant.
    pub fn values(&self) -> &[String] {
        match self {
            Self::Contains { value, .. }
            | Self::Icontains { value, .. }
            | Self::Regex { value, .. }
            | Self::NotContains { value, .. }
            | Self::Equals { value, .. }
            | Self::Source { value, .. } => std::slice::from_ref(value),
            Self::ContainsAny { value, .. }
            | Self::ContainsAll { value, .. }
            | Self::IcontainsAny { value, .. }
            | Self::IcontainsAll { value, .. } => value,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// Spreadsheets and hand-written JSON often carry ids and values as numbers.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(V)
}

fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(split_comma_list(v))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            #[derive(Deserialize)]
            struct Item(#[serde(deserialize_with = "string_or_number")] String);
            let mut out = Vec::new();
            while let Some(Item(s)) = seq.next_element()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(V)
}

/// promptfoo splits a string `value` of `contains-any`/`contains-all` on commas.
pub(crate) fn split_comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl QuestionSet {
    /// Checks the set and fills in missing ids.
    ///
    /// A question without an id gets `q<position>` (1-based), so the same
    /// file in any format gets the same ids; if that id is taken by another
    /// question, `q<position>-2`, `-3`, … is used instead. Explicit duplicate
    /// ids are an error. Text is trimmed; other strings are kept as written.
    pub fn validate(&mut self) -> Result<(), ValidationError> {
        if self.questions.len() > MAX_QUESTIONS {
            return Err(ValidationError::set(format!(
                "the set has {} questions; at most {MAX_QUESTIONS} are allowed",
                self.questions.len()
            )));
        }
        if self.questions.is_empty() {
            return Err(ValidationError::set("the set has no questions"));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, q) in self.questions.iter_mut().enumerate() {
            q.id = q.id.trim().to_owned();
            if q.id.is_empty() {
                continue;
            }
            if q.id.chars().count() > MAX_ID_CHARS {
                return Err(ValidationError::at(
                    i,
                    "id",
                    format!("the id is longer than {MAX_ID_CHARS} characters"),
                ));
            }
            if q.id.chars().any(char::is_control) {
                return Err(ValidationError::at(
                    i,
                    "id",
                    "the id contains a control character",
                ));
            }
            if let Some(first) = seen.insert(q.id.clone(), i) {
                return Err(ValidationError::at(
                    i,
                    "id",
                    format!("duplicate id `{}`: question {} has it too", q.id, first + 1),
                ));
            }
        }
        for (i, q) in self.questions.iter_mut().enumerate() {
            if q.id.is_empty() {
                let base = format!("q{}", i + 1);
                let mut candidate = base.clone();
                let mut n = 2;
                while seen.contains_key(&candidate) {
                    candidate = format!("{base}-{n}");
                    n += 1;
                }
                seen.insert(candidate.clone(), i);
                q.id = candidate;
            }
        }
        for (i, q) in self.questions.iter_mut().enumerate() {
            validate_question(q)
                .map_err(|(field, message)| ValidationError::at(i, field, message))?;
        }
        Ok(())
    }
}

fn validate_question(q: &mut Question) -> Result<(), (String, String)> {
    let trimmed = q.text.trim();
    if trimmed.is_empty() {
        return Err(("text".into(), "the question text is empty".into()));
    }
    if trimmed.len() != q.text.len() {
        q.text = trimmed.to_owned();
    }
    if q.expected_fragments.len() > MAX_FRAGMENTS {
        return Err((
            "expected_fragments".into(),
            format!("more than {MAX_FRAGMENTS} expected fragments"),
        ));
    }
    if q.assertions.len() > MAX_ASSERTIONS {
        return Err((
            "assertions".into(),
            format!("more than {MAX_ASSERTIONS} assertions"),
        ));
    }
    for (j, f) in q.expected_fragments.iter().enumerate() {
        let field = |sub: &str| format!("expected_fragments[{j}]{sub}");
        if f.text.trim().is_empty() {
            return Err((field(".text"), "the fragment text is empty".into()));
        }
        check_weight(f.weight).map_err(|m| (field(".weight"), m))?;
        if let Some(k) = f.alternatives.iter().position(|a| a.trim().is_empty()) {
            return Err((
                field(&format!(".alternatives[{k}]")),
                "the alternative is empty".into(),
            ));
        }
    }
    for (j, a) in q.assertions.iter().enumerate() {
        let field = |sub: &str| format!("assertions[{j}]{sub}");
        check_weight(a.weight()).map_err(|m| (field(".weight"), m))?;
        check_assertion(a).map_err(|m| (field(".value"), m))?;
    }
    if let Some(k) = q.doc_types.iter().position(|d| d.trim().is_empty()) {
        return Err((
            format!("doc_types[{k}]"),
            "the document type is empty".into(),
        ));
    }
    if let Some(cfg) = &q.llm_config
        && !cfg.is_object()
    {
        return Err(("llm_config".into(), "llm_config must be an object".into()));
    }
    Ok(())
}

pub(crate) fn check_weight(w: f64) -> Result<(), String> {
    if !w.is_finite() || w <= 0.0 {
        return Err(format!("the weight must be a number above 0, not {w}"));
    }
    Ok(())
}

/// Checks an assertion's value; shared with the parsers so they can report
/// the line of a bad one.
pub(crate) fn check_assertion(a: &Assertion) -> Result<(), String> {
    match a {
        Assertion::Regex { value, .. } => compile_regex(value).map(|_| ()),
        // `not-contains ""` would fail every answer and `equals ""` only
        // passes empty ones: both are almost certainly mistakes.
        Assertion::Contains { value, .. }
        | Assertion::Icontains { value, .. }
        | Assertion::NotContains { value, .. }
        | Assertion::Equals { value, .. }
        | Assertion::Source { value, .. } => {
            if value.is_empty() {
                Err(format!("`{}` needs a non-empty value", a.kind()))
            } else {
                Ok(())
            }
        }
        Assertion::ContainsAny { value, .. }
        | Assertion::ContainsAll { value, .. }
        | Assertion::IcontainsAny { value, .. }
        | Assertion::IcontainsAll { value, .. } => {
            if value.is_empty() {
                Err(format!("`{}` needs at least one value", a.kind()))
            } else if value.iter().any(String::is_empty) {
                Err(format!("`{}` has an empty value", a.kind()))
            } else {
                Ok(())
            }
        }
    }
}

pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regex: {e}"))
}
