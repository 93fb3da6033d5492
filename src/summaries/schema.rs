//! The `json_schema` of a JSON summary: checked when the request comes in
//! ([`check_schema`]: a schema the server cannot apply is the caller's `422`), and
//! the model's answer validated against it ([`validate`]: every violation with its
//! JSON Pointer, for the repair prompt and the failed summary's details).
//!
//! A subset of JSON Schema (draft 2020-12) that covers what structured-output schemas
//! use: `type` (one or a list), `enum`, `const`; `properties`, `required`,
//! `additionalProperties` (boolean or schema), `minProperties`, `maxProperties`;
//! `items` (one schema), `minItems`, `maxItems`, `uniqueItems`; `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`; `minLength`, `maxLength`,
//! `pattern`; `allOf`, `anyOf`, `oneOf`, `not`. Annotations (`title`, `description`,
//! `default`, `examples`, `format`, `$schema`, `$id`, `$comment`, `readOnly`,
//! `writeOnly`, `deprecated`) are accepted and not asserted. Anything else (`$ref`,
//! `patternProperties`, `if`/`then`/`else`, …) is refused by name rather than
//! silently ignored, so an answer is never called valid against rules nobody checked.

use serde_json::{Map, Value};

/// Why a schema cannot be used: where (a JSON Pointer into the schema) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.reason)
    }
}

const TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "integer", "string",
];
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "format",
    "$schema",
    "$id",
    "$comment",
    "readOnly",
    "writeOnly",
    "deprecated",
];
/// Nesting beyond this is refused (a schema is a request's input).
const MAX_DEPTH: usize = 32;

fn pointer(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// Checks that `schema` is one this module can apply.
pub fn check_schema(schema: &Value) -> Result<(), SchemaError> {
    check_at(schema, "", 0)
}

fn check_at(schema: &Value, path: &str, depth: usize) -> Result<(), SchemaError> {
    let fail = |at: String, reason: String| Err(SchemaError { path: at, reason });
    if depth > MAX_DEPTH {
        return fail(path.to_owned(), format!("nested deeper than {MAX_DEPTH}"));
    }
    let object = match schema {
        Value::Bool(_) => return Ok(()),
        Value::Object(object) => object,
        _ => return fail(path.to_owned(), "a schema is an object or a boolean".into()),
    };
    for (key, value) in object {
        let at = pointer(path, key);
        match key.as_str() {
            "type" => {
                let names: Vec<&Value> = match value {
                    Value::Array(list) if !list.is_empty() => list.iter().collect(),
                    Value::String(_) => vec![value],
                    _ => return fail(at, "a type name or a non-empty list of them".into()),
                };
                for name in names {
                    if !name.as_str().is_some_and(|n| TYPES.contains(&n)) {
                        return fail(
                            at,
                            format!("unknown type {name}; one of {}", TYPES.join(", ")),
                        );
                    }
                }
            }
            "enum" => {
                if !value.is_array() {
                    return fail(at, "a list of values".into());
                }
            }
            "const" => {}
            "properties" => {
                let Some(properties) = value.as_object() else {
                    return fail(at, "an object of schemas".into());
                };
                for (name, property) in properties {
                    check_at(property, &pointer(&at, name), depth + 1)?;
                }
            }
            "required" => {
                if !value
                    .as_array()
                    .is_some_and(|names| names.iter().all(Value::is_string))
                {
                    return fail(at, "a list of property names".into());
                }
            }
            "additionalProperties" | "items" | "not" => {
                if key == "items" && value.is_array() {
                    return fail(
                        at,
                        "a list of item schemas (tuples) is not supported; give one schema".into(),
                    );
                }
                check_at(value, &at, depth + 1)?;
            }
            "allOf" | "anyOf" | "oneOf" => {
                let Some(list) = value.as_array().filter(|l| !l.is_empty()) else {
                    return fail(at, "a non-empty list of schemas".into());
                };
                for (i, sub) in list.iter().enumerate() {
                    check_at(sub, &pointer(&at, &i.to_string()), depth + 1)?;
                }
            }
            "minProperties" | "maxProperties" | "minItems" | "maxItems" | "minLength"
            | "maxLength" => {
                if value.as_u64().is_none() {
                    return fail(at, "a non-negative integer".into());
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                if !value.is_number() {
                    return fail(at, "a number".into());
                }
            }
            "multipleOf" => {
                if !value.as_f64().is_some_and(|m| m > 0.0) {
                    return fail(at, "a number greater than 0".into());
                }
            }
            "uniqueItems" => {
                if !value.is_boolean() {
                    return fail(at, "true or false".into());
                }
            }
            "pattern" => {
                let Some(pattern) = value.as_str() else {
                    return fail(at, "a regular expression".into());
                };
                if let Err(e) = regex::Regex::new(pattern) {
                    return fail(at, format!("not a regular expression: {e}"));
                }
            }
            other if ANNOTATIONS.contains(&other) => {}
            other => {
                return fail(at, format!("the keyword {other} is not supported"));
            }
        }
    }
    Ok(())
}

/// Every way `instance` breaks `schema` (checked by [`check_schema`]), as
/// `"<pointer>: <reason>"`; empty when it is valid. At most `limit` are listed.
pub fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate_at(schema, instance, "", &mut errors);
    errors.truncate(MAX_ERRORS);
    errors
}

/// Errors listed at most (a repair prompt stays short).
const MAX_ERRORS: usize = 20;

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        other => type_name(value) == other,
    }
}

