//! Questions in flight per backend, shared by every question run of the process. It is
//! part of the backends (not of question runs) because it protects the backend: any
//! capability that asks a backend takes a slot here.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backends::BackendKind;

/// Questions in flight against each backend kind, shared by all runs of this process
/// (`BACKEND_MAX_CONCURRENCY` each), so two runs do not double the load on one
/// AnythingLLM instance.
pub struct BackendLimits {
    embedded: Arc<Semaphore>,
    anythingllm: Arc<Semaphore>,
}

impl BackendLimits {
    pub fn new(per_backend: u32) -> Self {
        let n = per_backend.max(1) as usize;
        Self {
            embedded: Arc::new(Semaphore::new(n)),
            anythingllm: Arc::new(Semaphore::new(n)),
        }
    }

    /// Waits for a slot on `kind`'s backend; the slot is held until the permit drops.
    pub async fn acquire(&self, kind: BackendKind) -> Option<OwnedSemaphorePermit> {
        let sem = match kind {
            BackendKind::Embedded => &self.embedded,
            BackendKind::Anythingllm => &self.anythingllm,
        };
        sem.clone().acquire_owned().await.ok()
    }
}
