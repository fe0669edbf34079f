//! json: validate, pretty-print, minify, sort keys, query by JSON Pointer,
//! and convert between JSON, YAML and TOML.
//!
//! Bounds: the parsers are depth-capped (serde_json and yaml_serde at 128
//! levels, toml at 80, all under core's `MAX_NESTING_DEPTH`), and their
//! refusals are reported as such, not as invalid input. YAML aliases are
//! expanded under a byte budget (the output cap), so an alias bomb is
//! refused instead of filling memory. Every output is measured (exactly for
//! JSON, from above for YAML and TOML) before it is built, and refused past
//! the output cap.

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use mcp_servers_core::work;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::TextServer;
use crate::input::{Input, Int, LineCursor, TextPage, TextPaging, check_opt, data, schema};

pub const ACTIONS: [&str; 6] = [
    "validate",
    "pretty",
    "minify",
    "sort_keys",
    "query",
    "convert",
];
pub const FORMATS: [&str; 3] = ["json", "yaml", "toml"];

/// Most spaces per indentation level of pretty output.
pub const MAX_INDENT: u64 = 16;

/// How deep serde_json and yaml_serde nest (their own limit).
pub const JSON_YAML_MAX_DEPTH: usize = 128;
/// What YAML aliases may add to a document, in bytes of data (see
/// [`yaml_value`]).
pub const YAML_ALIAS_ALLOWANCE: usize = 16 << 20;

/// How deep toml nests (its own limit).
pub const TOML_MAX_DEPTH: usize = 80;

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
    /// Spaces per indentation level for pretty output, 0 to 16. Default 2.
    #[serde(default)]
    pub indent: Option<Int<0, MAX_INDENT>>,
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
        description = "Work on structured data exactly. action: validate (default; invalid input gives the error with line and column), pretty (keeps key order and number spelling; `indent`), minify, sort_keys, query (JSON Pointer `pointer`, e.g. \"/items/0/name\"), convert (`format` json|yaml|toml to `to` json|yaml|toml). Numbers stay as written through pretty, minify, sort_keys, query and json-to-json (big integers, 1e400); TOML datetimes become their RFC 3339 strings; json to yaml keeps integers past 64 bits digit for digit, json to toml refuses integers outside 64 bits (TOML's range), and a YAML integer past 64 bits is refused with a range error. Error positions: line 1-based, column 1-based in characters; line breaks are \\n (a \\r\\n counts as one). JSON and YAML may nest 128 levels, TOML 80. Input: `text` or `path` (format from the extension).",
        output_schema = schema::<JsonOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn json(&self, Parameters(p): Parameters<JsonParams>) -> ToolResult<CallToolResult> {
        let indent = check_opt(&p.indent, "indent")?.unwrap_or(2);
        p.paging.check()?;
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
        let job = Job {
            action,
            format,
            to: p.to,
            pointer: p.pointer,
            indent,
            paging: p.paging,
            output_cap: self.output_cap(),
        };
        let out = blocking_unless_small(loaded.text.len(), move || run(&loaded.text, &job)).await?;
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

/// One call's settings.
pub struct Job {
    pub action: String,
    pub format: String,
    pub to: Option<String>,
    pub pointer: Option<String>,
    /// Spaces per level (checked: at most `MAX_INDENT`).
    pub indent: usize,
    pub paging: TextPaging,
    /// Most bytes the output document may have.
    pub output_cap: usize,
}

fn run(text: &str, job: &Job) -> ToolResult<JsonOutput> {
    let (action, format) = (job.action.as_str(), job.format.as_str());
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
    let value = match parse(text, format, job.output_cap) {
        Ok(value) => value,
        Err(Failure::Refused(e)) => return Err(e),
        Err(Failure::Invalid(e)) if action == "validate" => {
            out.valid = false;
            out.error = Some(e);
            return Ok(out);
        }
        Err(Failure::Invalid(e)) => {
            return Err(ToolError::new(format!(
                "invalid {format} at line {}, column {}: {}",
                e.line, e.column, e.message
            )));
        }
    };
    // Numbers other than 64-bit integers are tagged strings (exact_json).
    let tagged = format == "json" && exact_json::tags(text);
    out.value_type = Some(type_name(&value, tagged).to_owned());
    let indent_str = " ".repeat(job.indent);
    let cap = job.output_cap;
    let result = match action {
        "validate" => None,
        "pretty" => Some(reformat_capped(text, Some(&indent_str), cap)?),
        "minify" => Some(reformat_capped(text, None, cap)?),
        "sort_keys" => Some(pretty(&sort_keys(value), tagged, &indent_str, cap)?),
        "query" => {
            let pointer = job.pointer.as_deref().ok_or_else(|| {
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
            out.value_type = Some(type_name(found, tagged).to_owned());
            Some(pretty(found, tagged, &indent_str, cap)?)
        }
        "convert" => {
            let to = job
                .to
                .as_deref()
                .ok_or_else(|| ToolError::new("convert needs `to`: json, yaml or toml"))?;
            Some(convert(text, format, to, &indent_str, &value, tagged, cap)?)
        }
        other => return Err(ToolError::new(format!("unknown action '{other}'"))),
    };
    work::check()?;
    out.result = result.map(|r| job.paging.page(&r));
    Ok(out)
}

/// Why a document was not parsed.
enum Failure {
    /// It is not valid: where and why.
    Invalid(ParseError),
    /// It may be valid, but is not worked on: nested past the parser's
    /// limit, aliases that expand past the output cap, a cancelled call.
    Refused(ToolError),
}

/// The error for input nested past a parser's own limit (worded as core's
/// `work::too_deep`, whose cap is higher than these parsers').
fn nested_too_deep(what: &str, limit: usize) -> ToolError {
    ToolError::new(format!(
        "{what} is nested more than {limit} levels deep (the {what} parser's limit); flatten it \
         or split it"
    ))
}

/// Parses `text` as `format` into a JSON value (for validation, queries and
/// key sorting).
fn parse(text: &str, format: &str, output_cap: usize) -> Result<Value, Failure> {
    match format {
        "yaml" => yaml_value(text, output_cap),
        "toml" => toml::from_str::<Value>(text)
            .map(toml_datetimes_as_strings)
            .map_err(|e| {
                if e.message().contains("recursion") {
                    return Failure::Refused(nested_too_deep("TOML", TOML_MAX_DEPTH));
                }
                let (line, column) = e.span().map_or((1, 1), |span| {
                    LineCursor::new(text).line_col(span.start.min(text.len()))
                });
                Failure::Invalid(ParseError {
                    message: e.message().to_owned(),
                    line,
                    column,
                })
            }),
        _ => {
            // Nesting first (serde_json's own limit, which the ignoring
            // parser below does not apply), then validity, then the values
            // with every number as written.
            if nested_deeper_than(text, JSON_YAML_MAX_DEPTH) {
                return Err(Failure::Refused(nested_too_deep(
                    "JSON",
                    JSON_YAML_MAX_DEPTH,
                )));
            }
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
                Failure::Invalid(ParseError {
                    message: e.to_string(),
                    line: e.line(),
                    column: e.column(),
                })
            })?;
            Ok(exact_json::parse(text))
        }
    }
}

/// Whether JSON text opens more than `limit` brackets at once (outside
/// strings).
fn nested_deeper_than(text: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Whether YAML flow collections (`[...]`, `{...}`) nest deeper than
/// `limit`. A bracket counts only where a flow node can start (at a line's
/// start or after `:`, `-`, `,`, `?`, `[` or `{`, spaces aside), so brackets
/// inside plain scalars (`a: b[c`) do not; quoted scalars and comments are
/// skipped.
fn yaml_flow_deeper_than(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut prev) = (0usize, 0, b'\n');
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if matches!(prev, b'\n' | b':' | b'-' | b',' | b'?' | b'[' | b'{') => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += 1;
                }
            }
            b'#' if matches!(prev, b'\n' | b' ' | b'\t') || i == 0 => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                prev = b'\n';
                continue;
            }
            b'[' | b'{' if matches!(prev, b'\n' | b':' | b'-' | b',' | b'?' | b'[' | b'{') => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if !matches!(b, b' ' | b'\t' | b'\r') || prev == b'\n' && b == b'\n' {
            prev = b;
        }
        i += 1;
    }
    false
}

