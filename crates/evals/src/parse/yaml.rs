//! promptfoo-style YAML, read through saphyr's marked nodes so that every
//! error — syntax or meaning — can name its line.

use std::borrow::Cow;
use std::collections::BTreeMap;

use saphyr::{MarkedYaml, ScalarStyle, YamlData, YamlLoader};
use saphyr_parser::Parser;

use crate::error::{ParseError, SetFormat};
use crate::model::{
    ASSERTION_TYPES, Assertion, ExpectedFragment, MAX_QUESTIONS, Question, QuestionSet,
    check_assertion, check_weight, split_comma_list,
};

/// Bounds alias expansion ("billion laughs") well below saphyr's default:
/// a question set has no business with more nodes than this.
const ALIAS_NODE_LIMIT: usize = 20_000;

/// promptfoo test keys we accept and ignore: they steer promptfoo's own
/// runner (providers, options) and have no meaning for a Quire run.
const IGNORED_TEST_KEYS: &[&str] = &[
    "description",
    "options",
    "threshold",
    "provider",
    "providers",
    "prompts",
    "assertScoringFunction",
];

type Node<'a> = MarkedYaml<'a>;
type Res<T> = Result<T, ParseError>;

/// Parses a promptfoo-style YAML config into a question set.
///
/// * `description` becomes the set's description; the set has no name.
/// * `prompts`: absent, or exactly one inline string. A prompt is a template
///   whose `{{var}}` placeholders are filled from each test's `vars` to make
///   the question text, so `"{{question}}"` and no prompt at all are the same.
/// * `tests`: a list (the root may also be the list itself). Each test's
///   question is its rendered prompt, else `vars.question`, else its only var.
///   `assert` entries map one-to-one onto [`Assertion`]s; `metadata` may hold
///   `id`, `expected_fragments`, `doc_types` and `llm_config`.
/// * `defaultTest`: its `vars` are defaults for every test, its `assert`
///   entries are appended to every test's.
///
/// Errors give the line and column and a path such as `tests[2].assert[0].type`.
pub fn parse_promptfoo_yaml(input: &str) -> Result<QuestionSet, ParseError> {
    let input = super::strip_bom(input);
    let docs = load(input)?;
    let root = match docs.as_slice() {
        [] => return Err(ParseError::new(SetFormat::Yaml, "the file is empty")),
        [root] => root,
        [_, second, ..] => {
            return Err(at(
                second,
                "",
                "the file holds several YAML documents; use one",
            ));
        }
    };
    let root = untag(root);
    let mut set = QuestionSet::default();
    let mut template: Option<(String, usize)> = None;
    let mut defaults = Defaults::default();
    let tests: &[Node] = match &root.data {
        YamlData::Sequence(items) => items,
        YamlData::Mapping(_) => {
            let mut tests = None;
            for (key, value) in entries(root, "")? {
                match key {
                    "description" => set.description = optional_string(value, "description")?,
                    "prompts" => template = prompt_template(value)?,
                    "defaultTest" => defaults = default_test(value)?,
                    "tests" => tests = Some(value),
                    // The rest of a promptfoo config (providers, outputPath,
                    // sharing, env…) configures promptfoo itself.
                    _ => {}
                }
            }
            let Some(tests) = tests else {
                return Err(at(root, "", "no `tests:` list"));
            };
            match &untag(tests).data {
                YamlData::Sequence(items) => items,
                _ if scalar(tests).is_some() => {
                    return Err(at(
                        tests,
                        "tests",
                        "`tests` must be an inline list; file references are not supported",
                    ));
                }
                _ => return Err(at(tests, "tests", "`tests` must be a list")),
            }
        }
        _ => {
            return Err(at(
                root,
                "",
                "expected a promptfoo config (a mapping with `tests:`) or a list of tests",
            ));
        }
    };
    if tests.len() > MAX_QUESTIONS {
        return Err(at(
            &tests[MAX_QUESTIONS],
            &format!("tests[{MAX_QUESTIONS}]"),
            format!("more than {MAX_QUESTIONS} tests; split the set"),
        ));
    }
    let mut lines = Vec::with_capacity(tests.len());
    for (i, test) in tests.iter().enumerate() {
        set.questions
            .push(convert_test(i, test, template.as_ref(), &defaults)?);
        lines.push((line_of(test), col_of(test)));
    }
    set.validate().map_err(|e| {
        let path = match (e.question_index, &e.field) {
            (Some(i), Some(f)) => format!("tests[{i}].{f}"),
            (Some(i), None) => format!("tests[{i}]"),
            _ => String::new(),
        };
        let mut err = ParseError::new(SetFormat::Yaml, e.message).path(path);
        if let Some((line, col)) = e.question_index.and_then(|i| lines.get(i).copied()) {
            err = err.line(line).column(col);
        }
        err
    })?;
    Ok(set)
}

