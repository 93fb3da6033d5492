//! Logging: JSON or text lines, every line inside a request carrying its correlation id,
//! and values of sensitive fields replaced before they are written.
//!
//! Redaction works on field names (`password`, `secret`, `token`, `api_key`,
//! `authorization`, `cookie` …) because that is what a log call can get wrong without
//! noticing. Request headers are never logged at all.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, field::RecordFields};

use crate::config::{LogFormat, Settings};

pub const REDACTED: &str = "[redacted]";

const SENSITIVE_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "private_key",
];

pub fn is_sensitive_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    SENSITIVE_FRAGMENTS.iter().any(|f| lower.contains(f))
}

/// Installs the global subscriber. Called once by the binary; tests that need logs run
/// the binary as a child process.
pub fn init(settings: &Settings) -> anyhow::Result<()> {
    // Our level applies to our code and the HTTP stack; noisy dependencies stay at warn
    // unless the operator names them in LOG_LEVEL.
    let level = &settings.log_level;
    let directive = if level.contains('=') || level.contains(',') {
        level.clone()
    } else {
        format!("{level},sqlx=warn,hyper=warn,h2=warn,tower=warn,reqwest=warn")
    };
    let filter = EnvFilter::try_new(&directive)?;
    let fields = RedactingFields {
        json: settings.log_format == LogFormat::Json,
        redact: settings.log_sanitize_sensitive,
    };
    let registry = tracing_subscriber::registry().with(filter);
    match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stdout)
                    .fmt_fields(fields)
                    .event_format(JsonLines { fields }),
            )
            .try_init()?,
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stdout)
                    .with_ansi(false)
                    .fmt_fields(fields),
            )
            .try_init()?,
    }
    Ok(())
}

/// Formats span and event fields, redacting sensitive ones. In JSON mode the stored
/// span fields are a JSON object so the event formatter can merge them.
#[derive(Clone, Copy, Debug)]
pub struct RedactingFields {
    json: bool,
    redact: bool,
}

struct FieldCollector {
    redact: bool,
    fields: Map<String, Value>,
}

impl FieldCollector {
    fn insert(&mut self, field: &Field, value: Value) {
        let value = if self.redact && is_sensitive_field(field.name()) {
            Value::String(REDACTED.to_owned())
        } else {
            value
        };
        self.fields.insert(field.name().to_owned(), value);
    }
}

impl Visit for FieldCollector {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, Value::String(value.to_string()));
    }
}

fn collect(fields: impl RecordFields, redact: bool) -> Map<String, Value> {
    let mut collector = FieldCollector {
        redact,
        fields: Map::new(),
    };
    fields.record(&mut collector);
    collector.fields
}

fn write_text(writer: &mut Writer<'_>, fields: &Map<String, Value>) -> fmt::Result {
    let mut first = true;
    if let Some(Value::String(message)) = fields.get("message") {
        writer.write_str(message)?;
        first = false;
    }
    for (k, v) in fields.iter().filter(|(k, _)| *k != "message") {
        if !first {
            writer.write_char(' ')?;
        }
        first = false;
        match v {
            Value::String(s) => write!(writer, "{k}={s}")?,
            other => write!(writer, "{k}={other}")?,
        }
    }
    Ok(())
}

impl<'writer> FormatFields<'writer> for RedactingFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let map = collect(fields, self.redact);
        if self.json {
            writer.write_str(&Value::Object(map).to_string())
        } else {
            write_text(&mut writer, &map)
        }
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let added = collect(fields, self.redact);
        if self.json {
            let mut merged = match serde_json::from_str::<Value>(&current.fields) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            merged.extend(added);
            current.fields = Value::Object(merged).to_string();
            Ok(())
        } else {
            if !current.fields.is_empty() {
                current.fields.push(' ');
            }
            let mut buf = String::new();
            write_text(&mut Writer::new(&mut buf), &added)?;
            current.fields.push_str(&buf);
            Ok(())
        }
    }
}

/// One JSON object per line: timestamp, level, target, message, the event's fields,
/// and the fields of every enclosing span merged under `span` (the correlation id is
/// lifted to the top so log search can filter on it).
pub struct JsonLines {
    fields: RedactingFields,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(crate::time::now_rfc3339()),
        );
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));

        let mut span_fields = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(stored) = ext.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&stored.fields)
                {
                    span_fields.extend(m);
                }
            }
        }
        if let Some(id) = span_fields.get("correlation_id") {
            line.insert("correlation_id".into(), id.clone());
        }
        let mut event_fields = collect(event, self.fields.redact);
        if let Some(message) = event_fields.remove("message") {
            line.insert("message".into(), message);
        }
        if !event_fields.is_empty() {
            line.insert("fields".into(), Value::Object(event_fields));
        }
        if !span_fields.is_empty() {
            line.insert("span".into(), Value::Object(span_fields));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_field_names_are_recognised() {
        for name in [
            "password",
            "new_password",
            "api_key",
            "X-API-Key",
            "refresh_token",
            "authorization",
            "client_secret",
        ] {
            assert!(is_sensitive_field(name), "{name}");
        }
        for name in ["email", "job.id", "correlation_id", "status"] {
            assert!(!is_sensitive_field(name), "{name}");
        }
    }
}
