//! Fixed-window counters in Redis, shared by every instance that uses the same Redis and
//! key prefix. One Lua script per hit keeps increment and expiry atomic.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::{Value, json};

/// Longest a rate-limit check waits for Redis before counting in memory instead.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, requests skip Redis for this long (one slow call per pause at most);
/// the health check keeps probing and ends the pause as soon as Redis answers.
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// `KEYS[1]` counter, `ARGV[1]` window in ms. Returns `{count, ms left in the window}`.
const HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

pub struct RedisCounter {
    manager: ConnectionManager,
    prefix: String,
    script: redis::Script,
    paused_until: Mutex<Option<Instant>>,
    degraded: AtomicBool,
}

impl RedisCounter {
    /// Prepares the connection without opening it: a Redis that is down at start is a
    /// degraded dependency, not a failed start.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("REDIS_URL is not a usable Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("cannot prepare the Redis connection: {e}"))?;
        Ok(Self {
            manager,
            prefix: prefix.to_owned(),
            script: redis::Script::new(HIT_SCRIPT),
            paused_until: Mutex::new(None),
            degraded: AtomicBool::new(false),
        })
    }

    fn paused(&self) -> bool {
        let guard = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        guard.is_some_and(|until| Instant::now() < until)
    }

    fn set_pause(&self, until: Option<Instant>) {
        *self.paused_until.lock().unwrap_or_else(|e| e.into_inner()) = until;
    }

    fn mark_failed(&self, reason: &str) {
        self.set_pause(Some(Instant::now() + RETRY_PAUSE));
        if !self.degraded.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                reason,
                "Redis is unreachable: rate limits are counted per instance until it is back"
            );
        }
    }

    fn mark_ok(&self) {
        self.set_pause(None);
        if self.degraded.swap(false, Ordering::SeqCst) {
            tracing::info!("Redis answers again: rate limits are shared across instances");
        }
    }

    /// Counts one hit; `None` when Redis did not answer (the caller counts in memory).
    pub async fn hit(&self, key: &str, window: Duration) -> Option<(u64, Duration)> {
        if self.paused() {
            return None;
        }
        let mut conn = self.manager.clone();
        let window_ms = window.as_millis().max(1) as u64;
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(window_ms);
        let call = invocation.invoke_async::<(u64, i64)>(&mut conn);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok((count, ttl_ms))) => {
                self.mark_ok();
                let ttl = Duration::from_millis(ttl_ms.max(0) as u64);
                Some((count, ttl))
            }
            Ok(Err(e)) => {
                self.mark_failed(&e.to_string());
                None
            }
            Err(_) => {
                self.mark_failed("no answer in time");
                None
            }
        }
    }

    /// `ok` when Redis answers a PING, else `degraded` (the service keeps running on
    /// per-instance limits).
    pub async fn health(&self) -> Value {
        let started = Instant::now();
        let mut conn = self.manager.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        let outcome = match tokio::time::timeout(CALL_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer in time".to_owned()),
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(()) => {
                self.mark_ok();
                json!({ "status": "ok", "latency_ms": latency_ms, "used_for": "shared rate limits" })
            }
            Err(reason) => {
                self.mark_failed(&reason);
                json!({
                    "status": "degraded",
                    "latency_ms": latency_ms,
                    "used_for": "shared rate limits",
                    "error": "Redis is unreachable; rate limits are counted per instance meanwhile",
                })
            }
        }
    }
}
