//! Limits on one tool call's work: the client's cancellation and a
//! deadline (`--max-call-seconds`).
//!
//! A cancelled or runaway call must stop using CPU, but blocking work
//! (a parse, a walk, a decode) cannot be stopped from outside. So every
//! loop over user data calls [`check`] now and then: it fails once the call
//! is cancelled or past its deadline. [`crate::error::call_tool_guarded`]
//! sets the limits for the call's task, and [`crate::error::blocking`]
//! carries them onto the thread that runs the work, so no tool signature
//! has to pass them along.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::ToolError;

/// Default per-call deadline, in seconds: generous, so that only a runaway
/// call meets it.
pub const DEFAULT_MAX_CALL_SECONDS: u64 = 300;

/// The deadline of every tool call, set once at start-up from
/// `--max-call-seconds`.
static MAX_CALL_SECONDS: AtomicU64 = AtomicU64::new(DEFAULT_MAX_CALL_SECONDS);

/// The longest deadline accepted: a year (an `Instant` that far ahead is
/// still representable everywhere).
pub const MAX_CALL_SECONDS_LIMIT: u64 = 365 * 24 * 3600;

/// Sets the per-call deadline (clamped to 1 s ..= a year).
pub fn set_max_call_seconds(seconds: u64) {
    MAX_CALL_SECONDS.store(seconds.clamp(1, MAX_CALL_SECONDS_LIMIT), Ordering::Relaxed);
}

/// The per-call deadline in force.
pub fn max_call_duration() -> Duration {
    Duration::from_secs(MAX_CALL_SECONDS.load(Ordering::Relaxed))
}

/// One call's limits: its cancellation token (cancelled by the client's
/// `notifications/cancelled`, or when the deadline passes) and the deadline.
#[derive(Debug, Clone)]
pub struct CallLimits {
    ct: CancellationToken,
    deadline: Instant,
}

impl CallLimits {
    pub fn new(ct: CancellationToken, deadline: Instant) -> Self {
        Self { ct, deadline }
    }

    pub fn token(&self) -> &CancellationToken {
        &self.ct
    }

    /// `Err` once the call is cancelled or past its deadline.
    pub fn check(&self) -> Result<(), ToolError> {
        let late = Instant::now() >= self.deadline;
        if late {
            self.ct.cancel();
            return Err(deadline_error());
        }
        if self.ct.is_cancelled() {
            return Err(ToolError::new("the call was cancelled"));
        }
        Ok(())
    }
}

/// The error of a call stopped at its deadline.
pub fn deadline_error() -> ToolError {
    ToolError::new(format!(
        "the call ran past its deadline of {} s and was stopped (raise it with --max-call-seconds, or give the tool less work)",
        max_call_duration().as_secs()
    ))
}

tokio::task_local! {
    static TASK_LIMITS: CallLimits;
}

thread_local! {
    static THREAD_LIMITS: RefCell<Option<CallLimits>> = const { RefCell::new(None) };
}

/// The limits of the call running here: the thread's (inside blocking
/// work), else the task's.
pub fn current() -> Option<CallLimits> {
    THREAD_LIMITS
        .with(|l| l.borrow().clone())
        .or_else(|| TASK_LIMITS.try_with(Clone::clone).ok())
}

/// `Err` once the current call is cancelled or past its deadline; `Ok`
/// outside any call (tests, benches). Cheap enough for every few thousand
/// items of a loop.
pub fn check() -> Result<(), ToolError> {
    match current() {
        Some(limits) => limits.check(),
        None => Ok(()),
    }
}

/// Runs `fut` with `limits` as its task's call limits.
pub async fn scope<F: Future>(limits: CallLimits, fut: F) -> F::Output {
    TASK_LIMITS.scope(limits, fut).await
}

/// Runs `f` on this thread with `limits` as the thread's call limits
/// (restoring what was there before, even if `f` panics).
pub fn enter<T>(limits: Option<CallLimits>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<CallLimits>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            THREAD_LIMITS.with(|l| *l.borrow_mut() = previous);
        }
    }
    let previous = THREAD_LIMITS.with(|l| std::mem::replace(&mut *l.borrow_mut(), limits));
    let _restore = Restore(previous);
    f()
}

/// Stack size of every thread that runs tool work (the runtime's workers
/// and its blocking pool). Parsers of nested input are depth-capped well
/// below what this holds; the size is set, not left to the platform.
pub const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Nesting depth every parser of nested input accepts at most (HTML, JSON,
/// YAML, TOML, Markdown): deep enough for any real document, shallow
/// enough that no recursive walk over it can exhaust a worker's stack.
pub const MAX_NESTING_DEPTH: usize = 512;

/// The error for input nested deeper than [`MAX_NESTING_DEPTH`].
pub fn too_deep(what: &str) -> ToolError {
    ToolError::new(format!(
        "{what} is nested more than {MAX_NESTING_DEPTH} levels deep; flatten it or split it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_call_means_no_limit() {
        assert!(check().is_ok());
    }

    #[test]
    fn a_cancelled_call_fails_its_checks_on_its_thread() {
        let ct = CancellationToken::new();
        let limits = CallLimits::new(ct.clone(), Instant::now() + Duration::from_secs(60));
        enter(Some(limits), || {
            assert!(check().is_ok());
            ct.cancel();
            let err = check().unwrap_err().to_string();
            assert!(err.contains("cancelled"), "{err}");
        });
        assert!(check().is_ok(), "the limits leave the thread with the call");
    }

    #[test]
    fn a_past_deadline_fails_and_cancels() {
        let ct = CancellationToken::new();
        let limits = CallLimits::new(ct.clone(), Instant::now());
        let err = enter(Some(limits), check).unwrap_err().to_string();
        assert!(err.contains("--max-call-seconds"), "{err}");
        assert!(ct.is_cancelled());
    }

    #[tokio::test]
    async fn task_limits_reach_async_code() {
        let ct = CancellationToken::new();
        ct.cancel();
        let limits = CallLimits::new(ct, Instant::now() + Duration::from_secs(60));
        let result = scope(limits, async { check() }).await;
        assert!(result.is_err());
    }
}
