#![allow(dead_code)]

use std::sync::Arc;

use anythingllm::testing::{DoubleHandle, TestDouble};
use anythingllm::{Client, ClientConfig, ManualClock};

pub struct Setup {
    pub double: TestDouble,
    pub handle: DoubleHandle,
    pub client: Client,
}

pub async fn setup() -> Setup {
    setup_with(|_| {}).await
}

pub async fn setup_with(adjust: impl FnOnce(&mut ClientConfig)) -> Setup {
    let double = TestDouble::start().await.expect("the double starts");
    let mut config = double.client_config();
    adjust(&mut config);
    let client = Client::new(config).expect("the client builds");
    let handle = double.handle();
    Setup {
        double,
        handle,
        client,
    }
}

/// A client whose breaker reads `clock`, without retries so that each call is
/// one attempt.
pub async fn setup_with_clock(clock: Arc<ManualClock>) -> Setup {
    setup_with(|config| {
        config.retry = anythingllm::RetryPolicy::none();
        config.breaker.clock = clock;
    })
    .await
}