/// toml reads a datetime as `{"$__toml_private_datetime": "..."}` into a
/// JSON value (its serde form); it is the string as written (RFC 3339).
fn toml_datetimes_as_strings(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(s)) = map.get("$__toml_private_datetime")
            {
                return Value::String(s.clone());
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, toml_datetimes_as_strings(v)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(toml_datetimes_as_strings).collect())
        }
        other => other,
    }
}

/// toml's value as YAML's, datetimes as strings (yaml_serde::to_value
/// would write toml's private serde form).
fn toml_to_yaml(value: toml::Value) -> yaml_serde::Value {
    use yaml_serde::Value as Y;
    match value {
        toml::Value::String(s) => Y::String(s),
        toml::Value::Integer(i) => Y::Number(i.into()),
        toml::Value::Float(f) => Y::Number(f.into()),
        toml::Value::Boolean(b) => Y::Bool(b),
        toml::Value::Datetime(d) => Y::String(d.to_string()),
        toml::Value::Array(items) => Y::Sequence(items.into_iter().map(toml_to_yaml).collect()),
        toml::Value::Table(table) => Y::Mapping(
            table
                .into_iter()
                .map(|(k, v)| (Y::String(k), toml_to_yaml(v)))
                .collect(),
        ),
    }
}

/// JSON numbers exactly as written, through serde_json's `Value` (whose
/// numbers are i64, u64 or f64 without the workspace-wide
/// `arbitrary_precision` feature, which would change core's id handling):
/// an integer that fits 64 bits is a number; any other number (a big
/// integer, a fraction, an exponent, `1e400`) is a string tagged with
/// [`exact_json::TAG`], written back untagged and unquoted by
/// [`exact_json::print`].
mod exact_json {
    use serde_json::Value;

    /// Starts a string that stands for a number. Decoded JSON strings
    /// cannot hold it unless the input spells `\u0000\u0001`: then numbers
    /// are read as serde_json reads them (see [`parse`]).
    pub const TAG: &str = "\u{0}\u{1}#";

    pub fn is_number(value: &Value) -> bool {
        matches!(value, Value::String(s) if s.starts_with(TAG))
    }

    /// The number text of a tagged string, if it is one.
    pub fn raw(value: &Value) -> Option<&str> {
        match value {
            Value::String(s) => s.strip_prefix(TAG),
            _ => None,
        }
    }

    /// Whether number text is an integer (JSON's `-?[0-9]+`).
    pub fn is_integer(raw: &str) -> bool {
        let digits = raw.strip_prefix('-').unwrap_or(raw);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    }

    /// Whether a tagged value holds an integer past 64 bits (iteratively).
    pub fn has_big_integer(value: &Value) -> bool {
        first(value, |v| raw(v).is_some_and(is_integer)).is_some()
    }

