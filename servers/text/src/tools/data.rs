//! json: validate, pretty-print, minify, sort keys, query by JSON Pointer,
//! and convert between JSON, YAML and TOML.

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::TextServer;
use crate::input::{Input, LineCursor, TextPage, TextPaging, data, schema};

pub const ACTIONS: [&str; 6] = [
    "validate",
    "pretty",
    "minify",
    "sort_keys",
    "query",
    "convert",
];
pub const FORMATS: [&str; 3] = ["json", "yaml", "toml"];

#[derive(Debug, Deserialize, JsonSchema)]
pub struct JsonParams {
    #[serde(flatten)]
    pub input: Input,
    /// validate (default), pretty, minify, sort_keys (recursively, pretty
    /// printed), query (by `pointer`) or convert (to `to`).
    #[serde(default)]
    pub action: Option<String>,
    /// Format of the input: json (default; or from the file extension of
    /// `path`), yaml or toml. validate and convert accept all three.
    #[serde(default)]
    pub format: Option<String>,
    /// Target format for convert: json, yaml or toml.
    #[serde(default)]
    pub to: Option<String>,
    /// JSON Pointer (RFC 6901) for query, e.g. "/items/0/name"; "" is the
    /// whole document.
    #[serde(default)]
    pub pointer: Option<String>,
    /// Spaces per indentation level for pretty output. Default 2.
    #[serde(default)]
    pub indent: Option<usize>,
    #[serde(flatten)]
    pub paging: TextPaging,
}

/// Where parsing failed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ParseError {
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct JsonOutput {
    pub action: String,
    /// Format of the input.
    pub format: String,
    /// Whether the input parsed.
    pub valid: bool,
    /// Why it did not parse (validate only; other actions fail instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ParseError>,
    /// Type of the top-level (or queried) value: object, array, string,
    /// number, boolean or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    /// The output document, paged by start_index/max_length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TextPage>,
}

#[tool_router(router = data_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "JSON, YAML and TOML",
        description = "Work on structured data exactly. action: validate (default; invalid input gives the error with line and column), pretty (keeps key order and number spelling; `indent`), minify, sort_keys, query (JSON Pointer `pointer`, e.g. \"/items/0/name\"), convert (`format` json|yaml|toml to `to` json|yaml|toml). Input: `text` or `path` (format from the extension).",
        output_schema = schema::<JsonOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn json(&self, Parameters(p): Parameters<JsonParams>) -> ToolResult<CallToolResult> {
        let action = p.action.unwrap_or_else(|| "validate".to_owned());
        if !ACTIONS.contains(&action.as_str()) {
            return Err(ToolError::new(format!(
                "unknown action '{action}'; use {}",
                ACTIONS.join(", ")
            )));
        }
        let from_extension = p.input.path.as_deref().and_then(format_of_path);
        let format = p
            .format
            .or(from_extension.map(str::to_owned))
            .unwrap_or_else(|| "json".to_owned());
        check_format(&format)?;
        if let Some(to) = &p.to {
            check_format(to)?;
        }
        let loaded = self.load(p.input).await?;
        let (to, pointer, indent, paging) = (p.to, p.pointer, p.indent.unwrap_or(2), p.paging);
        let out = blocking_unless_small(loaded.text.len(), move || {
            run(
                &loaded.text,
                &action,
                &format,
                to.as_deref(),
                pointer.as_deref(),
                indent,
                &paging,
            )
        })
        .await?;
        data(&out)
    }
}

fn check_format(format: &str) -> ToolResult<()> {
    if FORMATS.contains(&format) {
        Ok(())
    } else {
        Err(ToolError::new(format!(
            "unknown format '{format}'; use json, yaml or toml"
        )))
    }
}

