//! One typed shape for LLM settings, and one way to combine the layers.
//!
//! - [`LlmSettings`] is a complete, usable configuration: the server default is
//!   one, and [`LlmResolver::resolve`] produces one.
//! - [`LlmOverride`] is the partial form every other layer has: a workspace's
//!   stored `llm_config`, an organisation's (none today, the layer exists), a
//!   run's or a question's `llm_config`. It is also the JSON shape the API
//!   accepts and stores, so it rejects unknown fields and never carries a key.
//! - [`LlmResolver`] applies the layers field by field, lowest first: server
//!   default ← organisation ← workspace ← template or request overrides. A field a
//!   layer leaves out (or sets to `null`) keeps the value below it.
//!
//! The provider of an override is kept as written: an AnythingLLM workspace may
//! name any provider AnythingLLM knows. Only resolving for one of our own clients
//! parses it into a [`Provider`], and `extractive` (or `none`) resolves to "no
//! model". The server's API key is sent only to the server's own endpoint: a
//! tenant who points a workspace at another base URL must not receive it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The API a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// `POST {base}/v1/chat/completions`: OpenAI, Ollama, vLLM, llama.cpp server.
    #[serde(
        rename = "openai",
        alias = "openai_compatible",
        alias = "ollama",
        alias = "vllm",
        alias = "llamacpp"
    )]
    OpenAi,
    /// `POST {base}/v1/messages`.
    #[serde(rename = "anthropic")]
    Anthropic,
}

impl Provider {
    /// The context window assumed when the settings name none (`context_tokens`):
    /// 8,192 tokens for OpenAI-compatible servers — the smallest window of the models
    /// commonly served by Ollama, vLLM and llama.cpp (Llama 3 8B), so a prompt that
    /// fits it fits them all — and 200,000 for Anthropic (every current Claude model).
    pub fn default_context_tokens(self) -> u32 {
        match self {
            Provider::OpenAi => 8_192,
            Provider::Anthropic => 200_000,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" | "openai_compatible" | "openai-compatible" | "ollama" | "vllm"
            | "llamacpp" | "llama.cpp" => Ok(Provider::OpenAi),
            "anthropic" => Ok(Provider::Anthropic),
            other => Err(SettingsError::invalid(
                "provider",
                format!(
                    "unknown LLM provider {other:?}; expected openai (or ollama, vllm, llamacpp) or anthropic"
                ),
            )),
        }
    }
}

/// An API key that never shows in `Debug` output, logs or errors, and is never
/// serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The secret itself, for building the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A settings value that cannot be used, naming the field at fault (relative to
/// the settings object: `temperature`, `base_url`; empty when the whole value is
/// not an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// The field is required and no layer gave it.
    Missing {
        field: &'static str,
    },
    Invalid {
        field: String,
        message: String,
    },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field() {
            "" => f.write_str(&self.reason()),
            field => write!(f, "{field}: {}", self.reason()),
        }
    }
}

impl std::error::Error for SettingsError {}

impl SettingsError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field } => field,
            Self::Invalid { field, .. } => field,
        }
    }

    /// The reason without the field name.
    pub fn reason(&self) -> String {
        match self {
            Self::Missing { .. } => "not set".to_owned(),
            Self::Invalid { message, .. } => message.clone(),
        }
    }
}

pub const DEFAULT_TEMPERATURE: f64 = 0.2;
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A complete configuration for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    pub provider: Provider,
    /// The server's root, e.g. `http://localhost:11434`. A trailing `/v1` is
    /// accepted too, since OpenAI SDK settings usually include it.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic).
    /// Local servers usually need none.
    pub api_key: Option<ApiKey>,
    pub temperature: f64,
    pub max_tokens: u32,
    /// For the whole request, including reading the answer.
    pub timeout: Duration,
    /// The model's context window in tokens (prompt and answer together); a longer
    /// prompt is summarised map-reduce. Defaults to
    /// [`Provider::default_context_tokens`].
    pub context_tokens: u32,
}

