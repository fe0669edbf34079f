//! Resources: what this server supports (tokenizers, encodings, hash
//! algorithms, transform operations) as readable JSON, one entry of each
//! by template, and the files of the allowed directories by the
//! `file:///{path}` template.

use mcp_servers_core::error::ToolError;
use mcp_servers_core::roots::root_uri_to_path;
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use crate::tools::encode::{ENCODINGS, HASHES};
use crate::tools::transform::OPERATIONS;
use crate::{TextServer, tokenize};

pub const TOKENIZER_TEMPLATE: &str = "text://tokenizers/{name}";
pub const ENCODING_TEMPLATE: &str = "text://encodings/{name}";
pub const HASH_TEMPLATE: &str = "text://hashes/{name}";
pub const OPERATION_TEMPLATE: &str = "text://operations/{name}";
pub const FILE_TEMPLATE: &str = "file:///{path}";

const JSON: &str = "application/json";

/// The fixed resources: one list per kind of name.
pub fn list() -> Vec<Resource> {
    [
        (
            "tokenizers",
            "Tokenizers",
            "Tokenizers text_stats and chunk count tokens with, and the models that use them",
        ),
        (
            "encodings",
            "Encodings",
            "Encodings encode and decode support",
        ),
        (
            "hashes",
            "Hash algorithms",
            "Algorithms the hash tool supports",
        ),
        (
            "operations",
            "Transform operations",
            "Operations the transform tool applies",
        ),
    ]
    .into_iter()
    .map(|(kind, title, description)| {
        Resource::new(format!("text://{kind}"), kind)
            .with_title(title)
            .with_description(description)
            .with_mime_type(JSON)
    })
    .collect()
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TOKENIZER_TEMPLATE, "tokenizer")
            .with_title("Tokenizer")
            .with_description("One tokenizer and the models that use it")
            .with_mime_type(JSON),
        ResourceTemplate::new(ENCODING_TEMPLATE, "encoding")
            .with_title("Encoding")
            .with_description("One encoding of encode/decode")
            .with_mime_type(JSON),
        ResourceTemplate::new(HASH_TEMPLATE, "hash")
            .with_title("Hash algorithm")
            .with_description("One algorithm of the hash tool")
            .with_mime_type(JSON),
        ResourceTemplate::new(OPERATION_TEMPLATE, "operation")
            .with_title("Transform operation")
            .with_description("One operation of the transform tool")
            .with_mime_type(JSON),
        ResourceTemplate::new(FILE_TEMPLATE, "file")
            .with_title("File in an allowed directory")
            .with_description(
                "A UTF-8 text file inside the allowed directories (path completion offered)",
            ),
    ]
}

fn named(list: &[(&str, &str)]) -> Vec<Value> {
    list.iter()
        .map(|(name, description)| json!({"name": name, "description": description}))
        .collect()
}

fn tokenizers() -> Vec<Value> {
    tokenize::TOKENIZERS
        .iter()
        .map(|t| json!({"name": t.name, "models": t.models, "default": tokenize::DEFAULT_TOKENIZERS.contains(&t.name)}))
        .collect()
}

fn json_contents(uri: &str, value: &Value) -> ReadResourceResult {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    ReadResourceResult::new(vec![ResourceContents::text(text, uri).with_mime_type(JSON)])
}

pub async fn read(server: &TextServer, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    if let Some(rest) = uri.strip_prefix("text://") {
        let (kind, name) = match rest.split_once('/') {
            Some((kind, name)) => (kind, Some(name)),
            None => (rest, None),
        };
        let entries = match kind {
            "tokenizers" => tokenizers(),
            "encodings" => named(ENCODINGS),
            "hashes" => named(HASHES),
            "operations" => named(OPERATIONS),
            _ => return Err(not_found(uri)),
        };
        let value = match name {
            None => Value::Array(entries),
            Some(name) => entries
                .into_iter()
                .find(|e| e["name"] == name)
                .ok_or_else(|| not_found(uri))?,
        };
        return Ok(json_contents(uri, &value));
    }
    if uri.starts_with("file://") {
        let path = root_uri_to_path(uri)
            .ok_or_else(|| ErrorData::invalid_params(format!("invalid file URI: {uri}"), None))?;
        let loaded = server
            .load(crate::input::Input {
                text: None,
                path: Some(path.display().to_string()),
            })
            .await
            .map_err(|e: ToolError| ErrorData::invalid_params(e.to_string(), None))?;
        let mime = match path.extension().and_then(|e| e.to_str()) {
            Some("md" | "markdown") => "text/markdown",
            Some("json") => "application/json",
            Some("html" | "htm") => "text/html",
            Some("yaml" | "yml") => "application/yaml",
            Some("toml") => "application/toml",
            _ => "text/plain",
        };
        return Ok(ReadResourceResult::new(vec![
            ResourceContents::text(loaded.text, uri).with_mime_type(mime),
        ]));
    }
    Err(not_found(uri))
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!(
            "no resource {uri}; this server has text://tokenizers, text://encodings, \
             text://hashes, text://operations (and /{{name}} of each) and file:///{{path}}"
        ),
        None,
    )
}

/// Completions for the `path` of `file:///{path}`: the entries of the
/// allowed directory being typed into (directories end with `/`), or the
/// allowed directories themselves.
pub fn complete_path(server: &TextServer, typed: &str) -> Vec<String> {
    let absolute = format!("/{}", typed.trim_start_matches('/'));
    let (dir, prefix) = absolute.rsplit_once('/').unwrap_or(("", ""));
    let dir = if dir.is_empty() { "/" } else { dir };
    let mut out = Vec::new();
    if let Ok(real) = server.sandbox.resolve_existing(dir)
        && let Ok(entries) = std::fs::read_dir(&real)
    {
        let mut names: Vec<(String, bool)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let is_dir = e.file_type().ok()?.is_dir();
                name.starts_with(prefix).then_some((name, is_dir))
            })
            .collect();
        names.sort();
        let base = dir.trim_start_matches('/');
        for (name, is_dir) in names.into_iter().take(200) {
            let mut value = if base.is_empty() {
                name
            } else {
                format!("{base}/{name}")
            };
            if is_dir {
                value.push('/');
            }
            out.push(value);
        }
        return out;
    }
    for root in server.sandbox.roots().iter() {
        let root = root.display().to_string();
        let value = format!("{}/", root.trim_start_matches('/'));
        if value.starts_with(typed.trim_start_matches('/')) {
            out.push(value);
        }
    }
    out
}
