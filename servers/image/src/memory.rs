//! The server-wide memory budget (`--max-memory`): every call reserves what
//! its pixels will cost before it decodes anything, waits (in order, for at
//! most `--memory-wait-seconds`, stopping if the call is cancelled) while
//! the budget is spoken for, and is refused at once when it could never fit.
//!
//! The decode cache takes its share off the top (at most a quarter of the
//! budget), so decoded images kept between calls and the pixels of calls in
//! flight together stay under `--max-memory`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mcp_servers_core::error::{ToolError, ToolResult};

/// The budget when physical memory cannot be read.
pub const FALLBACK_MAX_MEMORY: u64 = 2 << 30;
/// The smallest budget accepted.
pub const MIN_MAX_MEMORY: u64 = 16 << 20;
/// Default for `--memory-wait-seconds`.
pub const DEFAULT_MEMORY_WAIT_SECONDS: u64 = 120;
/// Most calls waiting for memory at once; more are refused as busy (each
/// waiting call holds a blocking thread).
pub const MAX_WAITERS: usize = 64;
/// How often a waiting call checks whether it was cancelled.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// The default budget: a quarter of the memory this process may use (the
/// machine's, or its cgroup's limit if lower), else [`FALLBACK_MAX_MEMORY`].
pub fn default_max_memory() -> u64 {
    available_memory().map_or(FALLBACK_MAX_MEMORY, |bytes| (bytes / 4).max(MIN_MAX_MEMORY))
}

/// Physical memory (`MemTotal`), lowered to the cgroup's limit when one is
/// set; None where neither can be read (not Linux).
fn available_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| meminfo_total(&text));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok())
    .and_then(|text| text.trim().parse::<u64>().ok());
    match (total, cgroup) {
        (Some(total), Some(limit)) => Some(total.min(limit)),
        (total, limit) => total.or(limit),
    }
}

/// `MemTotal` of /proc/meminfo, in bytes.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => value.checked_mul(1024),
        _ => None,
    }
}

/// Parses a size: plain bytes (`1073741824`) or with a binary suffix
/// (`512K`, `512M`, `2G`, `1T`, also `512MiB`, `2GB`; case-insensitive).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let bad = || {
        format!(
            "invalid size {text:?}: give bytes (e.g. 1073741824) or a number with K, M, G or T (e.g. 512M, 2G)"
        )
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// The `--max-memory` value parser: a size of at least [`MIN_MAX_MEMORY`].
pub fn parse_max_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes < MIN_MAX_MEMORY {
        return Err(format!(
            "--max-memory must be at least {} MiB, not {bytes} bytes",
            MIN_MAX_MEMORY >> 20
        ));
    }
    Ok(bytes)
}

/// "1.5 GiB", "300.0 MiB", "12 KiB", "100 bytes".
pub fn human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return format!("{:.1} {unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes} bytes")
}

/// The budget shared by every session of the server.
pub struct MemoryBudget {
    /// `--max-memory`.
    max_memory: u64,
    /// What calls may reserve in total (`max_memory` less the cache's share).
    calls: u64,
    /// The decode cache's share.
    cache: u64,
    wait: Duration,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    used: u64,
    /// Tickets of the calls waiting, first come first served.
    queue: VecDeque<u64>,
    next_ticket: u64,
    /// Most bytes reserved at once (for tests and measurements).
    peak: u64,
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("max_memory", &self.max_memory)
            .field("calls", &self.calls)
            .field("cache", &self.cache)
            .field("used", &self.lock().used)
            .finish()
    }
}

impl MemoryBudget {
    /// A budget of `max_memory` bytes of which the decode cache takes
    /// `min(cache_bytes, max_memory / 4)`; calls wait at most `wait`.
    pub fn new(max_memory: u64, cache_bytes: u64, wait: Duration) -> Arc<Self> {
        let max_memory = max_memory.max(1);
        let cache = cache_bytes.min(max_memory / 4);
        Arc::new(Self {
            max_memory,
            calls: max_memory - cache,
            cache,
            wait,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        })
    }

    pub fn max_memory(&self) -> u64 {
        self.max_memory
    }

    /// What calls may reserve in total.
    pub fn for_calls(&self) -> u64 {
        self.calls
    }

