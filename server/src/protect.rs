//! Server-wide protection, all from tower and tower-http: a time limit per request, a cap on
//! requests in flight that sheds the excess with 503 instead of falling over, and a body size
//! limit. Header size and slow clients are handled where connections are read (`serve`).
//!
//! Two kinds of request are treated apart. A held poll mostly waits on memory: it is not a
//! request in flight for load shedding (it has its own cap, `--max-held-polls`) and its `wait`
//! is its time limit. A post, once the writer has taken it, is answered with its outcome
//! however long the commit takes (see `sqlite::writer`): it counts against the cap but the time
//! limit does not cut it.

use crate::empty_poll::poll_params;
use app::api::{Cursor, LinesSince, SendLine};
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use leptos::server_fn::ServerFn;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// The largest request body: a line is a few hundred bytes even percent-encoded.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

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

/// Wraps `router` in the limits.
pub fn apply(router: Router, limits: Limits) -> Router {
    let inner = router.layer(tower_http::limit::RequestBodyLimitLayer::new(
        limits.max_body,
    ));
    // Global: one cap for every route and both branches that count.
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let capped = || {
        ServiceBuilder::new()
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
    let dispatch = tower::service_fn(move |request: Request| {
        let branch = match kind(&request) {
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

fn kind(request: &Request) -> Kind {
    let path = request.uri().path();
    if request.method() == Method::POST && path == SendLine::PATH {
        return Kind::Post;
    }
    if request.method() == Method::GET && path == LinesSince::PATH {
        let held = poll_params(request.uri().query().unwrap_or(""))
            .is_some_and(|p| p.wait > 0 && matches!(p.cursor, Cursor::After(_)));
        if held {
            return Kind::Held;
        }
    }
    Kind::Other
}

/// Shed load and requests that ran out of time are the server's doing, not the client's: both
/// are 503 (with `Retry-After`, added with the JSON body by `reply::api_errors`), which clients
/// retry.
async fn overload_status(err: BoxError) -> StatusCode {
    if err.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!(crate::metrics::names::SHED).increment(1);
        StatusCode::SERVICE_UNAVAILABLE
    } else if err.is::<tower::timeout::error::Elapsed>() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        tracing::error!(%err, "request failed in a protective layer");
        StatusCode::INTERNAL_SERVER_ERROR
    }
}