impl LlmSettings {
    pub fn new(provider: Provider, base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider,
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            temperature: DEFAULT_TEMPERATURE,
            max_tokens: DEFAULT_MAX_TOKENS,
            timeout: DEFAULT_TIMEOUT,
            context_tokens: provider.default_context_tokens(),
        }
    }

    /// Checks what a client needs; the error names the field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        normalized_base(&self.base_url)?;
        if self.model.trim().is_empty() {
            return Err(SettingsError::invalid("model", "is empty"));
        }
        if self.max_tokens == 0 {
            return Err(SettingsError::invalid("max_tokens", "must be positive"));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(SettingsError::invalid(
                "temperature",
                "must be between 0 and 2",
            ));
        }
        if self.timeout.is_zero() {
            return Err(SettingsError::invalid("timeout", "must be positive"));
        }
        if self.context_tokens == 0 {
            return Err(SettingsError::invalid("context_tokens", "must be positive"));
        }
        Ok(())
    }

    /// The API root without a trailing `/` or `/v1`.
    pub fn root(&self) -> Result<String, SettingsError> {
        normalized_base(&self.base_url)
    }
}

/// `http(s)://host[:port][/path]` without a trailing `/` or `/v1`.
fn normalized_base(base_url: &str) -> Result<String, SettingsError> {
    let base = base_url.trim().trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(SettingsError::invalid(
            "base_url",
            format!(
                "must start with http:// or https://, got {:?}",
                base.chars().take(100).collect::<String>()
            ),
        ));
    }
    Ok(base.to_owned())
}

/// LLM settings that override some fields of the layer below: a workspace's,
/// an organisation's, a run's or a question's. Also the `llm_config` JSON shape
/// of the API and of the workspace column; API keys are never part of it (they
/// come from the server's configuration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LlmConfig))]
pub struct LlmOverride {
    /// `extractive` (no model), `openai` (also ollama, vllm, llamacpp), `anthropic`,
    /// or for AnythingLLM any provider name it knows.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// 0 to 2.
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Seconds, 1 to 300.
    pub timeout: Option<u32>,
    /// Base URL of an OpenAI-compatible or Anthropic API (embedded backend).
    pub base_url: Option<String>,
    /// The model's context window in tokens (default: 8192 for OpenAI-compatible
    /// servers, 200000 for Anthropic); longer summaries are made map-reduce.
    pub context_tokens: Option<u32>,
}