fn load(input: &str) -> Res<Vec<Node<'_>>> {
    let mut parser = Parser::new_from_str(input);
    let mut loader: YamlLoader<'_, Node<'_>> = YamlLoader::default();
    // Keep scalars as written: `1.50` stays "1.50" and `no` stays "no"
    // instead of becoming a float or a boolean behind the user's back.
    loader.early_parse(false);
    loader.alias_limit(ALIAS_NODE_LIMIT);
    let scan = |e: &saphyr::ScanError| {
        ParseError::new(SetFormat::Yaml, e.info().to_owned())
            .line(e.marker().line())
            .column(e.marker().col() + 1)
    };
    parser.load(&mut loader, true).map_err(|e| scan(&e))?;
    if let Some(e) = loader.error() {
        return Err(scan(e));
    }
    Ok(loader.into_documents())
}

#[derive(Default)]
struct Defaults {
    vars: BTreeMap<String, String>,
    asserts: Vec<Assertion>,
}

fn default_test(node: &Node) -> Res<Defaults> {
    let mut d = Defaults::default();
    for (key, value) in entries(node, "defaultTest")? {
        match key {
            "vars" => d.vars = vars(value, "defaultTest.vars")?,
            "assert" => d.asserts = asserts(value, "defaultTest.assert")?,
            _ => {}
        }
    }
    Ok(d)
}

fn prompt_template(node: &Node) -> Res<Option<(String, usize)>> {
    let only = match &untag(node).data {
        YamlData::Sequence(items) => match items.as_slice() {
            [] => return Ok(None),
            [one] => one,
            [_, second, ..] => {
                return Err(at(
                    second,
                    "prompts[1]",
                    "several prompts are not supported: each test is asked once; keep one prompt",
                ));
            }
        },
        _ => node,
    };
    let Some(text) = string(only) else {
        return Err(at(
            only,
            "prompts[0]",
            "only an inline string prompt is supported",
        ));
    };
    if text.starts_with("file://") {
        return Err(at(
            only,
            "prompts[0]",
            "prompt files are not supported; inline the prompt",
        ));
    }
    Ok(Some((text, line_of(only))))
}