    /// The first value (depth first, iteratively) for which `f` holds.
    pub fn first(value: &Value, f: impl Fn(&Value) -> bool) -> Option<&Value> {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            if f(v) {
                return Some(v);
            }
            match v {
                Value::Array(items) => stack.extend(items.iter().rev()),
                Value::Object(map) => stack.extend(map.values().rev()),
                _ => {}
            }
        }
        None
    }

    /// Whether [`parse`] tags the numbers of `text` (JSON text that spells
    /// no `\u0000`, so that no decoded string can start with the tag).
    pub fn tags(text: &str) -> bool {
        !text.contains("\\u0000") && !text.contains("\\U0000")
    }

    /// Valid JSON (checked, at most 128 levels deep) into a value.
    pub fn parse(text: &str) -> Value {
        if !tags(text) {
            return serde_json::from_str(text).unwrap_or(Value::Null);
        }
        let mut p = Parser { text, i: 0 };
        p.value()
    }

    /// `value` printed compactly, tagged numbers as written.
    pub fn print(value: &Value, tagged: bool) -> Result<String, serde_json::Error> {
        let compact = serde_json::to_string(value)?;
        if !tagged {
            return Ok(compact);
        }
        const QUOTED: &str = "\"\\u0000\\u0001#";
        if !compact.contains(QUOTED) {
            return Ok(compact);
        }
        let mut out = String::with_capacity(compact.len());
        let mut rest = compact.as_str();
        while let Some(at) = rest.find(QUOTED) {
            out.push_str(&rest[..at]);
            let number = &rest[at + QUOTED.len()..];
            let end = number.find('"').unwrap_or(number.len());
            out.push_str(&number[..end]);
            rest = &number[(end + 1).min(number.len())..];
        }
        out.push_str(rest);
        Ok(out)
    }

    struct Parser<'t> {
        text: &'t str,
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            let b = self.text.as_bytes();
            while self.i < b.len() && matches!(b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            }
        }

        fn value(&mut self) -> Value {
            self.ws();
            let b = self.text.as_bytes();
            match b[self.i] {
                b'{' => {
                    self.i += 1;
                    let mut map = serde_json::Map::new();
                    loop {
                        self.ws();
                        if b[self.i] == b'}' {
                            self.i += 1;
                            return Value::Object(map);
                        }
                        if b[self.i] == b',' {
                            self.i += 1;
                            continue;
                        }
                        let key = self.string();
                        self.ws();
                        self.i += 1; // ':'
                        let value = self.value();
                        map.insert(key, value);
                    }
                }
                b'[' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        self.ws();
                        if b[self.i] == b']' {
                            self.i += 1;
                            return Value::Array(items);
                        }
                        if b[self.i] == b',' {
                            self.i += 1;
                            continue;
                        }
                        items.push(self.value());
                    }
                }
                b'"' => Value::String(self.string()),
                b't' => {
                    self.i += 4;
                    Value::Bool(true)
                }
                b'f' => {
                    self.i += 5;
                    Value::Bool(false)
                }
                b'n' => {
                    self.i += 4;
                    Value::Null
                }
                _ => {
                    let start = self.i;
                    while self.i < b.len()
                        && matches!(b[self.i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        self.i += 1;
                    }
                    let raw = &self.text[start..self.i];
                    if let Ok(n) = raw.parse::<i64>() {
                        Value::Number(n.into())
                    } else if let Ok(n) = raw.parse::<u64>() {
                        Value::Number(n.into())
                    } else {
                        Value::String(format!("{TAG}{raw}"))
                    }
                }
            }
        }

        /// A string token, decoded by serde_json.
        fn string(&mut self) -> String {
            let b = self.text.as_bytes();
            let start = self.i;
            self.i += 1;
            while b[self.i] != b'"' {
                self.i += if b[self.i] == b'\\' { 2 } else { 1 };
            }
            self.i += 1;
            serde_json::from_str(&self.text[start..self.i]).unwrap_or_default()
        }
    }
}

/// YAML into a JSON value, as `yaml_serde::from_str::<Value>` makes it, but
/// counting what aliases expand to. yaml_serde limits alias jumps to 100
/// per event, but one jump can copy a large subtree: 700 KB of YAML whose
/// second list names the first 100,000 times is 10^10 nodes. Each node
/// costs a byte plus its strings' bytes: a document without aliases costs
/// at most twice its size (every node takes at least a byte of it), so the
/// budget is that plus 16 MiB for aliases, and never more than `cap`.
fn yaml_value(text: &str, cap: usize) -> Result<Value, Failure> {
    // libyaml takes time quadratic in the depth of flow collections before
    // yaml_serde's depth limit stops it (10^6 nested `{a: ` ran past 25 s):
    // refuse such nesting before parsing.
    if yaml_flow_deeper_than(text, JSON_YAML_MAX_DEPTH) {
        return Err(Failure::Refused(nested_too_deep(
            "YAML",
            JSON_YAML_MAX_DEPTH,
        )));
    }
    let budget = text
        .len()
        .saturating_mul(2)
        .saturating_add(YAML_ALIAS_ALLOWANCE)
        .min(cap);
    let state = YamlBudget {
        left: std::cell::Cell::new(budget),
        nodes: std::cell::Cell::new(0),
        refused: std::cell::RefCell::new(None),
        budget,
    };
    let result = serde::de::DeserializeSeed::deserialize(
        BoundedValue(&state),
        yaml_serde::Deserializer::from_str(text),
    );
    if let Some(refusal) = state.refused.take() {
        return Err(Failure::Refused(refusal));
    }
    result.map_err(|e| {
        let message = e.to_string();
        if message.starts_with("recursion limit exceeded") {
            return Failure::Refused(nested_too_deep("YAML", JSON_YAML_MAX_DEPTH));
        }
        if message.starts_with("repetition limit exceeded") {
            return Failure::Refused(ToolError::new(
                "the YAML's aliases repeat more than 100 times per node of the document \
                 (yaml_serde's limit); expand them, or split the document",
            ));
        }
        let (line, column) = e
            .location()
            .map_or((1, 1), |l| (l.line() + 1, l.column() + 1));
        Failure::Invalid(ParseError {
            message,
            line,
            column,
        })
    })
}

