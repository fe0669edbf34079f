//! In-process costs: JSON-RPC decode/encode, a full tool dispatch through a
//! real rmcp service over an in-memory pipe, `tools/list` as the tool count
//! grows, and large payloads (images, text results, arguments).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcp_servers_benches::{EchoServer, ManyToolsServer, in_memory_client};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientJsonRpcMessage, ServerJsonRpcMessage,
};
use serde_json::json;

const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"bench","version":"1.0.0"}}}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// Request decode and response encode for the three methods every session
/// uses.
fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for (name, request) in [
        ("initialize", INITIALIZE),
        ("tools/list", LIST),
        ("tools/call", CALL),
    ] {
        group.throughput(Throughput::Bytes(request.len() as u64));
        group.bench_function(format!("decode {name}"), |b| {
            b.iter(|| {
                serde_json::from_str::<ClientJsonRpcMessage>(std::hint::black_box(request)).unwrap()
            })
        });
    }
    let initialize: ServerJsonRpcMessage = serde_json::from_value(json!({
        "jsonrpc": "2.0", "id": 0,
        "result": {"protocolVersion": "2025-06-18",
                   "capabilities": {"tools": {"listChanged": true}, "logging": {}},
                   "serverInfo": {"name": "bench-echo", "version": "0.1.0"},
                   "instructions": "A server for benchmarks."}
    }))
    .unwrap();
    let list: ServerJsonRpcMessage = serde_json::from_value(json!({
        "jsonrpc": "2.0", "id": 1,
        "result": ManyToolsServer::new(10).list()
    }))
    .unwrap();
    let call: ServerJsonRpcMessage = serde_json::from_value(json!({
        "jsonrpc": "2.0", "id": 7,
        "result": {"content": [{"type": "text", "text": "hello"}], "isError": false}
    }))
    .unwrap();
    for (name, response) in [
        ("initialize", &initialize),
        ("tools/list (10 tools)", &list),
        ("tools/call", &call),
    ] {
        let bytes = serde_json::to_vec(response).unwrap().len();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("encode {name} result"), |b| {
            b.iter(|| serde_json::to_vec(std::hint::black_box(response)).unwrap())
        });
    }
    group.finish();
}

/// A full `tools/list` round trip in memory as the tool count grows.
fn tools_list(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tools/list round trip (in-memory)");
    for count in [10, 30, 100] {
        let client = in_memory_client(&runtime, ManyToolsServer::new(count));
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("{count} tools")), |b| {
            b.to_async(&runtime).iter(|| async {
                let tools = client.list_tools(None).await.unwrap();
                assert_eq!(tools.tools.len(), count);
            })
        });
    }
    group.finish();
}

/// Prose-like text with the characters JSON must escape (quotes, newlines,
/// tabs, backslashes) and some non-ASCII.
fn text_of(size: usize) -> String {
    const LINE: &str =
        "The \"quick\" brown fox\tjumps over the lazy dog \\ caf\u{e9} na\u{ef}ve.\n";
    LINE.repeat(size / LINE.len() + 1)[..size].to_owned()
}

const SIZES: [usize; 3] = [64 << 10, 1 << 20, 8 << 20];

/// A large `tools/call` argument: decode, and the whole echo round trip.
fn large_arguments(c: &mut Criterion) {
    let mut group = c.benchmark_group("large arguments: decode tools/call");
    for size in SIZES {
        let request = serde_json::to_string(&json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text_of(size)}}
        }))
        .unwrap();
        group.throughput(Throughput::Bytes(request.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{} KiB", size >> 10)),
            &request,
            |b, request| b.iter(|| serde_json::from_str::<ClientJsonRpcMessage>(request).unwrap()),
        );
    }
    group.finish();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = in_memory_client(&runtime, EchoServer::new());
    let mut group = c.benchmark_group("large arguments: echo round trip (in-memory)");
    group.sample_size(20);
    for size in [64 << 10, 1 << 20] {
        let arguments = json!({"text": text_of(size)}).as_object().cloned().unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{} KiB", size >> 10)),
            &arguments,
            |b, arguments| {
                b.to_async(&runtime).iter(|| async {
                    let params =
                        CallToolRequestParams::new("echo").with_arguments(arguments.clone());
                    client.call_tool(params).await.unwrap()
                })
            },
        );
    }
    group.finish();
}

/// A large text result: building the content and serializing the answer.
fn large_text_results(c: &mut Criterion) {
    let mut group = c.benchmark_group("text result: build + serialize");
    for size in SIZES {
        let text = text_of(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{} KiB", size >> 10)),
            &text,
            |b, text| {
                b.iter(|| {
                    let result = mcp_servers_core::content::text(text.clone());
                    serde_json::to_vec(&result).unwrap()
                })
            },
        );
    }
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = in_memory_client(&runtime, EchoServer::new());
    let params = || {
        CallToolRequestParams::new("echo")
            .with_arguments(json!({"text": "hello"}).as_object().cloned().unwrap())
    };
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tools/call round trip (in-memory)", |b| {
        b.to_async(&runtime)
            .iter(|| async { client.call_tool(params()).await.unwrap() })
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("tools/call x64 pipelined (in-memory)", |b| {
        b.to_async(&runtime).iter(|| async {
            let calls = (0..64).map(|_| client.call_tool(params()));
            for result in futures::future::join_all(calls).await {
                result.unwrap();
            }
        })
    });
    group.finish();
}

fn payloads(c: &mut Criterion) {
    let mut group = c.benchmark_group("image payload: base64 + serialize");
    for size in [64 << 10, 1 << 20, 8 << 20, 32 << 20] {
        let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{} KiB", size >> 10)),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    let block = mcp_servers_core::content::image(bytes, "image/png");
                    let result = CallToolResult::success(vec![block]);
                    serde_json::to_vec(&result).unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    codec,
    dispatch,
    tools_list,
    payloads,
    large_arguments,
    large_text_results
);
criterion_main!(benches);