impl LlmOverride {
    /// Checks the values an override may hold; the error names the field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(SettingsError::invalid(
                "temperature",
                "must be between 0 and 2",
            ));
        }
        if let Some(t) = self.timeout
            && !(1..=300).contains(&t)
        {
            return Err(SettingsError::invalid(
                "timeout",
                "must be between 1 and 300 seconds",
            ));
        }
        if let Some(m) = self.max_tokens
            && m == 0
        {
            return Err(SettingsError::invalid("max_tokens", "must be positive"));
        }
        if let Some(c) = self.context_tokens
            && c == 0
        {
            return Err(SettingsError::invalid("context_tokens", "must be positive"));
        }
        if let Some(url) = &self.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(SettingsError::invalid("base_url", "must be an http(s) URL"));
        }
        Ok(())
    }

    /// Parses a stored or sent JSON object; the error names the field.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, SettingsError> {
        let parsed: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = match message.strip_prefix("unknown field `") {
                Some(rest) => rest.split('`').next().unwrap_or_default().to_owned(),
                None if path != "." => path,
                None => String::new(),
            };
            SettingsError::invalid(field, message)
        })?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// Parses an override written in a question file, where formats like
    /// promptfoo's carry keys of their own: unknown keys are left out, the known
    /// ones must still be right.
    pub fn from_json_ignoring_unknown(value: &serde_json::Value) -> Result<Self, SettingsError> {
        match value {
            serde_json::Value::Object(map) => {
                let known: serde_json::Map<String, serde_json::Value> = map
                    .iter()
                    .filter(|(k, _)| KNOWN_FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Self::from_json(&serde_json::Value::Object(known))
            }
            other => Self::from_json(other),
        }
    }

    /// Parses the stored text of a workspace's `llm_config` column.
    pub fn from_json_str(text: &str) -> Result<Self, SettingsError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SettingsError::invalid("", e.to_string()))?;
        Self::from_json(&value)
    }

    /// The JSON stored and answered for this override (every field, `null` when unset).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "provider": self.provider,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "base_url": self.base_url,
            "context_tokens": self.context_tokens,
        })
    }

    /// `self` with `over`'s fields on top, field by field.
    pub fn then(&self, over: &LlmOverride) -> LlmOverride {
        LlmOverride {
            provider: over.provider.clone().or_else(|| self.provider.clone()),
            model: over.model.clone().or_else(|| self.model.clone()),
            temperature: over.temperature.or(self.temperature),
            max_tokens: over.max_tokens.or(self.max_tokens),
            timeout: over.timeout.or(self.timeout),
            base_url: over.base_url.clone().or_else(|| self.base_url.clone()),
            context_tokens: over.context_tokens.or(self.context_tokens),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == LlmOverride::default()
    }

    /// What the provider field asks for: a client, no model, or unset.
    fn provider_choice(&self) -> Result<Option<Choice>, SettingsError> {
        match self.provider.as_deref().map(str::trim) {
            None => Ok(None),
            Some(p) if p.eq_ignore_ascii_case("extractive") || p.eq_ignore_ascii_case("none") => {
                Ok(Some(Choice::Extractive))
            }
            Some(p) => p.parse().map(|p| Some(Choice::Model(p))),
        }
    }
}

const KNOWN_FIELDS: [&str; 7] = [
    "provider",
    "model",
    "temperature",
    "max_tokens",
    "timeout",
    "base_url",
    "context_tokens",
];

enum Choice {
    Extractive,
    Model(Provider),
}

/// Resolves the layers into the settings to use, or `None` for "no model"
/// (extractive answers):
///
/// ```
/// use quire_llm::{LlmOverride, LlmResolver, LlmSettings, Provider};
///
/// let server = LlmSettings::new(Provider::OpenAi, "http://localhost:11434", "llama3");
/// let workspace = LlmOverride { temperature: Some(0.0), ..LlmOverride::default() };
/// let question = LlmOverride { model: Some("qwen2".into()), ..LlmOverride::default() };
/// let settings = LlmResolver::new(Some(&server))
///     .organisation(None)
///     .workspace(Some(&workspace))
///     .request(Some(&question))
///     .resolve()?
///     .expect("a model");
/// assert_eq!((settings.model.as_str(), settings.temperature), ("qwen2", 0.0));
/// # Ok::<(), quire_llm::SettingsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LlmResolver<'a> {
    server: Option<&'a LlmSettings>,
    layered: LlmOverride,
}

impl<'a> LlmResolver<'a> {
    /// Starts from the server default (`None` when the server has no LLM configured).
    pub fn new(server: Option<&'a LlmSettings>) -> Self {
        Self {
            server,
            layered: LlmOverride::default(),
        }
    }

    /// The organisation's settings. No organisation has any yet; callers pass `None`.
    pub fn organisation(self, layer: Option<&LlmOverride>) -> Self {
        self.layer(layer)
    }

    pub fn workspace(self, layer: Option<&LlmOverride>) -> Self {
        self.layer(layer)
    }

    /// A template's, a run's or a question's override; later calls win.
    pub fn request(self, layer: Option<&LlmOverride>) -> Self {
        self.layer(layer)
    }

