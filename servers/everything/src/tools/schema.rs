//! A tool whose input schema uses JSON Schema 2020-12 features (`$schema`,
//! `$defs` with `$ref`, `additionalProperties: false`), served exactly as
//! written (SEP-1613) so clients can check they keep such schemas intact.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::EverythingServer;

pub const JSON_SCHEMA_2020_12_TOOL: &str = "json_schema_2020_12_tool";

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[tool_router(router = schema_router, vis = "pub(crate)")]
impl EverythingServer {
    #[tool(
        name = "json_schema_2020_12_tool",
        description = "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
        annotations(read_only_hint = true)
    )]
    async fn json_schema_2020_12_tool(&self, Parameters(args): Parameters<SchemaArgs>) -> String {
        let args = serde_json::to_string(&args).unwrap_or_default();
        format!("JSON Schema 2020-12 tool called with: {args}")
    }
}

/// Replaces the generated input schema of the 2020-12 tool by the
/// hand-written one (schemars writes a different dialect).
pub fn restore_raw_schemas(router: &mut ToolRouter<EverythingServer>) {
    let Some(route) = router.map.get_mut(JSON_SCHEMA_2020_12_TOOL) else {
        return;
    };
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string"},
                    "city": {"type": "string"}
                }
            }
        },
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"}
        },
        "additionalProperties": false
    });
    if let serde_json::Value::Object(object) = schema {
        route.attr.input_schema = Arc::new(object);
    }
}
