//! Tools that answer with each kind of content, and one that fails.

use mcp_servers_core::error::{ToolError, ToolResult};
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use rmcp::{tool, tool_router};

use super::{TEST_AUDIO_WAV_BASE64, TEST_IMAGE_PNG_BASE64};
use crate::EverythingServer;

#[tool_router(router = content_router, vis = "pub(crate)")]
impl EverythingServer {
    #[tool(
        description = "Tests simple text content response",
        annotations(read_only_hint = true)
    )]
    async fn test_simple_text(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(
            "This is a simple text response for testing.",
        )])
    }

    #[tool(
        description = "Tests image content response (a 1x1 PNG)",
        annotations(read_only_hint = true)
    )]
    async fn test_image_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::image(
            TEST_IMAGE_PNG_BASE64,
            "image/png",
        )])
    }

    #[tool(
        description = "Tests audio content response (a tiny WAV)",
        annotations(read_only_hint = true)
    )]
    async fn test_audio_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::audio(
            TEST_AUDIO_WAV_BASE64,
            "audio/wav",
        )])
    }

    #[tool(
        description = "Tests embedded resource content response",
        annotations(read_only_hint = true)
    )]
    async fn test_embedded_resource(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::text(
                "This is an embedded resource content.",
                "test://embedded-resource",
            )
            .with_mime_type("text/plain"),
        )])
    }

    #[tool(
        description = "Tests response with multiple content types (text, image, resource)",
        annotations(read_only_hint = true)
    )]
    async fn test_multiple_content_types(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(TEST_IMAGE_PNG_BASE64, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    r#"{"test":"data","value":123}"#,
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ])
    }

    #[tool(
        description = "Tests error response handling: always fails with a tool error (isError)",
        annotations(read_only_hint = true)
    )]
    async fn test_error_handling(&self) -> ToolResult {
        Err(ToolError::new(
            "This tool intentionally returns an error for testing",
        ))
    }
}
