//! Newline-delimited JSON-RPC over stdin/stdout.
//!
//! rmcp's own stdio transport drops a line over its cap silently and ignores
//! unparsable input, so a client waits forever. This one answers both with a
//! JSON-RPC error, batches writes (one flush per burst of responses, not per
//! message) and keeps stdout for protocol bytes only.
//!
//! It also keeps the promises rmcp cannot see from inside its loop:
//! - every request read is answered before the session ends: at EOF,
//!   `receive` holds the session open until the requests in progress are
//!   answered (rmcp would give them 5 s), and [`StdioTransport::flushed`]
//!   lets the caller wait until the last byte is written;
//! - a request reusing the id of one still in progress gets `-32600`
//!   instead of taking over the first one's answer;
//! - back-pressure: while more than [`MAX_QUEUED_BYTES`] of answers wait
//!   for a slow reader, or [`MAX_IN_FLIGHT`] requests are in progress, no
//!   more input is read.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, GetMeta, JsonRpcMessage,
    ProtocolVersion, RequestId,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::{RoleServer, transport::Transport};
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::frame::Frame;
use super::message::{Parsed, Refusal};
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

/// Answers waiting for a slow reader beyond which no more input is read.
/// One answer larger than this still goes out whole.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// Requests in progress beyond which no more input is read (each holds its
/// arguments and a task until it is answered).
pub const MAX_IN_FLIGHT: usize = 1024;

/// At EOF, how long past the per-call deadline the session waits for the
/// requests still in progress (a handler that never answers must not hold
/// the process forever).
const EOF_GRACE: Duration = Duration::from_secs(5);