fn convert_test(
    index: usize,
    node: &Node,
    template: Option<&(String, usize)>,
    defaults: &Defaults,
) -> Res<Question> {
    let path = format!("tests[{index}]");
    if !matches!(untag(node).data, YamlData::Mapping(_)) {
        return Err(at(
            node,
            &path,
            "a test must be a mapping with `vars` and `assert`",
        ));
    }
    let mut q = Question::new("", "");
    let mut test_vars = defaults.vars.clone();
    let mut own_asserts = Vec::new();
    let mut vars_node = node;
    for (key, value) in entries(node, &path)? {
        let sub = format!("{path}.{key}");
        match key {
            "vars" => {
                test_vars.extend(vars(value, &sub)?);
                vars_node = value;
            }
            "assert" => own_asserts = asserts(value, &sub)?,
            "metadata" => metadata(value, &sub, &mut q)?,
            // Not promptfoo, but what people write when they come from JSON.
            "id" => q.id = required_string(value, &sub)?,
            k if IGNORED_TEST_KEYS.contains(&k) => {}
            other => {
                return Err(at(
                    value,
                    &sub,
                    format!(
                        "unknown test key `{other}`; expected vars, assert, metadata, id or one \
                         of promptfoo's {}",
                        IGNORED_TEST_KEYS.join(", ")
                    ),
                ));
            }
        }
    }
    q.assertions = own_asserts;
    q.assertions.extend(defaults.asserts.iter().cloned());
    q.text = match template {
        Some((tpl, tpl_line)) => render(tpl, &test_vars).map_err(|m| {
            ParseError::new(SetFormat::Yaml, format!("{m} (prompt on line {tpl_line})"))
                .line(line_of(node))
                .column(col_of(node))
                .path(path.clone())
        })?,
        None => match test_vars.get("question") {
            Some(text) => text.clone(),
            None if test_vars.len() == 1 => test_vars.values().next().cloned().unwrap_or_default(),
            None if test_vars.is_empty() => {
                return Err(at(
                    node,
                    &path,
                    "the test has no vars; put the question in `vars.question`",
                ));
            }
            None => {
                return Err(at(
                    vars_node,
                    &format!("{path}.vars"),
                    "cannot tell which var is the question: name it `question` or add a prompt \
                     template",
                ));
            }
        },
    };
    Ok(q)
}

fn vars(node: &Node, path: &str) -> Res<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (key, value) in entries(node, path)? {
        let sub = format!("{path}.{key}");
        let text = match &untag(value).data {
            YamlData::Sequence(_) => {
                return Err(at(
                    value,
                    &sub,
                    "a list var makes promptfoo run the test once per value, which is not \
                     supported: write one test per value",
                ));
            }
            _ => required_string(value, &sub)?,
        };
        out.insert(key.to_owned(), text);
    }
    Ok(out)
}

fn asserts(node: &Node, path: &str) -> Res<Vec<Assertion>> {
    let YamlData::Sequence(items) = &untag(node).data else {
        return Err(at(node, path, "`assert` must be a list"));
    };
    items
        .iter()
        .enumerate()
        .map(|(j, item)| assertion(item, &format!("{path}[{j}]")))
        .collect()
}

fn assertion(node: &Node, path: &str) -> Res<Assertion> {
    let mut kind: Option<(String, &Node)> = None;
    let mut value: Option<&Node> = None;
    let mut weight = 1.0;
    for (key, v) in entries(node, path)? {
        let sub = format!("{path}.{key}");
        match key {
            "type" => kind = Some((required_string(v, &sub)?, v)),
            "value" => value = Some(v),
            "weight" => {
                weight = number(v, &sub)?;
                check_weight(weight).map_err(|m| at(v, &sub, m))?;
            }
            // Only names the score in promptfoo's reports.
            "metric" => {}
            other => {
                return Err(at(
                    v,
                    &sub,
                    format!("assertion key `{other}` is not supported; use type, value, weight"),
                ));
            }
        }
    }
    let Some((kind, kind_node)) = kind else {
        return Err(at(node, path, "the assertion has no `type`"));
    };
    let type_path = format!("{path}.type");
    if !ASSERTION_TYPES.contains(&kind.as_str()) {
        return Err(at(
            kind_node,
            &type_path,
            format!(
                "assertion type `{kind}` is not supported; use one of {}",
                ASSERTION_TYPES.join(", ")
            ),
        ));
    }
    let value_path = format!("{path}.value");
    let Some(value) = value else {
        return Err(at(node, &value_path, format!("`{kind}` needs a `value`")));
    };
    let values = if Assertion::kind_takes_list(&kind) {
        match &untag(value).data {
            YamlData::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(k, v)| required_string(v, &format!("{value_path}[{k}]")))
                .collect::<Res<Vec<_>>>()?,
            _ => split_comma_list(&required_string(value, &value_path)?),
        }
    } else {
        vec![required_string(value, &value_path)?]
    };
    let a = Assertion::from_parts(&kind, values, weight)
        .ok_or_else(|| at(kind_node, &type_path, format!("unknown type `{kind}`")))?;
    check_assertion(&a).map_err(|m| at(value, &value_path, m))?;
    Ok(a)
}

