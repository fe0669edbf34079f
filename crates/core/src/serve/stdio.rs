//! Newline-delimited JSON-RPC over stdin/stdout.
//!
//! rmcp's own stdio transport drops a line over its cap silently and ignores
//! unparsable input, so a client waits forever. This one answers both with a
//! JSON-RPC error, batches writes (one flush per burst of responses, not per
//! message) and keeps stdout for protocol bytes only.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, ProtocolVersion};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::mpsc;

use super::frame::Frame;
use crate::heap::HeapTrimmer;

/// Pipe capacity asked for stdin and stdout. At the default 64 KiB an
/// 11 MiB answer crosses in ~170 handoffs between writer and reader (each a
/// context switch); at 1 MiB, the largest an unprivileged process gets by
/// default, in ~11.
#[cfg(target_os = "linux")]
const PIPE_BYTES: libc::c_int = 1 << 20;

/// Widens stdin and stdout when they are pipes; anything else is left as
/// it is.
pub fn widen_pipes() {
    #[cfg(target_os = "linux")]
    for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO] {
        #[allow(unsafe_code)]
        // SAFETY: fcntl on the process's own standard descriptors with an
        // integer argument; on anything but a pipe, or over the user's pipe
        // quota, it fails and changes nothing.
        let capacity = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES) };
        if capacity >= 0 {
            tracing::debug!("fd {fd}: pipe capacity {capacity} bytes");
        }
    }
}

/// How much of an oversized line is kept to find its `id`.
const ID_SNIFF_BYTES: usize = 4096;

pub struct StdioTransport<R> {
    reader: BufReader<R>,
    /// The line being read. It lives here, not in `read_line`, because rmcp
    /// polls `receive` inside `select!` and drops it whenever another branch
    /// wins: a partly read line must survive that (cancel safety).
    line: Vec<u8>,
    /// Whether `line` holds a whole line already handed out.
    line_done: bool,
    /// A line over the cap being skipped: its first bytes and its length.
    oversized: Option<(Vec<u8>, usize)>,
    max_line: usize,
    out: mpsc::UnboundedSender<Frame>,
    /// Until a lifecycle starts (initialize, or a request with inline
    /// protocol metadata), rmcp ends the session on anything but a request;
    /// such stray messages are dropped here instead.
    lifecycle_started: bool,
}

