//! Per-client rate limiting: a token bucket by IP.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::Instant,
};

/// A bucket per client: `per_minute` requests of burst, refilled evenly over a minute.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Past this many tracked clients, full buckets are forgotten.
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    /// `per_minute == 0` disables the limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one token for `client`; `Err(seconds)` says when the next one is due.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second
                    < capacity
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let refilled = now.duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refilled).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait_secs = ((1.0 - bucket.tokens) / per_second - 1e-9).ceil().max(1.0);
        // A float of at most 60 * 2^32 seconds: the cast cannot truncate meaningfully.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Err(wait_secs as u64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let limiter = RateLimiter::new(3);
        let start = Instant::now();
        let client = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            assert!(limiter.check_at(client, start).is_ok());
        }
        assert_eq!(limiter.check_at(client, start), Err(20));
        assert!(limiter.check_at(IpAddr::from([10, 0, 0, 2]), start).is_ok());
        assert!(
            limiter
                .check_at(client, start + Duration::from_secs(20))
                .is_ok()
        );
        assert!(RateLimiter::new(0).check(client).is_ok());
    }
}
