//! Writes are rate-limited per client address (governor's GCRA), so one sender cannot drown
//! everyone else out; sign-ins have limits of their own, per address and per name, so that no
//! one can guess a password by trying. Polls and pages are never limited here.

use super::client_addr::{ClientAddr, ClientKey, client_keys};
use crate::api::contract::{ApiRequest, Endpoint, Fields};
use crate::api::error_answers;
use crate::metrics::names;
use app::error::{ApiError, ErrorKind};
use app::feed::Feed;
use app::room::Room;
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

/// Sign-in attempts a minute per client address, unless configured.
pub const SIGN_IN_RATE: u32 = 10;

pub struct PostLimiter {
    posts: Layered,
    sign_ins: Layered,
    /// Sign-ins per name (by its look-alike key), from whatever address.
    sign_ins_per_name: DefaultKeyedRateLimiter<String>,
    /// Posts that make a new room: the room list is everyone's, and each room kept costs.
    new_rooms: Layered,
    exempt: Vec<IpNet>,
    clients: ClientAddr,
    feed: Arc<Feed>,
}

/// One rate for every client key: a limiter for each number of shares a key holds (1, 4, 16;
/// see `client_addr::client_keys`), its quota that many times the rate and burst.
struct Layered(Vec<(u32, DefaultKeyedRateLimiter<ClientKey>)>);

impl Layered {
    /// `rate` per `per` after a burst of `burst`; none when `rate` is 0.
    fn new(rate: u32, burst: u32, per: fn(NonZeroU32) -> Quota) -> Self {
        let Some(rate) = NonZeroU32::new(rate) else {
            return Self(Vec::new());
        };
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN); // 0 is refused by config
        Self(
            [1, 4, 16]
                .into_iter()
                .map(|shares| {
                    let times =
                        |n: NonZeroU32| n.saturating_mul(NonZeroU32::new(shares).expect("not 0"));
                    (
                        shares,
                        RateLimiter::keyed(per(times(rate)).allow_burst(times(burst))),
                    )
                })
                .collect(),
        )
    }

    /// `Err(seconds to wait)` when `client`, or a prefix it is in, is over the rate.
    fn check(&self, client: IpAddr) -> Result<(), u32> {
        for (key, shares) in client_keys(client).iter() {
            let Some((_, limiter)) = self.0.iter().find(|(s, _)| *s == shares) else {
                continue;
            };
            limiter.check_key(&key).map_err(wait_secs)?;
        }
        Ok(())
    }

    /// Forgets keys quiet long enough to be back at a full burst.
    fn forget_quiet(&self) {
        for (_, keyed) in &self.0 {
            keyed.retain_recent();
            keyed.shrink_to_fit();
        }
    }
}

/// How a post is over its sender's limits.
#[derive(Debug, PartialEq, Eq)]
enum Over {
    Posts(u32),
    NewRooms(u32),
    SignIns(u32),
}

/// Seconds until `not_until`, at least 1.
fn wait_secs(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> u32 {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    wait.as_secs_f64().ceil().max(1.0) as u32
}

impl PostLimiter {
    /// `per_minute` posts a minute per client after a burst of `burst`, and `rooms_per_hour`
    /// new rooms an hour (as a burst too); 0 turns either off. Sign-ins: [`SIGN_IN_RATE`].
    #[cfg(test)]
    pub fn new(
        per_minute: u32,
        burst: u32,
        rooms_per_hour: u32,
        exempt: Vec<IpNet>,
        clients: ClientAddr,
        feed: Arc<Feed>,
    ) -> Arc<Self> {
        Self::with_sign_ins(
            per_minute,
            burst,
            rooms_per_hour,
            SIGN_IN_RATE,
            exempt,
            clients,
            feed,
        )
    }

    /// [`PostLimiter::new`], with `sign_ins` sign-in attempts a minute per client address
    /// (after a burst of as many), and as many per name in ten minutes. Exempt addresses are
    /// not exempt from these: a proxy's address must not lift a password's guard.
    pub fn with_sign_ins(
        per_minute: u32,
        burst: u32,
        rooms_per_hour: u32,
        sign_ins: u32,
        exempt: Vec<IpNet>,
        clients: ClientAddr,
        feed: Arc<Feed>,
    ) -> Arc<Self> {
        let sign_ins = NonZeroU32::new(sign_ins).unwrap_or(NonZeroU32::MIN);
        let per_name = Quota::with_period(Duration::from_secs(600) / sign_ins.get())
            .expect("a positive period")
            .allow_burst(sign_ins);
        let limiter = Arc::new(Self {
            sign_ins: Layered::new(sign_ins.get(), sign_ins.get(), Quota::per_minute),
            sign_ins_per_name: RateLimiter::keyed(per_name),
            posts: Layered::new(per_minute, burst, Quota::per_minute),
            new_rooms: Layered::new(rooms_per_hour, rooms_per_hour, Quota::per_hour),
            exempt,
            clients,
            feed,
        });
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(limiter) = weak.upgrade() else { break };
                limiter.posts.forget_quiet();
                limiter.new_rooms.forget_quiet();
                limiter.sign_ins.forget_quiet();
                limiter.sign_ins_per_name.retain_recent();
                limiter.sign_ins_per_name.shrink_to_fit();
            }
        });
        limiter
    }

    /// Whether `client` may try to sign in as `screenname` now.
    fn check_sign_in(&self, client: IpAddr, screenname: &str) -> Result<(), Over> {
        self.sign_ins
            .check(client.to_canonical())
            .map_err(Over::SignIns)?;
        self.sign_ins_per_name
            .check_key(&app::identity::hold_key(screenname))
            .map_err(|not_until| Over::SignIns(wait_secs(not_until)))
    }

    /// Whether `client` may post now, to `room` (the default room, or `None`, is never new).
    fn check(&self, client: IpAddr, room: Option<&Room>) -> Result<(), Over> {
        let client = client.to_canonical();
        if self.exempt.iter().any(|net| net.contains(&client)) {
            return Ok(());
        }
        self.posts.check(client).map_err(Over::Posts)?;
        let new = |room: &Room| !room.is_general() && self.feed.newest(room) == 0;
        if room.is_some_and(new) {
            self.new_rooms.check(client).map_err(Over::NewRooms)?;
        }
        Ok(())
    }
}