fn format_of_path(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "json" => Some("json"),
        "yaml" | "yml" => Some("yaml"),
        "toml" => Some("toml"),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    text: &str,
    action: &str,
    format: &str,
    to: Option<&str>,
    pointer: Option<&str>,
    indent: usize,
    paging: &TextPaging,
) -> ToolResult<JsonOutput> {
    let mut out = JsonOutput {
        action: action.to_owned(),
        format: format.to_owned(),
        valid: true,
        error: None,
        value_type: None,
        result: None,
    };
    if format != "json" && !matches!(action, "validate" | "convert") {
        return Err(ToolError::new(format!(
            "{action} works on JSON; convert {format} to json first (action \"convert\", to \"json\")"
        )));
    }
    let value = match parse(text, format) {
        Ok(value) => value,
        Err(e) if action == "validate" => {
            out.valid = false;
            out.error = Some(e);
            return Ok(out);
        }
        Err(e) => {
            return Err(ToolError::new(format!(
                "invalid {format} at line {}, column {}: {}",
                e.line, e.column, e.message
            )));
        }
    };
    out.value_type = Some(type_name(&value).to_owned());
    let indent_str = " ".repeat(indent);
    let result = match action {
        "validate" => None,
        "pretty" => Some(reformat(text, Some(&indent_str))),
        "minify" => Some(reformat(text, None)),
        "sort_keys" => Some(pretty(&sort_keys(value), &indent_str)?),
        "query" => {
            let pointer = pointer.ok_or_else(|| {
                ToolError::new("query needs `pointer`, a JSON Pointer such as \"/items/0/name\"")
            })?;
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(ToolError::new(format!(
                    "invalid JSON Pointer '{pointer}': it must be empty or start with '/'"
                )));
            }
            let found = value
                .pointer(pointer)
                .ok_or_else(|| ToolError::new(format!("nothing at JSON Pointer '{pointer}'")))?;
            out.value_type = Some(type_name(found).to_owned());
            Some(pretty(found, &indent_str)?)
        }
        "convert" => {
            let to = to.ok_or_else(|| ToolError::new("convert needs `to`: json, yaml or toml"))?;
            Some(convert(text, format, to, &indent_str)?)
        }
        other => return Err(ToolError::new(format!("unknown action '{other}'"))),
    };
    out.result = result.map(|r| paging.page(&r));
    Ok(out)
}