    fn layer(mut self, layer: Option<&LlmOverride>) -> Self {
        if let Some(layer) = layer {
            self.layered = self.layered.then(layer);
        }
        self
    }

    /// The overrides merged so far, without the server default.
    pub fn merged(&self) -> &LlmOverride {
        &self.layered
    }

    /// The settings to use, `None` for no model, or the first field that makes
    /// them unusable.
    pub fn resolve(&self) -> Result<Option<LlmSettings>, SettingsError> {
        let o = &self.layered;
        let mut settings = match (o.provider_choice()?, self.server) {
            (Some(Choice::Extractive), _) | (None, None) => return Ok(None),
            (None, Some(server)) => server.clone(),
            (Some(Choice::Model(provider)), server) => {
                let mut s = LlmSettings::new(provider, "", "");
                if let Some(server) = server {
                    s.base_url = server.base_url.clone();
                    s.model = server.model.clone();
                    s.api_key = server.api_key.clone();
                }
                s
            }
        };
        if let Some(base) = &o.base_url {
            settings.base_url = base.clone();
        }
        if settings.base_url.trim().is_empty() {
            return Err(SettingsError::Missing { field: "base_url" });
        }
        if let Some(m) = &o.model {
            settings.model = m.clone();
        }
        if let Some(t) = o.temperature {
            settings.temperature = t;
        }
        if let Some(m) = o.max_tokens {
            settings.max_tokens = m;
        }
        if let Some(t) = o.timeout {
            settings.timeout = Duration::from_secs(u64::from(t));
        }
        if let Some(c) = o.context_tokens {
            settings.context_tokens = c;
        }
        // The server's key belongs to the server's endpoint only.
        let same_endpoint = match self.server {
            Some(server) => server.root().ok() == normalized_base(&settings.base_url).ok(),
            None => false,
        };
        if !same_endpoint {
            settings.api_key = None;
        }
        settings.validate()?;
        Ok(Some(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server() -> LlmSettings {
        let mut s = LlmSettings::new(Provider::OpenAi, "http://llm.local:11434", "llama3");
        s.api_key = Some(ApiKey::new("sk-server"));
        s
    }

    fn over(value: serde_json::Value) -> LlmOverride {
        LlmOverride::from_json(&value).unwrap()
    }

    #[test]
    fn api_keys_are_redacted_in_debug_output() {
        assert!(!format!("{:?}", server()).contains("sk-server"));
    }

    #[test]
    fn no_provider_anywhere_means_no_model() {
        assert_eq!(LlmResolver::new(None).resolve(), Ok(None));
        let ws = over(json!({"temperature": 0.5}));
        assert_eq!(
            LlmResolver::new(None).workspace(Some(&ws)).resolve(),
            Ok(None)
        );
    }

    #[test]
    fn extractive_wins_over_a_server_default() {
        let ws = over(json!({"provider": "extractive"}));
        let s = server();
        assert_eq!(
            LlmResolver::new(Some(&s)).workspace(Some(&ws)).resolve(),
            Ok(None)
        );
    }

    #[test]
    fn layers_apply_field_by_field_lowest_first() {
        let s = server();
        let org = over(json!({"max_tokens": 100, "model": "org-model"}));
        let ws = over(json!({"temperature": 0.7, "model": "ws-model"}));
        let run = over(json!({"temperature": 0.1}));
        let question = over(json!({"model": "q-model", "timeout": 9}));
        let r = LlmResolver::new(Some(&s))
            .organisation(Some(&org))
            .workspace(Some(&ws))
            .request(Some(&run))
            .request(Some(&question))
            .resolve()
            .unwrap()
            .unwrap();
        assert_eq!(r.provider, Provider::OpenAi);
        assert_eq!(r.base_url, "http://llm.local:11434");
        assert_eq!(r.model, "q-model");
        assert_eq!(r.temperature, 0.1);
        assert_eq!(r.max_tokens, 100);
        assert_eq!(r.timeout, Duration::from_secs(9));
        assert_eq!(r.api_key, Some(ApiKey::new("sk-server")));
    }

    #[test]
    fn the_server_key_never_goes_to_another_endpoint() {
        let s = server();
        let same = over(json!({"base_url": "http://llm.local:11434/v1/"}));
        let r = LlmResolver::new(Some(&s))
            .workspace(Some(&same))
            .resolve()
            .unwrap()
            .unwrap();
        assert!(r.api_key.is_some());
        let elsewhere = over(json!({"provider": "anthropic", "base_url": "http://tenant.example"}));
        let r = LlmResolver::new(Some(&s))
            .workspace(Some(&elsewhere))
            .resolve()
            .unwrap()
            .unwrap();
        assert_eq!(r.provider, Provider::Anthropic);
        assert_eq!(r.model, "llama3", "the model still comes from below");
        assert_eq!(r.api_key, None);
    }

    #[test]
    fn a_provider_without_any_base_url_names_base_url() {
        let ws = over(json!({"provider": "ollama", "model": "m"}));
        let err = LlmResolver::new(None)
            .workspace(Some(&ws))
            .resolve()
            .unwrap_err();
        assert_eq!(err, SettingsError::Missing { field: "base_url" });
    }

    #[test]
    fn an_unknown_provider_and_an_empty_model_name_their_fields() {
        let ws = over(json!({"provider": "gemini", "base_url": "http://x"}));
        let err = LlmResolver::new(None)
            .workspace(Some(&ws))
            .resolve()
            .unwrap_err();
        assert_eq!(err.field(), "provider");
        let ws = over(json!({"provider": "openai", "base_url": "http://x"}));
        let err = LlmResolver::new(None)
            .workspace(Some(&ws))
            .resolve()
            .unwrap_err();
        assert_eq!(err.field(), "model");
    }

    #[test]
    fn overrides_reject_bad_values_and_unknown_fields_by_name() {
        for (value, field) in [
            (json!({"temperature": 3.0}), "temperature"),
            (json!({"timeout": 0}), "timeout"),
            (json!({"max_tokens": 0}), "max_tokens"),
            (json!({"base_url": "ftp://x"}), "base_url"),
            (json!({"temperature": "hot"}), "temperature"),
            (json!({"api_key": "sk"}), "api_key"),
            (json!(["openai"]), ""),
        ] {
            let err = LlmOverride::from_json(&value).unwrap_err();
            assert_eq!(err.field(), field, "{value}: {err}");
        }
        assert!(LlmOverride::from_json_str("{not json").is_err());
    }

    #[test]
    fn a_question_file_override_skips_foreign_keys_but_not_bad_values() {
        let o =
            LlmOverride::from_json_ignoring_unknown(&json!({"temperature": 0, "vars": {"x": 1}}))
                .unwrap();
        assert_eq!(o.temperature, Some(0.0));
        let err = LlmOverride::from_json_ignoring_unknown(&json!({"max_tokens": -1})).unwrap_err();
        assert_eq!(err.field(), "max_tokens");
    }

    #[test]
    fn the_stored_json_keeps_every_field() {
        let o = over(json!({"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.1}));
        assert_eq!(
            o.to_json(),
            json!({"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.1,
                   "max_tokens": null, "timeout": null, "base_url": null,
                   "context_tokens": null})
        );
        assert_eq!(serde_json::to_value(&o).unwrap(), o.to_json());
        assert_eq!(LlmOverride::from_json(&o.to_json()).unwrap(), o);
    }

    #[test]
    fn provider_names_parse_case_insensitively() {
        assert_eq!("Ollama".parse::<Provider>().unwrap(), Provider::OpenAi);
        assert_eq!(
            "anthropic".parse::<Provider>().unwrap(),
            Provider::Anthropic
        );
        assert!("gemini".parse::<Provider>().is_err());
    }
}