/// Middleware: 429 with `Retry-After` for a post over its sender's rate, or to a new room past
/// its sender's share of new rooms.
pub async fn limit_posts(
    State(limiter): State<Arc<PostLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let api = ApiRequest::read(&mut request);
    let endpoint = api.endpoint().filter(|_| api.is_write());
    if let Some(endpoint) = endpoint {
        let client = limiter.clients.of(peer.ip(), request.headers());
        let room = request
            .extensions()
            .get::<Fields>()
            .and_then(|fields| fields.get("room"))
            .and_then(|room| Room::from_field(Some(room)).ok());
        let fields = request.extensions().get::<Fields>();
        let checked = match endpoint {
            Endpoint::SignIn => {
                let screenname = fields.and_then(|f| f.get("screenname")).unwrap_or("");
                limiter.check_sign_in(client, screenname.trim())
            }
            _ => limiter.check(client, room.as_ref()),
        };
        let over = match checked {
            Ok(()) => None,
            Err(Over::SignIns(seconds)) => Some((
                seconds,
                format!("Too many sign-in attempts: try again in {seconds} s."),
            )),
            Err(Over::Posts(seconds)) => Some((
                seconds,
                format!("Slow down: you can send again in {seconds} s."),
            )),
            Err(Over::NewRooms(seconds)) => Some((
                seconds,
                format!(
                    "You have made many new rooms lately: post in an existing room, or make \
                     this one in {} min.",
                    seconds.div_ceil(60)
                ),
            )),
        };
        if let Some((seconds, message)) = over {
            metrics::counter!(names::RATE_LIMITED).increment(1);
            return error_answers::refuse(
                request.headers(),
                endpoint.path(),
                &ApiError::new(ErrorKind::RateLimited, message).with_retry_after(seconds),
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
            0,
            vec!["127.0.0.0/8".parse().unwrap()],
            ClientAddr::default(),
            Arc::new(Feed::empty()),
        );
        let sender = ip("198.51.100.1");
        assert!((0..3).all(|_| limiter.check(sender, None).is_ok()));
        assert_eq!(limiter.check(sender, None), Err(Over::Posts(1)));
        assert!(
            limiter.check(ip("198.51.100.2"), None).is_ok(),
            "others are not affected"
        );
        assert!(
            (0..100).all(|_| limiter.check(ip("127.0.0.1"), None).is_ok()),
            "exempt"
        );
        // One IPv6 host, many addresses in its /64: one sender.
        let six = |s: &str| limiter.check(ip(s), None);
        assert!((1..=3).all(|i| six(&format!("2001:db8::{i}")).is_ok()));
        assert!(six("2001:db8::99").is_err());
        assert!(
            six("2001:db8:0:1::1").is_ok(),
            "the next /64 is someone else"
        );
        // A /56 holds four /64s' allowance, a /48 sixteen: fresh /64s do not bring fresh ones.
        let limiter = PostLimiter::new(
            60,
            1,
            0,
            vec![],
            ClientAddr::default(),
            Arc::new(Feed::empty()),
        );
        let fresh = |i: u32| limiter.check(ip(&format!("2001:db8:1:{i:x}::1")), None);
        assert!((0..4).all(|i| fresh(i).is_ok()));
        assert!(fresh(4).is_err(), "the /56's four allowances are spent");
        assert!(
            (1..13).all(|i| fresh(i * 0x100).is_ok()),
            "other /56s of the /48"
        );
        assert!(fresh(0xff00).is_err(), "the /48's sixteen are spent");
        assert!(
            limiter.check(ip("2001:db8:2::1"), None).is_ok(),
            "another /48"
        );
        let off = PostLimiter::new(
            0,
            3,
            0,
            vec![],
            ClientAddr::default(),
            Arc::new(Feed::empty()),
        );
        assert!((0..100).all(|_| off.check(sender, None).is_ok()));
    }

    #[tokio::test]
    async fn new_rooms_have_a_rate_of_their_own() {
        let feed = Arc::new(Feed::empty());
        let limiter = PostLimiter::new(0, 1, 2, vec![], ClientAddr::default(), feed.clone());
        let sender = ip("198.51.100.1");
        let room = |name: &str| Room::parse(name).unwrap();
        assert!(limiter.check(sender, Some(&room("one"))).is_ok());
        assert!(limiter.check(sender, Some(&room("two"))).is_ok());
        assert!(matches!(
            limiter.check(sender, Some(&room("three"))),
            Err(Over::NewRooms(_))
        ));
        // A room with lines is no new room; others' allowances are their own.
        let line = app::line::Line::new(1, "ann", "hi", "2026-12-04T10:00:00Z");
        feed.publish(vec![app::feed::Posted::line(room("busy"), line)]);
        assert!(limiter.check(sender, Some(&room("busy"))).is_ok());
        assert!(limiter.check(sender, None).is_ok());
        assert!(
            limiter
                .check(ip("198.51.100.2"), Some(&room("three")))
                .is_ok()
        );
    }
}
