//! One cache interface: `get`, `set` with a time to live, `delete`, `exists` and
//! `get_many`, kept in this process's memory, or in Redis when `REDIS_URL` is set (then
//! every instance sharing that Redis shares the entries).
//!
//! The cache is an optimisation, never the truth: a Redis that does not answer is a
//! miss (the caller asks the real source) and a `set` that fails is dropped, each with
//! one warning per outage. Values are bytes; callers serialise what they keep.
//! Part of the core: it imports no capability.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Longest one cache call waits for Redis before it counts as a miss.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// Entries the memory cache keeps at most; past it, expired entries go first, then
/// the ones closest to expiry.
pub const MEMORY_MAX_ENTRIES: usize = 50_000;

/// Keys in Redis start with this, so the cache can share a Redis with other users.
pub const REDIS_PREFIX: &str = "quire:cache:";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the cache did not answer in time")]
    Timeout,
    #[error("the cache failed: {0}")]
    Redis(String),
}

/// The cache (cheap to share: hold it in an `Arc`).
pub struct Cache {
    store: Store,
}

enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Cache {
    /// Redis when `redis_url` is given (prepared lazily: a Redis that is down at start
    /// is a degraded dependency, not a failed start), else memory.
    pub fn new(redis_url: Option<&str>) -> anyhow::Result<Self> {
        Ok(match redis_url {
            Some(url) => Self {
                store: Store::Redis(RedisStore::new(url)?),
            },
            None => Self::memory(MEMORY_MAX_ENTRIES),
        })
    }

    pub fn memory(max_entries: usize) -> Self {
        Self {
            store: Store::Memory(MemoryStore {
                entries: Mutex::new(HashMap::new()),
                max_entries: max_entries.max(1),
            }),
        }
    }

    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        match &self.store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match &self.store {
            Store::Memory(m) => Ok(m.get(key)),
            Store::Redis(r) => r.get(key).await,
        }
    }

    /// Keeps `value` under `key` for `ttl` (at least a millisecond).
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let ttl = ttl.max(Duration::from_millis(1));
        match &self.store {
            Store::Memory(m) => {
                m.set(key, value, ttl);
                Ok(())
            }
            Store::Redis(r) => r.set(key, value, ttl).await,
        }
    }

    /// Removes `key`; `true` when it was there.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        match &self.store {
            Store::Memory(m) => Ok(m.delete(key)),
            Store::Redis(r) => r.delete(key).await,
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        match &self.store {
            Store::Memory(m) => Ok(m.get(key).is_some()),
            Store::Redis(r) => r.exists(key).await,
        }
    }

    /// The values of `keys`, in their order (`None` where missing), in one round trip.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match &self.store {
            Store::Memory(m) => Ok(m.get_many(keys)),
            Store::Redis(r) => r.get_many(keys).await,
        }
    }
}

struct MemoryStore {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    max_entries: usize,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some((value, expires)) if *expires > now => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn get_many(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        let now = Instant::now();
        let entries = self.lock();
        keys.iter()
            .map(|k| match entries.get(k) {
                Some((value, expires)) if *expires > now => Some(value.clone()),
                _ => None,
            })
            .collect()
    }

    fn set(&self, key: &str, value: &[u8], ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(key) {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.max_entries {
                // Full of live entries: drop the tenth closest to expiry (amortised).
                let mut by_expiry: Vec<(Instant, String)> =
                    entries.iter().map(|(k, (_, e))| (*e, k.clone())).collect();
                by_expiry.sort_unstable();
                let drop = (self.max_entries / 10).max(1);
                for (_, k) in by_expiry.into_iter().take(drop) {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key.to_owned(), (value.to_vec(), now + ttl));
    }

    fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .remove(key)
            .is_some_and(|(_, expires)| expires > now)
    }
}

struct RedisStore {
    manager: ConnectionManager,
    degraded: AtomicBool,
}

impl RedisStore {
    fn new(url: &str) -> anyhow::Result<Self> {
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
            degraded: AtomicBool::new(false),
        })
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, CacheError> {
        let mut conn = self.manager.clone();
        let outcome =
            match tokio::time::timeout(CALL_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(CacheError::Redis(e.to_string())),
                Err(_) => Err(CacheError::Timeout),
            };
        match &outcome {
            Ok(_) => {
                if self.degraded.swap(false, Ordering::SeqCst) {
                    tracing::info!("the Redis cache answers again");
                }
            }
            Err(e) => {
                if !self.degraded.swap(true, Ordering::SeqCst) {
                    tracing::warn!(error = %e, "the Redis cache is unreachable: every look-up is a miss until it is back");
                }
            }
        }
        outcome
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{REDIS_PREFIX}{key}"));
        self.query(cmd).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{REDIS_PREFIX}{key}"))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().min(u128::from(u64::MAX)) as u64);
        self.query::<()>(cmd).await
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{REDIS_PREFIX}{key}"));
        Ok(self.query::<i64>(cmd).await? > 0)
    }

    async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(format!("{REDIS_PREFIX}{key}"));
        Ok(self.query::<i64>(cmd).await? > 0)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(format!("{REDIS_PREFIX}{key}"));
        }
        self.query(cmd).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_entries_live_for_their_ttl_and_can_be_deleted() {
        let cache = Cache::memory(100);
        cache.set("a", b"1", Duration::from_secs(60)).await.unwrap();
        cache
            .set("b", b"2", Duration::from_millis(20))
            .await
            .unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert!(cache.exists("b").await.unwrap());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(!cache.exists("b").await.unwrap(), "expired");
        let many = cache
            .get_many(&["a".into(), "b".into(), "c".into()])
            .await
            .unwrap();
        assert_eq!(many, vec![Some(b"1".to_vec()), None, None]);
        assert!(cache.delete("a").await.unwrap());
        assert!(!cache.delete("a").await.unwrap());
        assert_eq!(cache.get("a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_full_memory_cache_makes_room_for_new_entries() {
        let cache = Cache::memory(10);
        for i in 0..25 {
            cache
                .set(&format!("k{i}"), b"v", Duration::from_secs(60 + i))
                .await
                .unwrap();
        }
        assert!(cache.exists("k24").await.unwrap(), "the newest is kept");
        assert!(
            !cache.exists("k0").await.unwrap(),
            "the closest to expiry went"
        );
        let Store::Memory(m) = &cache.store else {
            unreachable!()
        };
        assert!(m.lock().len() <= 10);
    }
}
