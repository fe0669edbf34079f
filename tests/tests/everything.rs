//! mcp-everything end to end: every feature, driven by rmcp's client with a
//! handler that answers sampling and elicitation and records notifications,
//! over stdio and Streamable HTTP, on both lifecycles.
#![allow(deprecated)] // sampling and logging: deprecated in 2026-07-28, still used by clients.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use mcp_servers_tests::rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientInfo, CompleteRequestParams,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    GetPromptRequestParams, Implementation, LoggingLevel, LoggingMessageNotificationParam,
    ReadResourceRequestParams, ResourceUpdatedNotificationParam, SetLevelRequestParams,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use mcp_servers_tests::rmcp::service::{NotificationContext, RequestContext, RunningService};
use mcp_servers_tests::rmcp::{ClientHandler, ErrorData, RoleClient};
use mcp_servers_tests::{
    DEADLINE, HttpServer, Lifecycle, RawStdio, call, stdio_client, stdio_client_with, text_of,
};
use serde_json::{Value, json};

fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| mcp_servers_tests::workspace_bin("mcp-everything", "mcp-everything"))
}

/// A client that supports sampling and elicitation, answers them with
/// canned replies, and keeps what the server sent.
#[derive(Clone, Default)]
struct FullClient {
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    sampling: Vec<Value>,
    elicitations: Vec<Value>,
    logs: Vec<String>,
    updated: Vec<String>,
}

impl FullClient {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

impl ClientHandler for FullClient {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.seen()
            .sampling
            .push(serde_json::to_value(&params).unwrap());
        Ok(serde_json::from_value(json!({
            "model": "test-model",
            "role": "assistant",
            "content": {"type": "text", "text": "canned reply from the test model"}
        }))
        .unwrap())
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.seen()
            .elicitations
            .push(serde_json::to_value(&request).unwrap());
        Ok(serde_json::from_value(json!({
            "action": "accept",
            "content": {"response": "yes please"}
        }))
        .unwrap())
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let text = params.data.as_str().unwrap_or_default().to_owned();
        self.seen().logs.push(text);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen().updated.push(params.uri);
    }

    fn get_info(&self) -> ClientInfo {
        let capabilities: ClientCapabilities =
            serde_json::from_value(json!({"sampling": {}, "elicitation": {}})).unwrap();
        ClientInfo::new(capabilities, Implementation::new("everything-test", "0"))
    }
}

