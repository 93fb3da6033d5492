//! Generated answers end to end: the engine's prompt sent through the real
//! `quire-llm` client to its in-process fakes, and the model's text turned
//! back into an answer with sources. The client's own behaviour (errors,
//! retries, breaker) is tested in crates/llm.

mod common;

use std::time::Duration;

use common::{SERVICES, chars_at, contracts, indexed};
use quire_engine::{Answer, AnswerKind, Passage, Role, Turn, generated_answer, llm_prompt};
use quire_llm::testing::FakeLlm;
use quire_llm::{
    ApiKey, ClientOptions, LlmClient, LlmError, LlmRequest, LlmSettings, Message, Provider,
    RetryPolicy,
};
use serde_json::json;

const KEY: &str = "sk-test-7f3a9c1e5b";

fn client(provider: Provider, base: &str, key: Option<&str>) -> LlmClient {
    let mut settings = LlmSettings::new(provider, base, "test-model");
    settings.api_key = key.map(ApiKey::new);
    settings.temperature = 0.1;
    settings.max_tokens = 300;
    settings.timeout = Duration::from_secs(5);
    let options = ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    LlmClient::with_options(settings, &options).unwrap()
}

/// What the embedded backend does: prompt, complete, wrap.
async fn answer_with_llm(
    client: &LlmClient,
    question: &str,
    passages: &[Passage],
    system_prompt: Option<&str>,
    history: &[Turn],
) -> Result<Answer, LlmError> {
    let prompt = llm_prompt(question, passages, system_prompt, history);
    let messages = prompt
        .turns
        .into_iter()
        .map(|t| match t.role {
            Role::User => Message::user(t.text),
            Role::Assistant => Message::assistant(t.text),
        })
        .collect();
    let answer = client
        .complete(&LlmRequest::new(Some(prompt.system), messages))
        .await?;
    Ok(generated_answer(question, passages, &answer.text))
}

fn passages() -> Vec<Passage> {
    let index = indexed(&contracts());
    index
        .search("What is the governing law?", 3, None, Some(&[SERVICES]))
        .unwrap()
}

#[tokio::test]
async fn an_openai_compatible_server_answers_from_the_first_choices_message() {
    let fake = FakeLlm::start_with_key(KEY).await.unwrap();
    fake.set_reply(Some("England and Wales law governs [1]."));
    let base = fake.base_url();
    let passages = passages();
    let history = [
        Turn::user("Who are the parties?"),
        Turn::assistant("Northwind and Contoso [1]."),
    ];

    let answer = answer_with_llm(
        &client(Provider::OpenAi, base, Some(KEY)),
        "What is the governing law?",
        &passages,
        Some("You are a procurement analyst."),
        &history,
    )
    .await
    .unwrap();

    assert_eq!(answer.text, "England and Wales law governs [1].");
    assert_eq!(answer.kind, AnswerKind::Generated);
    assert_eq!(answer.sources.len(), passages.len());
    assert_eq!(answer.sources[0].document_id, SERVICES);
    assert_eq!(answer.sources[0].page, 4);
    let page = contracts()[0].page(4).to_owned();
    assert_eq!(
        chars_at(&page, answer.sources[0].start, answer.sources[0].end),
        answer.sources[0].snippet
    );

    let requests = fake.requests();
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );
    let body = &request.body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["stream"], false);
    assert!((body["temperature"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "You are a procurement analyst."})
    );
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(messages[2]["role"], "assistant");
    let prompt = messages[3]["content"].as_str().unwrap();
    assert!(
        prompt.contains(&format!("[1] document {SERVICES} (pdf), page 4")),
        "{prompt}"
    );
    assert!(prompt.contains("governed by the laws of England and Wales"));
    assert!(prompt.ends_with("Question: What is the governing law?"));
}

#[tokio::test]
async fn a_local_server_without_a_key_gets_no_authorization_header_and_a_v1_base_works() {
    let fake = FakeLlm::start().await.unwrap();
    fake.set_reply(Some("Yes."));
    let client = client(Provider::OpenAi, &format!("{}/v1", fake.base_url()), None);

    let answer = client
        .complete(&LlmRequest::new(
            Some("system".into()),
            vec![Message::user("Ping?")],
        ))
        .await
        .unwrap();

    assert_eq!(answer.text, "Yes.");
    let requests = fake.requests();
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn an_anthropic_server_answers_from_its_text_content() {
    let fake = FakeLlm::start_with_key(KEY).await.unwrap();
    fake.set_reply(Some("England and Wales [1]."));
    let base = fake.base_url();
    // A thread may open with an assistant greeting; the Messages API must start with the user.
    let history = [
        Turn::assistant("How can I help?"),
        Turn::user("Hi"),
        Turn::assistant("Hello."),
    ];

    let answer = answer_with_llm(
        &client(Provider::Anthropic, base, Some(KEY)),
        "What is the governing law?",
        &passages(),
        None,
        &history,
    )
    .await
    .unwrap();

    assert_eq!(answer.text, "England and Wales [1].");
    let requests = fake.requests();
    let request = &requests[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.headers["x-api-key"], KEY);
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert!(!request.headers.contains_key("authorization"));
    let body = &request.body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["system"], quire_engine::DEFAULT_SYSTEM_PROMPT);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0], json!({"role": "user", "content": "Hi"}));
    assert_eq!(messages[2]["role"], "user");
}