fn metadata(node: &Node, path: &str, q: &mut Question) -> Res<()> {
    for (key, value) in entries(node, path)? {
        let sub = format!("{path}.{key}");
        match key {
            "id" => q.id = required_string(value, &sub)?,
            "expected_fragments" => q.expected_fragments = fragments(value, &sub)?,
            "doc_types" => {
                q.doc_types = match &untag(value).data {
                    YamlData::Sequence(items) => items
                        .iter()
                        .enumerate()
                        .map(|(k, v)| required_string(v, &format!("{sub}[{k}]")))
                        .collect::<Res<_>>()?,
                    _ => vec![required_string(value, &sub)?],
                }
            }
            "llm_config" => {
                let cfg = to_json(value, &sub)?;
                if !cfg.is_object() {
                    return Err(at(value, &sub, "llm_config must be a mapping"));
                }
                q.llm_config = Some(cfg);
            }
            // promptfoo metadata is free-form; other keys are the user's.
            _ => {}
        }
    }
    Ok(())
}

fn fragments(node: &Node, path: &str) -> Res<Vec<ExpectedFragment>> {
    let YamlData::Sequence(items) = &untag(node).data else {
        return Err(at(node, path, "`expected_fragments` must be a list"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let p = format!("{path}[{j}]");
        if let Some(text) = string(item) {
            out.push(ExpectedFragment::new(text));
            continue;
        }
        let mut text = None;
        let mut f = ExpectedFragment::new("");
        for (key, value) in entries(item, &p)? {
            let sub = format!("{p}.{key}");
            match key {
                "text" => text = Some(required_string(value, &sub)?),
                "weight" => {
                    f.weight = number(value, &sub)?;
                    check_weight(f.weight).map_err(|m| at(value, &sub, m))?;
                }
                "alternatives" => {
                    let YamlData::Sequence(alts) = &untag(value).data else {
                        return Err(at(value, &sub, "`alternatives` must be a list"));
                    };
                    f.alternatives = alts
                        .iter()
                        .enumerate()
                        .map(|(k, v)| required_string(v, &format!("{sub}[{k}]")))
                        .collect::<Res<_>>()?;
                }
                other => {
                    return Err(at(
                        value,
                        &sub,
                        format!("unknown fragment key `{other}`; use text, weight, alternatives"),
                    ));
                }
            }
        }
        let Some(text) = text else {
            return Err(at(item, &p, "the fragment has no `text`"));
        };
        if text.trim().is_empty() {
            return Err(at(item, &p, "the fragment text is empty"));
        }
        f.text = text;
        out.push(f);
    }
    Ok(out)
}

/// Fills `{{ name }}` placeholders; anything fancier (filters, tags) would
/// need nunjucks and is refused rather than sent verbatim to the model.
fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    if template.contains("{%") || template.contains("{#") {
        return Err("the prompt uses nunjucks tags, which are not supported".into());
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("the prompt has an unclosed `{{`".into());
        };
        let name = after[..end].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "the prompt placeholder `{{{{{name}}}}}` is not a plain variable name"
            ));
        }
        let Some(value) = vars.get(name) else {
            return Err(format!(
                "the prompt uses `{{{{{name}}}}}` but the test has no such var"
            ));
        };
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

// ---- small accessors over marked nodes -------------------------------------

fn untag<'n, 'a>(node: &'n Node<'a>) -> &'n Node<'a> {
    match &node.data {
        YamlData::Tagged(_, inner) => untag(inner),
        _ => node,
    }
}

fn line_of(node: &Node) -> usize {
    node.span.start.line()
}

fn col_of(node: &Node) -> usize {
    node.span.start.col() + 1
}

fn at(node: &Node, path: &str, message: impl Into<String>) -> ParseError {
    ParseError::new(SetFormat::Yaml, message)
        .line(line_of(node))
        .column(col_of(node))
        .path(path)
}

