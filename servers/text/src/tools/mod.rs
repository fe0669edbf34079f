//! The tools, one file per group: typed parameters in, a structured result
//! (with an output schema) out.

pub mod chunk;
pub mod data;
pub mod diff;
pub mod encode;
pub mod extract;
pub mod html;
pub mod markdown;
pub mod matcher;
pub mod search;
pub mod stats;
pub mod transform;

use mcp_servers_core::error::ToolError;
use mcp_servers_core::progress::Progress;

/// Inputs smaller than this are worked on one thread: starting a second
/// would cost more than it saves.
pub(crate) const PARALLEL_FROM: usize = 256 * 1024;

/// Whether `len` bytes of input are worth a second thread, and there is a
/// second core for it.
pub(crate) fn worth_a_second_thread(len: usize) -> bool {
    len >= PARALLEL_FROM && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// Checks for cancellation and reports progress every `every` steps of a
/// loop over `total` bytes.
pub(crate) struct Ticker {
    progress: Progress,
    total: f64,
    every: usize,
    n: usize,
}

impl Ticker {
    pub fn new(progress: Progress, total_bytes: usize, every: usize) -> Self {
        Self {
            progress,
            total: total_bytes as f64,
            every: every.max(1),
            n: 0,
        }
    }

    /// Call once per step with the byte position reached.
    pub fn tick(&mut self, position: usize) -> Result<(), ToolError> {
        self.n += 1;
        if self.n.is_multiple_of(self.every) {
            self.progress.check()?;
            self.progress
                .report(position as f64, Some(self.total), None);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every integer in `schema` (at any depth): its path and schema.
    fn integers<'a>(path: &str, schema: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        match schema {
            Value::Object(map) => {
                let is_integer = match map.get("type") {
                    Some(Value::String(t)) => t == "integer" || t == "number",
                    Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer" || t == "number"),
                    _ => false,
                };
                if is_integer {
                    out.push((path.to_owned(), schema));
                }
                for (key, value) in map {
                    integers(&format!("{path}/{key}"), value, out);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    integers(&format!("{path}/{i}"), item, out);
                }
            }
            _ => {}
        }
    }

    /// The class closed: every numeric parameter of every tool says its
    /// bounds in the schema clients see.
    #[test]
    fn every_numeric_parameter_has_documented_bounds() {
        let mut router = crate::TextServer::all_tools();
        mcp_servers_core::schema::normalize_router(&mut router);
        let mut seen = 0;
        for tool in router.list_all() {
            let schema = Value::Object((*tool.input_schema).clone());
            let mut found = Vec::new();
            integers(&tool.name, &schema, &mut found);
            for (path, schema) in found {
                seen += 1;
                assert!(
                    schema["minimum"].is_u64() && schema["maximum"].is_u64(),
                    "{path} has no bounds: {schema}"
                );
                assert!(schema.get("format").is_none(), "{path}: {schema}");
            }
        }
        assert!(seen >= 20, "only {seen} numeric parameters found");
    }
}
