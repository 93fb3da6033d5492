//! The job's states and the pure rules around them: which states are final, how long to
//! wait before a retry, when a running job will probably finish.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its life: `queued → running → succeeded | failed | cancelled`.
/// A failed attempt with attempts left goes back to `queued` (with a later `run_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker (possibly until `run_at`, after a failed attempt).
    Queued,
    /// Held by a worker under a lease.
    Running,
    Succeeded,
    /// Failed on its last allowed attempt (or with a permanent error); `error` says why.
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// A terminal job never changes again (it may only be deleted).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("'{s}' is not a job status (queued, running, succeeded, failed, cancelled)")
            })
    }
}

/// A job type name: lowercase ASCII letters, digits, `.`, `_` and `-`, 1 to 64 characters
/// (e.g. `documents.upload`). Checked when enqueuing so a typo cannot create a job no
/// worker will ever claim.
pub fn is_valid_job_type(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        })
}

/// Longest wait between two attempts, whatever the base and the attempt number.
pub const MAX_RETRY_DELAY_MS: u64 = 15 * 60 * 1000;

/// Delay before the next attempt after attempt number `attempt` (1-based) failed:
/// `base × 2^(attempt−1)`, capped at [`MAX_RETRY_DELAY_MS`], then stretched by up to 25%
/// of jitter (`jitter` in `[0, 1)`). The jitter only ever adds, so each delay is at least
/// the one before it doubled and retries of many jobs failing together spread out.
pub fn retry_delay_ms(base_ms: u64, attempt: u32, jitter: f64) -> u64 {
    let exponent = attempt.saturating_sub(1).min(40);
    let raw = base_ms
        .saturating_mul(1u64 << exponent)
        .min(MAX_RETRY_DELAY_MS);
    let jitter = jitter.clamp(0.0, 1.0);
    raw + (raw as f64 * 0.25 * jitter) as u64
}

/// What the estimate needs from a job row.
#[derive(Clone, Copy, Debug)]
pub struct ProgressSample {
    pub status: JobStatus,
    /// Percent done now.
    pub progress: f64,
    /// Percent done when this attempt started (a resumed job may start above zero).
    pub progress_at_start: f64,
    /// When this attempt started (ms).
    pub started_at: Option<i64>,
    /// When `progress` was last reported (ms).
    pub progress_updated_at: Option<i64>,
}

/// When a running job will probably finish, extrapolating the rate observed in this
/// attempt: `(progress − progress_at_start) / (progress_updated_at − started_at)` percent
/// per millisecond, applied to what remains after the last report. `None` until the job
/// has made measurable progress, and for jobs that are not running. Never earlier than
/// `now`: a job that stalled is not reported as finished in the past.
pub fn estimated_completion_ms(sample: ProgressSample, now: i64) -> Option<i64> {
    if sample.status != JobStatus::Running {
        return None;
    }
    let started = sample.started_at?;
    let reported = sample.progress_updated_at?;
    let elapsed = (reported - started) as f64;
    let done = sample.progress - sample.progress_at_start;
    if elapsed <= 0.0 || done <= 0.0 || sample.progress >= 100.0 {
        return None;
    }
    let rate = done / elapsed;
    let remaining = (100.0 - sample.progress) / rate;
    if !remaining.is_finite() {
        return None;
    }
    Some((reported + remaining.round() as i64).max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_three_are_terminal() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
        }
        let terminal: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                JobStatus::Succeeded,
                JobStatus::Failed,
                JobStatus::Cancelled
            ]
        );
        assert!("done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn job_type_names_are_restricted_to_a_safe_alphabet() {
        assert!(is_valid_job_type("documents.upload"));
        assert!(is_valid_job_type("test.sleep"));
        assert!(!is_valid_job_type(""));
        assert!(!is_valid_job_type("Documents"));
        assert!(!is_valid_job_type("a b"));
        assert!(!is_valid_job_type(&"x".repeat(65)));
    }

    #[test]
    fn retry_delays_double_with_each_attempt_and_jitter_only_adds() {
        assert_eq!(retry_delay_ms(1000, 1, 0.0), 1000);
        assert_eq!(retry_delay_ms(1000, 2, 0.0), 2000);
        assert_eq!(retry_delay_ms(1000, 3, 0.0), 4000);
        assert_eq!(retry_delay_ms(1000, 1, 0.999), 1249);
        // Even with the most jitter on one and none on the next, delays grow.
        for attempt in 1..10 {
            assert!(retry_delay_ms(100, attempt, 0.999) < retry_delay_ms(100, attempt + 1, 0.0));
        }
    }

    #[test]
    fn retry_delays_are_capped() {
        assert_eq!(retry_delay_ms(1000, 60, 0.0), MAX_RETRY_DELAY_MS);
        assert_eq!(retry_delay_ms(u64::MAX, 1, 0.0), MAX_RETRY_DELAY_MS);
    }

    fn running(progress: f64, at_start: f64, started: i64, reported: i64) -> ProgressSample {
        ProgressSample {
            status: JobStatus::Running,
            progress,
            progress_at_start: at_start,
            started_at: Some(started),
            progress_updated_at: Some(reported),
        }
    }

    #[test]
    fn completion_is_extrapolated_from_the_observed_rate() {
        // 25% in 10 s: 30 s more after the report.
        let eta = estimated_completion_ms(running(25.0, 0.0, 0, 10_000), 10_000);
        assert_eq!(eta, Some(40_000));
        // A resumed job counts only the progress made in this attempt.
        let eta = estimated_completion_ms(running(60.0, 50.0, 0, 10_000), 10_000);
        assert_eq!(eta, Some(50_000));
    }

    #[test]
    fn completion_is_unknown_without_progress_and_never_in_the_past() {
        assert_eq!(
            estimated_completion_ms(running(0.0, 0.0, 0, 10_000), 10_000),
            None
        );
        assert_eq!(
            estimated_completion_ms(running(50.0, 50.0, 0, 10_000), 10_000),
            None
        );
        let stalled = estimated_completion_ms(running(50.0, 0.0, 0, 1_000), 60_000);
        assert_eq!(stalled, Some(60_000));
        let mut queued = running(50.0, 0.0, 0, 1_000);
        queued.status = JobStatus::Queued;
        assert_eq!(estimated_completion_ms(queued, 1_000), None);
    }
}
