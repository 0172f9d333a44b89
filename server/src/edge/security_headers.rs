//! The page runs only our code and is framed nowhere: the security headers of every response.

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// For every response but the page (which sets its own, see `app::csp::page_policy`): API
/// answers and static files may run nothing and be framed nowhere.
const OTHER_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response (tower-http, no per-request work beyond the
/// inserts); the page's own policy, set while rendering, is kept.
pub fn headers(router: Router) -> Router {
    let set =
        |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(OTHER_POLICY),
        ))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // same-origin: the plain form post (JavaScript off) is redirected back by its Referer.
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
}
