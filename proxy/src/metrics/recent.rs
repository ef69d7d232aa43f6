//! What `/api/status` shows that is not a Prometheus metric: recent reply latencies and failures.

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard, PoisonError},
};

const RECENT_LATENCIES: usize = 50;
const HEALTH_WINDOW: usize = 100;

/// Two small rings, each behind its own lock: a push is a lock and a copy.
pub(super) struct Recent {
    latencies_ms: Mutex<VecDeque<u64>>,
    failures: Mutex<VecDeque<bool>>,
}

impl Default for Recent {
    fn default() -> Self {
        Self {
            latencies_ms: Mutex::new(VecDeque::with_capacity(RECENT_LATENCIES)),
            failures: Mutex::new(VecDeque::with_capacity(HEALTH_WINDOW)),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn push_bounded<T>(ring: &Mutex<VecDeque<T>>, capacity: usize, value: T) {
    let mut ring = lock(ring);
    if ring.len() == capacity {
        ring.pop_front();
    }
    ring.push_back(value);
}

impl Recent {
    pub(super) fn push_latency(&self, millis: u64) {
        push_bounded(&self.latencies_ms, RECENT_LATENCIES, millis);
    }

    /// One chat request ended, `failed` or not.
    pub(super) fn push_outcome(&self, failed: bool) {
        push_bounded(&self.failures, HEALTH_WINDOW, failed);
    }

    pub(super) fn latencies_ms(&self) -> Vec<u64> {
        lock(&self.latencies_ms).iter().copied().collect()
    }

    /// Share of failures among the recent chat requests (0.0 with none).
    pub(super) fn failure_rate(&self) -> f64 {
        let recent = lock(&self.failures);
        if recent.is_empty() {
            return 0.0;
        }
        recent.iter().filter(|failed| **failed).count() as f64 / recent.len() as f64
    }
}
