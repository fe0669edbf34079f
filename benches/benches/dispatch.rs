//! In-process costs: JSON-RPC decode/encode, a full tool dispatch through a
//! real rmcp service over an in-memory pipe, and image payload encoding.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcp_servers_benches::EchoServer;
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientJsonRpcMessage, ServerJsonRpcMessage,
};
use serde_json::json;

const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(CALL.len() as u64));
    group.bench_function("decode tools/call", |b| {
        b.iter(|| serde_json::from_str::<ClientJsonRpcMessage>(std::hint::black_box(CALL)).unwrap())
    });
    let result: ServerJsonRpcMessage = serde_json::from_value(json!({
        "jsonrpc": "2.0", "id": 7,
        "result": {"content": [{"type": "text", "text": "hello"}], "isError": false}
    }))
    .unwrap();
    group.bench_function("encode tools/call result", |b| {
        b.iter(|| serde_json::to_vec(std::hint::black_box(&result)).unwrap())
    });
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async {
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let server = EchoServer::new().serve(server_io).await.unwrap();
            let _ = server.waiting().await;
        });
        ().serve(client_io).await.unwrap()
    });
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

criterion_group!(benches, codec, dispatch, payloads);
criterion_main!(benches);
