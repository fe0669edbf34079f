//! A trivial `tools/call` (echo) on mcp-testserver: what the transport and
//! dispatch cost, beside the Python SDK's server doing the same tool and
//! beside the `cat` floor, over stdio and over Streamable HTTP.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::client::{LIST, ServerCmd, Session, cold_start, percentile};
use super::http::{self, HttpLoad};
use super::plot::{self, Series};
use super::{BenchArgs, ms, pinned, us, write_section};
use crate::util::{cargo, exec, pip_install_pinned, project_root, spawn_http};

const DEPTHS: [usize; 3] = [1, 8, 64];
const CLIENTS: [usize; 3] = [1, 8, 64];

/// Everything measured of one program.
#[derive(Default)]
struct Figures {
    cold: Option<Duration>,
    idle_rss_kib: Option<u64>,
    sequential: Vec<Duration>,
    pipelined: Vec<(usize, f64)>,
    peak_rss_kib: Option<u64>,
    http: Vec<HttpLoad>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    exec(cargo().args([
        "build",
        "--release",
        "-p",
        "mcp-servers-tests",
        "--bin",
        "mcp-testserver",
    ]))?;
    let bin = project_root().join("target/release/mcp-testserver");
    let ours_cmd = ServerCmd::new("mcp-testserver", &bin, &[]);
    let call = |id: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hi"}}}}}}"#
        )
    };
    let sequential_calls = args.calls.min(5_000);

    eprintln!("xtask: measuring mcp-testserver");
    let mut ours = stdio_figures(&ours_cmd, 20, sequential_calls, args.calls, &call)?;
    let (mut child, addr) = spawn_http(&bin, &[])?;
    ours.http = http_figures(&addr, args.calls, &call);
    let _ = child.kill();
    let _ = child.wait();

    let python = match python_peer() {
        Ok(python) => {
            eprintln!("xtask: measuring the Python SDK's MCPServer");
            let peer_calls = (args.calls / 10).clamp(500, 2_000);
            let mut figures = stdio_figures(&python, 5, peer_calls / 2, peer_calls, &call)?;
            let (mut child, addr) = python_http(&python)?;
            figures.http = http_figures(&addr, peer_calls, &call);
            let _ = child.kill();
            let _ = child.wait();
            Ok(figures)
        }
        Err(e) => {
            eprintln!("xtask: no Python peer: {e:#}");
            Err(format!("{e:#}"))
        }
    };

    // The floor: `cat` answers each line with itself, so what remains is
    // pipes, syscalls, scheduling and this client.
    eprintln!("xtask: measuring the floor");
    let mut floor = Figures::default();
    let mut cat = Session::spawn(&ServerCmd::new("cat", "cat", &[]))?;
    floor.sequential = cat.sequential_samples(sequential_calls, &call)?;
    for depth in DEPTHS {
        floor
            .pipelined
            .push((depth, cat.pipelined(args.calls, depth, &call)?));
    }
    cat.close();

    let markdown = report(&ours, python.as_ref(), &floor)?;
    println!("\n{markdown}");
    if !args.no_report {
        write_section("1-dispatch", &markdown)?;
    }
    Ok(())
}

/// Cold start, idle memory, sequential and pipelined calls over stdio.
fn stdio_figures(
    cmd: &ServerCmd,
    cold_runs: usize,
    sequential: usize,
    pipelined: usize,
    call: &dyn Fn(usize) -> String,
) -> anyhow::Result<Figures> {
    let mut figures = Figures {
        cold: Some(cold_start(cmd, cold_runs)?),
        ..Figures::default()
    };
    let mut session = Session::start(cmd)?;
    session.send(LIST)?;
    session.recv()?;
    figures.idle_rss_kib = session.rss_kib();
    // Warm-up: first calls pay for lazy initialisation (and Python's imports).
    for i in 0..100 {
        session.call(&call(i))?;
    }
    figures.sequential = session.sequential_samples(sequential, call)?;
    for depth in DEPTHS {
        figures
            .pipelined
            .push((depth, session.pipelined(pipelined, depth, call)?));
    }
    figures.peak_rss_kib = session.peak_rss_kib();
    session.close();
    Ok(figures)
}

