//! What other capabilities may hear about a document without the documents capability
//! knowing them: [`DocumentHooks`], held by the state and filled by the assembly
//! (`crate::app::job_registry`). The documents service announces a change; each
//! subscriber (the summaries marking theirs stale, say) does its part. So the arrow
//! points from the subscriber to the documents capability, never back.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use crate::error::ApiError;
use crate::state::AppState;

/// What changed: a document of an organisation got new content.
#[derive(Debug, Clone)]
pub struct ContentChanged {
    pub org_id: String,
    pub document_id: String,
    /// The user whose request changed it, when there was one.
    pub changed_by: Option<String>,
}

pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send + 'a>>;

/// A subscriber to document content changes. It runs after the new content is
/// committed, in the request (or job) that changed it; an error is the caller's error.
pub trait OnContentChanged: Send + Sync + 'static {
    fn content_changed<'a>(
        &'a self,
        state: &'a AppState,
        change: &'a ContentChanged,
    ) -> HookFuture<'a>;
}

/// The subscribers, in the order they subscribed.
#[derive(Default)]
pub struct DocumentHooks {
    content_changed: RwLock<Vec<Arc<dyn OnContentChanged>>>,
}

impl DocumentHooks {
    /// Adds a subscriber; the assembly does it once per subscriber and state.
    pub fn on_content_changed(&self, hook: Arc<dyn OnContentChanged>) {
        self.content_changed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(hook);
    }

    /// Whether anything has subscribed (the assembly subscribes once).
    pub fn is_empty(&self) -> bool {
        self.content_changed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    /// Tells every subscriber, in order; the first error stops and is returned.
    pub async fn content_changed(
        &self,
        state: &AppState,
        change: ContentChanged,
    ) -> Result<(), ApiError> {
        let hooks: Vec<Arc<dyn OnContentChanged>> = self
            .content_changed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for hook in hooks {
            hook.content_changed(state, &change).await?;
        }
        Ok(())
    }
}
