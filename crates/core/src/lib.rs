//! mcp-servers-core: everything the servers of this workspace share.
//!
//! One module per idea; a server imports what it needs and nothing else.
//! See ARCHITECTURE.md at the repository root for the map and invariants.

pub mod cache;
pub mod cli;
pub mod client_log;
pub mod completion;
pub mod content;
pub mod error;
pub mod fsutil;
pub mod heap;
pub mod metrics;
pub mod progress;
pub mod roots;
pub mod sandbox;
pub mod schema;
pub mod serve;
pub mod trace;
pub mod work;