/// Calls per second and latency with 1, 8 and 64 concurrent HTTP clients,
/// each its own session; a failure is reported, not fatal.
fn http_figures(
    addr: &str,
    calls: usize,
    call: &(dyn Fn(usize) -> String + Sync),
) -> Vec<HttpLoad> {
    let mut out = Vec::new();
    for clients in CLIENTS {
        let per_client = (calls / clients).max(50);
        match http::load(addr, clients, per_client, call) {
            Ok(load) => out.push(load),
            Err(e) => eprintln!("xtask: HTTP with {clients} clients on {addr} failed: {e:#}"),
        }
    }
    out
}

/// The Python SDK (pinned in xtask/interop/requirements.txt, shared with
/// `cargo xtask interop`) running xtask/bench/echo_server.py.
fn python_peer() -> anyhow::Result<ServerCmd> {
    let site = project_root().join("target/peers/interop-py");
    let (package, version) = crate::interop::pinned_python_sdk()?;
    pip_install_pinned(&site, &package, &version)?;
    let script = project_root().join("xtask/bench/echo_server.py");
    Ok(ServerCmd::new(
        &format!("Python SDK MCPServer ({package} {version})"),
        "python3",
        &[script.display().to_string()],
    )
    .with_env("PYTHONPATH", &site))
}

