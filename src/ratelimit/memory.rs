//! Fixed-window counters in this process's memory, sharded to keep lock contention low.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// A shard sweeps out finished windows when it grows past this many keys, so memory
/// stays bounded by the number of clients active within one window.
const SWEEP_ABOVE: usize = 4096;

struct Slot {
    count: u64,
    ends_at: Instant,
}

pub struct MemoryCounter {
    shards: Vec<Mutex<HashMap<String, Slot>>>,
}

impl MemoryCounter {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Counts one hit; returns the count in the current window and the time left in it.
    pub fn hit(&self, key: &str, window: Duration) -> (u64, Duration) {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % SHARDS];
        let now = Instant::now();
        // A poisoned lock only means another thread panicked mid-update of a counter;
        // the map itself is still usable.
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, slot| slot.ends_at > now);
        }
        let slot = map.entry(key.to_owned()).or_insert(Slot {
            count: 0,
            ends_at: now + window,
        });
        if slot.ends_at <= now {
            *slot = Slot {
                count: 0,
                ends_at: now + window,
            };
        }
        slot.count += 1;
        (slot.count, slot.ends_at - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_restarts_after_the_window() {
        let c = MemoryCounter::new();
        let w = Duration::from_millis(50);
        assert_eq!(c.hit("a", w).0, 1);
        assert_eq!(c.hit("a", w).0, 2);
        assert_eq!(c.hit("b", w).0, 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.hit("a", w).0, 1);
    }
}
