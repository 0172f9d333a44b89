//! Posts are rate-limited per client address (governor's GCRA), so one sender cannot drown
//! everyone else out. Polls and pages are never limited here.

use super::client_addr::{ClientAddr, ClientKey, client_keys};
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
    /// One limiter for each number of shares a client key holds (1, 4, 16; see
    /// `client_addr::client_keys`), its quota that many times the rate and burst.
    limiters: Vec<(u32, DefaultKeyedRateLimiter<ClientKey>)>,
    exempt: Vec<IpNet>,
    clients: ClientAddr,
}

impl PostLimiter {
    /// `per_minute` posts a minute per address after a burst of `burst`; 0 turns limiting off.
    pub fn new(per_minute: u32, burst: u32, exempt: Vec<IpNet>, clients: ClientAddr) -> Arc<Self> {
        let limiters = match NonZeroU32::new(per_minute) {
            None => Vec::new(),
            Some(rate) => {
                let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN); // 0 is refused by config
                [1, 4, 16]
                    .into_iter()
                    .map(|shares| {
                        let times = |n: NonZeroU32| {
                            n.saturating_mul(NonZeroU32::new(shares).expect("not 0"))
                        };
                        let quota = Quota::per_minute(times(rate)).allow_burst(times(burst));
                        (shares, RateLimiter::keyed(quota))
                    })
                    .collect()
            }
        };
        let limiter = Arc::new(Self {
            limiters,
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
                for (_, keyed) in &limiter.limiters {
                    keyed.retain_recent();
                    keyed.shrink_to_fit();
                }
            }
        });
        limiter
    }

    /// `Err(seconds to wait)` when `client`, or a prefix it is in, is over its rate.
    fn check(&self, client: IpAddr) -> Result<(), u32> {
        let client = client.to_canonical();
        if self.limiters.is_empty() || self.exempt.iter().any(|net| net.contains(&client)) {
            return Ok(());
        }
        for (key, shares) in client_keys(client).iter() {
            let Some((_, limiter)) = self.limiters.iter().find(|(s, _)| *s == shares) else {
                continue;
            };
            limiter.check_key(&key).map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                wait.as_secs_f64().ceil().max(1.0) as u32
            })?;
        }
        Ok(())
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
        // A /56 holds four /64s' allowance, a /48 sixteen: fresh /64s do not bring fresh ones.
        let limiter = PostLimiter::new(60, 1, vec![], ClientAddr::default());
        let fresh = |i: u32| limiter.check(ip(&format!("2001:db8:1:{i:x}::1")));
        assert!((0..4).all(|i| fresh(i).is_ok()));
        assert!(fresh(4).is_err(), "the /56's four allowances are spent");
        assert!(
            (1..13).all(|i| fresh(i * 0x100).is_ok()),
            "other /56s of the /48"
        );
        assert!(fresh(0xff00).is_err(), "the /48's sixteen are spent");
        assert!(limiter.check(ip("2001:db8:2::1")).is_ok(), "another /48");
        let off = PostLimiter::new(0, 3, vec![], ClientAddr::default());
        assert!((0..100).all(|_| off.check(sender).is_ok()));
    }
}
