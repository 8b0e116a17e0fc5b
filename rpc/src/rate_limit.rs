//! Per-client rate limiting: a token bucket per remote IP address, applied to every call (each
//! call of a batch counts, and so does each WebSocket message), as a jsonrpsee RPC middleware.
//!
//! The buckets are split from the middleware: [`RateLimiter`] is plain state that takes the time
//! as an argument, so its rules are tested without a clock.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use jsonrpsee::{
    core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT},
    server::MethodResponse,
    types::{ErrorObjectOwned, Request},
};

use crate::error::RpcError;

/// Most addresses tracked at once. Past it, idle buckets (full again) are forgotten, and if none
/// is, every new address shares one overflow bucket, so memory stays bounded whatever the number
/// of clients.
const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// The caller's IP address, put in each request's extensions by the HTTP front.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets per IP address: each holds up to `burst` tokens, refills at `per_second`, and a
/// call takes one.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_ip: HashMap<IpAddr, Bucket>,
    overflow: Option<Bucket>,
}

impl RateLimiter {
    /// `per_second` must be positive; `burst` below 1 counts as 1.
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second,
            burst: burst.max(1),
            buckets: Mutex::new(Buckets::default()),
        }
    }

    /// Takes one token from `ip`'s bucket at time `now`; false when the bucket is empty.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.by_ip.contains_key(&ip) && buckets.by_ip.len() >= MAX_TRACKED_ADDRESSES {
            buckets
                .by_ip
                .retain(|_, bucket| self.refilled(*bucket, now).tokens < f64::from(self.burst));
        }
        let full = Bucket {
            tokens: f64::from(self.burst),
            updated: now,
        };
        let bucket = if buckets.by_ip.len() < MAX_TRACKED_ADDRESSES {
            buckets.by_ip.entry(ip).or_insert(full)
        } else {
            buckets.overflow.get_or_insert(full)
        };
        *bucket = self.refilled(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + elapsed * f64::from(self.per_second))
                .min(f64::from(self.burst)),
            updated: now.max(bucket.updated),
        }
    }

    fn error(&self) -> ErrorObjectOwned {
        RpcError::RateLimited {
            per_second: self.per_second,
            burst: self.burst,
        }
        .into()
    }

    /// Whether a request may go on; requests with no known address (none reach the server so)
    /// are not limited.
    fn allow_request(&self, extensions: &http::Extensions) -> bool {
        match extensions.get::<ClientIp>() {
            Some(ClientIp(ip)) => self.allow(*ip, Instant::now()),
            None => true,
        }
    }
}

/// The middleware's layer; `None` turns limiting off.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limiter: Option<Arc<RateLimiter>>,
}

impl RateLimitLayer {
    pub fn new(limiter: Option<Arc<RateLimiter>>) -> Self {
        RateLimitLayer { limiter }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The middleware: answers a call over its client's rate with [`RpcError::RateLimited`] without
/// running it.
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Option<Arc<RateLimiter>>,
}

impl<S> RpcServiceT for RateLimit<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl std::future::Future<Output = Self::MethodResponse> + Send + 'a {
        let refused = self
            .limiter
            .as_ref()
            .filter(|limiter| !limiter.allow_request(request.extensions()))
            .map(|limiter| limiter.error());
        let inner = self.inner.clone();
        async move {
            match refused {
                Some(error) => MethodResponse::error(request.id, error),
                None => inner.call(request).await,
            }
        }
    }

    fn batch<'a>(
        &self,
        batch: Batch<'a>,
    ) -> impl std::future::Future<Output = Self::BatchResponse> + Send + 'a {
        let batch = match &self.limiter {
            None => batch,
            Some(limiter) => {
                let entries = batch
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Ok(BatchEntry::Call(request)) => {
                            if limiter.allow_request(request.extensions()) {
                                Some(Ok(BatchEntry::Call(request)))
                            } else {
                                Some(Err(BatchEntryErr::new(request.id, limiter.error())))
                            }
                        }
                        // A notification over the rate is dropped: it has no answer to carry an
                        // error.
                        Ok(BatchEntry::Notification(notification)) => limiter
                            .allow_request(notification.extensions())
                            .then_some(Ok(BatchEntry::Notification(notification))),
                        Err(error) => Some(Err(error)),
                    })
                    .collect();
                Batch::from(entries)
            }
        };
        let inner = self.inner.clone();
        async move { inner.batch(batch).await }
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl std::future::Future<Output = Self::NotificationResponse> + Send + 'a {
        let allowed = self
            .limiter
            .as_ref()
            .is_none_or(|limiter| limiter.allow_request(notification.extensions()));
        let inner = self.inner.clone();
        async move {
            if allowed {
                inner.notification(notification).await
            } else {
                MethodResponse::notification()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{net::Ipv4Addr, time::Duration};

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn a_burst_passes_then_the_rate_refills() {
        let limiter = RateLimiter::new(10, 3);
        let start = Instant::now();
        // (time offset in ms, expected) for one address.
        let table = [
            (0, true),
            (0, true),
            (0, true),
            (0, false),  // burst of 3 spent
            (50, false), // half a token
            (100, true), // one token after 100 ms at 10/s
            (100, false),
            (10_000, true), // refills up to the burst only
            (10_000, true),
            (10_000, true),
            (10_000, false),
        ];
        for (step, (offset_ms, expected)) in table.into_iter().enumerate() {
            let now = start + Duration::from_millis(offset_ms);
            assert_eq!(limiter.allow(ip(1), now), expected, "step {step}");
        }
    }

    #[test]
    fn addresses_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1);
        let now = Instant::now();
        assert!(limiter.allow(ip(1), now));
        assert!(!limiter.allow(ip(1), now));
        assert!(limiter.allow(ip(2), now));
    }

    #[test]
    fn tracked_addresses_stay_bounded() {
        let limiter = RateLimiter::new(1, 2);
        let now = Instant::now();
        let address = |index: usize| IpAddr::V4(Ipv4Addr::from(u32::try_from(index).unwrap()));
        for index in 0..MAX_TRACKED_ADDRESSES {
            assert!(limiter.allow(address(index), now));
        }
        // Every tracked bucket is in use, so newcomers share the overflow bucket (burst 2).
        let newcomers = (MAX_TRACKED_ADDRESSES..MAX_TRACKED_ADDRESSES + 10)
            .filter(|index| limiter.allow(address(*index), now))
            .count();
        assert_eq!(newcomers, 2);
        {
            let buckets = limiter.buckets.lock().unwrap();
            assert_eq!(buckets.by_ip.len(), MAX_TRACKED_ADDRESSES);
            assert!(buckets.overflow.is_some());
        }
        // Once the buckets have refilled they are forgotten, and a newcomer gets its own.
        let later = now + Duration::from_secs(10);
        let newcomer = address(MAX_TRACKED_ADDRESSES + 100);
        assert!(limiter.allow(newcomer, later));
        let buckets = limiter.buckets.lock().unwrap();
        assert!(buckets.by_ip.contains_key(&newcomer));
        assert_eq!(buckets.by_ip.len(), 1);
    }
}
