//! Server-wide protection, all from tower and tower-http: a time limit per request, a cap on
//! requests in flight that sheds the excess with 503 instead of falling over, and a body size
//! limit. Header size and slow clients are handled where connections are read (`serve`).

use crate::reply;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::{BoxError, Router};
use std::time::Duration;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;

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

/// Wraps `router` in the limits.
pub fn apply(router: Router, limits: Limits) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(from_fn(explain_bare_errors))
            .layer(HandleErrorLayer::new(overload_status))
            .load_shed()
            // Global: axum applies layers to each route apart, and one cap must cover all.
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
            .timeout(limits.request_timeout)
            .layer(tower_http::limit::RequestBodyLimitLayer::new(
                limits.max_body,
            )),
    )
}

/// Shed load and requests that ran out of time are the server's doing, not the client's: both
/// are 503 (with `Retry-After`), which clients retry.
async fn overload_status(err: BoxError) -> StatusCode {
    if err.is::<tower::load_shed::error::Overloaded>() || err.is::<tower::timeout::error::Elapsed>()
    {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        tracing::error!(%err, "request failed in a protective layer");
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// Layers answer API requests with a bare status; give it the API's JSON shape and
/// `Retry-After`. (The page keeps its own HTML.)
async fn explain_bare_errors(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !api {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match reply::explain(response.status()) {
        Some(error) if !is_json => reply::error(&error),
        _ => response,
    }
}
