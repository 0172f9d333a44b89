//! Server-wide protection, all from tower and tower-http: a time limit per request, a cap on
//! requests in flight that sheds the excess with 503 instead of falling over, and a body size
//! limit. Header size and slow clients are handled where connections are read (`serve`).

use crate::reply;
use axum::error_handling::HandleErrorLayer;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::{BoxError, Router};
use std::time::Duration;
use tower::ServiceBuilder;

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
            .map_response(explain_bare_errors)
            .layer(HandleErrorLayer::new(overload_status))
            .load_shed()
            .concurrency_limit(limits.max_in_flight)
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

/// Layers answer with a bare status; give it the API's JSON shape and `Retry-After`.
fn explain_bare_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match reply::explain(response.status()) {
        Some(error) if !is_json => reply::error(&error),
        _ => response,
    }
}
