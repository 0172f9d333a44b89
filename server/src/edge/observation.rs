//! What an operator sees of each request: a request id (a trusted proxy's `X-Request-Id`, or a
//! new one), echoed in the response and carried by every log line of the request; one log line
//! per request at debug level; and the request metrics, labelled by route (a fixed set: raw
//! paths as label values would grow without bound).

use super::client_addr::ClientAddr;
use super::health;
use crate::api::contract::ApiRequest;
use crate::metrics::names;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a proxy.
const MAX_ID: usize = 128;

pub async fn track(
    State(clients): State<Arc<ClientAddr>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route_of(&mut request);
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let from_proxy = peer.is_some_and(|peer| clients.is_trusted(peer.to_canonical()));
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|_| from_proxy)
        .filter(|id| !id.is_empty() && id.len() <= MAX_ID)
        .cloned()
        .unwrap_or_else(new_id);
    let method = request.method().clone();
    let span = tracing::info_span!("request", id = %id.to_str().unwrap_or("-"));
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let took = started.elapsed();
    response.headers_mut().insert(REQUEST_ID.clone(), id);

    metrics::counter!(names::REQUESTS, "route" => route, "status" => status.as_str().to_owned())
        .increment(1);
    metrics::histogram!(names::REQUEST_SECONDS, "route" => route).record(took.as_secs_f64());
    if route != "health" {
        span.in_scope(|| {
            if status.is_server_error() {
                tracing::warn!(%method, route, status = status.as_u16(), ms = took.as_millis() as u64, "request failed");
            } else {
                tracing::debug!(%method, route, status = status.as_u16(), ms = took.as_millis() as u64, "request");
            }
        });
    }
    response
}

/// 16 hex digits, fresh for each request.
fn new_id() -> HeaderValue {
    HeaderValue::from_str(&format!("{:016x}", fastrand::u64(..))).expect("hex is a valid header")
}

/// The route a request belongs to: the label of the request metrics. (This is the outermost
/// layer that reads what an API request is: it is read here, once.)
pub fn route_of(request: &mut Request) -> &'static str {
    match ApiRequest::read(request) {
        ApiRequest::Unknown => return "api_other",
        read => {
            if let Some(endpoint) = read.endpoint() {
                return endpoint.label();
            }
        }
    }
    match request.uri().path() {
        "/" => "page",
        "/go" => "go",
        p if p == health::LIVE || p == health::READY => "health",
        p if p.starts_with("/r/") => "room_page",
        p if p.starts_with("/pkg/") || p == "/favicon.svg" => "static",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_are_a_fixed_set() {
        let route = |path: &str| {
            let mut request = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            super::route_of(&mut request)
        };
        assert_eq!(route("/api/lines"), "api_lines");
        assert_eq!(route("/api/openapi.json"), "api_openapi");
        assert_eq!(route("/r/anything-at-all"), "room_page");
        assert_eq!(route("/api/nope"), "api_other");
        assert_eq!(route("/pkg/chat.abc.wasm"), "static");
        assert_eq!(route("/whatever/else"), "other");
    }
}
