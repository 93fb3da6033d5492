//! Originals in storage: streamed in with their hash, read back byte-identical, and
//! nothing left behind when an upload is over the limit. On local disk and on S3.

use bytes::Bytes;
use futures::StreamExt;

use crate::helpers::{Backend, TestApp, s3_storage_args};

async fn local_app() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await.unwrap()
}

async fn s3_app() -> Option<TestApp> {
    let args = s3_storage_args().await?;
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    TestApp::spawn_with(Backend::Sqlite, &refs).await
}

fn chunks(
    total: usize,
    chunk: usize,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let parts: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(parts)
}

async fn streamed_object_round_trips_with_its_sha256(app: TestApp) {
    let storage = &app.state.storage;
    let total = 9 * 1024 * 1024 + 17; // more than one multipart part
    let stored = storage
        .put_stream(
            "orgs/o1/uploads/j1/bundle",
            chunks(total, 64 * 1024),
            50 << 20,
        )
        .await
        .unwrap();
    assert_eq!(stored.size, total as u64);
    let expected: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    assert_eq!(stored.sha256, quire::auth::tokens::sha256_hex(&expected));
    let (size, mut stream) = storage
        .get_stream("orgs/o1/uploads/j1/bundle")
        .await
        .unwrap();
    assert_eq!(size, total as u64);
    let mut back = Vec::new();
    while let Some(c) = stream.next().await {
        back.extend_from_slice(&c.unwrap());
    }
    assert!(back == expected, "bytes differ");
    let copy = storage
        .local_copy("orgs/o1/uploads/j1/bundle")
        .await
        .unwrap();
    assert_eq!(std::fs::read(copy.path()).unwrap(), expected);
    storage.delete("orgs/o1/uploads/j1/bundle").await.unwrap();
    assert!(!storage.exists("orgs/o1/uploads/j1/bundle").await.unwrap());
}

async fn an_object_over_the_limit_is_refused_and_nothing_remains(app: TestApp) {
    let storage = &app.state.storage;
    let err = storage
        .put_stream(
            "orgs/o1/uploads/j2/bundle",
            chunks(3 * 1024 * 1024, 256 * 1024),
            1024 * 1024,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, quire::storage::StorageError::TooLarge { .. }),
        "{err}"
    );
    assert!(storage.list("orgs/o1").await.unwrap().is_empty());
    if app.state.settings.storage_type == quire::config::StorageType::Local {
        let leftovers = walk(&app.state.settings.storage_path());
        assert!(
            leftovers.iter().all(|p| !p.contains("j2")),
            "left behind: {leftovers:?}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

async fn storage_health_is_reported(app: TestApp) {
    let body: serde_json::Value = app
        .get("/api/v1/health/detailed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["checks"]["storage"]["status"], "ok", "{body}");
}

macro_rules! on_local_and_s3 {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() { super::$name(super::local_app().await).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() {
                if let Some(app) = super::s3_app().await { super::$name(app).await }
            }
        }
    )*};
}

on_local_and_s3!(
    streamed_object_round_trips_with_its_sha256,
    an_object_over_the_limit_is_refused_and_nothing_remains,
    storage_health_is_reported,
);
