//! The `test://` resources: static text and binary, a template, and a
//! watched resource that changes while a client is subscribed to it.
//!
//! Subscriptions are per session. Subscribing to test://watched-resource
//! starts a task that updates it every `--watch-interval-secs` and sends
//! `notifications/resources/updated`; unsubscribing (or the session
//! ending) stops it. The static resources never change, so subscribing to
//! them is accepted and sends nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::Peer;
use rmcp::{ErrorData, RoleServer};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::tools::TEST_IMAGE_PNG_BASE64;

pub const STATIC_TEXT: &str = "test://static-text";
pub const STATIC_BINARY: &str = "test://static-binary";
pub const WATCHED: &str = "test://watched-resource";
pub const TEMPLATE: &str = "test://template/{id}/data";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT, "static-text")
            .with_title("Static Text Resource")
            .with_description("A static text resource for testing")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY, "static-binary")
            .with_title("Static Binary Resource")
            .with_description("A static binary resource (image) for testing")
            .with_mime_type("image/png"),
        Resource::new(WATCHED, "watched-resource")
            .with_title("Watched Resource")
            .with_description(
                "A resource that changes every few seconds while subscribed to \
                 (notifications/resources/updated)",
            )
            .with_mime_type("text/plain"),
    ]
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE, "template")
            .with_title("Resource Template")
            .with_description("A resource template with parameter substitution")
            .with_mime_type("application/json"),
    ]
}

pub fn read(subscriptions: &Subscriptions, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let contents = match uri {
        STATIC_TEXT => {
            ResourceContents::text("This is the content of the static text resource.", uri)
                .with_mime_type("text/plain")
        }
        STATIC_BINARY => {
            ResourceContents::blob(TEST_IMAGE_PNG_BASE64, uri).with_mime_type("image/png")
        }
        WATCHED => {
            ResourceContents::text(subscriptions.watched_text(), uri).with_mime_type("text/plain")
        }
        _ => {
            let id = template_id(uri).ok_or_else(|| not_found(uri))?;
            let data =
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
            ResourceContents::text(data.to_string(), uri).with_mime_type("application/json")
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// The `{id}` of a URI matching the template: one non-empty path segment.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix(TEMPLATE_PREFIX)?
        .strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!(
            "no resource {uri}; this server has {STATIC_TEXT}, {STATIC_BINARY}, {WATCHED} and \
             {TEMPLATE}"
        ),
        None,
    )
}

/// One session's subscriptions, and the watched resource's revision.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Subscribed URI -> what stops its updater (none for static ones).
    active: Mutex<HashMap<String, Option<CancellationToken>>>,
    revision: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let active = self
            .active
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for token in active.values().flatten() {
            token.cancel();
        }
    }
}

impl Subscriptions {
    pub fn subscribe(
        &self,
        uri: &str,
        peer: &Peer<RoleServer>,
        interval: Duration,
    ) -> Result<(), ErrorData> {
        let known =
            matches!(uri, STATIC_TEXT | STATIC_BINARY | WATCHED) || template_id(uri).is_some();
        if !known {
            return Err(not_found(uri));
        }
        let mut active = self.lock();
        if active.contains_key(uri) {
            return Ok(());
        }
        let updater = (uri == WATCHED).then(|| self.start_updates(peer.clone(), interval));
        active.insert(uri.to_owned(), updater);
        Ok(())
    }

    /// Unsubscribing from something not subscribed to is not an error: the
    /// client's wish (no updates) already holds.
    pub fn unsubscribe(&self, uri: &str) -> Result<(), ErrorData> {
        if let Some(Some(token)) = self.lock().remove(uri) {
            token.cancel();
        }
        Ok(())
    }

    pub fn is_subscribed(&self, uri: &str) -> bool {
        self.lock().contains_key(uri)
    }

    fn watched_text(&self) -> String {
        match self.inner.revision.load(Ordering::Relaxed) {
            0 => "Watched resource content".to_owned(),
            n => format!("Watched resource content (revision {n})"),
        }
    }

    fn start_updates(&self, peer: Peer<RoleServer>, interval: Duration) -> CancellationToken {
        let token = CancellationToken::new();
        let stop = token.clone();
        // A weak handle: the task must not keep a finished session alive.
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let Some(inner) = inner.upgrade() else { return };
                inner.revision.fetch_add(1, Ordering::Relaxed);
                drop(inner);
                let param = ResourceUpdatedNotificationParam::new(WATCHED);
                if peer.notify_resource_updated(param).await.is_err() {
                    return;
                }
            }
        });
        token
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<CancellationToken>>> {
        self.inner
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_are_one_segment() {
        assert_eq!(template_id("test://template/123/data"), Some("123"));
        assert_eq!(template_id("test://template//data"), None);
        assert_eq!(template_id("test://template/a/b/data"), None);
        assert_eq!(template_id("test://template/123"), None);
    }

    #[test]
    fn reading_an_unknown_uri_names_the_known_ones() {
        let err = read(&Subscriptions::default(), "test://nope").unwrap_err();
        assert!(err.message.contains(STATIC_TEXT), "{}", err.message);
    }

    #[test]
    fn template_read_carries_the_id() {
        let result = read(&Subscriptions::default(), "test://template/42/data").unwrap();
        let text = serde_json::to_string(&result).unwrap();
        assert!(text.contains("Data for ID: 42"), "{text}");
    }
}
