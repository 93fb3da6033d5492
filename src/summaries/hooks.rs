//! The summaries' subscription to the documents capability's changes
//! (`crate::hooks`): new content makes a document's summaries stale and, with the
//! organisation's `auto_resummarize`, enqueues fresh ones ([`service::content_changed`]).

use crate::hooks::{ContentChanged, HookFuture, OnContentChanged};
use crate::state::AppState;
use crate::summaries::service;

/// Subscribed by the assembly (`crate::app::subscribe`).
pub struct StaleSummaries;

impl OnContentChanged for StaleSummaries {
    fn content_changed<'a>(
        &'a self,
        state: &'a AppState,
        change: &'a ContentChanged,
    ) -> HookFuture<'a> {
        Box::pin(service::content_changed(state, change))
    }
}