/// A scalar's text and style; `None` for collections.
fn scalar<'n>(node: &'n Node) -> Option<(Cow<'n, str>, ScalarStyle)> {
    match &untag(node).data {
        YamlData::Representation(text, style, _) => Some((Cow::Borrowed(text.as_ref()), *style)),
        YamlData::Value(v) => Some((Cow::Owned(scalar_value_text(v)), ScalarStyle::Plain)),
        _ => None,
    }
}

fn scalar_value_text(v: &saphyr::Scalar) -> String {
    match v {
        saphyr::Scalar::Null => String::new(),
        saphyr::Scalar::Boolean(b) => b.to_string(),
        saphyr::Scalar::Integer(i) => i.to_string(),
        saphyr::Scalar::FloatingPoint(f) => f.to_string(),
        saphyr::Scalar::String(s) => s.to_string(),
    }
}

fn is_null(text: &str, style: ScalarStyle) -> bool {
    style == ScalarStyle::Plain && matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A non-null scalar as text.
fn string(node: &Node) -> Option<String> {
    let (text, style) = scalar(node)?;
    if is_null(&text, style) {
        None
    } else {
        Some(text.into_owned())
    }
}

fn required_string(node: &Node, path: &str) -> Res<String> {
    match scalar(node) {
        Some((text, style)) if !is_null(&text, style) => Ok(text.into_owned()),
        Some(_) => Err(at(node, path, "expected text, found nothing (null)")),
        None => Err(at(node, path, "expected text, found a list or a mapping")),
    }
}

fn optional_string(node: &Node, path: &str) -> Res<Option<String>> {
    match scalar(node) {
        Some((text, style)) if is_null(&text, style) => Ok(None),
        Some((text, _)) => Ok(Some(text.into_owned())),
        None => Err(at(node, path, "expected text, found a list or a mapping")),
    }
}

fn number(node: &Node, path: &str) -> Res<f64> {
    let text = required_string(node, path)?;
    text.trim()
        .parse::<f64>()
        .map_err(|_| at(node, path, format!("expected a number, found `{text}`")))
}

/// A mapping's entries with string keys, in document order.
fn entries<'n, 'a>(node: &'n Node<'a>, path: &str) -> Res<Vec<(&'n str, &'n Node<'a>)>> {
    let YamlData::Mapping(map) = &untag(node).data else {
        let what = if path.is_empty() {
            "the document"
        } else {
            path
        };
        return Err(at(node, path, format!("{what} must be a mapping")));
    };
    map.iter()
        .map(|(k, v)| match &untag(k).data {
            YamlData::Representation(text, _, _) => Ok((text.as_ref(), v)),
            _ => Err(at(k, path, "mapping keys must be plain text")),
        })
        .collect()
}

/// For `llm_config`: plain scalars get YAML's core-schema types, quoted ones
/// stay strings.
fn to_json(node: &Node, path: &str) -> Res<serde_json::Value> {
    use serde_json::Value;
    Ok(match &untag(node).data {
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| to_json(v, &format!("{path}[{i}]")))
                .collect::<Res<_>>()?,
        ),
        YamlData::Mapping(_) => {
            let mut obj = serde_json::Map::new();
            for (key, value) in entries(node, path)? {
                obj.insert(key.to_owned(), to_json(value, &format!("{path}.{key}"))?);
            }
            Value::Object(obj)
        }
        _ => {
            let Some((text, style)) = scalar(node) else {
                return Err(at(node, path, "unsupported YAML value"));
            };
            if style != ScalarStyle::Plain {
                Value::String(text.into_owned())
            } else if is_null(&text, style) {
                Value::Null
            } else if let Some(b) = match text.as_ref() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            } {
                Value::Bool(b)
            } else if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Some(n) = text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                Value::Number(n)
            } else {
                Value::String(text.into_owned())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::render;
    use std::collections::BTreeMap;

    #[test]
    fn a_template_fills_plain_placeholders() {
        let vars = BTreeMap::from([("question".to_owned(), "Who?".to_owned())]);
        assert_eq!(
            render("Answer: {{ question }}", &vars).as_deref(),
            Ok("Answer: Who?")
        );
        assert!(render("{{ question | upper }}", &vars).is_err());
        assert!(render("{{ missing }}", &vars).is_err());
    }
}
