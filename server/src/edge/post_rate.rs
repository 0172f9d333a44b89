//! Posts are rate-limited per client address (governor's GCRA), so one sender cannot drown
//! everyone else out. Polls and pages are never limited here.

use super::client_addr::{ClientAddr, client_key};
use crate::api::contract::{ApiRequest, Endpoint};
use crate::api::error_answers;
use crate::metrics::names;
use app::error::{ApiError, ErrorKind};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub struct PostLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    exempt: Vec<IpNet>,
    clients: ClientAddr,
}

impl PostLimiter {
    /// `per_minute` posts a minute per address after a burst of `burst`; 0 turns limiting off.
    pub fn new(per_minute: u32, burst: u32, exempt: Vec<IpNet>, clients: ClientAddr) -> Arc<Self> {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN); // 0 is refused by config
            RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        let limiter = Arc::new(Self {
            limiter,
            exempt,
            clients,
        });
        // Forget addresses that have been quiet long enough to be back at a full burst.
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(limiter) = weak.upgrade() else { break };
                if let Some(keyed) = &limiter.limiter {
                    keyed.retain_recent();
                    keyed.shrink_to_fit();
                }
            }
        });
        limiter
    }

    /// `Err(seconds to wait)` when `client` is over its rate.
    fn check(&self, client: IpAddr) -> Result<(), u32> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.exempt.iter().any(|net| net.contains(&client)) {
            return Ok(());
        }
        limiter.check_key(&client_key(client)).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u32
        })
    }
}

/// Middleware: 429 with `Retry-After` for a post over its sender's rate.
pub async fn limit_posts(
    State(limiter): State<Arc<PostLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    if ApiRequest::read(&mut request).is_send() {
        let client = limiter.clients.of(peer.ip(), request.headers());
        if let Err(seconds) = limiter.check(client) {
            metrics::counter!(names::RATE_LIMITED).increment(1);
            return error_answers::refuse(
                request.headers(),
                Endpoint::Send.path(),
                &ApiError::new(
                    ErrorKind::RateLimited,
                    format!("Slow down: you can send again in {seconds} s."),
                )
                .with_retry_after(seconds),
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_burst_then_the_rate() {
        let limiter = PostLimiter::new(
            60,
            3,
            vec!["127.0.0.0/8".parse().unwrap()],
            ClientAddr::default(),
        );
        let sender = ip("198.51.100.1");
        assert!((0..3).all(|_| limiter.check(sender).is_ok()));
        assert_eq!(limiter.check(sender), Err(1));
        assert!(
            limiter.check(ip("198.51.100.2")).is_ok(),
            "others are not affected"
        );
        assert!(
            (0..100).all(|_| limiter.check(ip("127.0.0.1")).is_ok()),
            "exempt"
        );
        // One IPv6 host, many addresses in its /64: one sender.
        let six = |s: &str| limiter.check(ip(s));
        assert!((1..=3).all(|i| six(&format!("2001:db8::{i}")).is_ok()));
        assert!(six("2001:db8::99").is_err());
        assert!(
            six("2001:db8:0:1::1").is_ok(),
            "the next /64 is someone else"
        );
        let off = PostLimiter::new(0, 3, vec![], ClientAddr::default());
        assert!((0..100).all(|_| off.check(sender).is_ok()));
    }
}
