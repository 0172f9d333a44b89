//! How long browsers keep what we serve: the JS, wasm and CSS have content hashes in their
//! names, so they never change under a name and are kept a year; everything else is checked
//! again each time (cheaply: static files answer 304 when unchanged, see `static_files`); a page
//! is for its reader only (it carries their name and its own nonce), never for a shared cache.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

const FOREVER: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
const PRIVATE: HeaderValue = HeaderValue::from_static("private, no-cache");

/// `hashed`: whether the build put content hashes in the asset names.
pub async fn cache_control(State(hashed): State<bool>, request: Request, next: Next) -> Response {
    let asset = is_hashed_name(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        let page = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|kind| kind.as_bytes().starts_with(b"text/html"));
        let policy = if asset && hashed {
            FOREVER
        } else if page {
            PRIVATE
        } else {
            REVALIDATE
        };
        headers.entry(header::CACHE_CONTROL).or_insert(policy);
        // A static file (it has a date) may be served from a precompressed sibling: a shared
        // cache must keep one copy per encoding asked for, or it hands brotli to clients that
        // never asked for it.
        let static_file = headers.contains_key(header::LAST_MODIFIED);
        if (static_file || status == StatusCode::NOT_MODIFIED)
            && !headers.contains_key(header::VARY)
        {
            headers.insert(header::VARY, ACCEPT_ENCODING);
        }
    }
    response
}

const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("accept-encoding");

/// `/pkg/chat.<hash>.<ext>`: a file under `/pkg/` whose name carries a content hash.
fn is_hashed_name(path: &str) -> bool {
    path.strip_prefix("/pkg/")
        .is_some_and(|name| !name.contains('/') && name.split('.').count() >= 3)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_hashed_asset_names_are_kept_for_a_year() {
        assert!(super::is_hashed_name("/pkg/chat.QNraohEZvdk6gLYpnS8W8A.js"));
        assert!(super::is_hashed_name(
            "/pkg/chat.2p6hXb6ddb33RbO_YdFWYQ.wasm"
        ));
        assert!(!super::is_hashed_name("/pkg/chat.js"));
        assert!(!super::is_hashed_name("/favicon.svg"));
        assert!(!super::is_hashed_name("/api/lines"));
    }
}
