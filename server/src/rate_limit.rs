//! Posts are rate-limited per client address (governor's GCRA), so one sender cannot drown
//! everyone else out. Polls and pages are never limited here.

use crate::client_addr::ClientAddr;
use crate::reply;
use app::api::SendLine;
use app::error::{ApiError, ErrorKind};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use leptos::server_fn::ServerFn;
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
        limiter.check_key(&sender_key(client)).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u32
        })
    }
}

/// The key a sender is limited by: its IPv4 address, or its IPv6 /64 (one host usually has a
/// whole /64 to rotate through).
pub(crate) fn sender_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    }
}

/// Middleware: 429 with `Retry-After` for a post over its sender's rate.
pub async fn limit_posts(
    State(limiter): State<Arc<PostLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST && request.uri().path() == SendLine::PATH {
        let client = limiter.clients.of(peer.ip(), request.headers());
        if let Err(seconds) = limiter.check(client) {
            metrics::counter!(crate::metrics::names::RATE_LIMITED).increment(1);
            return reply::refuse(
                request.headers(),
                SendLine::PATH,
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
