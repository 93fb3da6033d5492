//! The extraction pool: threads that run PDF engines while the reading thread
//! goes on. Dropping the pool aborts what is still running, so a stop or a panic
//! never leaves a child process behind or a join hanging.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use crate::limits::Limits;
use crate::pdf::{PdfError, PdfExtractor, PdfOutcome};

/// What a pool thread hands back: the outcome and the PDF's bytes, which the
/// caller still needs for storage.
pub(super) struct Extracted {
    pub(super) outcome: Result<PdfOutcome, PdfError>,
    pub(super) bytes: Vec<u8>,
}

/// Threads that extract PDFs while the reading thread goes on.
pub(super) struct Pool {
    pub(super) tasks: Option<mpsc::Sender<Task>>,
    pub(super) abort: Arc<AtomicBool>,
    pub(super) inline: Option<(PdfExtractor, Limits)>,
    pub(super) workers: usize,
}

pub(super) struct Task {
    pub(super) bytes: Vec<u8>,
    pub(super) reply: mpsc::SyncSender<Extracted>,
}

impl Pool {
    /// Hands the PDF to a pool thread; the answer arrives on the receiver.
    /// Without threads (none could be started) it is extracted right here.
    pub(super) fn submit(&self, bytes: Vec<u8>) -> mpsc::Receiver<Extracted> {
        let (reply, receiver) = mpsc::sync_channel(1);
        let task = Task { bytes, reply };
        let task = match &self.tasks {
            Some(tasks) => match tasks.send(task) {
                Ok(()) => return receiver,
                Err(mpsc::SendError(task)) => task,
            },
            None => task,
        };
        let outcome = match &self.inline {
            Some((pdf, limits)) => pdf.extract_abortable(&task.bytes, limits, &self.abort),
            None => Err(PdfError::Abandoned),
        };
        let _ = task.reply.send(Extracted {
            outcome,
            bytes: task.bytes,
        });
        receiver
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Whatever is still being extracted was read ahead of a stop (or a
        // panic): nobody will look at it, so its processes go now.
        self.abort.store(true, Ordering::Relaxed);
        self.tasks = None;
    }
}

/// Runs `body` with a pool of `limits.pdf_workers` extraction threads, which
/// are stopped and joined before this returns.
pub(super) fn with_pool<T>(
    limits: &Limits,
    pdf: &PdfExtractor,
    body: impl FnOnce(&Pool) -> T,
) -> T {
    let workers = limits.pdf_workers.max(1);
    let (sender, receiver) = mpsc::channel::<Task>();
    let receiver = Mutex::new(receiver);
    let abort = Arc::new(AtomicBool::new(false));
    thread::scope(|scope| {
        let mut started = 0;
        for n in 0..workers {
            let (receiver, abort) = (&receiver, Arc::clone(&abort));
            let spawned = thread::Builder::new()
                .name(format!("quire-pdf-{n}"))
                .spawn_scoped(scope, move || {
                    extraction_worker(receiver, pdf, limits, &abort)
                });
            if spawned.is_ok() {
                started += 1;
            }
        }
        let pool = Pool {
            tasks: (started > 0).then_some(sender),
            inline: (started == 0).then(|| (pdf.clone(), limits.clone())),
            abort,
            workers: started.max(1),
        };
        // Dropping the pool (also when `body` panics) closes the queue and
        // kills running extractions, so the scope's join cannot hang.
        body(&pool)
    })
}

pub(super) fn extraction_worker(
    tasks: &Mutex<mpsc::Receiver<Task>>,
    pdf: &PdfExtractor,
    limits: &Limits,
    abort: &AtomicBool,
) {
    loop {
        let task = match tasks.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(task) = task else {
            return;
        };
        let outcome = if abort.load(Ordering::Relaxed) {
            Err(PdfError::Abandoned)
        } else {
            pdf.extract_abortable(&task.bytes, limits, abort)
        };
        // The judge may have stopped and dropped the receiver: nothing to do.
        let _ = task.reply.send(Extracted {
            outcome,
            bytes: task.bytes,
        });
    }
}
