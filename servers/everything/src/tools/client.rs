//! Tools that ask the client for something mid-call: an LLM completion
//! (sampling) or input from the user (elicitation, including the
//! SEP-1034 defaults and the SEP-1330 enum forms).
//!
//! Both are server-to-client requests, which protocol 2026-07-28 no longer
//! allows and which a client must have declared it supports: otherwise
//! the tool fails with a message saying which. rmcp marks sampling
//! deprecated for that reason; this module allows it.
#![allow(deprecated)]

use mcp_servers_core::error::{ToolError, ToolResult};
use rmcp::RoleServer;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CreateMessageRequestParams, ElicitRequestParams, ElicitResult};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::EverythingServer;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send to the LLM
    pub prompt: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show the user
    pub message: String,
}

#[tool_router(router = client_router, vis = "pub(crate)")]
impl EverythingServer {
    #[tool(
        description = "Tests server-initiated sampling (LLM completion request): sends the \
                       prompt to the client's model and answers with its reply"
    )]
    async fn test_sampling(
        &self,
        Parameters(args): Parameters<SamplingArgs>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<String> {
        let declared = context
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.sampling.is_some());
        if !declared {
            return Err(ToolError::new(
                "the client did not declare the sampling capability, so the server cannot \
                 ask it for a completion",
            ));
        }
        let params: CreateMessageRequestParams = from_json(json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": args.prompt}}],
            "maxTokens": 100,
        }))?;
        let result = context
            .peer
            .create_message(params)
            .await
            .map_err(|e| ToolError::new(format!("sampling request failed: {e}")))?;
        let reply = serde_json::to_value(&result).unwrap_or_default();
        let text = first_text(&reply["content"]).unwrap_or("(no text in the reply)");
        Ok(format!("LLM response: {text}"))
    }

    #[tool(
        description = "Tests server-initiated elicitation (user input request): asks the user \
                       for a response and answers with what they did"
    )]
    async fn test_elicitation(
        &self,
        Parameters(args): Parameters<ElicitationArgs>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<String> {
        let schema = json!({
            "type": "object",
            "properties": {
                "response": {"type": "string", "description": "User's response"}
            },
            "required": ["response"]
        });
        let result = elicit(&context, &args.message, schema).await?;
        Ok(format!("User response: {}", describe(&result)))
    }

    #[tool(
        description = "Tests elicitation with default values per SEP-1034 (string, integer, \
                       number, enum and boolean fields, each with a default)"
    )]
    async fn test_elicitation_sep1034_defaults(
        &self,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<String> {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active"
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": true}
            },
            "required": []
        });
        let message = "Please review and update the form fields with defaults";
        let result = elicit(&context, message, schema).await?;
        Ok(format!("Elicitation completed: {}", describe(&result)))
    }

    #[tool(
        description = "Tests elicitation with enum schema improvements per SEP-1330 (untitled, \
                       titled and legacy single-select; untitled and titled multi-select)"
    )]
    async fn test_elicitation_sep1330_enums(
        &self,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<String> {
        let titled = |prefix: &str| {
            json!([
                {"const": "value1", "title": format!("First {prefix}")},
                {"const": "value2", "title": format!("Second {prefix}")},
                {"const": "value3", "title": format!("Third {prefix}")}
            ])
        };
        let schema = json!({
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Select one option",
                    "enum": ["option1", "option2", "option3"]
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": titled("Option")
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"]
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"anyOf": titled("Choice")}
                }
            },
            "required": []
        });
        let message = "Please select options from the enum fields";
        let result = elicit(&context, message, schema).await?;
        Ok(format!("Elicitation completed: {}", describe(&result)))
    }
}

/// Sends a form elicitation with `schema` and waits for the user's answer.
async fn elicit(
    context: &RequestContext<RoleServer>,
    message: &str,
    schema: Value,
) -> ToolResult<ElicitResult> {
    let declared = context
        .peer
        .peer_info()
        .is_some_and(|info| info.capabilities.elicitation.is_some());
    if !declared {
        return Err(ToolError::new(
            "the client did not declare the elicitation capability, so the server cannot ask \
             the user for input",
        ));
    }
    let params: ElicitRequestParams = from_json(json!({
        "mode": "form",
        "message": message,
        "requestedSchema": schema,
    }))?;
    context
        .peer
        .create_elicitation(params)
        .await
        .map_err(|e| ToolError::new(format!("elicitation request failed: {e}")))
}

fn describe(result: &ElicitResult) -> String {
    let action = serde_json::to_value(&result.action).unwrap_or_default();
    let content = result.content.clone().unwrap_or_else(|| json!({}));
    format!(
        "action={}, content={content}",
        action.as_str().unwrap_or("unknown")
    )
}

/// The text of a content block, or of the first text block of a list.
fn first_text(content: &Value) -> Option<&str> {
    match content {
        Value::Array(items) => items.iter().find_map(|c| c["text"].as_str()),
        other => other["text"].as_str(),
    }
}

/// Builds a protocol type from its JSON form; the JSON is ours, so a
/// failure is a bug in this server, reported as a tool error.
fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> ToolResult<T> {
    serde_json::from_value(value)
        .map_err(|e| ToolError::new(format!("internal error: invalid request built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_text_reads_a_block_or_a_list() {
        assert_eq!(
            first_text(&json!({"type": "text", "text": "hi"})),
            Some("hi")
        );
        assert_eq!(
            first_text(&json!([{"type": "image"}, {"type": "text", "text": "yo"}])),
            Some("yo")
        );
        assert_eq!(first_text(&json!({"type": "image"})), None);
    }
}