impl<R: AsyncRead + Unpin + Send + 'static> StdioTransport<R> {
    /// Spawns the writer task on the current runtime.
    pub fn new<W: AsyncWrite + Unpin + Send + 'static>(read: R, write: W, max_line: usize) -> Self {
        Self::with_trimmer(read, write, max_line, None)
    }

    /// Like [`StdioTransport::new`], telling `trimmer` of each burst written
    /// (the server's heap is trimmed once the session goes quiet).
    pub fn with_trimmer<W: AsyncWrite + Unpin + Send + 'static>(
        read: R,
        write: W,
        max_line: usize,
        trimmer: Option<Arc<HeapTrimmer>>,
    ) -> Self {
        let (out, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(write, rx, trimmer));
        Self {
            reader: BufReader::with_capacity(64 * 1024, read),
            line: Vec::new(),
            line_done: false,
            oversized: None,
            max_line,
            out,
            lifecycle_started: false,
        }
    }

    fn send_raw(&self, value: &Value) {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let _ = self.out.send(Frame::from_bytes(bytes));
    }

    fn send_error(&self, id: Value, code: i64, message: &str) {
        self.send_raw(&json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {"code": code, "message": message},
        }));
    }

    /// Reads one line into `self.line`. Returns `Ok(false)` at EOF.
    /// An oversized line is consumed, answered with an error, and skipped.
    /// Cancel-safe: the only await is `fill_buf`, and all progress is kept
    /// in `self`, so a dropped call loses nothing.
    async fn read_line(&mut self) -> io::Result<bool> {
        loop {
            if self.line_done {
                self.line.clear();
                self.line_done = false;
            }
            loop {
                let available = self.reader.fill_buf().await?;
                if available.is_empty() {
                    // EOF: an unterminated last line is still a message.
                    let partial = self.oversized.take().is_none() && !self.line.is_empty();
                    self.line_done = true;
                    return Ok(partial);
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                match &mut self.oversized {
                    Some((_, seen)) => *seen += take,
                    None if self.line.len() + take > self.max_line => {
                        let seen = self.line.len() + take;
                        let mut prefix = std::mem::take(&mut self.line);
                        let room = ID_SNIFF_BYTES.saturating_sub(prefix.len());
                        prefix.extend_from_slice(&available[..take.min(room)]);
                        prefix.truncate(ID_SNIFF_BYTES);
                        self.oversized = Some((prefix, seen));
                    }
                    None => self.line.extend_from_slice(&available[..take]),
                }
                self.reader.consume(take);
                if newline.is_some() {
                    break;
                }
            }
            self.line_done = true;
            match self.oversized.take() {
                None => return Ok(true),
                Some((prefix, seen)) => {
                    let id = sniff_id(&prefix).unwrap_or(Value::Null);
                    tracing::warn!(
                        bytes = seen,
                        limit = self.max_line,
                        "message over the size limit"
                    );
                    self.send_error(
                        id,
                        -32600,
                        &format!(
                            "Invalid request: message of at least {seen} bytes exceeds the {}-byte limit (raise it with --max-message-bytes)",
                            self.max_line
                        ),
                    );
                }
            }
        }
    }

    /// Parses the current line; answers what cannot be parsed.
    fn parse_line(&mut self) -> Option<ClientJsonRpcMessage> {
        let mut line: &[u8] = &self.line;
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        match serde_json::from_slice::<ClientJsonRpcMessage>(line) {
            Ok(msg) => Some(msg),
            Err(e) if e.is_syntax() || e.is_eof() => {
                tracing::debug!("unparsable message: {e}");
                self.send_error(Value::Null, -32700, &format!("Parse error: {e}"));
                None
            }
            Err(e) => {
                let value: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
                let id = value.get("id").cloned();
                let is_notification = id.is_none() && value.get("method").is_some();
                if is_notification {
                    // JSON-RPC never answers notifications, even unknown ones.
                    tracing::debug!("ignoring malformed notification: {e}");
                } else if value.get("result").is_some() || value.get("error").is_some() {
                    tracing::debug!("ignoring malformed response: {e}");
                } else {
                    self.send_error(
                        id.unwrap_or(Value::Null),
                        -32600,
                        &format!("Invalid request: {e}"),
                    );
                }
                None
            }
        }
    }

    fn admit(&mut self, msg: &ClientJsonRpcMessage) -> bool {
        if self.lifecycle_started {
            return true;
        }
        match msg {
            ClientJsonRpcMessage::Request(req) => {
                let starts = match &req.request {
                    ClientRequest::InitializeRequest(_) => true,
                    ClientRequest::PingRequest(_) | ClientRequest::DiscoverRequest(_) => false,
                    other => {
                        let meta = other.get_meta();
                        meta.protocol_version().is_some()
                            && meta
                                .missing_required_keys(&ProtocolVersion::V_2026_07_28)
                                .is_empty()
                    }
                };
                self.lifecycle_started = starts;
                true
            }
            _ => {
                tracing::debug!("dropping a non-request message sent before initialization");
                false
            }
        }
    }
}

