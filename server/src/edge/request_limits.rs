//! The limits on requests, all from tower and tower-http: a time limit per request, a cap on
//! requests in flight (for everyone, and per client) that sheds the excess with 503 or 429
//! instead of falling over, and a body size limit. Header size and slow clients are handled
//! where connections are read (`connections`); the post rate in `post_rate`.
//!
//! Two kinds of request are treated apart. A held poll mostly waits on memory: it is not a
//! request in flight for load shedding (it has its own cap, `--max-held-polls`) and its `wait`
//! is its time limit. A post, once the writer has taken it, is answered with its outcome
//! however long the commit takes (see `storage::post_queue`): it counts against the cap but the time
//! limit does not cut it.

use super::client_addr::{ClientAddr, client_key};
use crate::api::contract::ApiRequest;
use crate::api::error_answers;
use crate::metrics::names;
use app::api::Cursor;
use app::error::{ApiError, ErrorKind};
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use ipnet::IpNet;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The longest a request may take.
    pub request_timeout: Duration,
    /// Requests handled at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// Time a client has to send its request headers (applied by `serve`).
    pub header_read_timeout: Duration,
}

type Branch = BoxCloneSyncService<Request, Response, Infallible>;

/// Wraps `router` in the limits; `per_client` caps what one client has in flight.
pub fn apply(router: Router, limits: Limits, per_client: Arc<PerClient>) -> Router {
    let inner = router.layer(tower_http::limit::RequestBodyLimitLayer::new(
        limits.max_body,
    ));
    // Global: one cap for every route and both branches that count.
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let capped = || {
        ServiceBuilder::new()
            .layer(from_fn_with_state(per_client.clone(), cap_per_client))
            .layer(HandleErrorLayer::new(overload_status))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(
                in_flight.clone(),
            ))
    };
    let timed: Branch = Branch::new(
        capped()
            .timeout(limits.request_timeout)
            .service(inner.clone()),
    );
    let posts: Branch = Branch::new(capped().service(inner.clone()));
    let held: Branch = Branch::new(inner);
    let dispatch = tower::service_fn(move |mut request: Request| {
        let branch = match kind(ApiRequest::read(&mut request)) {
            Kind::Held => held.clone(),
            Kind::Post => posts.clone(),
            Kind::Other => timed.clone(),
        };
        branch.oneshot(request)
    });
    Router::new().fallback_service(dispatch)
}

enum Kind {
    Held,
    Post,
    Other,
}

fn kind(request: &ApiRequest) -> Kind {
    if request.is_send() {
        return Kind::Post;
    }
    match request.poll() {
        Some(poll) if poll.wait > 0 && matches!(poll.cursor, Cursor::After(_)) => Kind::Held,
        _ => Kind::Other,
    }
}

/// Requests in flight per client address, so that one client cannot take every slot of
/// `--max-in-flight` (page loads, `limit=500` polls) and leave everyone else with 503s.
pub struct PerClient {
    max: usize,
    exempt: Vec<IpNet>,
    clients: ClientAddr,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
}

impl PerClient {
    pub fn new(max: usize, exempt: Vec<IpNet>, clients: ClientAddr) -> Arc<Self> {
        Arc::new(Self {
            max,
            exempt,
            clients,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more request of `client`, unless it has `max` in flight.
    fn enter(self: &Arc<Self>, client: IpAddr) -> Option<Entered> {
        if self.exempt.iter().any(|net| net.contains(&client)) {
            return Some(Entered {
                limits: None,
                key: client,
            });
        }
        let key = client_key(client);
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let count = in_flight.entry(key).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Entered {
            limits: Some(self.clone()),
            key,
        })
    }
}

/// One request's place; given back when it is answered (or dropped).
struct Entered {
    limits: Option<Arc<PerClient>>,
    key: IpAddr,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let Some(limits) = &self.limits else { return };
        let mut in_flight = limits.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = in_flight.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

async fn cap_per_client(
    State(limits): State<Arc<PerClient>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = limits.clients.of(peer.ip(), request.headers());
    let Some(_entered) = limits.enter(client) else {
        return error_answers::error(
            &ApiError::new(
                ErrorKind::RateLimited,
                "Too many requests from your address at once; wait for them to finish.",
            )
            .with_retry_after(1),
        );
    };
    next.run(request).await
}

/// Shed load and requests that ran out of time are the server's doing, not the client's: both
/// are 503 (with `Retry-After`, added with the JSON body by `api::error_answers::api_errors`), which clients
/// retry.
async fn overload_status(err: BoxError) -> StatusCode {
    if err.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!(names::SHED).increment(1);
        StatusCode::SERVICE_UNAVAILABLE
    } else if err.is::<tower::timeout::error::Elapsed>() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        tracing::error!(%err, "request failed in a protective layer");
        StatusCode::INTERNAL_SERVER_ERROR
    }
}
