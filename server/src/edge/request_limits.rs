//! The limits on requests, all from tower and tower-http: a time limit per request, a cap on
//! requests in flight (for everyone, and per client) that sheds the excess with 503 or 429
//! instead of falling over, and a body size limit. Header size and slow clients are handled
//! where connections are read (`connections`); the post rate in `post_rate`.
//!
//! Two kinds of request are treated apart. A held poll mostly waits on memory: it is not a
//! request in flight for load shedding (it has its own cap, `--max-held-polls`) and its `wait`
//! is its time limit; only a poll that will really wait is one. A post's body must arrive
//! within the time limit; once the writer has taken the post, it is answered with its outcome
//! however long the commit takes (see `storage::post_queue`): it counts against the cap, but the
//! time limit does not cut it.

use super::client_addr::ClientAddr;
use super::client_shares::ClientShares;
use crate::api::contract::{ApiRequest, too_large};
use crate::api::error_answers;
use crate::metrics::names;
use app::api::{Cursor, PollParams};
use app::error::{ApiError, ErrorKind};
use app::feed::Feed;
use axum::Router;
use axum::body::{Body, HttpBody, to_bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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
    /// Time a client has to send its request headers (applied by `connections`).
    pub header_read_timeout: Duration,
}

type Branch = BoxCloneSyncService<Request, Response, Infallible>;

/// Wraps `router` in the limits; `per_client` caps what one client has at once, `feed` says
/// which polls will really be held.
pub fn apply(
    router: Router,
    limits: Limits,
    per_client: Arc<PerClient>,
    feed: Arc<Feed>,
) -> Router {
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
    let posts: Branch = Branch::new(
        capped()
            .layer(from_fn_with_state(limits, body_in_time))
            .service(inner.clone()),
    );
    let held: Branch = Branch::new(
        ServiceBuilder::new()
            .layer(from_fn_with_state(per_client, cap_held_per_client))
            .service(inner),
    );
    let dispatch = tower::service_fn(move |mut request: Request| {
        let branch = match kind(ApiRequest::read(&mut request), &feed) {
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

/// A poll is held only when it will really wait: it asks to, and nothing in its room is newer
/// than its cursor (so memory answers it, when anything arrives). Any other poll, `wait` or not
/// (lines to answer at once, a cursor older than memory), is an ordinary request.
fn kind(request: &ApiRequest, feed: &Feed) -> Kind {
    if request.is_write() {
        return Kind::Post;
    }
    match request.poll() {
        Some(PollParams {
            room,
            cursor: Cursor::After(after),
            wait,
            ..
        }) if *wait > 0 && *after >= feed.newest(room) => Kind::Held,
        _ => Kind::Other,
    }
}

/// What one client may have at once: requests in flight (page loads, `limit=500` polls), so
/// that it cannot take every slot of `--max-in-flight` and leave everyone else with 503s; and
/// held polls, so that it cannot take every one of `--max-held-polls`.
pub struct PerClient {
    pub clients: ClientAddr,
    pub in_flight: Arc<ClientShares>,
    pub held: Arc<ClientShares>,
}

fn client_of(clients: &ClientAddr, request: &Request) -> Option<IpAddr> {
    let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(clients.of(peer.ip(), request.headers()))
}

async fn cap_per_client(
    State(limits): State<Arc<PerClient>>,
    request: Request,
    next: Next,
) -> Response {
    let taken = client_of(&limits.clients, &request).map(|client| limits.in_flight.take(client));
    let Some(Some(_taken)) = taken else {
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

/// A held poll past its client's share is answered at once, as one past `--max-held-polls` is.
async fn cap_held_per_client(
    State(limits): State<Arc<PerClient>>,
    mut request: Request,
    next: Next,
) -> Response {
    let taken = client_of(&limits.clients, &request).and_then(|client| limits.held.take(client));
    if taken.is_none() {
        ApiRequest::answer_at_once(&mut request);
    }
    let response = next.run(request).await;
    drop(taken);
    response
}

/// A post's body, read whole within the request's time limit (an overall deadline, not one
/// between chunks: a byte every few seconds would pass that), while the post holds its place
/// in flight; a body that does not arrive in time is answered 408. Only then is the post handed
/// on, and answered with its outcome however long the commit takes.
async fn body_in_time(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.size_hint().lower() > limits.max_body as u64 {
        return error_answers::error(&too_large());
    }
    match tokio::time::timeout(limits.request_timeout, to_bytes(body, limits.max_body)).await {
        Ok(Ok(body)) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Ok(Err(_)) => error_answers::error(&too_large()),
        Err(_) => error_answers::error(&ApiError::new(
            ErrorKind::RequestTimeout,
            "The request's body did not arrive in time.",
        )),
    }
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