async fn full_client() -> (RunningService<RoleClient, FullClient>, FullClient) {
    let handler = FullClient::default();
    let client = stdio_client_with(handler.clone(), bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    (client, handler)
}

#[tokio::test]
async fn every_content_kind_and_the_error_tool() {
    let client = stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "test_simple_text",
        "test_image_content",
        "test_audio_content",
        "test_embedded_resource",
        "test_multiple_content_types",
        "test_tool_with_logging",
        "test_tool_with_progress",
        "test_error_handling",
        "test_reconnection",
        "test_sampling",
        "test_elicitation",
        "test_elicitation_sep1034_defaults",
        "test_elicitation_sep1330_enums",
        "json_schema_2020_12_tool",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    let text = call(&client, "test_simple_text", json!({})).await;
    assert_eq!(
        text_of(&text),
        "This is a simple text response for testing."
    );

    let image = call(&client, "test_image_content", json!({})).await;
    let image = image.content[0].as_image().expect("image content");
    assert_eq!(image.mime_type, "image/png");
    assert!(image.data.starts_with("iVBORw0KGgo"), "not a PNG");

    let audio = call(&client, "test_audio_content", json!({})).await;
    let audio = audio.content[0].as_audio().expect("audio content");
    assert_eq!(audio.mime_type, "audio/wav");
    assert!(audio.data.starts_with("UklGR"), "not a RIFF file");

    let embedded = call(&client, "test_embedded_resource", json!({})).await;
    let embedded = serde_json::to_value(&embedded.content[0]).unwrap();
    assert_eq!(embedded["type"], "resource");
    assert_eq!(embedded["resource"]["uri"], "test://embedded-resource");
    assert_eq!(embedded["resource"]["mimeType"], "text/plain");

    let mixed = call(&client, "test_multiple_content_types", json!({})).await;
    let kinds: Vec<Value> = mixed
        .content
        .iter()
        .map(|c| serde_json::to_value(c).unwrap()["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("text"), json!("image"), json!("resource")]);

    let error = call(&client, "test_error_handling", json!({})).await;
    assert_eq!(error.is_error, Some(true));
    assert!(text_of(&error).contains("intentionally returns an error"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_2020_12_schema_is_served_verbatim_and_enforced() {
    let client = stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let tool = tools
        .iter()
        .find(|t| t.name == "json_schema_2020_12_tool")
        .unwrap();
    let schema = Value::Object((*tool.input_schema).clone());
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["$defs"]["address"]["type"], "object");
    assert_eq!(schema["properties"]["address"]["$ref"], "#/$defs/address");
    assert_eq!(schema["additionalProperties"], false);

    let ok = call(
        &client,
        "json_schema_2020_12_tool",
        json!({"name": "Ada", "address": {"city": "London"}}),
    )
    .await;
    assert_ne!(ok.is_error, Some(true), "{}", text_of(&ok));
    assert!(
        text_of(&ok).contains(r#""city":"London""#),
        "{}",
        text_of(&ok)
    );

    let extra = call(
        &client,
        "json_schema_2020_12_tool",
        json!({"name": "Ada", "age": 3}),
    )
    .await;
    assert_eq!(extra.is_error, Some(true), "{}", text_of(&extra));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn sampling_and_elicitation_reach_the_client_and_come_back() {
    let (client, handler) = full_client().await;

    let sampled = call(
        &client,
        "test_sampling",
        json!({"prompt": "Test prompt for sampling"}),
    )
    .await;
    assert_eq!(
        text_of(&sampled),
        "LLM response: canned reply from the test model"
    );
    let request = handler.seen().sampling[0].clone();
    assert_eq!(
        request["messages"][0]["content"]["text"],
        "Test prompt for sampling"
    );
    assert_eq!(request["maxTokens"], 100);

    let elicited = call(
        &client,
        "test_elicitation",
        json!({"message": "Please provide your information"}),
    )
    .await;
    assert_eq!(
        text_of(&elicited),
        r#"User response: action=accept, content={"response":"yes please"}"#
    );

    call(&client, "test_elicitation_sep1034_defaults", json!({})).await;
    call(&client, "test_elicitation_sep1330_enums", json!({})).await;
    let elicitations = handler.seen().elicitations.clone();
    assert_eq!(elicitations.len(), 3);
    assert_eq!(
        elicitations[0]["message"],
        "Please provide your information"
    );
    let defaults = &elicitations[1]["requestedSchema"]["properties"];
    assert_eq!(defaults["name"]["default"], "John Doe");
    assert_eq!(defaults["age"]["default"], 30);
    assert_eq!(defaults["score"]["default"], 95.5);
    assert_eq!(defaults["status"]["default"], "active");
    assert_eq!(defaults["verified"]["default"], true);
    let enums = &elicitations[2]["requestedSchema"]["properties"];
    assert_eq!(enums["titledSingle"]["oneOf"][0]["const"], "value1");
    assert_eq!(enums["legacyEnum"]["enumNames"][2], "Option Three");
    assert_eq!(
        enums["titledMulti"]["items"]["anyOf"][1]["title"],
        "Second Choice"
    );
    assert_eq!(enums["untitledMulti"]["items"]["enum"][0], "option1");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn without_the_capability_sampling_and_elicitation_fail_clearly() {
    let client = stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let sampled = call(&client, "test_sampling", json!({"prompt": "hi"})).await;
    assert_eq!(sampled.is_error, Some(true));
    assert!(
        text_of(&sampled).contains("sampling capability"),
        "{}",
        text_of(&sampled)
    );
    let elicited = call(&client, "test_elicitation", json!({"message": "hi"})).await;
    assert_eq!(elicited.is_error, Some(true));
    assert!(text_of(&elicited).contains("elicitation capability"));
    client.cancel().await.unwrap();
}

#[test]
fn logging_follows_the_level_and_progress_arrives_before_the_result() {
    let mut raw = RawStdio::spawn(bin(), &[]).unwrap();
    raw.initialize().unwrap();

    // Default level is warning: the tool's info messages stay home.
    let (_, before) = raw
        .exchange(2, "tools/call", json!({"name": "test_tool_with_logging"}))
        .unwrap();
    assert!(
        !before
            .iter()
            .any(|m| m["method"] == "notifications/message"),
        "{before:?}"
    );

    raw.request(3, "logging/setLevel", json!({"level": "debug"}))
        .unwrap();
    let (result, before) = raw
        .exchange(4, "tools/call", json!({"name": "test_tool_with_logging"}))
        .unwrap();
    assert_eq!(
        result["result"]["content"][0]["text"],
        "Tool with logging executed successfully"
    );
    let logs: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| &m["params"]["data"])
        .collect();
    assert_eq!(
        logs,
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ]
    );

    let (result, before) = raw
        .exchange(
            5,
            "tools/call",
            json!({"name": "test_tool_with_progress",
                   "_meta": {"progressToken": "progress-test-1"}}),
        )
        .unwrap();
    assert_eq!(result["result"]["content"][0]["text"], "progress-test-1");
    let progress: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| &m["params"]["progress"])
        .collect();
    assert_eq!(progress, [0.0, 50.0, 100.0]);
    raw.close().unwrap();
}

#[tokio::test]
async fn resources_templates_and_subscriptions() {
    let handler = FullClient::default();
    let client = stdio_client_with(
        handler.clone(),
        bin(),
        &["--watch-interval-secs", "1"],
        Lifecycle::Initialize,
    )
    .await
    .unwrap();
    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "test://static-text",
            "test://static-binary",
            "test://watched-resource"
        ]
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "test://template/{id}/data");

    let read = |uri: &str| {
        let client = &client;
        let uri = uri.to_owned();
        async move {
            let result = client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await;
            result.map(|r| serde_json::to_value(&r).unwrap()["contents"][0].clone())
        }
    };
    let text = read("test://static-text").await.unwrap();
    assert_eq!(text["mimeType"], "text/plain");
    assert!(text["text"].as_str().unwrap().contains("static text"));
    let binary = read("test://static-binary").await.unwrap();
    assert_eq!(binary["mimeType"], "image/png");
    assert!(binary["blob"].as_str().unwrap().starts_with("iVBORw0KGgo"));
    let templated = read("test://template/123/data").await.unwrap();
    let data: Value = serde_json::from_str(templated["text"].as_str().unwrap()).unwrap();
    assert_eq!(data["id"], "123");
    let missing = read("test://nothing-here").await.unwrap_err().to_string();
    assert!(missing.contains("test://static-text"), "{missing}");

    let unknown = client
        .subscribe(SubscribeRequestParams::new("test://nothing-here"))
        .await;
    assert!(unknown.is_err(), "subscribing to an unknown URI must fail");
    client
        .subscribe(SubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    let start = Instant::now();
    while handler.seen().updated.is_empty() {
        assert!(start.elapsed() < DEADLINE, "no resources/updated arrived");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(handler.seen().updated[0], "test://watched-resource");
    let changed = read("test://watched-resource").await.unwrap();
    assert!(
        changed["text"].as_str().unwrap().contains("revision"),
        "{changed}"
    );
    client
        .unsubscribe(UnsubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn prompts_and_completions() {
    let client = stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let prompts = client.list_all_prompts().await.unwrap();
    let mut names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "test_prompt_with_arguments",
            "test_prompt_with_embedded_resource",
            "test_prompt_with_image",
            "test_simple_prompt"
        ]
    );
    assert!(
        prompts
            .iter()
            .all(|p| p.description.as_deref().is_some_and(|d| !d.is_empty()))
    );

    let get = |name: &str, arguments: Value| {
        let client = &client;
        let mut params = GetPromptRequestParams::new(name);
        if let Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        async move { client.get_prompt(params).await }
    };
    let with_args = get(
        "test_prompt_with_arguments",
        json!({"arg1": "testValue1", "arg2": "testValue2"}),
    )
    .await
    .unwrap();
    let text = serde_json::to_string(&with_args.messages).unwrap();
    assert!(
        text.contains("testValue1") && text.contains("testValue2"),
        "{text}"
    );
    let missing = get("test_prompt_with_arguments", json!({"arg1": "x"})).await;
    assert!(missing.is_err(), "a missing required argument must fail");

    let embedded = get(
        "test_prompt_with_embedded_resource",
        json!({"resourceUri": "test://example-resource"}),
    )
    .await
    .unwrap();
    let first = serde_json::to_value(&embedded.messages[0]).unwrap();
    assert_eq!(first["content"]["type"], "resource");
    assert_eq!(
        first["content"]["resource"]["uri"],
        "test://example-resource"
    );
    let image = get("test_prompt_with_image", json!(null)).await.unwrap();
    let first = serde_json::to_value(&image.messages[0]).unwrap();
    assert_eq!(first["content"]["type"], "image");

    let completion: CompleteRequestParams = serde_json::from_value(json!({
        "ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
        "argument": {"name": "arg1", "value": "test"}
    }))
    .unwrap();
    let values = client.complete(completion).await.unwrap().completion.values;
    assert_eq!(values, ["test", "testValue1", "testValue2"]);
    let completion: CompleteRequestParams = serde_json::from_value(json!({
        "ref": {"type": "ref/resource", "uri": "test://template/{id}/data"},
        "argument": {"name": "id", "value": "12"}
    }))
    .unwrap();
    let values = client.complete(completion).await.unwrap().completion.values;
    assert_eq!(values, ["123"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn over_http_server_requests_and_notifications_use_the_session() {
    let server = HttpServer::spawn(bin(), &[]).unwrap();
    let handler = FullClient::default();
    let client = server
        .client_with(handler.clone(), None, Lifecycle::Initialize)
        .await
        .unwrap();
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .unwrap();
    let sampled = call(&client, "test_sampling", json!({"prompt": "over http"})).await;
    assert_eq!(
        text_of(&sampled),
        "LLM response: canned reply from the test model"
    );
    let logged = call(&client, "test_tool_with_logging", json!({})).await;
    assert_ne!(logged.is_error, Some(true));
    let start = Instant::now();
    while handler.seen().logs.len() < 3 {
        assert!(
            start.elapsed() < DEADLINE,
            "logs: {:?}",
            handler.seen().logs
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn over_http_a_duplicate_in_flight_id_is_refused_and_the_first_answered() {
    let server = HttpServer::spawn(bin(), &[]).unwrap();
    let session = server.open_session().await.unwrap();
    let headers = mcp_servers_tests::session_headers(&session);
    // test_reconnection takes 100 ms: the second request arrives while the
    // first is in progress (the first is sent and its headers received
    // before the second is sent).
    let slow = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "test_reconnection", "arguments": {}}});
    let first = server.post(&slow, &headers).await.unwrap();
    let second = server.post(&slow, &headers).await.unwrap();
    assert_eq!(second.status(), 400);
    let refusal: Value = second.json().await.unwrap();
    assert_eq!(refusal["id"], 7);
    assert_eq!(refusal["error"]["code"], -32600);
    let content_type = first.headers()["content-type"].to_str().unwrap().to_owned();
    let body = first.text().await.unwrap();
    let answer = mcp_servers_tests::first_message(&content_type, &body).unwrap();
    assert_eq!(answer["id"], 7);
    assert!(
        answer["result"]["content"][0]["text"].is_string(),
        "{answer}"
    );
    // Once answered, the id is free again.
    let again = server.post(&slow, &headers).await.unwrap();
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn the_2026_lifecycle_serves_tools_and_refuses_server_requests_clearly() {
    let handler = FullClient::default();
    let client = stdio_client_with(handler.clone(), bin(), &[], Lifecycle::Discover)
        .await
        .unwrap();
    let text = client
        .call_tool(CallToolRequestParams::new("test_simple_text"))
        .await
        .unwrap();
    assert_eq!(
        text_of(&text),
        "This is a simple text response for testing."
    );
    let sampled = call(&client, "test_sampling", json!({"prompt": "hi"})).await;
    assert_eq!(sampled.is_error, Some(true), "{}", text_of(&sampled));
    assert!(handler.seen().sampling.is_empty());
    client.cancel().await.unwrap();
}
