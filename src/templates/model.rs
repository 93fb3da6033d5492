//! Template types that parse: the template type, and a prompt template checked for
//! syntax and variables, rendered with strict undefined.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateType {
    Summary,
    Extraction,
    Question,
}

impl TemplateType {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateType::Summary => "summary",
            TemplateType::Extraction => "extraction",
            TemplateType::Question => "question",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "summary" => Some(TemplateType::Summary),
            "extraction" => Some(TemplateType::Extraction),
            "question" => Some(TemplateType::Question),
            _ => None,
        }
    }
}

/// The variables a template may use: `document.<field>`, `language`, and anything
/// under `variables` (the caller's, checked when a summary is rendered).
pub const DOCUMENT_FIELDS: &[&str] = &[
    "id",
    "title",
    "content",
    "source_type",
    "pages",
    "page_count",
];
const TOP_LEVEL: &[&str] = &["document", "language", "variables"];

/// Why a template cannot be used, with where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl TemplateError {
    pub fn details(&self) -> Value {
        serde_json::json!({"field": "prompt_template", "line": self.line, "column": self.column,
                           "reason": self.message})
    }
}

/// A prompt template whose syntax and variables were checked.
#[derive(Debug, Clone)]
pub struct PromptTemplate {
    source: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Prompts are text, not HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env
}

impl PromptTemplate {
    /// Parses `source`; a syntax error or a variable no summary can give is an error
    /// naming its line and column.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        if source.trim().is_empty() {
            return Err(TemplateError {
                message: "the template is empty".into(),
                line: 1,
                column: 1,
            });
        }
        let env = environment();
        let template = env
            .template_from_str(source)
            .map_err(|e| syntax_error(source, &e))?;
        let mut unknown: Vec<String> = template
            .undeclared_variables(true)
            .into_iter()
            .filter(|name| !is_known(name))
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            let (line, column) = position_of_variable(source, name);
            return Err(TemplateError {
                message: format!(
                    "unknown variable `{name}`: use document.{{{}}}, language, or variables.<name>",
                    DOCUMENT_FIELDS.join(",")
                ),
                line,
                column,
            });
        }
        Ok(Self {
            source: source.to_owned(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with `context` (strict: a missing caller variable is an error).
    pub fn render(&self, context: &RenderContext) -> Result<String, TemplateError> {
        let env = environment();
        let template = env
            .template_from_str(&self.source)
            .map_err(|e| syntax_error(&self.source, &e))?;
        template
            .render(context)
            .map_err(|e| syntax_error(&self.source, &e))
    }
}

/// What a template is rendered with.
#[derive(Debug, Clone, Serialize)]
pub struct RenderContext {
    pub document: DocumentVars,
    pub language: Option<String>,
    pub variables: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentVars {
    pub id: String,
    pub title: String,
    pub content: String,
    pub source_type: String,
    pub pages: Vec<PageVar>,
    pub page_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageVar {
    pub number: i64,
    pub text: String,
}

fn is_known(name: &str) -> bool {
    let mut parts = name.split('.');
    let top = parts.next().unwrap_or_default();
    if !TOP_LEVEL.contains(&top) {
        return false;
    }
    match (top, parts.next()) {
        ("document", Some(field)) => DOCUMENT_FIELDS.contains(&field),
        ("language", Some(_)) => false,
        _ => true,
    }
}

fn syntax_error(source: &str, e: &minijinja::Error) -> TemplateError {
    let line = e.line().unwrap_or(1);
    let column = e.range().map(|r| column_at(source, r.start)).unwrap_or(1);
    TemplateError {
        message: e
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| e.kind().to_string()),
        line,
        column,
    }
}

/// 1-based column of byte `offset` on its line.
fn column_at(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    source[line_start..offset].chars().count() + 1
}

/// Where `name` (`a` or `a.b`) first appears inside a `{{ }}` or `{% %}` tag.
fn position_of_variable(source: &str, name: &str) -> (usize, usize) {
    let first = name.split('.').next().unwrap_or(name);
    let bytes = source.as_bytes();
    let mut search = 0;
    while let Some(found) = source[search..].find(first) {
        let at = search + found;
        let before_ok = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b'.');
        let after = at + first.len();
        let after_ok =
            after >= bytes.len() || !(bytes[after].is_ascii_alphanumeric() || bytes[after] == b'_');
        let in_tag = source[..at].rfind("{{").max(source[..at].rfind("{%"))
            > source[..at].rfind("}}").max(source[..at].rfind("%}"));
        if before_ok && after_ok && in_tag {
            let line = source[..at].matches('\n').count() + 1;
            return (line, column_at(source, at));
        }
        search = at + first.len();
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> RenderContext {
        RenderContext {
            document: DocumentVars {
                id: "d1".into(),
                title: "MSA".into(),
                content: "The text.".into(),
                source_type: "upload".into(),
                pages: vec![PageVar {
                    number: 1,
                    text: "The text.".into(),
                }],
                page_count: 1,
            },
            language: None,
            variables: BTreeMap::from([("audience".to_owned(), Value::from("board"))]),
        }
    }

    #[test]
    fn a_template_renders_document_language_and_variables() {
        let t = PromptTemplate::parse(
            "Summarise {{ document.title }} for the {{ variables.audience }}{% if language %} in {{ language }}{% endif %}:\n{{ document.content }}",
        )
        .unwrap();
        assert_eq!(
            t.render(&context()).unwrap(),
            "Summarise MSA for the board:\nThe text."
        );
    }

    #[test]
    fn a_syntax_error_names_its_line_and_column() {
        let err = PromptTemplate::parse("Line one\nSummarise {{ document.title }\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
        assert!(err.column > 1, "{err:?}");
    }

    #[test]
    fn an_unknown_variable_names_its_line_and_column() {
        let err = PromptTemplate::parse("Hello\n  {{ customer.name }}").unwrap_err();
        assert_eq!((err.line, err.column), (2, 6), "{err:?}");
        let err = PromptTemplate::parse("{{ document.author }}").unwrap_err();
        assert!(err.message.contains("document.author"), "{err:?}");
        PromptTemplate::parse("{% for p in document.pages %}{{ p.number }}{% endfor %}").unwrap();
    }

    #[test]
    fn a_missing_caller_variable_fails_the_render() {
        let t = PromptTemplate::parse("{{ variables.missing }}").unwrap();
        assert!(t.render(&context()).is_err());
    }
}
