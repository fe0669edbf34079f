//! A trivial `tools/call` (echo) on mcp-testserver: what the transport and
//! dispatch cost, beside the `cat` floor.

use super::client::{ServerCmd, Session, cold_start};
use super::{BenchArgs, ms, pinned, us, write_section};
use crate::util::{cargo, exec, project_root};

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    exec(cargo().args([
        "build",
        "--release",
        "-p",
        "mcp-servers-tests",
        "--bin",
        "mcp-testserver",
    ]))?;
    let server = ServerCmd::new(
        "mcp-testserver",
        project_root().join("target/release/mcp-testserver"),
        &[],
    );
    let call = |id: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hi"}}}}}}"#
        )
    };
    let cold = cold_start(&server, 20)?;
    let mut session = Session::start(&server)?;
    let sequential = session.sequential(args.calls.min(5_000), &call)?;
    let mut pipelined = Vec::new();
    for depth in [1usize, 8, 64] {
        pipelined.push((depth, session.pipelined(args.calls, depth, &call)?));
    }
    let rss = session.peak_rss_kib();
    session.close();

    // The floor: `cat` answers each line with itself, so what remains is
    // pipes, syscalls, scheduling and this client.
    let mut floor = Session::spawn(&ServerCmd::new("cat", "cat", &[]))?;
    let floor_sequential = floor.sequential(args.calls.min(5_000), &call)?;
    let floor_64 = floor.pipelined(args.calls, 64, &call)?;
    floor.close();

    let mut t = format!(
        "## Dispatch over stdio: a trivial `tools/call` (echo) on mcp-testserver{}\n\n",
        if pinned() { " (pinned)" } else { "" }
    );
    t.push_str("| measure | mcp-testserver (release) | floor (`cat`) |\n|---|---|---|\n");
    t.push_str(&format!(
        "| cold start to first tools/list answer (median of 20) | {:.2} ms | |\n",
        ms(cold)
    ));
    t.push_str(&format!(
        "| sequential round trip, p50 / p99 | {:.1} us / {:.1} us | {:.1} us / {:.1} us |\n",
        us(sequential.0),
        us(sequential.1),
        us(floor_sequential.0),
        us(floor_sequential.1)
    ));
    for (depth, rate) in &pipelined {
        let floor = if *depth == 64 {
            format!("{floor_64:.0} calls/s")
        } else {
            String::new()
        };
        t.push_str(&format!(
            "| pipelined, {depth} in flight | {rate:.0} calls/s | {floor} |\n"
        ));
    }
    if let Some(rss) = rss {
        t.push_str(&format!(
            "| peak RSS after the run | {:.1} MiB | |\n",
            rss as f64 / 1024.0
        ));
    }
    println!("\n{t}");
    if !args.no_report {
        write_section("1-dispatch", &t)?;
    }
    Ok(())
}
