//! How long browsers keep what we serve: the JS, wasm and CSS have content hashes in their
//! names, so they never change under a name and are kept a year; everything else is checked
//! again each time (cheaply: static files answer 304 when unchanged).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

const FOREVER: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// `hashed`: whether the build put content hashes in the asset names.
pub async fn cache_control(State(hashed): State<bool>, request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let policy = if asset && hashed { FOREVER } else { REVALIDATE };
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(policy);
    }
    response
}
