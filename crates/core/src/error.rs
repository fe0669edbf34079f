//! Tool failures versus protocol errors, and panics that still get an answer.
//!
//! A tool that ran and failed returns [`ToolError`]: the client sees a tool
//! result with `isError: true` and a message the model can act on. Misuse of
//! the protocol (unknown tool, unknown method) is a JSON-RPC error, which
//! rmcp produces. A tool that panics would leave rmcp's request task dead
//! and the client waiting forever; [`call_tool_guarded`] turns the panic into
//! an error result instead.

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, IntoContents,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use tracing::Instrument as _;

use crate::metrics::Outcome;

/// A tool failure, shown to the model as an `isError` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError(String);

impl ToolError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }

    /// An I/O error with the path it concerns, in the wording users know
    /// from Node (`ENOENT: no such file or directory, 'PATH'`) where it fits.
    pub fn io(err: &std::io::Error, path: &std::path::Path) -> Self {
        use std::io::ErrorKind::*;
        let p = path.display();
        let msg = match err.kind() {
            NotFound => format!("ENOENT: no such file or directory, '{p}'"),
            PermissionDenied => format!("EACCES: permission denied, '{p}'"),
            AlreadyExists => format!("EEXIST: file already exists, '{p}'"),
            IsADirectory => format!("EISDIR: illegal operation on a directory, '{p}'"),
            NotADirectory => format!("ENOTDIR: not a directory, '{p}'"),
            DirectoryNotEmpty => format!("ENOTEMPTY: directory not empty, '{p}'"),
            _ => format!("{p}: {err}"),
        };
        Self(msg)
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToolError {}

impl IntoContents for ToolError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.0)]
    }
}

impl From<String> for ToolError {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for ToolError {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<crate::sandbox::SandboxError> for ToolError {
    fn from(value: crate::sandbox::SandboxError) -> Self {
        Self(value.to_string())
    }
}

impl From<anyhow::Error> for ToolError {
    fn from(value: anyhow::Error) -> Self {
        Self(format!("{value:#}"))
    }
}

/// What every tool function returns.
pub type ToolResult<T = CallToolResult> = Result<T, ToolError>;

/// Runs a blocking closure (file system walks, decoding) off the async
/// threads, so one slow tool never stalls the transport; a panic inside it
/// becomes a [`ToolError`].
pub async fn blocking<T, F>(f: F) -> ToolResult<T>
where
    F: FnOnce() -> ToolResult<T> + Send + 'static,
    T: Send + 'static,
{
    let limits = crate::work::current();
    // The call's span (its trace ids) follows the work onto the pool.
    let span = tracing::Span::current();
    let work = move || {
        let _entered = span.enter();
        crate::work::enter(limits, f)
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => Err(panic_error(join.into_panic().as_ref())),
        Err(join) => Err(ToolError::new(format!("the task was cancelled: {join}"))),
    }
}

/// Work on fewer input bytes than this runs on the calling thread.
pub const INLINE_BYTES: usize = 16 * 1024;

/// Like [`blocking`], but runs `f` right here when it works on fewer than
/// [`INLINE_BYTES`] bytes: the trip to the blocking pool and back is two
/// thread wake-ups, which on a VM cost more (~100 us a call, measured on
/// mcp-text's 1 KiB inputs) than the work. A panic still becomes a
/// [`ToolError`].
pub async fn blocking_unless_small<T, F>(bytes: usize, f: F) -> ToolResult<T>
where
    F: FnOnce() -> ToolResult<T> + Send + 'static,
    T: Send + 'static,
{
    if bytes >= INLINE_BYTES {
        return blocking(f).await;
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(panic_error(panic.as_ref())))
}

/// Dispatches a `tools/call` through `router`, answering a panic with an error
/// result and an unknown tool with a JSON-RPC error that names it. The call
/// runs under its [`crate::work`] limits: past the deadline its token is
/// cancelled (so its loops stop) and it is answered with an error. It runs
/// in a `tool_call` span that continues the request's `_meta.traceparent`
/// ([`crate::trace`]), and is counted in [`crate::metrics`].
pub async fn call_tool_guarded<S: Send + Sync + 'static>(
    router: &ToolRouter<S>,
    service: &S,
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let known = router.has_route(&request.name) && router.get(&request.name).is_some();
    // Labels and span fields name only the router's tools.
    let tool = if known {
        request.name.as_ref()
    } else {
        crate::metrics::UNKNOWN_TOOL
    };
    let traceparent = context
        .meta
        .get_traceparent()
        .or_else(|| request.meta.as_ref().and_then(|m| m.get_traceparent()));
    let span = crate::trace::call_span(tool, traceparent);
    let metric = crate::metrics::call_started(tool);
    let start = std::time::Instant::now();
    let client_ct = context.ct.clone();
    let answer = dispatch(router, service, request, context, known)
        .instrument(span.clone())
        .await;
    let outcome = match &answer {
        _ if client_ct.is_cancelled() => Outcome::Cancelled,
        Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            Outcome::ToolError
        }
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::ProtocolError,
    };
    span.in_scope(|| {
        tracing::info!(
            outcome = outcome.as_str(),
            latency_us = start.elapsed().as_micros() as u64,
            "tool call"
        );
    });
    metric.finish(outcome);
    answer
}

