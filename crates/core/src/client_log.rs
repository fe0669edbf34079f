//! Logging notifications (`notifications/message`) at the level the client
//! sets with `logging/setLevel`, per session.
//!
//! MCP logging is deprecated in the newest protocol version (SEP-2577) but
//! most clients still speak it, so rmcp marks its types deprecated; this
//! module allows that locally and is the only place that touches them.
#![allow(deprecated)]

use std::sync::{Arc, Mutex, PoisonError};

use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::Peer;

/// Severity of a message, in the protocol's order (syslog's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

impl Level {
    fn from_protocol(level: LoggingLevel) -> u8 {
        match level {
            LoggingLevel::Debug => 0,
            LoggingLevel::Info => 1,
            LoggingLevel::Notice => 2,
            LoggingLevel::Warning => 3,
            LoggingLevel::Error => 4,
            LoggingLevel::Critical => 5,
            LoggingLevel::Alert => 6,
            LoggingLevel::Emergency => 7,
        }
    }

    fn rank(self) -> u8 {
        self as u8
    }

    fn to_protocol(self) -> LoggingLevel {
        match self {
            Level::Debug => LoggingLevel::Debug,
            Level::Info => LoggingLevel::Info,
            Level::Notice => LoggingLevel::Notice,
            Level::Warning => LoggingLevel::Warning,
            Level::Error => LoggingLevel::Error,
        }
    }
}

/// The minimum level one session's client wants; warnings and worse until
/// it says otherwise.
#[derive(Debug, Clone)]
pub struct ClientLog {
    min: Arc<Mutex<u8>>,
    /// The logger name the notifications carry (the server's name).
    logger: &'static str,
}

impl ClientLog {
    pub fn new(logger: &'static str) -> Self {
        Self {
            min: Arc::new(Mutex::new(Level::Warning.rank())),
            logger,
        }
    }

    pub fn set_level(&self, level: LoggingLevel) {
        *self.min.lock().unwrap_or_else(PoisonError::into_inner) = Level::from_protocol(level);
    }

    pub fn enabled(&self, level: Level) -> bool {
        level.rank() >= *self.min.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `message` to the client if its level lets it through. Also
    /// traced to stderr at debug level. A failed send is not the tool's
    /// failure.
    pub async fn send(&self, peer: &Peer<RoleServer>, level: Level, message: impl Into<String>) {
        let message = message.into();
        tracing::debug!(?level, "{message}");
        if !self.enabled(level) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(
            level.to_protocol(),
            serde_json::Value::String(message),
        )
        .with_logger(self.logger);
        if let Err(e) = peer.notify_logging_message(param).await {
            tracing::debug!("logging notification not sent: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_filters_by_severity() {
        let log = ClientLog::new("test");
        assert!(!log.enabled(Level::Info));
        assert!(log.enabled(Level::Warning));
        log.set_level(LoggingLevel::Debug);
        assert!(log.enabled(Level::Debug));
        log.set_level(LoggingLevel::Error);
        assert!(!log.enabled(Level::Warning));
        assert!(log.enabled(Level::Error));
    }
}
