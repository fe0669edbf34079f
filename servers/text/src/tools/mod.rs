//! The tools, one file per group: typed parameters in, a structured result
//! (with an output schema) out.

pub mod chunk;
pub mod data;
pub mod diff;
pub mod encode;
pub mod extract;
pub mod html;
pub mod markdown;
pub mod matcher;
pub mod search;
pub mod stats;
pub mod transform;

use mcp_servers_core::error::ToolError;
use mcp_servers_core::progress::Progress;

/// Inputs smaller than this are worked on one thread: starting a second
/// would cost more than it saves.
pub(crate) const PARALLEL_FROM: usize = 256 * 1024;

/// Whether `len` bytes of input are worth a second thread, and there is a
/// second core for it.
pub(crate) fn worth_a_second_thread(len: usize) -> bool {
    len >= PARALLEL_FROM && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// Checks for cancellation and reports progress every `every` steps of a
/// loop over `total` bytes.
pub(crate) struct Ticker {
    progress: Progress,
    total: f64,
    every: usize,
    n: usize,
}

impl Ticker {
    pub fn new(progress: Progress, total_bytes: usize, every: usize) -> Self {
        Self {
            progress,
            total: total_bytes as f64,
            every: every.max(1),
            n: 0,
        }
    }

    /// Call once per step with the byte position reached.
    pub fn tick(&mut self, position: usize) -> Result<(), ToolError> {
        self.n += 1;
        if self.n.is_multiple_of(self.every) {
            self.progress.check()?;
            self.progress
                .report(position as f64, Some(self.total), None);
        }
        Ok(())
    }
}