async fn dispatch<S: Send + Sync + 'static>(
    router: &ToolRouter<S>,
    service: &S,
    request: CallToolRequestParams,
    mut context: RequestContext<RoleServer>,
    known: bool,
) -> Result<CallToolResponse, ErrorData> {
    if !known {
        let available: Vec<_> = router.list_all().into_iter().map(|t| t.name).collect();
        return Err(ErrorData::invalid_params(
            format!(
                "Unknown tool: {}. Available tools: {}",
                request.name,
                available.join(", ")
            ),
            None,
        ));
    }
    let name = request.name.clone();
    let call_ct = context.ct.child_token();
    context.ct = call_ct.clone();
    let max = crate::work::max_call_duration();
    let limits = crate::work::CallLimits::new(call_ct.clone(), std::time::Instant::now() + max);
    let call = router.call(ToolCallContext::new(service, request, context));
    let call = crate::work::scope(limits, AssertUnwindSafe(call).catch_unwind());
    let Ok(outcome) = tokio::time::timeout(max, call).await else {
        call_ct.cancel();
        tracing::warn!(tool = %name, "call stopped at its deadline");
        return Ok(CallToolResult::error(crate::work::deadline_error().into_contents()).into());
    };
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let err = panic_error(payload.as_ref());
            tracing::error!(tool = %name, "tool panicked: {err}");
            Ok(CallToolResult::error(err.into_contents()).into())
        }
    }
}

fn panic_error(payload: &(dyn Any + Send)) -> ToolError {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    ToolError::new(format!(
        "internal error: the tool crashed ({detail}); the server is still running, please report this bug"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_the_path() {
        let err = std::io::Error::from(std::io::ErrorKind::NotFound);
        let msg = ToolError::io(&err, std::path::Path::new("/a/b")).to_string();
        assert_eq!(msg, "ENOENT: no such file or directory, '/a/b'");
    }

    #[test]
    fn tool_error_becomes_is_error_result() {
        use rmcp::handler::server::tool::IntoCallToolResult;
        let res: ToolResult<String> = Err(ToolError::new("boom"));
        let CallToolResponse::Complete(result) = res.into_call_tool_result().unwrap() else {
            panic!("expected a complete result");
        };
        assert_eq!(result.is_error, Some(true));
        assert_eq!(result.content[0].as_text().unwrap().text, "boom");
    }

    #[tokio::test]
    async fn blocking_turns_panics_into_errors() {
        let res: ToolResult<()> = blocking(|| panic!("kaput")).await;
        let msg = res.unwrap_err().to_string();
        assert!(msg.contains("kaput"), "{msg}");
    }

    #[tokio::test]
    async fn small_work_runs_inline_and_large_work_on_the_pool() {
        let here = std::thread::current().id();
        let inline = blocking_unless_small(10, move || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(inline, here);
        let pooled = blocking_unless_small(INLINE_BYTES, move || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(pooled, here);
        let res: ToolResult<()> = blocking_unless_small(1, || panic!("inline kaput")).await;
        assert!(res.unwrap_err().to_string().contains("inline kaput"));
    }
}
