//! Each attempt is counted by operation and status, and timed.

mod common;

use anythingllm::testing::endpoint;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(flavor = "current_thread")]
async fn each_attempt_is_counted_by_operation_and_status_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The current-thread runtime polls the client on this thread, where the
    // local recorder is installed.
    let _guard = metrics::set_default_local_recorder(&recorder);
    let s = common::setup().await;
    s.handle.fail_next(1);
    s.client.check_auth().await.expect("second attempt works");
    assert_eq!(s.handle.requests(endpoint::AUTH), 2);

    let mut counts = Vec::new();
    let mut timings = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        match (key.name(), value) {
            ("anythingllm_requests_total", DebugValue::Counter(n)) => counts.push((labels, n)),
            ("anythingllm_response_duration_seconds", DebugValue::Histogram(values)) => {
                assert_eq!(labels, vec![("operation".to_owned(), "auth".to_owned())]);
                timings += values.len();
            }
            _ => {}
        }
    }
    counts.sort();
    let label = |status: &str| {
        vec![
            ("operation".to_owned(), "auth".to_owned()),
            ("status".to_owned(), status.to_owned()),
        ]
    };
    assert_eq!(counts, vec![(label("200"), 1), (label("500"), 1)]);
    assert_eq!(timings, 2);
}
