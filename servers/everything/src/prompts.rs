//! The `test_*` prompts (no arguments, arguments, an embedded resource, an
//! image) and completions for prompt arguments and the template's `{id}`.

use mcp_servers_core::completion;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, ContentBlock, GetPromptResult, PromptMessage, Reference,
    ResourceContents, Role,
};
use rmcp::{ErrorData, prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::EverythingServer;
use crate::resources::{STATIC_BINARY, STATIC_TEXT, TEMPLATE, WATCHED};
use crate::tools::TEST_IMAGE_PNG_BASE64;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TwoArgs {
    /// First test argument
    pub arg1: String,
    /// Second test argument
    pub arg2: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResourceArg {
    /// URI of the resource to embed
    #[serde(rename = "resourceUri")]
    pub resource_uri: String,
}

/// Suggestions for the prompts' free-text arguments.
const ARG_VALUES: [&str; 4] = ["test", "testValue1", "testValue2", "example"];
/// Suggestions for the template's `{id}`.
const TEMPLATE_IDS: [&str; 4] = ["1", "2", "42", "123"];

#[prompt_router(vis = "pub(crate)")]
impl EverythingServer {
    #[prompt(
        name = "test_simple_prompt",
        title = "Simple Test Prompt",
        description = "A simple prompt without arguments"
    )]
    pub async fn test_simple_prompt(&self) -> GetPromptResult {
        GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt for testing.",
        )])
    }

    #[prompt(
        name = "test_prompt_with_arguments",
        title = "Prompt With Arguments",
        description = "A prompt with required arguments"
    )]
    pub async fn test_prompt_with_arguments(
        &self,
        Parameters(args): Parameters<TwoArgs>,
    ) -> GetPromptResult {
        GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                args.arg1, args.arg2
            ),
        )])
    }

    #[prompt(
        name = "test_prompt_with_embedded_resource",
        title = "Prompt With Embedded Resource",
        description = "A prompt that includes an embedded resource"
    )]
    pub async fn test_prompt_with_embedded_resource(
        &self,
        Parameters(args): Parameters<ResourceArg>,
    ) -> Result<GetPromptResult, ErrorData> {
        if args.resource_uri.trim().is_empty() {
            return Err(ErrorData::invalid_params(
                "resourceUri must not be empty",
                None,
            ));
        }
        let resource =
            ResourceContents::text("Embedded resource content for testing.", args.resource_uri)
                .with_mime_type("text/plain");
        Ok(GetPromptResult::new(vec![
            PromptMessage::new(Role::User, ContentBlock::resource(resource)),
            PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
        ]))
    }

    #[prompt(
        name = "test_prompt_with_image",
        title = "Prompt With Image",
        description = "A prompt that includes image content"
    )]
    pub async fn test_prompt_with_image(&self) -> GetPromptResult {
        GetPromptResult::new(vec![
            PromptMessage::new(
                Role::User,
                ContentBlock::image(TEST_IMAGE_PNG_BASE64, "image/png"),
            ),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ])
    }
}

/// Values for the argument being completed, filtered by what was typed.
pub fn complete(request: &CompleteRequestParams) -> CompleteResult {
    let arg = request.argument.name.as_str();
    let candidates: &[&str] = match &request.r#ref {
        Reference::Prompt(p) => match (p.name.as_str(), arg) {
            ("test_prompt_with_arguments", "arg1" | "arg2") => &ARG_VALUES,
            ("test_prompt_with_embedded_resource", "resourceUri") => {
                &[STATIC_TEXT, STATIC_BINARY, WATCHED]
            }
            _ => &[],
        },
        Reference::Resource(r) if r.uri == TEMPLATE && arg == "id" => &TEMPLATE_IDS,
        _ => &[],
    };
    let candidates = candidates.iter().map(|s| (*s).to_owned());
    completion::result(completion::matching(candidates, &request.argument.value))
}