/// What a YAML document may still expand to, and why it was refused.
struct YamlBudget {
    left: std::cell::Cell<usize>,
    nodes: std::cell::Cell<usize>,
    refused: std::cell::RefCell<Option<ToolError>>,
    budget: usize,
}

impl YamlBudget {
    /// Spends `bytes` for one node; an error (and the refusal kept) when
    /// the budget is spent or the call is cancelled.
    fn spend<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        let cost = 1 + bytes;
        let nodes = self.nodes.get() + 1;
        self.nodes.set(nodes);
        let refusal = if cost > self.left.get() {
            Some(ToolError::new(format!(
                "the YAML expands (through its aliases) to more than {} bytes of data, over \
                 twice its size plus 16 MiB; use fewer aliases, or split the document",
                self.budget
            )))
        } else if nodes.is_multiple_of(4096) {
            work::check().err()
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let message = refusal.to_string();
            *self.refused.borrow_mut() = Some(refusal);
            return Err(E::custom(message));
        }
        self.left.set(self.left.get() - cost);
        Ok(())
    }
}

impl YamlBudget {
    /// Refuses an integer past 64 bits (the YAML reader's numbers are 64-bit
    /// integers or floats), with a message that says so instead of "invalid".
    fn out_of_range<E: serde::de::Error>(&self, digits: &str) -> E {
        let refusal = ToolError::new(format!(
            "the YAML integer {digits} is out of range: integers are read as 64-bit \
             (-9223372036854775808 to 18446744073709551615); quote it to keep it as a string"
        ));
        let message = refusal.to_string();
        *self.refused.borrow_mut() = Some(refusal);
        E::custom(message)
    }
}

/// serde_json's `Value` visitor, spending from a [`YamlBudget`] per node.
#[derive(Clone, Copy)]
struct BoundedValue<'b>(&'b YamlBudget);

impl<'de> serde::de::DeserializeSeed<'de> for BoundedValue<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A map key: a string, counted.
struct BoundedKey<'b>(&'b YamlBudget);

impl<'de> serde::de::DeserializeSeed<'de> for BoundedKey<'_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let key = String::deserialize(deserializer)?;
        self.0.spend(key.len())?;
        Ok(key)
    }
}

