//! The providers' JSON: request bodies, answers with their `usage`, and the
//! error bodies of every server family.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{LlmRequest, Message, Role, Usage};
use crate::settings::LlmSettings;

/// `POST /v1/chat/completions`: the system prompt is the first message.
pub(crate) fn openai_body(settings: &LlmSettings, request: &LlmRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system.as_deref() {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(request.messages.iter().map(message_json));
    json!({
        "model": settings.model,
        "messages": messages,
        "temperature": request.temperature.unwrap_or(settings.temperature),
        "max_tokens": request.max_tokens.unwrap_or(settings.max_tokens),
        "stream": false,
    })
}

/// `POST /v1/messages`: the system prompt is a field of its own, and the
/// conversation must open with the user, so earlier assistant turns are left out.
pub(crate) fn anthropic_body(settings: &LlmSettings, request: &LlmRequest) -> Value {
    let first_user = request
        .messages
        .iter()
        .position(|m| m.role == Role::User)
        .unwrap_or(request.messages.len());
    let messages: Vec<Value> = request.messages[first_user..]
        .iter()
        .map(message_json)
        .collect();
    let mut body = json!({
        "model": settings.model,
        "messages": messages,
        "temperature": request.temperature.unwrap_or(settings.temperature),
        "max_tokens": request.max_tokens.unwrap_or(settings.max_tokens),
    });
    if let Some(system) = request.system.as_deref() {
        body["system"] = json!(system);
    }
    body
}

fn message_json(m: &Message) -> Value {
    json!({"role": m.role, "content": m.content})
}

/// What both answer shapes come down to.
pub(crate) struct Parsed {
    pub text: String,
    pub model: Option<String>,
    pub usage: Option<Usage>,
}

pub(crate) fn parse_openai(body: &[u8]) -> Result<Parsed, String> {
    #[derive(Deserialize)]
    struct Response {
        model: Option<String>,
        choices: Vec<Choice>,
        usage: Option<OpenAiUsage>,
    }
    #[derive(Deserialize)]
    struct Choice {
        message: ChoiceMessage,
    }
    #[derive(Deserialize)]
    struct ChoiceMessage {
        content: Option<String>,
    }
    #[derive(Deserialize)]
    struct OpenAiUsage {
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
    }
    let response: Response = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "no choices".to_owned())?;
    Ok(Parsed {
        text: choice.message.content.unwrap_or_default(),
        model: response.model,
        usage: response.usage.map(|u| Usage {
            input_tokens: u.prompt_tokens.unwrap_or(0),
            output_tokens: u.completion_tokens.unwrap_or(0),
        }),
    })
}

pub(crate) fn parse_anthropic(body: &[u8]) -> Result<Parsed, String> {
    #[derive(Deserialize)]
    struct Response {
        model: Option<String>,
        content: Vec<Block>,
        usage: Option<AnthropicUsage>,
    }
    #[derive(Deserialize)]
    struct Block {
        #[serde(rename = "type")]
        kind: String,
        text: Option<String>,
    }
    #[derive(Deserialize)]
    struct AnthropicUsage {
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
    }
    let response: Response = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(Parsed {
        text: response
            .content
            .into_iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text)
            .collect::<Vec<_>>()
            .join(""),
        model: response.model,
        usage: response.usage.map(|u| Usage {
            input_tokens: u.input_tokens.unwrap_or(0),
            output_tokens: u.output_tokens.unwrap_or(0),
        }),
    })
}

/// `(kind, message)` from an error body in any of the shapes these servers
/// use: OpenAI `{"error": {"message", "type"}}`, Anthropic `{"type": "error",
/// "error": {"type", "message"}}`, Ollama `{"error": "..."}`, or plain text.
pub(crate) fn parse_error_body(body: &str) -> (Option<String>, String) {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Object {
            message: Option<String>,
            #[serde(rename = "type")]
            kind: Option<String>,
        },
        Text(String),
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        error: Option<ErrorField>,
        message: Option<String>,
    }
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody {
            error: Some(ErrorField::Object { message, kind }),
            ..
        }) => (kind, message.unwrap_or_default()),
        Ok(ErrorBody {
            error: Some(ErrorField::Text(message)),
            ..
        }) => (None, message),
        Ok(ErrorBody {
            message: Some(message),
            ..
        }) => (None, message),
        _ => (None, body.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape_give_their_message() {
        assert_eq!(
            parse_error_body(r#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#),
            (Some("invalid_request_error".into()), "bad model".into())
        );
        assert_eq!(
            parse_error_body(r#"{"error":"model not found"}"#),
            (None, "model not found".into())
        );
        assert_eq!(
            parse_error_body("Bad Gateway"),
            (None, "Bad Gateway".into())
        );
    }

    #[test]
    fn usage_is_read_from_both_shapes() {
        let openai = parse_openai(
            br#"{"model":"m","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        )
        .unwrap();
        let usage = openai.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (5, 2));
        let anthropic = parse_anthropic(
            br#"{"model":"m","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":8,"output_tokens":3}}"#,
        )
        .unwrap();
        let usage = anthropic.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (8, 3));
    }
}
