//! In-order delivery: judged entries wait in a bounded window (entries and
//! bytes) and reach the callback in archive order, whatever order their PDFs
//! finish in; a stop or failure drops everything read ahead unseen.

use std::ops::ControlFlow;
use std::sync::mpsc;

use super::checks::pdf_verdict;
use super::pool::Extracted;
use super::{CallbackError, FatalReason, Judge, Judgement, Refusal};
use crate::report::{EntryContent, EntryReport, Judged, Progress};

/// One entry waiting for its turn to be delivered.
pub(super) struct Slot {
    pub(super) kind: SlotKind,
    /// Progress as of reading this entry.
    pub(super) progress: Progress,
    pub(super) bytes: u64,
}

pub(super) enum SlotKind {
    /// A directory or OS metadata: counted, not reported.
    Skipped,
    Judged(EntryReport, Option<EntryContent>),
    /// A PDF whose text a pool thread is extracting.
    Extracting(EntryReport, mpsc::Receiver<Extracted>),
}

impl<F> Judge<'_, F>
where
    F: FnMut(Judged<'_>) -> Result<ControlFlow<()>, CallbackError>,
{
    /// Queues a judged entry, or hands a PDF to the pool first.
    pub(super) fn enqueue_judged(
        &mut self,
        mut report: EntryReport,
        judged: Result<Judgement, Refusal>,
    ) -> Result<ControlFlow<()>, FatalReason> {
        match judged {
            Ok(Judgement::Done(content)) => {
                let bytes = content.as_ref().map_or(0, |c| c.bytes.len() as u64);
                self.enqueue(SlotKind::Judged(report, content), bytes)
            }
            Ok(Judgement::Pdf(bytes)) => {
                let size = bytes.len() as u64;
                let receiver = self.pool.submit(bytes);
                self.enqueue(SlotKind::Extracting(report, receiver), size)
            }
            Err(Refusal::Entry(rejection)) => {
                report.reject(rejection);
                self.enqueue(SlotKind::Judged(report, None), 0)
            }
            Err(Refusal::Fatal(reason)) => Err(reason),
        }
    }

    /// Puts an entry in line, then delivers every entry at the front whose
    /// verdict is ready, waiting for them while the line is over its bounds.
    pub(super) fn enqueue(
        &mut self,
        kind: SlotKind,
        bytes: u64,
    ) -> Result<ControlFlow<()>, FatalReason> {
        self.waiting.push_back(Slot {
            kind,
            progress: self.progress,
            bytes,
        });
        self.waiting_bytes = self.waiting_bytes.saturating_add(bytes);
        let window = 2 * self.pool.workers + 1;
        loop {
            let full =
                self.waiting.len() > window || self.waiting_bytes > self.limits.max_buffered_bytes;
            match self.deliver_front(full)? {
                Some(ControlFlow::Continue(())) => {}
                Some(ControlFlow::Break(())) => return Ok(ControlFlow::Break(())),
                None => return Ok(ControlFlow::Continue(())),
            }
        }
    }

    /// Delivers every waiting entry, in order.
    pub(super) fn drain(&mut self) -> Result<ControlFlow<()>, FatalReason> {
        while !self.waiting.is_empty() {
            if let Some(ControlFlow::Break(())) = self.deliver_front(true)? {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Delivers the first waiting entry if its verdict is ready (or, with
    /// `wait`, once it is). `None`: nothing was delivered. After a stop or a
    /// failure the entries read ahead are dropped unseen.
    pub(super) fn deliver_front(
        &mut self,
        wait: bool,
    ) -> Result<Option<ControlFlow<()>>, FatalReason> {
        let Some(front) = self.waiting.front() else {
            return Ok(None);
        };
        let extracted = match &front.kind {
            SlotKind::Extracting(_, receiver) if wait => Some(receiver.recv()),
            SlotKind::Extracting(_, receiver) => match receiver.try_recv() {
                Ok(extracted) => Some(Ok(extracted)),
                Err(mpsc::TryRecvError::Empty) => return Ok(None),
                Err(mpsc::TryRecvError::Disconnected) => Some(Err(mpsc::RecvError)),
            },
            SlotKind::Skipped | SlotKind::Judged(..) => None,
        };
        let Some(slot) = self.waiting.pop_front() else {
            return Ok(None);
        };
        self.waiting_bytes = self.waiting_bytes.saturating_sub(slot.bytes);
        let delivered = self.deliver_slot(slot, extracted);
        if !matches!(delivered, Ok(ControlFlow::Continue(()))) {
            self.waiting.clear();
            self.waiting_bytes = 0;
        }
        delivered.map(Some)
    }

    pub(super) fn deliver_slot(
        &mut self,
        slot: Slot,
        extracted: Option<Result<Extracted, mpsc::RecvError>>,
    ) -> Result<ControlFlow<()>, FatalReason> {
        let (report, content) = match (slot.kind, extracted) {
            (SlotKind::Skipped, _) => {
                self.report.counts.skipped += 1;
                return Ok(ControlFlow::Continue(()));
            }
            (SlotKind::Judged(report, content), _) => (report, content),
            (SlotKind::Extracting(mut report, _), Some(Ok(extracted))) => {
                match pdf_verdict(&mut report, extracted) {
                    Ok(content) => (report, content),
                    Err(Refusal::Entry(rejection)) => {
                        report.reject(rejection);
                        (report, None)
                    }
                    Err(Refusal::Fatal(reason)) => return Err(reason),
                }
            }
            (SlotKind::Extracting(..), _) => {
                return Err(FatalReason::ExtractorUnavailable(
                    "an extraction thread stopped without an answer".to_owned(),
                ));
            }
        };
        self.deliver(report, content, slot.progress)
    }

    /// Records the entry and hands it to the callback.
    pub(super) fn deliver(
        &mut self,
        report: EntryReport,
        content: Option<EntryContent>,
        progress: Progress,
    ) -> Result<ControlFlow<()>, FatalReason> {
        self.report.push(report);
        let Some(report) = self.report.entries.last() else {
            return Ok(ControlFlow::Continue(()));
        };
        (self.on_entry)(Judged {
            report,
            content,
            progress,
        })
        .map_err(FatalReason::Callback)
    }
}
