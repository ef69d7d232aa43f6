//! Per-client rate limiting (token bucket by IP) and finding the client's address.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Mutex, PoisonError},
    time::Instant,
};

use axum::{extract::ConnectInfo, http::request::Parts};

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

/// The client's address: the TCP peer, or with `trusted_proxies = n > 0` the n-th address from
/// the right of `X-Forwarded-For` (each trusted proxy appends the address it saw).
pub fn client_ip(parts: &Parts, trusted_proxies: usize) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
    if trusted_proxies == 0 {
        return peer;
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    forwarded
        .len()
        .checked_sub(trusted_proxies)
        .and_then(|index| forwarded.get(index).copied())
        .or_else(|| forwarded.first().copied())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::Request;
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

    #[test]
    fn forwarded_for_is_trusted_only_when_configured() {
        let request = Request::builder()
            .header("x-forwarded-for", "1.1.1.1, 2.2.2.2")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([9, 9, 9, 9], 1))));
        assert_eq!(client_ip(&parts, 0), IpAddr::from([9, 9, 9, 9]));
        assert_eq!(client_ip(&parts, 1), IpAddr::from([2, 2, 2, 2]));
        assert_eq!(client_ip(&parts, 2), IpAddr::from([1, 1, 1, 1]));
    }
}
