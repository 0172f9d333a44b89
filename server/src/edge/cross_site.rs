//! Other sites cannot post in our users' names: a post made by another site's page (its form or
//! script) is refused.

use super::allowed_hosts::authority_of;
use crate::api::error_answers;
use app::error::{ApiError, ErrorKind};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

/// Refuses posts made by another site's page. Clients that send neither
/// `Sec-Fetch-Site` nor `Origin` (curl, bots) are served.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let cross_site = request.method() == Method::POST
        && is_cross_site(request.headers(), authority_of(&request));
    if cross_site {
        return error_answers::error(&ApiError::new(
            ErrorKind::Forbidden,
            "Posting from another site is not allowed.",
        ));
    }
    next.run(request).await
}

/// Whether a post with `headers`, naming `authority` (its URI's, or its `Host`), comes from
/// another site's page.
fn is_cross_site(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return true;
    }
    match (text(header::ORIGIN), authority) {
        (None, _) => false,
        (Some(origin), Some(authority)) => origin_authority(origin) != Some(authority),
        (Some(_), None) => true,
    }
}

/// `host:port` of an `Origin` such as `http://host:port`; `None` for `null` or garbage.
fn origin_authority(origin: &str) -> Option<&str> {
    let (_, authority) = origin.split_once("://")?;
    Some(authority.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        assert!(!is_cross_site(&headers(&[]), None));
        assert!(!is_cross_site(
            &headers(&[("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(is_cross_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            None
        ));
        let host = Some("chat.example:3000");
        let same = headers(&[("origin", "http://chat.example:3000")]);
        assert!(!is_cross_site(&same, host));
        assert!(is_cross_site(
            &headers(&[("origin", "https://evil.example")]),
            host
        ));
        assert!(is_cross_site(&headers(&[("origin", "null")]), host));
        // No authority at all: an Origin cannot be checked, so it is refused.
        assert!(is_cross_site(&same, None));
    }

    #[test]
    fn the_authority_counts_however_the_request_named_it() {
        // HTTP/2 (and an absolute-form request line) name it in the URI, with no Host header.
        let request = axum::http::Request::post("http://chat.example:3000/api/send")
            .header("origin", "http://chat.example:3000")
            .body(axum::body::Body::empty())
            .unwrap();
        let authority = authority_of(&request);
        assert_eq!(authority, Some("chat.example:3000"));
        assert!(!is_cross_site(request.headers(), authority));
    }
}
