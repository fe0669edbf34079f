//! `cargo xtask bench criterion`: runs the in-process criterion benches
//! (benches/) and turns their estimates into a report section.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::{BenchArgs, write_section};
use crate::util::{cargo, exec, project_root};

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    exec(cargo().args(["bench", "-p", "mcp-servers-benches"]))?;
    let dir = project_root().join("target/criterion");
    let mut rows = Vec::new();
    collect(&dir, &mut rows)?;
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut t = String::from(
        "## In-process costs (criterion)\n\n\
         `cargo bench -p mcp-servers-benches` (benches/benches/dispatch.rs): no pipes, no \
         processes. *dispatch* and *tools/list* go through a real rmcp client and server over an \
         in-memory duplex pipe; the others are serde_json and content building alone. Median of \
         criterion's samples; throughput from the bytes or elements one iteration handles.\n\n\
         | group | benchmark | median | throughput |\n|---|---|---|---|\n",
    );
    for (_, group, name, median_ns, throughput) in &rows {
        t.push_str(&format!(
            "| {group} | {name} | {} | {throughput} |\n",
            time(*median_ns)
        ));
    }
    println!("\n{t}");
    if !args.no_report {
        write_section("5-criterion", &t)?;
    }
    Ok(())
}

type Row = (String, String, String, f64, String);

/// Every `new/benchmark.json` under `dir`, with its `estimates.json`.
fn collect(dir: &Path, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(row) = read_row(&path)? {
                rows.push(row);
            }
        } else {
            collect(&path, rows)?;
        }
    }
    Ok(())
}

fn read_row(dir: &Path) -> anyhow::Result<Option<Row>> {
    let read = |name: &str| -> anyhow::Result<Option<Value>> {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)?;
        Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?,
        ))
    };
    let (Some(id), Some(estimates)) = (read("benchmark.json")?, read("estimates.json")?) else {
        return Ok(None);
    };
    let full_id = id["full_id"].as_str().unwrap_or_default().to_owned();
    let group = id["group_id"].as_str().unwrap_or_default().to_owned();
    let name = [id["function_id"].as_str(), id["value_str"].as_str()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let Some(median_ns) = estimates["median"]["point_estimate"].as_f64() else {
        return Ok(None);
    };
    let per_second = 1e9 / median_ns;
    let throughput = match id["throughput"].as_object().and_then(|t| t.iter().next()) {
        Some((kind, n)) => {
            let n = n.as_f64().unwrap_or(0.0) * per_second;
            match kind.as_str() {
                "Bytes" | "BytesDecimal" => bytes_per_second(n),
                "Elements" => format!("{} /s", count(n)),
                _ => String::new(),
            }
        }
        None => String::new(),
    };
    Ok(Some((full_id, group, name, median_ns, throughput)))
}

fn time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn bytes_per_second(n: f64) -> String {
    if n >= (1u64 << 30) as f64 {
        format!("{:.2} GiB/s", n / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MiB/s", n / (1u64 << 20) as f64)
    }
}

fn count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}
