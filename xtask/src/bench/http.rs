//! The HTTP load client: raw HTTP/1.1 keep-alive POSTs on std sockets, one
//! thread per client, each client its own MCP session. Cheap enough not to
//! be the bottleneck: no async runtime, no JSON parsing on the hot path.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::client::{INIT, INITIALIZED, percentile};

/// One client: a keep-alive connection and its session id.
pub struct HttpSession {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
    session: Option<String>,
    body: Vec<u8>,
}

/// What one POST got back.
struct Answer {
    status: u16,
    session: Option<String>,
}

impl HttpSession {
    /// Connects to `addr` (host:port) and opens a session on `/mcp`.
    pub fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        // A stuck server fails the bench instead of hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut this = Self {
            reader: BufReader::with_capacity(64 * 1024, stream.try_clone()?),
            writer: stream,
            host: addr.to_owned(),
            session: None,
            body: Vec::new(),
        };
        let init = this.post(INIT)?;
        if init.status != 200 {
            bail!(
                "initialize answered HTTP {}: {}",
                init.status,
                String::from_utf8_lossy(&this.body)
            );
        }
        this.session = init.session;
        let note = this.post(INITIALIZED)?;
        if note.status != 202 {
            bail!("notifications/initialized answered HTTP {}", note.status);
        }
        Ok(this)
    }

    /// One request and its answer; fails unless it is HTTP 200 with a
    /// successful result.
    pub fn call(&mut self, request: &str) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let answer = self.post(request)?;
        let elapsed = start.elapsed();
        let body = String::from_utf8_lossy(&self.body);
        if answer.status != 200
            || !body.contains(r#""result""#)
            || body.contains(r#""isError":true"#)
        {
            bail!("the call failed: HTTP {}: {body:.300}", answer.status);
        }
        Ok(elapsed)
    }

    fn post(&mut self, body: &str) -> anyhow::Result<Answer> {
        let mut head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(session) = &self.session {
            head.push_str(&format!(
                "Mcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-06-18\r\n"
            ));
        }
        head.push_str("\r\n");
        head.push_str(body);
        self.writer.write_all(head.as_bytes())?;
        self.read_answer()
    }

    /// Reads a response: status, headers, then a Content-Length or chunked
    /// body into `self.body`.
    fn read_answer(&mut self) -> anyhow::Result<Answer> {
        let mut line = String::new();
        self.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP status line: {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        let mut session = None;
        loop {
            line.clear();
            self.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "mcp-session-id" => session = Some(value.to_owned()),
                _ => {}
            }
        }
        self.body.clear();
        if chunked {
            loop {
                line.clear();
                self.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("bad chunk size {line:?}"))?;
                let start = self.body.len();
                self.body.resize(start + size, 0);
                self.reader.read_exact(&mut self.body[start..])?;
                line.clear();
                self.read_line(&mut line)?;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(length) = length {
            self.body.resize(length, 0);
            self.reader.read_exact(&mut self.body)?;
        }
        Ok(Answer { status, session })
    }

    fn read_line(&mut self, line: &mut String) -> anyhow::Result<()> {
        if self.reader.read_line(line)? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

/// What N clients calling back to back achieved.
pub struct HttpLoad {
    pub clients: usize,
    pub calls_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// `clients` threads, each with its own session, each making
/// `calls_per_client` sequential calls; all start together.
pub fn load(
    addr: &str,
    clients: usize,
    calls_per_client: usize,
    call: &(dyn Fn(usize) -> String + Sync),
) -> anyhow::Result<HttpLoad> {
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(HttpSession::open(addr)?);
    }
    let barrier = Arc::new(Barrier::new(clients + 1));
    let (latencies, elapsed) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let workers: Vec<_> = sessions
            .into_iter()
            .map(|mut session| {
                let barrier = barrier.clone();
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let requests: Vec<String> =
                        (0..calls_per_client).map(|i| call(10 + i)).collect();
                    barrier.wait();
                    requests.iter().map(|r| session.call(r)).collect()
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut all = Vec::with_capacity(clients * calls_per_client);
        for worker in workers {
            all.extend(
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a client panicked"))??,
            );
        }
        Ok((all, start.elapsed()))
    })?;
    let mut latencies = latencies;
    latencies.sort_unstable();
    Ok(HttpLoad {
        clients,
        calls_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    })
}