/// Starts the Python peer on Streamable HTTP on a free loopback port.
fn python_http(python: &ServerCmd) -> anyhow::Result<(Child, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = Command::new(&python.program)
        .args(&python.args)
        .args(["http", &port.to_string()])
        .envs(python.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the Python peer over HTTP")?;
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!("the Python peer did not listen on {addr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((child, addr))
}

fn report(
    ours: &Figures,
    python: Result<&Figures, &String>,
    floor: &Figures,
) -> anyhow::Result<String> {
    let peer = python.ok();
    let mut t = format!(
        "## Dispatch: a trivial `tools/call` (echo) on mcp-testserver{}\n\n",
        if pinned() { " (pinned)" } else { "" }
    );
    t.push_str(
        "The same tool (`echo`, one string argument) on our test server (release build) and on the \
         official Python SDK's `MCPServer` (FastMCP before mcp 2; xtask/bench/echo_server.py), beside \
         the floor: `cat`, which answers each request line with itself (pipes, syscalls and this \
         client only). The load client is compiled Rust speaking raw newline-delimited JSON-RPC \
         (stdio) or raw HTTP/1.1 keep-alive (HTTP, one thread and session per client). \
         *x Python* is Python's time over ours (or our rate over Python's); *of floor* is our rate \
         as a share of `cat`'s.\n\n",
    );
    if let Err(why) = python {
        t.push_str(&format!("Python peer: not run ({why}).\n\n"));
    }
    t.push_str(
        "| measure | mcp-testserver | Python MCPServer | floor (`cat`) | x Python | of floor |\n\
         |---|---|---|---|---|---|\n",
    );
    let cell = |v: Option<String>| v.unwrap_or_default();
    let ratio = |x: Option<f64>| x.map(|x| format!("{x:.1}x")).unwrap_or_default();
    t.push_str(&format!(
        "| cold start to first tools/list answer (median) | {} | {} | | {} | |\n",
        cell(ours.cold.map(|d| format!("{:.2} ms", ms(d)))),
        cell(
            peer.and_then(|p| p.cold)
                .map(|d| format!("{:.0} ms", ms(d)))
        ),
        ratio(peer.and_then(|p| Some(ms(p.cold?) / ms(ours.cold?)))),
    ));
    for (q, name) in [(0.50, "p50"), (0.99, "p99")] {
        let ours_q = percentile(&ours.sequential, q);
        let peer_q = peer.map(|p| percentile(&p.sequential, q));
        let floor_q = percentile(&floor.sequential, q);
        t.push_str(&format!(
            "| stdio sequential round trip, {name} | {:.1} us | {} | {:.1} us | {} | |\n",
            us(ours_q),
            cell(peer_q.map(|d| format!("{:.0} us", us(d)))),
            us(floor_q),
            ratio(peer_q.map(|p| us(p) / us(ours_q))),
        ));
    }
    for (i, (depth, rate)) in ours.pipelined.iter().enumerate() {
        let peer_rate = peer.and_then(|p| p.pipelined.get(i)).map(|x| x.1);
        let floor_rate = floor.pipelined.get(i).map(|x| x.1);
        t.push_str(&format!(
            "| stdio pipelined, {depth} in flight | {rate:.0} calls/s | {} | {} | {} | {} |\n",
            cell(peer_rate.map(|r| format!("{r:.0} calls/s"))),
            cell(floor_rate.map(|r| format!("{r:.0} calls/s"))),
            ratio(peer_rate.map(|p| rate / p)),
            cell(floor_rate.map(|f| format!("{:.1}%", rate / f * 100.0))),
        ));
    }
    for load in &ours.http {
        let peer_load = peer.and_then(|p| p.http.iter().find(|l| l.clients == load.clients));
        t.push_str(&format!(
            "| HTTP, {} client{}: calls/s (p50 / p99) | {:.0} ({:.0} / {:.0} us) | {} | | {} | |\n",
            load.clients,
            if load.clients == 1 { "" } else { "s" },
            load.calls_per_second,
            us(load.p50),
            us(load.p99),
            cell(peer_load.map(|p| format!(
                "{:.0} ({:.0} / {:.0} us)",
                p.calls_per_second,
                us(p.p50),
                us(p.p99)
            ))),
            ratio(peer_load.map(|p| load.calls_per_second / p.calls_per_second)),
        ));
    }
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    t.push_str(&format!(
        "| RSS idle (after start and tools/list) | {} | {} | | {} | |\n",
        cell(ours.idle_rss_kib.map(mib)),
        cell(peer.and_then(|p| p.idle_rss_kib).map(mib)),
        ratio(peer.and_then(|p| Some(p.idle_rss_kib? as f64 / ours.idle_rss_kib? as f64))),
    ));
    t.push_str(&format!(
        "| peak RSS after the stdio run | {} | {} | | {} | |\n",
        cell(ours.peak_rss_kib.map(mib)),
        cell(peer.and_then(|p| p.peak_rss_kib).map(mib)),
        ratio(peer.and_then(|p| Some(p.peak_rss_kib? as f64 / ours.peak_rss_kib? as f64))),
    ));

    let dir = project_root().join("docs/bench");
    std::fs::create_dir_all(&dir)?;
    let mut samples = vec![("mcp-testserver".to_owned(), ours.sequential.as_slice())];
    if let Some(p) = peer {
        samples.push(("Python MCPServer".to_owned(), p.sequential.as_slice()));
    }
    samples.push(("floor (cat)".to_owned(), floor.sequential.as_slice()));
    plot::latency_cdf(
        &dir.join("dispatch-latency.svg"),
        "Sequential tools/call round trip over stdio",
        &samples,
    )?;
    let rates = |label: &str, points: &[(usize, f64)]| Series {
        label: label.to_owned(),
        points: points.iter().map(|&(x, y)| (x as f64, y)).collect(),
    };
    let http_rates = |label: &str, loads: &[HttpLoad]| Series {
        label: label.to_owned(),
        points: loads
            .iter()
            .map(|l| (l.clients as f64, l.calls_per_second))
            .collect(),
    };
    let mut series = vec![rates("mcp-testserver, stdio", &ours.pipelined)];
    if let Some(p) = peer {
        series.push(rates("Python MCPServer, stdio", &p.pipelined));
    }
    series.push(rates("floor (cat), stdio", &floor.pipelined));
    series.push(http_rates("mcp-testserver, HTTP", &ours.http));
    if let Some(p) = peer {
        series.push(http_rates("Python MCPServer, HTTP", &p.http));
    }
    plot::throughput(
        &dir.join("dispatch-throughput.svg"),
        "Trivial tools/call throughput",
        "requests in flight (stdio) or concurrent clients (HTTP), log scale",
        &series,
    )?;
    t.push_str(
        "\n![Round-trip latency distribution](bench/dispatch-latency.svg)\n\n\
         ![Throughput against requests in flight](bench/dispatch-throughput.svg)\n",
    );
    Ok(t)
}
