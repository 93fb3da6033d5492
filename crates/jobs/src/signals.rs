//! In-process signals between the parts of the queue: "a job was enqueued" (wakes idle
//! workers at once instead of at their next poll), "this job changed" (wakes event streams
//! at once instead of at their next poll), and the cancellation tokens of the jobs running
//! in this process (a cancel request served here reaches its handler at once).
//!
//! They are process-wide because [`crate::enqueue`] takes only the queue, and
//! because every worker pool and stream in the process should hear them. They are only
//! ever a shortcut: other processes learn the same things from the database (by
//! LISTEN/NOTIFY or by polling), so nothing is lost when a signal is missed.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

static WAKE: Notify = Notify::const_new();

/// Wakes every idle worker of this process.
pub fn wake_workers() {
    WAKE.notify_waiters();
}

/// Resolves at the next [`wake_workers`]. Create it (and `enable` it) before checking for
/// work, so a wake between the check and the wait is not missed.
pub fn workers_woken() -> tokio::sync::futures::Notified<'static> {
    WAKE.notified()
}

fn changes() -> &'static broadcast::Sender<String> {
    static CHANGES: OnceLock<broadcast::Sender<String>> = OnceLock::new();
    CHANGES.get_or_init(|| broadcast::channel(1024).0)
}

/// Announces that the row of job `id` changed (state or progress).
pub fn job_changed(id: &str) {
    // No receiver is fine: nobody is watching.
    let _ = changes().send(id.to_owned());
}

pub fn subscribe_to_job_changes() -> broadcast::Receiver<String> {
    changes().subscribe()
}

fn running() -> &'static Mutex<HashMap<String, CancellationToken>> {
    static RUNNING: OnceLock<Mutex<HashMap<String, CancellationToken>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

/// Records the token that cancels job `id`'s handler while it runs here.
pub fn register_running(id: &str, token: CancellationToken) {
    if let Ok(mut map) = running().lock() {
        map.insert(id.to_owned(), token);
    }
}

pub fn unregister_running(id: &str) {
    if let Ok(mut map) = running().lock() {
        map.remove(id);
    }
}

/// Cancels job `id`'s handler if it runs in this process; `true` if it did.
pub fn cancel_running(id: &str) -> bool {
    let token = running().lock().ok().and_then(|map| map.get(id).cloned());
    match token {
        Some(token) => {
            token.cancel();
            true
        }
        None => false,
    }
}
