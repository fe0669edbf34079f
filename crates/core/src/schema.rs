//! Tool schemas as every client can read them.
//!
//! schemars marks unsigned and small integers with formats such as `uint32`
//! that JSON Schema does not define; Ajv, which the official TypeScript SDK
//! (and so most desktop clients) uses, logs "unknown format ignored" for each
//! one at every `tools/list`. The bounds stay as `minimum`/`maximum`.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::JsonObject;
use serde_json::Value;

/// Formats schemars emits that JSON Schema does not define.
const NONSTANDARD_FORMATS: &[&str] = &[
    "uint", "uint8", "uint16", "uint32", "uint64", "uint128", "int8", "int16", "int128",
];

/// Rewrites every route's input and output schema in place.
pub fn normalize_router<S: Send + Sync + 'static>(router: &mut ToolRouter<S>) {
    let routes: Vec<_> = std::mem::take(router).into_iter().collect();
    for mut route in routes {
        route.attr.input_schema = Arc::new(normalized(&route.attr.input_schema));
        if let Some(output) = &route.attr.output_schema {
            route.attr.output_schema = Some(Arc::new(normalized(output)));
        }
        router.add_route(route);
    }
}

fn normalized(schema: &JsonObject) -> JsonObject {
    let mut value = Value::Object(schema.clone());
    strip_formats(&mut value);
    match value {
        Value::Object(object) => object,
        _ => schema.clone(),
    }
}

fn strip_formats(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let nonstandard = object
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| NONSTANDARD_FORMATS.contains(&f));
            if nonstandard {
                object.remove("format");
            }
            object.values_mut().for_each(strip_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nonstandard_integer_formats_go_bounds_stay() {
        let schema = json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "uint32", "minimum": 0},
                "i": {"type": "integer", "format": "int64"},
                "when": {"type": "string", "format": "date-time"},
                "list": {"type": "array", "items": {"type": "integer", "format": "uint"}},
                "format": {"type": "string", "format": "uint8"}
            },
            "$defs": {"X": {"anyOf": [{"type": "integer", "format": "uint64"}]}}
        });
        let out = Value::Object(normalized(schema.as_object().unwrap()));
        assert_eq!(
            out["properties"]["n"],
            json!({"type": "integer", "minimum": 0})
        );
        assert_eq!(out["properties"]["i"]["format"], "int64");
        assert_eq!(out["properties"]["when"]["format"], "date-time");
        assert_eq!(
            out["properties"]["list"]["items"],
            json!({"type": "integer"})
        );
        // A property named "format" is a property, not a keyword to drop.
        assert_eq!(out["properties"]["format"], json!({"type": "string"}));
        assert_eq!(out["$defs"]["X"]["anyOf"][0], json!({"type": "integer"}));
    }
}