fn validate_at(schema: &Value, instance: &Value, path: &str, errors: &mut Vec<String>) {
    if errors.len() >= MAX_ERRORS {
        return;
    }
    let here = if path.is_empty() { "/" } else { path };
    let object: &Map<String, Value> = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            errors.push(format!("{here}: no value is allowed here"));
            return;
        }
        Value::Object(object) => object,
        _ => return,
    };
    let mut push = |reason: String| errors.push(format!("{here}: {reason}"));
    if let Some(types) = object.get("type") {
        let names: Vec<&str> = match types {
            Value::String(name) => vec![name.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.iter().any(|n| has_type(instance, n)) {
            push(format!(
                "expected {}, got {}",
                names.join(" or "),
                type_name(instance)
            ));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = object.get("enum")
        && !allowed.contains(instance)
    {
        push(format!(
            "{instance} is not one of {}",
            Value::Array(allowed.clone())
        ));
    }
    if let Some(expected) = object.get("const")
        && expected != instance
    {
        push(format!("expected {expected}"));
    }
    match instance {
        Value::Object(fields) => {
            if let Some(Value::Array(required)) = object.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !fields.contains_key(name) {
                        push(format!("the property {name:?} is missing"));
                    }
                }
            }
            if let Some(n) = object.get("minProperties").and_then(Value::as_u64)
                && (fields.len() as u64) < n
            {
                push(format!("fewer than {n} properties"));
            }
            if let Some(n) = object.get("maxProperties").and_then(Value::as_u64)
                && (fields.len() as u64) > n
            {
                push(format!("more than {n} properties"));
            }
            let properties = object.get("properties").and_then(Value::as_object);
            for (name, value) in fields {
                let at = pointer(path, name);
                match properties.and_then(|p| p.get(name)) {
                    Some(sub) => validate_at(sub, value, &at, errors),
                    None => match object.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{at}: the property {name:?} is not allowed"));
                        }
                        Some(sub) => validate_at(sub, value, &at, errors),
                        None => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(n) = object.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < n
            {
                push(format!("fewer than {n} items"));
            }
            if let Some(n) = object.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > n
            {
                push(format!("more than {n} items"));
            }
            if object.get("uniqueItems") == Some(&Value::Bool(true)) {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        push(format!("item {i} repeats an earlier one"));
                        break;
                    }
                }
            }
            if let Some(sub) = object.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_at(sub, item, &pointer(path, &i.to_string()), errors);
                }
            }
        }
        Value::Number(number) => {
            let x = number.as_f64().unwrap_or(f64::NAN);
            let bound = |key: &str| object.get(key).and_then(Value::as_f64);
            if let Some(min) = bound("minimum")
                && x < min
            {
                push(format!("{x} is less than {min}"));
            }
            if let Some(max) = bound("maximum")
                && x > max
            {
                push(format!("{x} is greater than {max}"));
            }
            if let Some(min) = bound("exclusiveMinimum")
                && x <= min
            {
                push(format!("{x} is not greater than {min}"));
            }
            if let Some(max) = bound("exclusiveMaximum")
                && x >= max
            {
                push(format!("{x} is not less than {max}"));
            }
            if let Some(m) = bound("multipleOf") {
                let q = x / m;
                if (q - q.round()).abs() > 1e-9 {
                    push(format!("{x} is not a multiple of {m}"));
                }
            }
        }
        Value::String(text) => {
            let chars = text.chars().count() as u64;
            if let Some(n) = object.get("minLength").and_then(Value::as_u64)
                && chars < n
            {
                push(format!("shorter than {n} characters"));
            }
            if let Some(n) = object.get("maxLength").and_then(Value::as_u64)
                && chars > n
            {
                push(format!("longer than {n} characters"));
            }
            if let Some(pattern) = object.get("pattern").and_then(Value::as_str)
                && let Ok(re) = regex::Regex::new(pattern)
                && !re.is_match(text)
            {
                push(format!("does not match the pattern {pattern:?}"));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(all)) = object.get("allOf") {
        for sub in all {
            validate_at(sub, instance, path, errors);
        }
    }
    let passes = |sub: &Value| {
        let mut inner = Vec::new();
        validate_at(sub, instance, path, &mut inner);
        inner.is_empty()
    };
    if let Some(Value::Array(any)) = object.get("anyOf")
        && !any.iter().any(passes)
    {
        errors.push(format!("{here}: matches none of the anyOf schemas"));
    }
    if let Some(Value::Array(one)) = object.get("oneOf") {
        let matched = one.iter().filter(|s| passes(s)).count();
        if matched != 1 {
            errors.push(format!(
                "{here}: matches {matched} of the oneOf schemas, not exactly one"
            ));
        }
    }
    if let Some(not) = object.get("not")
        && passes(not)
    {
        errors.push(format!("{here}: matches the schema under not"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn contract_schema() -> Value {
        json!({
            "type": "object",
            "required": ["parties", "value"],
            "additionalProperties": false,
            "properties": {
                "parties": {"type": "array", "items": {"type": "string", "minLength": 1},
                            "minItems": 2, "uniqueItems": true},
                "value": {"type": "number", "minimum": 0},
                "currency": {"enum": ["EUR", "USD"]},
                "law": {"type": ["string", "null"], "pattern": "^[A-Z]"}
            }
        })
    }

    #[test]
    fn a_valid_answer_has_no_errors() {
        let schema = contract_schema();
        check_schema(&schema).unwrap();
        let answer = json!({"parties": ["Northwind", "City"], "value": 240000,
                            "currency": "EUR", "law": null});
        assert_eq!(validate(&schema, &answer), Vec::<String>::new());
    }

    #[test]
    fn each_violation_is_listed_with_its_pointer() {
        let answer = json!({"parties": ["Northwind", "Northwind", 3], "value": -1,
                            "currency": "GBP", "law": "ireland", "extra": true});
        let errors = validate(&contract_schema(), &answer);
        for expected in [
            "/parties: item 1 repeats an earlier one",
            "/parties/2: expected string, got integer",
            "/value: -1 is less than 0",
            "/currency: \"GBP\" is not one of [\"EUR\",\"USD\"]",
            "/law: does not match the pattern \"^[A-Z]\"",
            "/extra: the property \"extra\" is not allowed",
        ] {
            assert!(
                errors.contains(&expected.to_owned()),
                "{expected} in {errors:?}"
            );
        }
        assert_eq!(errors.len(), 6, "{errors:?}");
        let missing = validate(&contract_schema(), &json!({}));
        assert_eq!(
            missing,
            [
                "/: the property \"parties\" is missing",
                "/: the property \"value\" is missing"
            ]
        );
        assert_eq!(
            validate(&json!({"type": "object"}), &json!([1])),
            ["/: expected object, got array"]
        );
    }

    #[test]
    fn combinators_are_applied() {
        let schema = json!({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]});
        check_schema(&schema).unwrap();
        assert!(validate(&schema, &json!(3)).is_empty());
        assert!(validate(&schema, &json!(2.5))[0].contains("matches 0 of the oneOf"));
        assert!(validate(&schema, &json!(12))[0].contains("matches 2 of the oneOf"));
        let schema = json!({"anyOf": [{"type": "string"}, {"type": "null"}], "not": {"const": ""}});
        assert!(validate(&schema, &json!("x")).is_empty());
        assert_eq!(validate(&schema, &json!(1)).len(), 1);
        assert_eq!(validate(&schema, &json!("")).len(), 1);
    }

    #[test]
    fn a_schema_the_server_cannot_apply_is_refused_with_its_place() {
        let cases = [
            (json!("object"), "/", "a schema is an object or a boolean"),
            (json!({"type": "text"}), "/type", "unknown type"),
            (
                json!({"properties": {"a": {"type": 3}}}),
                "/properties/a/type",
                "a type name",
            ),
            (
                json!({"required": "a"}),
                "/required",
                "a list of property names",
            ),
            (json!({"items": [{"type": "string"}]}), "/items", "tuples"),
            (json!({"$ref": "#/$defs/a"}), "/$ref", "not supported"),
            (
                json!({"pattern": "(["}),
                "/pattern",
                "not a regular expression",
            ),
            (json!({"minItems": -1}), "/minItems", "non-negative integer"),
            (json!({"anyOf": []}), "/anyOf", "non-empty list"),
        ];
        for (schema, path, reason) in cases {
            let error = check_schema(&schema).unwrap_err();
            let shown = error.to_string();
            assert!(shown.starts_with(&format!("{path}:")), "{schema}: {shown}");
            assert!(error.reason.contains(reason), "{schema}: {shown}");
        }
        let mut deep = json!({"type": "string"});
        for _ in 0..40 {
            deep = json!({"items": deep});
        }
        assert!(
            check_schema(&deep)
                .unwrap_err()
                .reason
                .contains("nested deeper")
        );
        check_schema(&json!(true)).unwrap();
        check_schema(&json!({"title": "t", "description": "d", "format": "date"})).unwrap();
    }
}