    /// The decode cache's share, in bytes.
    pub fn cache_share(&self) -> u64 {
        self.cache
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    /// The most bytes ever reserved at once.
    pub fn peak(&self) -> u64 {
        self.lock().peak
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn never_fits(&self, bytes: u64, held: u64, what: &str) -> ToolError {
        let beside = if held > 0 {
            format!(" beside the {} its call already holds,", human(held))
        } else {
            String::new()
        };
        ToolError::new(format!(
            "{what} needs about {} ({bytes} bytes) of memory,{beside} more than this server's \
             whole memory budget for calls of {} ({} bytes: --max-memory {} less the decode \
             cache's {}); refused before decoding. Use a smaller image or fewer operations, or \
             raise --max-memory (MCP_IMAGE_MAX_MEMORY)",
            human(bytes),
            human(self.calls),
            self.calls,
            self.max_memory,
            human(self.cache),
        ))
    }

    /// Reserves `bytes`, waiting in order behind earlier calls while the
    /// budget is spoken for. Fails at once when `bytes` could never fit, and
    /// after `--memory-wait-seconds` or once the call is cancelled or past
    /// its deadline. `what` names the work in messages.
    pub fn reserve(self: &Arc<Self>, bytes: u64, what: &str) -> ToolResult<Reservation> {
        self.reserve_beside(0, bytes, what)
    }

    /// [`MemoryBudget::reserve`] for a call that already holds `held` bytes
    /// (which will not be released while it waits): refused at once when
    /// the two could never fit together.
    pub fn reserve_beside(
        self: &Arc<Self>,
        held: u64,
        bytes: u64,
        what: &str,
    ) -> ToolResult<Reservation> {
        if bytes.saturating_add(held) > self.calls {
            return Err(self.never_fits(bytes, held, what));
        }
        let mut state = self.lock();
        if state.queue.is_empty() && state.used + bytes <= self.calls {
            return Ok(self.grant(&mut state, bytes));
        }
        if state.queue.len() >= MAX_WAITERS {
            return Err(ToolError::new(format!(
                "the server is busy: {MAX_WAITERS} calls are already waiting for memory \
                 (--max-memory {}); try again shortly",
                human(self.max_memory)
            )));
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(ticket);
        let deadline = Instant::now() + self.wait;
        loop {
            if state.queue.front() == Some(&ticket) && state.used + bytes <= self.calls {
                state.queue.pop_front();
                let reservation = self.grant(&mut state, bytes);
                // The next in line may fit too.
                self.wake.notify_all();
                return Ok(reservation);
            }
            let stop = match mcp_servers_core::work::check() {
                Err(e) => Some(e),
                Ok(()) if Instant::now() >= deadline => Some(ToolError::new(format!(
                    "{what} needs about {} of memory and waited {} s for other calls to \
                     release the budget ({} of {} in use; --max-memory); try again, or raise \
                     --max-memory or --memory-wait-seconds",
                    human(bytes),
                    self.wait.as_secs(),
                    human(state.used),
                    human(self.calls),
                ))),
                Ok(()) => None,
            };
            if let Some(err) = stop {
                state.queue.retain(|&t| t != ticket);
                self.wake.notify_all();
                return Err(err);
            }
            let slice = WAIT_SLICE.min(deadline.saturating_duration_since(Instant::now()));
            state = self
                .wake
                .wait_timeout(state, slice.max(Duration::from_millis(1)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Grows `reservation` to `bytes` if that fits now without overtaking
    /// anyone waiting; false (and unchanged) otherwise. Shrinking always works.
    pub fn try_resize(&self, reservation: &mut Reservation, bytes: u64) -> bool {
        let mut state = self.lock();
        if bytes <= reservation.bytes {
            state.used -= reservation.bytes - bytes;
            reservation.bytes = bytes;
            drop(state);
            self.wake.notify_all();
            return true;
        }
        let more = bytes - reservation.bytes;
        if !state.queue.is_empty() || state.used + more > self.calls {
            return false;
        }
        state.used += more;
        state.peak = state.peak.max(state.used);
        reservation.bytes = bytes;
        true
    }

    fn grant(self: &Arc<Self>, state: &mut State, bytes: u64) -> Reservation {
        state.used += bytes;
        state.peak = state.peak.max(state.used);
        Reservation {
            budget: Arc::clone(self),
            bytes,
        }
    }

    fn release(&self, bytes: u64) {
        let mut state = self.lock();
        state.used = state.used.saturating_sub(bytes);
        drop(state);
        self.wake.notify_all();
    }
}

/// Bytes of the budget held by one call; given back when dropped (also on
/// an error or a panic).
#[must_use = "the memory is released when the reservation is dropped"]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grows to `bytes` if that fits now; see [`MemoryBudget::try_resize`].
    pub fn try_resize(&mut self, bytes: u64) -> bool {
        let budget = Arc::clone(&self.budget);
        budget.try_resize(self, bytes)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_servers_core::work::{CallLimits, enter};

    const MIB: u64 = 1 << 20;

    fn budget(calls_mib: u64) -> Arc<MemoryBudget> {
        MemoryBudget::new(calls_mib * MIB, 0, Duration::from_secs(60))
    }

    #[test]
    fn sizes_parse_with_and_without_suffixes() {
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert_eq!(parse_size(" 64 MiB "), Ok(64 << 20));
        assert_eq!(parse_size("3k"), Ok(3 << 10));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        for bad in ["", "G", "-1", "1.5G", "12X", "0x10"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000T").unwrap_err().contains("too large"));
        assert!(
            parse_max_memory("1M")
                .unwrap_err()
                .contains("at least 16 MiB")
        );
        assert_eq!(parse_max_memory("16M"), Ok(16 << 20));
    }

    #[test]
    fn meminfo_is_read_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n";
        assert_eq!(meminfo_total(text), Some(24_576_000 * 1024));
        assert_eq!(meminfo_total("MemFree: 1 kB"), None);
        assert!(default_max_memory() >= MIN_MAX_MEMORY);
    }

    #[test]
    fn the_cache_takes_at_most_a_quarter() {
        let b = MemoryBudget::new(64 * MIB, 256 * MIB, Duration::from_secs(1));
        assert_eq!((b.cache_share(), b.for_calls()), (16 * MIB, 48 * MIB));
        let b = MemoryBudget::new(4096 * MIB, 256 * MIB, Duration::from_secs(1));
        assert_eq!((b.cache_share(), b.for_calls()), (256 * MIB, 3840 * MIB));
    }

    #[test]
    fn reservations_are_released_on_drop_even_in_a_panic() {
        let b = budget(100);
        let r = b.reserve(60 * MIB, "a").unwrap();
        assert_eq!(b.used(), 60 * MIB);
        drop(r);
        assert_eq!(b.used(), 0);
        let b2 = Arc::clone(&b);
        let panicked = std::thread::spawn(move || {
            let _r = b2.reserve(70 * MIB, "b").unwrap();
            panic!("boom");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(b.used(), 0);
        assert_eq!(b.peak(), 70 * MIB);
    }

    #[test]
    fn what_could_never_fit_is_refused_at_once_naming_both_sizes_and_the_flag() {
        let b = budget(100);
        let _held = b.reserve(90 * MIB, "held").unwrap();
        let err = b
            .reserve(101 * MIB, "the transform")
            .unwrap_err()
            .to_string();
        assert!(err.contains("the transform needs about 101.0 MiB"), "{err}");
        assert!(err.contains("100.0 MiB"), "{err}");
        assert!(err.contains("--max-memory"), "{err}");
    }

    #[test]
    fn a_call_that_does_not_fit_now_waits_for_the_memory() {
        let b = budget(100);
        let first = b.reserve(80 * MIB, "first").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let b2 = Arc::clone(&b);
        let waiter = std::thread::spawn(move || {
            let r = b2.reserve(50 * MIB, "second").unwrap();
            tx.send(b2.used()).unwrap();
            drop(r);
        });
        // It cannot have its memory while the first holds 80 of 100 MiB.
        while b.lock().queue.is_empty() {
            std::thread::yield_now();
        }
        assert!(rx.try_recv().is_err());
        drop(first);
        assert_eq!(rx.recv().unwrap(), 50 * MIB);
        waiter.join().unwrap();
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_waiting_call_stops_when_cancelled() {
        let b = budget(100);
        let _held = b.reserve(80 * MIB, "held").unwrap();
        let limits = CallLimits::new(
            Default::default(),
            Instant::now() + Duration::from_secs(600),
        );
        let ct = limits.token().clone();
        let b2 = Arc::clone(&b);
        let waiter =
            std::thread::spawn(move || enter(Some(limits), || b2.reserve(50 * MIB, "w").err()));
        while b.lock().queue.is_empty() {
            std::thread::yield_now();
        }
        ct.cancel();
        let err = waiter.join().unwrap().expect("cancelled").to_string();
        assert!(err.contains("cancelled"), "{err}");
        assert!(b.lock().queue.is_empty(), "its ticket left the queue");
    }

    #[test]
    fn what_could_never_fit_beside_what_the_call_holds_is_refused_at_once() {
        let b = budget(100);
        let sheet = b.reserve(70 * MIB, "sheet").unwrap();
        let err = b
            .reserve_beside(sheet.bytes(), 40 * MIB, "thumbnail #1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("beside the 70.0 MiB its call already holds"),
            "{err}"
        );
        let thumb = b
            .reserve_beside(sheet.bytes(), 30 * MIB, "thumbnail #2")
            .unwrap();
        assert_eq!(b.used(), 100 * MIB);
        drop((thumb, sheet));
    }

    #[test]
    fn waiting_is_bounded_in_time() {
        let b = MemoryBudget::new(100 * MIB, 0, Duration::ZERO);
        let _held = b.reserve(80 * MIB, "held").unwrap();
        let err = b.reserve(50 * MIB, "late").unwrap_err().to_string();
        assert!(err.contains("waited 0 s"), "{err}");
        assert!(err.contains("--memory-wait-seconds"), "{err}");
    }

    #[test]
    fn growing_never_overtakes_the_queue_and_shrinking_always_works() {
        let b = budget(100);
        let mut r = b.reserve(10 * MIB, "r").unwrap();
        assert!(r.try_resize(60 * MIB));
        assert_eq!(b.used(), 60 * MIB);
        assert!(!r.try_resize(120 * MIB));
        assert_eq!(r.bytes(), 60 * MIB);
        assert!(r.try_resize(5 * MIB));
        assert_eq!(b.used(), 5 * MIB);
        b.lock().queue.push_back(999);
        assert!(!r.try_resize(6 * MIB), "someone is waiting");
        b.lock().queue.clear();
    }
}