impl<'de> serde::de::Visitor<'de> for BoundedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.spend(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.spend(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.spend(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Value, E> {
        self.0.spend(0)?;
        serde_json::Number::deserialize(serde::de::value::I128Deserializer::<E>::new(v))
            .map(Value::Number)
            .map_err(|_| self.0.out_of_range(&v.to_string()))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        self.0.spend(0)?;
        serde_json::Number::deserialize(serde::de::value::U128Deserializer::<E>::new(v))
            .map(Value::Number)
            .map_err(|_| self.0.out_of_range(&v.to_string()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.spend(0)?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.spend(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.0.spend(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.spend(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.spend(0)?;
        let mut values = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(BoundedKey(self.0))? {
            let value = map.next_value_seed(self)?;
            values.insert(key, value);
        }
        Ok(Value::Object(values))
    }
}

fn type_name(value: &Value, tagged: bool) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) if tagged && exact_json::is_number(value) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `value` pretty-printed (as serde_json's `PrettyFormatter` prints it):
/// printed compactly, then laid out by [`reformat_capped`].
fn pretty(value: &Value, tagged: bool, indent: &str, cap: usize) -> ToolResult<String> {
    let compact = exact_json::print(value, tagged)
        .map_err(|e| ToolError::new(format!("cannot print JSON: {e}")))?;
    reformat_capped(&compact, Some(indent), cap)
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

/// Where [`reformat`] writes: a string, or a byte count.
trait Out {
    fn push(&mut self, c: char);
    /// A line break and `depth` indentation units.
    fn newline(&mut self, unit: &str, depth: usize);
}

impl Out for String {
    fn push(&mut self, c: char) {
        String::push(self, c);
    }

    fn newline(&mut self, unit: &str, depth: usize) {
        String::push(self, '\n');
        for _ in 0..depth {
            String::push_str(self, unit);
        }
    }
}

/// Counts the bytes of an output instead of writing it.
#[derive(Default)]
struct Count(u64);

impl Out for Count {
    fn push(&mut self, c: char) {
        self.0 += c.len_utf8() as u64;
    }

    fn newline(&mut self, unit: &str, depth: usize) {
        self.0 = self
            .0
            .saturating_add(1 + (unit.len() as u64).saturating_mul(depth as u64));
    }
}

/// [`reformat`], measured first: refused (before anything is allocated)
/// when the output would be over `cap` bytes. Indentation grows the output
/// by `indent` times the depth on every line, which for deep documents of
/// many lines is many times the input.
pub fn reformat_capped(json: &str, indent: Option<&str>, cap: usize) -> ToolResult<String> {
    let mut count = Count::default();
    reformat_into(json, indent, &mut count)?;
    if count.0 > cap as u64 {
        return Err(ToolError::new(format!(
            "the output would be {} bytes, over the output cap of {cap} bytes{}; page through a \
             smaller document",
            count.0,
            if indent.is_some_and(|i| !i.is_empty()) {
                " (indentation repeats on every line; a smaller `indent` makes it shorter)"
            } else {
                ""
            }
        )));
    }
    let mut out = String::with_capacity(count.0 as usize);
    reformat_into(json, indent, &mut out)?;
    Ok(out)
}

/// Re-lays out valid JSON without parsing it into values, so key order and
/// the spelling of numbers (1.0, 1e3, big integers) stay exactly as written.
/// `indent: None` minifies. Unbounded: see [`reformat_capped`].
pub fn reformat(json: &str, indent: Option<&str>) -> String {
    let mut out = String::with_capacity(json.len());
    // Only cancellation fails, and then the output is not wanted.
    let _ = reformat_into(json, indent, &mut out);
    out
}

fn reformat_into<W: Out>(json: &str, indent: Option<&str>, out: &mut W) -> ToolResult<()> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut W, depth: usize| {
        if let Some(unit) = indent {
            out.newline(unit, depth);
        }
    };
    let mut steps = 0usize;
    let mut chars = json.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        steps += 1;
        if steps.is_multiple_of(1 << 20) {
            work::check()?;
        }
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
                    newline(out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(out, depth);
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
    Ok(())
}

/// Converts between formats, keeping key order: JSON and YAML go through
/// YAML's ordered mapping, TOML through an ordered table. `parsed` is the
/// document as [`parse`] read it (valid, within the parsers' depth and the
/// alias budget): its shape bounds the output, which is measured before
/// it is built.
fn convert(
    text: &str,
    from: &str,
    to: &str,
    indent: &str,
    parsed: &Value,
    tagged: bool,
    cap: usize,
) -> ToolResult<String> {
    let fail =
        |e: &dyn std::fmt::Display| ToolError::new(format!("cannot convert {from} to {to}: {e}"));
    let too_big = |estimate: u64| {
        ToolError::new(format!(
            "the {to} would be up to {estimate} bytes, over the output cap of {cap} bytes \
             (nesting repeats indentation or table names on every line); convert a smaller \
             document"
        ))
    };
    if from == "json" && to == "json" {
        // Re-laid out as written: key order and number spelling kept.
        return reformat_capped(text, Some(indent), cap);
    }
    // JSON integers past 64 bits (tagged in `parsed`) are written exactly
    // to YAML; TOML's integers are 64-bit.
    let big = from == "json" && tagged && exact_json::has_big_integer(parsed);
    match to {
        "toml" => {
            if from == "json"
                && tagged
                && let Some(n) = exact_json::first(parsed, |v| {
                    exact_json::raw(v).is_some_and(exact_json::is_integer)
                        || v.as_u64().is_some_and(|n| n > i64::MAX as u64)
                })
            {
                let digits = exact_json::raw(n).map_or_else(|| n.to_string(), str::to_owned);
                return Err(ToolError::new(format!(
                    "cannot convert {from} to toml: the integer {digits} is out of TOML's range \
                     (TOML integers are 64-bit: -9223372036854775808 to 9223372036854775807); \
                     make it a string to keep it"
                )));
            }
            let estimate = toml_size(parsed, 0);
            if estimate > cap as u64 {
                return Err(too_big(estimate));
            }
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
            if to == "yaml" {
                let estimate = yaml_size(parsed, 0);
                if estimate > cap as u64 {
                    return Err(too_big(estimate));
                }
            }
            if big && to == "yaml" {
                return yaml_with_exact_integers(text, parsed).map_err(|e| fail(&e));
            }
            let value: yaml_serde::Value = match from {
                "json" => serde_json::from_str(text).map_err(|e| fail(&e))?,
                "yaml" => yaml_serde::from_str(text).map_err(|e| fail(&e))?,
                _ => {
                    let t: toml::Value = toml::from_str(text).map_err(|e| fail(&e))?;
                    toml_to_yaml(t)
                }
            };
            work::check()?;
            if to == "yaml" {
                yaml_serde::to_string(&value).map_err(|e| fail(&e))
            } else {
                let compact = serde_json::to_string(&value).map_err(|e| fail(&e))?;
                reformat_capped(&compact, Some(indent), cap)
            }
        }
    }
}

/// JSON as YAML, its integers past 64 bits written as plain integer
/// scalars, digit for digit (YAML's integers have no size limit;
/// yaml_serde's numbers are 64-bit): each is swapped in the JSON text for a
/// placeholder string that no string of the document contains, and its
/// digits are written back where the YAML has the placeholder. Key order is
/// kept as in every other conversion. `parsed` is `text` read by
/// [`exact_json::parse`].
fn yaml_with_exact_integers(text: &str, parsed: &Value) -> Result<String, String> {
    let mut marker = String::from("mcpTextExactInteger");
    let holds = |marker: &str| {
        exact_json::first(parsed, |v| match v {
            Value::String(s) => s.contains(marker),
            Value::Object(map) => map.keys().any(|k| k.contains(marker)),
            _ => false,
        })
        .is_some()
    };
    while holds(&marker) {
        marker.push('X');
    }
    // The text with each big integer token (outside strings) replaced.
    let mut swapped = String::with_capacity(text.len());
    let mut integers: Vec<&str> = Vec::new();
    let b = text.as_bytes();
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let raw = &text[start..i];
                if exact_json::is_integer(raw)
                    && raw.parse::<i64>().is_err()
                    && raw.parse::<u64>().is_err()
                {
                    swapped.push_str(&text[copied..start]);
                    swapped.push('"');
                    swapped.push_str(&marker);
                    swapped.push_str(&integers.len().to_string());
                    swapped.push('"');
                    integers.push(raw);
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    swapped.push_str(&text[copied.min(text.len())..]);
    let value: yaml_serde::Value = serde_json::from_str(&swapped).map_err(|e| e.to_string())?;
    work::check().map_err(|e| e.to_string())?;
    let yaml = yaml_serde::to_string(&value).map_err(|e| e.to_string())?;
    Ok(replace_markers(&yaml, &marker, &integers))
}

/// `yaml` with each `{marker}{i}` replaced by `integers[i]`.
fn replace_markers(yaml: &str, marker: &str, integers: &[&str]) -> String {
    let mut out =
        String::with_capacity(yaml.len() + integers.iter().map(|s| s.len()).sum::<usize>());
    let mut parts = yaml.split(marker);
    out.push_str(parts.next().unwrap_or(""));
    for part in parts {
        let digits = part.bytes().take_while(u8::is_ascii_digit).count();
        match part[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|i| integers.get(i))
        {
            Some(integer) => out.push_str(integer),
            None => {
                out.push_str(marker);
                out.push_str(&part[..digits]);
            }
        }
        out.push_str(&part[digits..]);
    }
    out
}

/// Bytes of `s` quoted and escaped, from above: control characters, quotes
/// and backslashes as 6-byte escapes, other non-ASCII characters at twice
/// their UTF-8 length (an escape such as `\u2028`).
fn quoted_size(s: &str) -> u64 {
    let extra: u64 = s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\u{0}'..='\u{1f}' | '\u{7f}' => 5,
            c if !c.is_ascii() => c.len_utf8() as u64,
            _ => 0,
        })
        .sum();
    s.len() as u64 + extra + 2
}

/// The size of `value` as block-style YAML at nesting `depth`, from above:
/// every entry on its own line, indented two columns per level (the lines
/// of a multi-line string too).
fn yaml_size(value: &Value, depth: u64) -> u64 {
    let indent = 2 * depth + 2;
    match value {
        Value::String(s) => {
            let lines = memchr::memchr_iter(b'\n', s.as_bytes()).count() as u64;
            quoted_size(s) + lines * indent
        }
        Value::Array(items) => items.iter().fold(4, |sum, item| {
            sum.saturating_add(indent + 3 + yaml_size(item, depth + 1))
        }),
        Value::Object(map) => map.iter().fold(4, |sum, (key, item)| {
            sum.saturating_add(indent + quoted_size(key) + 3 + yaml_size(item, depth + 1))
        }),
        _ => 32,
    }
}

/// The size of `value` as TOML under a table path of `path` bytes, from
/// above: every table (and every table in an array) gets a header line
/// naming its whole path.
fn toml_size(value: &Value, path: u64) -> u64 {
    match value {
        Value::String(s) => quoted_size(s) + 4,
        Value::Array(items) => items.iter().fold(4, |sum, item| {
            sum.saturating_add(toml_size(item, path + 4) + 2)
        }),
        Value::Object(map) => map.iter().fold(path + 8, |sum, (key, item)| {
            let key = quoted_size(key);
            sum.saturating_add(key + 4 + toml_size(item, path + key + 1))
        }),
        _ => 40,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 128 << 20;

    fn job(action: &str, format: &str, to: Option<&str>, pointer: &str, indent: usize) -> Job {
        Job {
            action: action.to_owned(),
            format: format.to_owned(),
            to: to.map(str::to_owned),
            pointer: Some(pointer.to_owned()),
            indent,
            paging: TextPaging::default(),
            output_cap: CAP,
        }
    }

    fn go(text: &str, action: &str, format: &str, to: Option<&str>) -> ToolResult<JsonOutput> {
        run(text, &job(action, format, to, "/b/1", 2))
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
        let err = run(src, &job("query", "json", None, "/nope", 2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing at JSON Pointer '/nope'"), "{err}");
    }

    /// Issue 21: numbers exactly as written through sort_keys and query
    /// (Python's `json` keeps big integers exactly too), `1e400` valid, and
    /// TOML datetimes as their strings (as `tomllib` + `json.dumps(default=str)`
    /// gives them, in RFC 3339 as written).
    #[test]
    fn numbers_and_datetimes_survive_exactly() {
        let src = r#"{"big":12345678901234567890123,"f":1.0,"e":1e3,"neg":-0.0,"huge":1e400,"u":18446744073709551615}"#;
        let sorted = result(go(src, "sort_keys", "json", None).unwrap());
        assert_eq!(
            sorted,
            "{\n  \"big\": 12345678901234567890123,\n  \"e\": 1e3,\n  \"f\": 1.0,\n  \"huge\": 1e400,\n  \"neg\": -0.0,\n  \"u\": 18446744073709551615\n}"
        );
        let q = run(src, &job("query", "json", None, "/big", 2)).unwrap();
        assert_eq!(q.value_type.as_deref(), Some("number"));
        assert_eq!(result(q), "12345678901234567890123");
        assert_eq!(
            result(go("1e400", "pretty", "json", None).unwrap()),
            "1e400"
        );
        assert_eq!(
            result(go("[1e400]", "minify", "json", None).unwrap()),
            "[1e400]"
        );
        assert!(go("1e400", "validate", "json", None).unwrap().valid);
        assert_eq!(
            result(
                go(
                    r#"{"n":123456789012345678901234567890}"#,
                    "convert",
                    "json",
                    Some("json")
                )
                .unwrap()
            ),
            "{\n  \"n\": 123456789012345678901234567890\n}"
        );
        // Strings that look like the tag stay strings.
        let src = r#"{"s":"\u0000\u0001#5","n":1.5}"#;
        let sorted = result(go(src, "sort_keys", "json", None).unwrap());
        assert!(
            sorted.contains("\"n\": 1.5") && sorted.contains("\"s\": \""),
            "{sorted}"
        );
        // TOML datetimes.
        let toml = "odt = 1979-05-27T07:32:00-08:00\nld = 1979-05-27\nlt = 07:32:00\nldt = 1979-05-27T07:32:00.999999\n";
        assert_eq!(
            result(go(toml, "convert", "toml", Some("json")).unwrap()),
            "{\n  \"odt\": \"1979-05-27T07:32:00-08:00\",\n  \"ld\": \"1979-05-27\",\n  \"lt\": \"07:32:00\",\n  \"ldt\": \"1979-05-27T07:32:00.999999\"\n}"
        );
        assert_eq!(
            result(go(toml, "convert", "toml", Some("yaml")).unwrap()),
            "odt: 1979-05-27T07:32:00-08:00\nld: 1979-05-27\nlt: 07:32:00\nldt: 1979-05-27T07:32:00.999999\n"
        );
        let v = go(toml, "validate", "toml", None).unwrap();
        assert!(v.valid);
        // YAML integers past 64 bits: a clear range error, not "invalid".
        for action in ["validate", "convert"] {
            let err = run(
                "big: 123456789012345678901234567890\n",
                &job(action, "yaml", Some("json"), "", 2),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.starts_with("the YAML integer 123456789012345678901234567890 is out of range"),
                "{err}"
            );
        }
    }

    /// Issue 21: integers past 64 bits survive json to yaml exactly (they
    /// went through f64: `1.2345678901234568e29`); TOML, whose integers are
    /// 64-bit, refuses them with a range error.
    #[test]
    fn big_integers_convert_exactly_or_are_refused_clearly() {
        let big = "123456789012345678901234567890";
        let src = format!(
            r#"{{"n":{big},"neg":-{big},"list":[{big},1,1.5,18446744073709551615],"s":"mcpTextExactInteger0","o":{{"k":{big}}}}}"#
        );
        let yaml = result(go(&src, "convert", "json", Some("yaml")).unwrap());
        assert_eq!(
            yaml,
            format!(
                "n: {big}\nneg: -{big}\nlist:\n- {big}\n- 1\n- 1.5\n- 18446744073709551615\ns: mcpTextExactInteger0\no:\n  k: {big}\n"
            )
        );
        // Reading it back: YAML integers past 64 bits are refused clearly
        // (the YAML reader's integers are 64-bit).
        let err = go(&yaml, "convert", "yaml", Some("json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("the YAML integer {big} is out of range")),
            "{err}"
        );
        // TOML integers are 64-bit.
        for (text, format, number) in [
            (src.as_str(), "json", big),
            (
                r#"{"u":18446744073709551615}"#,
                "json",
                "18446744073709551615",
            ),
        ] {
            let err = go(text, "convert", format, Some("toml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("the integer {number} is out of TOML's range")),
                "{err}"
            );
        }
        // Within 64 bits, TOML is exact.
        assert_eq!(
            result(
                go(
                    r#"{"n":-9223372036854775808}"#,
                    "convert",
                    "json",
                    Some("toml")
                )
                .unwrap()
            ),
            "n = -9223372036854775808\n"
        );
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

    #[test]
    fn indentation_is_measured_before_printing() {
        // 2,000 lines, each indented 16 columns per level.
        let text = format!("[{}]", vec!["[[1]]"; 1000].join(","));
        let mut j = job("pretty", "json", None, "", 16);
        j.paging = TextPaging::new(0, Some(usize::MAX >> 12));
        let full = result(run(&text, &j).unwrap());
        assert!(
            full == reformat(&text, Some(&" ".repeat(16))),
            "the capped path prints what the plain one does"
        );
        // The measure is exact: the output fits a cap of its size, not one
        // byte less.
        j.output_cap = full.len();
        assert!(run(&text, &j).is_ok());
        j.output_cap = full.len() - 1;
        let err = run(&text, &j).unwrap_err().to_string();
        assert!(
            err.contains(&format!("would be {} bytes", full.len())) && err.contains("`indent`"),
            "{err}"
        );
        // sort_keys and query print through the same measure.
        j.action = "sort_keys".into();
        assert!(run(&text, &j).is_err());
        j.action = "query".into();
        j.pointer = Some(String::new());
        assert!(run(&text, &j).is_err());
        // Minified output is never longer than the input.
        j.action = "minify".into();
        j.output_cap = text.len();
        assert_eq!(result(run(&text, &j).unwrap()), text);
    }

    #[test]
    fn nesting_past_the_parsers_limits_is_refused_at_every_depth() {
        for n in [1_000, 10_000, 100_000, 1_000_000] {
            let cases = [
                ("json", "[".repeat(n) + &"]".repeat(n), "JSON", 128),
                (
                    "json",
                    "{\"a\":".repeat(n) + "1" + &"}".repeat(n),
                    "JSON",
                    128,
                ),
                ("yaml", "[".repeat(n) + &"]".repeat(n), "YAML", 128),
                ("yaml", "- ".repeat(n) + "x", "YAML", 128),
                (
                    "toml",
                    "a = ".to_owned() + &"[".repeat(n) + &"]".repeat(n),
                    "TOML",
                    80,
                ),
                (
                    "toml",
                    "a = ".to_owned() + &"{b = ".repeat(n) + "1" + &"}".repeat(n),
                    "TOML",
                    80,
                ),
                (
                    "toml",
                    "a".to_owned() + &".a".repeat(n) + " = 1",
                    "TOML",
                    80,
                ),
            ];
            for (format, text, name, limit) in cases {
                for action in ["validate", "convert"] {
                    let started = std::time::Instant::now();
                    let err = run(&text, &job(action, format, Some("json"), "", 2))
                        .unwrap_err()
                        .to_string();
                    assert_eq!(
                        err,
                        format!(
                            "{name} is nested more than {limit} levels deep (the {name} parser's \
                             limit); flatten it or split it"
                        ),
                        "{format} {action} x{n}: {:.60}",
                        text
                    );
                    assert!(
                        started.elapsed() < std::time::Duration::from_secs(30),
                        "{format} x{n}: {:?}",
                        started.elapsed()
                    );
                }
            }
        }
        // Within the limits, deep documents are fine.
        let text = "[".repeat(100) + &"]".repeat(100);
        assert!(go(&text, "validate", "json", None).unwrap().valid);
        assert!(go(&text, "validate", "yaml", None).unwrap().valid);
        let text = "a = ".to_owned() + &"[".repeat(70) + &"]".repeat(70);
        assert!(go(&text, "validate", "toml", None).unwrap().valid);
    }

    #[test]
    fn deep_yaml_flow_nesting_is_refused_before_parsing() {
        let deep = |n: usize| format!("{}x{}", "{a: ".repeat(n), "}".repeat(n));
        assert!(yaml_flow_deeper_than(&deep(129), 128));
        assert!(!yaml_flow_deeper_than(&deep(128), 128));
        assert!(yaml_flow_deeper_than(&"[".repeat(1000), 128));
        // Brackets in plain and quoted scalars and comments are not nesting.
        let plain = "a: b[c\n".repeat(500) + &"q: \"[[[[\"\n".repeat(100) + "# {{{{\n";
        assert!(!yaml_flow_deeper_than(&plain, 128));
        // 10^6 levels answer at once with the depth error, not after a
        // quadratic parse.
        let err = match yaml_value(&deep(1_000_000), usize::MAX) {
            Err(Failure::Refused(e)) => e.to_string(),
            _ => panic!("deep YAML was not refused"),
        };
        assert!(err.contains("nested more than 128"), "{err}");
    }

    #[test]
    fn yaml_alias_bombs_are_refused() {
        let n = 10_000;
        let bomb = format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["x"; n].join(", "),
            vec!["*a"; n].join(", ")
        );
        let mut j = job("validate", "yaml", None, "", 2);
        let err = run(&bomb, &j).unwrap_err().to_string();
        let budget = 2 * bomb.len() + YAML_ALIAS_ALLOWANCE;
        assert!(
            err.contains(&format!(
                "expands (through its aliases) to more than {budget} bytes"
            )),
            "{err}"
        );
        // A large document without aliases is not limited by that budget.
        let plain = "- a: 1\n  b: two\n".repeat(200_000);
        assert!(go(&plain, "validate", "yaml", None).unwrap().valid);
        // A small output cap is the limit.
        j.output_cap = 1000;
        let err = run(&"- a\n".repeat(1000), &j).unwrap_err().to_string();
        assert!(err.contains("more than 1000 bytes"), "{err}");
        j.action = "convert".into();
        j.to = Some("toml".into());
        assert!(run(&bomb, &j).is_err());
        // A few aliases are fine, and read as yaml_serde reads them.
        let doc = "base: &b {x: 1, y: [a, b]}\nuse: [*b, *b]\nn: ~\nf: 1.5\nt: yes\nbig: 18446744073709551615\n1: one\n";
        let ours = match yaml_value(doc, 1 << 20) {
            Ok(v) => v,
            Err(_) => panic!("not parsed"),
        };
        let theirs: Value = yaml_serde::from_str(doc).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn conversions_are_measured_before_they_are_built() {
        // 10,000 entries 100 levels deep: YAML indents each by 200 columns.
        let deep = format!(
            "{}{}{}",
            "[".repeat(100),
            vec!["1"; 10_000].join(","),
            "]".repeat(100)
        );
        let mut j = job("convert", "json", Some("yaml"), "", 2);
        j.output_cap = 1 << 20;
        let err = run(&deep, &j).unwrap_err().to_string();
        assert!(
            err.contains("over the output cap of 1048576 bytes"),
            "{err}"
        );
        // TOML repeats the whole path in every table's header.
        let key = "k".repeat(1000);
        let mut nested = String::from("1");
        for _ in 0..60 {
            nested = format!("{{\"v\": 1, \"{key}\": {nested}}}");
        }
        j.to = Some("toml".into());
        let err = run(&nested, &j).unwrap_err().to_string();
        assert!(err.contains("over the output cap"), "{err}");
        // The estimates are bounds of the real thing.
        for text in [
            deep.as_str(),
            nested.as_str(),
            r#"{"a": "line\none\nline two", "b": [{"c": "\u0001\"q\""}, {"c": "é"}], "d": {"e": {"f": [1, 2.5, true, null]}}}"#,
        ] {
            let parsed = parse(text, "json", CAP).ok().unwrap();
            let yaml = convert(text, "json", "yaml", "  ", &parsed, true, usize::MAX).unwrap();
            assert!(yaml_size(&parsed, 0) >= yaml.len() as u64, "{yaml}");
            if let Ok(toml) = convert(text, "json", "toml", "  ", &parsed, true, usize::MAX) {
                assert!(toml_size(&parsed, 0) >= toml.len() as u64, "{toml}");
            }
        }
    }
}