impl<R: AsyncRead + Unpin + Send + 'static> Transport<RoleServer> for StdioTransport<R> {
    type Error = io::Error;

    fn name() -> Cow<'static, str> {
        "stdio".into()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let result = Frame::encode(item)
            .map_err(io::Error::other)
            .and_then(|frame| {
                self.out
                    .send(frame)
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "stdout is closed"))
            });
        std::future::ready(result)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            match self.read_line().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    tracing::error!("reading stdin: {e}");
                    return None;
                }
            }
            if let Some(msg) = self.parse_line()
                && self.admit(&msg)
            {
                return Some(msg);
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Writes queued messages, flushing once per burst.
async fn write_loop<W: AsyncWrite + Unpin>(
    write: W,
    mut rx: mpsc::UnboundedReceiver<Frame>,
    trimmer: Option<Arc<HeapTrimmer>>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, write);
    while let Some(first) = rx.recv().await {
        let mut result = write_frame(&mut w, &first).await;
        drop(first);
        while result.is_ok() {
            match rx.try_recv() {
                Ok(more) => result = write_frame(&mut w, &more).await,
                Err(_) => break,
            }
        }
        if let Err(e) = result.and(w.flush().await) {
            tracing::error!("writing stdout: {e}");
            return;
        }
        if let Some(trimmer) = &trimmer {
            trimmer.note_activity();
        }
    }
}

/// Runs larger than the buffer go straight to the pipe, uncopied.
async fn write_frame<W: AsyncWrite + Unpin>(w: &mut BufWriter<W>, frame: &Frame) -> io::Result<()> {
    for run in frame.runs() {
        w.write_all(run).await?;
    }
    Ok(())
}

/// Finds the top-level `"id"` of a JSON object from its first bytes, so an
/// oversized request can still be answered with its own id.
fn sniff_id(prefix: &[u8]) -> Option<Value> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < prefix.len() {
        match prefix[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(prefix, i)?;
                if depth == 1 && &prefix[i..=end] == b"\"id\"" {
                    let mut j = end + 1;
                    while j < prefix.len() && prefix[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if prefix.get(j) != Some(&b':') {
                        i = end + 1;
                        continue;
                    }
                    j += 1;
                    while j < prefix.len() && prefix[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    let value_end = match prefix.get(j)? {
                        b'"' => string_end(prefix, j)? + 1,
                        _ => {
                            let len = prefix[j..]
                                .iter()
                                .position(|b| !(b.is_ascii_digit() || b"-+.eE".contains(b)))?;
                            j + len
                        }
                    };
                    let value: Value = serde_json::from_slice(&prefix[j..value_end]).ok()?;
                    return (value.is_string() || value.is_number()).then_some(value);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the closing quote of the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_top_level_ids_only() {
        assert_eq!(
            sniff_id(br#"{"jsonrpc":"2.0","id":42,"params":{"#),
            Some(json!(42))
        );
        assert_eq!(sniff_id(br#"{"id" : "a\"b","#), Some(json!("a\"b")));
        assert_eq!(sniff_id(br#"{"params":{"id":7},"id":8,"#), Some(json!(8)));
        assert_eq!(sniff_id(br#"{"params":{"id":7},"data":"xxxx"#), None);
        assert_eq!(sniff_id(br#"{"method":"\"id\":5"}"#), None);
        assert_eq!(sniff_id(b"garbage"), None);
    }

    #[tokio::test]
    async fn a_receive_dropped_mid_line_loses_nothing() {
        use futures::FutureExt;
        use tokio::io::AsyncWriteExt;

        let (mut client, server) = tokio::io::duplex(1024);
        let mut transport = StdioTransport::new(server, tokio::io::sink(), 1 << 20);
        let line = br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
        // Two messages arrive in pieces; each piece is read by a call that
        // rmcp's select! then drops.
        for message in [&line[..], &line[..]] {
            let (head, tail) = message.split_at(15);
            client.write_all(head).await.unwrap();
            assert!(transport.receive().now_or_never().is_none());
            client.write_all(tail).await.unwrap();
            assert!(transport.receive().now_or_never().is_none());
            client.write_all(b"\n").await.unwrap();
            // Bounded, so that a regression fails instead of hanging.
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), transport.receive())
                .await
                .expect("the message was lost: receive is not cancel-safe")
                .expect("a message");
            let value = serde_json::to_value(&msg).unwrap();
            assert_eq!(value["id"], 7, "{value}");
            assert_eq!(value["method"], "ping");
        }
    }
}