/// Parses `text` as `format` into a JSON value (for validation, queries and
/// key sorting).
fn parse(text: &str, format: &str) -> Result<Value, ParseError> {
    match format {
        "yaml" => yaml_serde::from_str::<Value>(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line() + 1, l.column() + 1));
            ParseError {
                message: e.to_string(),
                line,
                column,
            }
        }),
        "toml" => toml::from_str::<Value>(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |span| {
                LineCursor::new(text).line_col(span.start.min(text.len()))
            });
            ParseError {
                message: e.message().to_owned(),
                line,
                column,
            }
        }),
        _ => serde_json::from_str::<Value>(text).map_err(|e| ParseError {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        }),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn pretty(value: &Value, indent: &str) -> ToolResult<String> {
    use serde::Serialize;
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    value
        .serialize(&mut ser)
        .map_err(|e| ToolError::new(format!("cannot print JSON: {e}")))?;
    String::from_utf8(buf).map_err(|e| ToolError::new(format!("cannot print JSON: {e}")))
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Re-lays out valid JSON without parsing it into values, so key order and
/// the spelling of numbers (1.0, 1e3, big integers) stay exactly as written.
/// `indent: None` minifies.
pub fn reformat(json: &str, indent: Option<&str>) -> String {
    let mut out = String::with_capacity(json.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        if let Some(unit) = indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(unit);
            }
        }
    };
    let mut chars = json.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let rest = json[i + 1..].trim_start_matches([' ', '\t', '\n', '\r']);
                if rest.starts_with(close) {
                    out.push(c);
                    out.push(close);
                    // Skip to the closing bracket.
                    for (_, next) in chars.by_ref() {
                        if next == close {
                            break;
                        }
                    }
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => {
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Converts between formats, keeping key order: JSON and YAML go through
/// YAML's ordered mapping, TOML through an ordered table.
fn convert(text: &str, from: &str, to: &str, indent: &str) -> ToolResult<String> {
    let fail =
        |e: &dyn std::fmt::Display| ToolError::new(format!("cannot convert {from} to {to}: {e}"));
    let bad_input = |e: ParseError| {
        ToolError::new(format!(
            "invalid {from} at line {}, column {}: {}",
            e.line, e.column, e.message
        ))
    };
    // Validate first, for the line and column of any error.
    parse(text, from).map_err(bad_input)?;
    match to {
        "toml" => {
            let value: toml::Value = match from {
                "json" => serde_json::from_str(text).map_err(|e| fail(&e))?,
                "yaml" => yaml_serde::from_str(text).map_err(|e| fail(&e))?,
                _ => toml::from_str(text).map_err(|e| fail(&e))?,
            };
            if !value.is_table() {
                return Err(ToolError::new(format!(
                    "cannot convert {from} to toml: a TOML document must be a table (an object \
                     at the top level)"
                )));
            }
            toml::to_string_pretty(&value).map_err(|e| {
                fail(&format!(
                    "{e} (TOML has no null, and arrays must not mix tables and plain values)"
                ))
            })
        }
        _ => {
            let value: yaml_serde::Value = match from {
                "json" => serde_json::from_str(text).map_err(|e| fail(&e))?,
                "yaml" => yaml_serde::from_str(text).map_err(|e| fail(&e))?,
                _ => {
                    let t: toml::Value = toml::from_str(text).map_err(|e| fail(&e))?;
                    yaml_serde::to_value(t).map_err(|e| fail(&e))?
                }
            };
            if to == "yaml" {
                yaml_serde::to_string(&value).map_err(|e| fail(&e))
            } else {
                let compact = serde_json::to_string(&value).map_err(|e| fail(&e))?;
                Ok(reformat(&compact, Some(indent)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(text: &str, action: &str, format: &str, to: Option<&str>) -> ToolResult<JsonOutput> {
        run(
            text,
            action,
            format,
            to,
            Some("/b/1"),
            2,
            &TextPaging::default(),
        )
    }

    fn result(out: JsonOutput) -> String {
        out.result.unwrap().text
    }

    #[test]
    fn validate_reports_line_and_column() {
        let out = go("{\n  \"a\": 1,\n  \"b\": }", "validate", "json", None).unwrap();
        assert!(!out.valid);
        let e = out.error.unwrap();
        assert_eq!((e.line, e.column), (3, 8));
        assert!(go("{\"a\": [1]}", "validate", "json", None).unwrap().valid);
        let e = go("a: [1", "validate", "yaml", None)
            .unwrap()
            .error
            .unwrap();
        assert!(e.line >= 1, "{}", e.message);
        let e = go("a = \n", "validate", "toml", None)
            .unwrap()
            .error
            .unwrap();
        assert_eq!(e.line, 1);
        let err = go("{", "pretty", "json", None).unwrap_err().to_string();
        assert!(err.contains("line 1, column 1"), "{err}");
    }

    #[test]
    fn pretty_and_minify_keep_order_and_numbers() {
        let src = r#"{"z": 1.0, "a": [1e3, {}, []], "s": "x, {y}: \"q\""}"#;
        let pretty = result(go(src, "pretty", "json", None).unwrap());
        assert_eq!(
            pretty,
            "{\n  \"z\": 1.0,\n  \"a\": [\n    1e3,\n    {},\n    []\n  ],\n  \"s\": \"x, {y}: \\\"q\\\"\"\n}"
        );
        let min = result(go(&pretty, "minify", "json", None).unwrap());
        assert_eq!(min, r#"{"z":1.0,"a":[1e3,{},[]],"s":"x, {y}: \"q\""}"#);
    }

    #[test]
    fn sort_keys_and_query() {
        let src = r#"{"b": [0, {"y": 1, "x": 2}], "a": null}"#;
        let sorted = result(go(src, "sort_keys", "json", None).unwrap());
        assert!(sorted.find("\"a\"").unwrap() < sorted.find("\"b\"").unwrap());
        assert!(sorted.find("\"x\"").unwrap() < sorted.find("\"y\"").unwrap());
        let q = go(src, "query", "json", None).unwrap();
        assert_eq!(q.value_type.as_deref(), Some("object"));
        let err = run(
            src,
            "query",
            "json",
            None,
            Some("/nope"),
            2,
            &TextPaging::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nothing at JSON Pointer '/nope'"), "{err}");
    }

    #[test]
    fn converts_between_formats_keeping_order() {
        let yaml = result(
            go(
                r#"{"name": "x", "list": [1, 2], "a": true}"#,
                "convert",
                "json",
                Some("yaml"),
            )
            .unwrap(),
        );
        assert_eq!(yaml, "name: x\nlist:\n- 1\n- 2\na: true\n");
        let json = result(go("b: 1\na: [x, y]\n", "convert", "yaml", Some("json")).unwrap());
        assert_eq!(
            json,
            "{\n  \"b\": 1,\n  \"a\": [\n    \"x\",\n    \"y\"\n  ]\n}"
        );
        let toml = result(
            go(
                r#"{"title": "t", "owner": {"name": "n"}}"#,
                "convert",
                "json",
                Some("toml"),
            )
            .unwrap(),
        );
        assert_eq!(toml, "title = \"t\"\n\n[owner]\nname = \"n\"\n");
        let json = result(go("z = 1\na = \"s\"\n", "convert", "toml", Some("json")).unwrap());
        assert_eq!(json, "{\n  \"z\": 1,\n  \"a\": \"s\"\n}");
        let err = go("[1, 2]", "convert", "json", Some("toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a table"), "{err}");
    }
}