/// What the transport and its writer task share.
#[derive(Default)]
struct Outbox {
    /// Bytes queued for stdout and not yet written.
    queued: AtomicUsize,
    /// Woken each time the writer has written a burst.
    written: Notify,
}

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
    outbox: Arc<Outbox>,
    /// Cancelled when the writer has written everything and stopped.
    writer_done: CancellationToken,
    /// Ids of the client's requests read and not yet answered.
    in_progress: HashSet<RequestId>,
    /// Ids of our requests to the client not yet answered by it.
    awaiting_client: HashSet<RequestId>,
    /// Input is over (EOF or a read error).
    eof: bool,
    /// Until when, after EOF, the session waits for answers in progress.
    eof_deadline: Option<tokio::time::Instant>,
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
        let outbox = Arc::new(Outbox::default());
        let writer_done = CancellationToken::new();
        tokio::spawn(write_loop(
            write,
            rx,
            outbox.clone(),
            writer_done.clone(),
            trimmer,
        ));
        Self {
            reader: BufReader::with_capacity(64 * 1024, read),
            line: Vec::new(),
            line_done: false,
            oversized: None,
            max_line,
            out,
            outbox,
            writer_done,
            in_progress: HashSet::new(),
            awaiting_client: HashSet::new(),
            eof: false,
            eof_deadline: None,
            lifecycle_started: false,
        }
    }

    /// Resolves once everything sent has been written to the pipe and the
    /// writer has stopped (after the transport is dropped), or writing
    /// failed. The caller awaits it before the process exits, so that no
    /// answer is cut.
    pub fn flushed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.writer_done.clone().cancelled_owned()
    }

    fn queue(&self, frame: Frame) -> bool {
        let len = frame.byte_len();
        self.outbox.queued.fetch_add(len, Ordering::Relaxed);
        if self.out.send(frame).is_err() {
            self.outbox.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Answers a message with an error instead of passing it on.
    fn refuse(&self, refusal: &Refusal) {
        self.queue(Frame::from_bytes(refusal.to_json().into_bytes()));
    }

    /// Waits while too much output is queued or too many requests are in
    /// progress (cancel-safe: nothing is consumed).
    async fn wait_for_room(&mut self) {
        loop {
            let written = self.outbox.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            let busy = self.outbox.queued.load(Ordering::Relaxed) > MAX_QUEUED_BYTES
                || self.in_progress.len() >= MAX_IN_FLIGHT;
            if !busy {
                return;
            }
            if self.in_progress.len() >= MAX_IN_FLIGHT
                && self.outbox.queued.load(Ordering::Relaxed) <= MAX_QUEUED_BYTES
            {
                // Room comes when an answer is sent, which rmcp does
                // outside `receive`: it drops this future and calls again.
                std::future::pending::<()>().await;
            }
            written.await;
        }
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
                    // EOF: an unterminated last line is still a message,
                    // and an oversized one is still answered.
                    self.line_done = true;
                    if let Some((prefix, seen)) = self.oversized.take() {
                        self.answer_oversized(&prefix, seen);
                        return Ok(false);
                    }
                    return Ok(!self.line.is_empty());
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
                Some((prefix, seen)) => self.answer_oversized(&prefix, seen),
            }
        }
    }

    fn answer_oversized(&self, prefix: &[u8], seen: usize) {
        let id = sniff_id(prefix);
        tracing::warn!(
            bytes = seen,
            limit = self.max_line,
            "message over the size limit"
        );
        crate::metrics::refused(crate::metrics::Refusal::Size);
        self.refuse(&Refusal::new(
            id.as_deref(),
            -32600,
            format!(
                "Invalid request: message of at least {seen} bytes exceeds the {}-byte limit (raise it with --max-message-bytes)",
                self.max_line
            ),
        ));
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
        match super::message::parse(line) {
            Parsed::Message(msg) => Some(*msg),
            Parsed::Ignored(why) => {
                tracing::debug!("ignoring {why}");
                None
            }
            Parsed::Refused(refusal) => {
                tracing::debug!("refused: {}", refusal.message);
                crate::metrics::refused(crate::metrics::Refusal::Malformed);
                self.refuse(&refusal);
                None
            }
        }
    }

    /// Bookkeeping for a message read: requests in progress, answers to
    /// our requests, cancellations. `false` when the message is answered
    /// here (a duplicate id) and must not reach rmcp.
    fn track_incoming(&mut self, msg: &ClientJsonRpcMessage) -> bool {
        match msg {
            JsonRpcMessage::Request(req) => {
                if !self.in_progress.insert(req.id.clone()) {
                    let id = serde_json::to_string(&req.id).unwrap_or_else(|_| "null".into());
                    tracing::warn!(%id, "request id reused while in progress");
                    crate::metrics::refused(crate::metrics::Refusal::DuplicateId);
                    self.refuse(&Refusal::new(
                        Some(&id),
                        -32600,
                        format!(
                            "Invalid request: id {id} is already used by a request in progress; request ids must be unique"
                        ),
                    ));
                    return false;
                }
            }
            JsonRpcMessage::Response(resp) => {
                self.awaiting_client.remove(&resp.id);
            }
            JsonRpcMessage::Error(err) => {
                if let Some(id) = &err.id {
                    self.awaiting_client.remove(id);
                }
            }
            JsonRpcMessage::Notification(n) => {
                // A cancelled request gets no answer: stop waiting for one.
                if let ClientNotification::CancelledNotification(c) = &n.notification
                    && let Some(id) = &c.params.request_id
                {
                    self.in_progress.remove(id);
                }
            }
        }
        true
    }

    /// At EOF: our requests the client can no longer answer are failed
    /// (so the handlers waiting on them finish), then the session waits
    /// for the answers in progress. `None` when the session may end.
    async fn after_eof(&mut self) -> Option<ClientJsonRpcMessage> {
        if let Some(id) = self.awaiting_client.iter().next().cloned() {
            self.awaiting_client.remove(&id);
            let error = ErrorData::internal_error("the client closed its input", None);
            return Some(JsonRpcMessage::error(error, Some(id)));
        }
        if self.in_progress.is_empty() {
            return None;
        }
        let deadline = *self.eof_deadline.get_or_insert_with(|| {
            tokio::time::Instant::now() + crate::work::max_call_duration() + EOF_GRACE
        });
        // An answer is sent outside `receive`: rmcp drops this future, sends,
        // and calls again, which finds the set smaller.
        tokio::time::sleep_until(deadline).await;
        tracing::warn!(
            unanswered = self.in_progress.len(),
            "input closed; gave up waiting for requests in progress"
        );
        None
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
        match &item {
            JsonRpcMessage::Response(resp) => {
                self.in_progress.remove(&resp.id);
            }
            JsonRpcMessage::Error(err) => {
                if let Some(id) = &err.id {
                    self.in_progress.remove(id);
                }
            }
            JsonRpcMessage::Request(req) => {
                self.awaiting_client.insert(req.id.clone());
            }
            JsonRpcMessage::Notification(_) => {}
        }
        let result = Frame::encode(item)
            .map_err(io::Error::other)
            .and_then(|frame| {
                if self.queue(frame) {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "stdout is closed",
                    ))
                }
            });
        std::future::ready(result)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if self.eof {
                return self.after_eof().await;
            }
            self.wait_for_room().await;
            match self.read_line().await {
                Ok(true) => {}
                Ok(false) => {
                    self.eof = true;
                    continue;
                }
                Err(e) => {
                    tracing::error!("reading stdin: {e}");
                    self.eof = true;
                    continue;
                }
            }
            if let Some(msg) = self.parse_line()
                && self.admit(&msg)
                && self.track_incoming(&msg)
            {
                return Some(msg);
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Writes queued messages, flushing once per burst, until every sender is
/// gone and everything is written (or stdout fails); then cancels `done`.
async fn write_loop<W: AsyncWrite + Unpin>(
    write: W,
    mut rx: mpsc::UnboundedReceiver<Frame>,
    outbox: Arc<Outbox>,
    done: CancellationToken,
    trimmer: Option<Arc<HeapTrimmer>>,
) {
    let _done = done.drop_guard();
    let mut w = BufWriter::with_capacity(64 * 1024, write);
    while let Some(first) = rx.recv().await {
        let mut written = first.byte_len();
        let mut result = write_frame(&mut w, &first).await;
        drop(first);
        while result.is_ok() {
            match rx.try_recv() {
                Ok(more) => {
                    written += more.byte_len();
                    result = write_frame(&mut w, &more).await;
                }
                Err(_) => break,
            }
        }
        let result = result.and(w.flush().await);
        outbox.queued.fetch_sub(written, Ordering::Relaxed);
        outbox.written.notify_waiters();
        if let Err(e) = result {
            tracing::error!("writing stdout: {e}");
            // Nothing more can be written: let a reader waiting for room
            // go on (its answers are lost with the pipe).
            outbox.queued.store(0, Ordering::Relaxed);
            outbox.written.notify_waiters();
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
/// oversized request can still be answered with its own id (as sent).
fn sniff_id(prefix: &[u8]) -> Option<String> {
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
                    let raw = std::str::from_utf8(&prefix[j..value_end]).ok()?;
                    let value: &RawValue = serde_json::from_str(raw).ok()?;
                    return Some(value.get().to_owned());
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
        let raw = |s: &str| Some(s.to_owned());
        assert_eq!(
            sniff_id(br#"{"jsonrpc":"2.0","id":42,"params":{"#),
            raw("42")
        );
        assert_eq!(sniff_id(br#"{"id" : "a\"b","#), raw(r#""a\"b""#));
        assert_eq!(sniff_id(br#"{"params":{"id":7},"id":8,"#), raw("8"));
        assert_eq!(
            sniff_id(br#"{"id":123456789012345678901234567890,"#),
            raw("123456789012345678901234567890")
        );
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
        // Two messages arrive in pieces; each piece is read by a call that
        // rmcp's select! then drops.
        for id in [7, 8] {
            let line = ping(id);
            let message = line.strip_suffix(b"\n").unwrap();
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
            assert_eq!(value["id"], id, "{value}");
            assert_eq!(value["method"], "ping");
        }
    }

    fn ping(id: i64) -> Vec<u8> {
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n").into_bytes()
    }

    fn answer(id: i64, bytes: usize) -> TxJsonRpcMessage<RoleServer> {
        let result = rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(
            "x".repeat(bytes),
        )]);
        JsonRpcMessage::response(
            rmcp::model::ServerResult::CallToolResult(result),
            RequestId::Number(id),
        )
    }

    /// While more than MAX_QUEUED_BYTES of answers wait for a reader that
    /// does not read, no more input is read; once it reads, input flows.
    #[tokio::test]
    async fn input_stops_while_answers_pile_up() {
        use futures::FutureExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let (mut client_in, server_in) = tokio::io::duplex(1 << 20);
        let (server_out, mut client_out) = tokio::io::duplex(64 * 1024);
        let mut transport = StdioTransport::new(server_in, server_out, 1 << 20);
        for id in 0..4 {
            client_in.write_all(&ping(id)).await.unwrap();
        }
        // Two requests read, answered with more than the queue allows.
        for id in 0..2 {
            let msg = transport.receive().await.expect("a request");
            assert!(matches!(msg, JsonRpcMessage::Request(_)));
            let _ = transport.send(answer(id, MAX_QUEUED_BYTES / 2 + 1)).await;
        }
        assert!(
            transport.receive().now_or_never().is_none(),
            "input was read while {} bytes wait for the reader",
            transport.outbox.queued.load(Ordering::Relaxed)
        );
        // The client reads everything: the next request comes through.
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client_out.read_to_end(&mut all).await.unwrap();
            all
        });
        let msg = tokio::time::timeout(Duration::from_secs(30), transport.receive())
            .await
            .expect("input flows again once answers are read")
            .expect("a request");
        assert!(matches!(msg, JsonRpcMessage::Request(_)));
        drop(transport);
        drop(client_in);
        let all = reader.await.unwrap();
        assert_eq!(all.iter().filter(|b| **b == b'\n').count(), 2);
    }

    /// At EOF the session stays open until every request read is answered.
    #[tokio::test]
    async fn eof_waits_for_answers_in_progress() {
        use futures::FutureExt;
        use tokio::io::AsyncWriteExt;

        let (mut client_in, server_in) = tokio::io::duplex(1024);
        let mut transport = StdioTransport::new(server_in, tokio::io::sink(), 1 << 20);
        client_in.write_all(&ping(1)).await.unwrap();
        drop(client_in);
        assert!(transport.receive().await.is_some());
        assert!(
            transport.receive().now_or_never().is_none(),
            "the session ended with a request unanswered"
        );
        let _ = transport.send(answer(1, 10)).await;
        let end = tokio::time::timeout(Duration::from_secs(30), transport.receive()).await;
        assert!(matches!(end, Ok(None)), "EOF once everything is answered");
    }
}
