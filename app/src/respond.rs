//! Server side: turning an [`ApiError`] into the HTTP status of the server function's answer.

use crate::error::ApiError;
use http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

/// Sets the status (and `Retry-After`) for `error` on the current server-function response.
///
/// A plain HTML form post (JavaScript off) is left alone: Leptos answers it with a redirect back
/// to the page, carrying the error in the URL so the page can show it beside the form. A status
/// set here would replace that redirect.
pub fn set_status(error: &ApiError) {
    let Some(response) = use_context::<ResponseOptions>() else {
        return;
    };
    if is_plain_form_post() {
        return;
    }
    let status =
        StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.set_status(status);
    if let Some(seconds) = error.retry_after {
        response.insert_header(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}

/// Passes a server function's result through, setting the error's status on the way.
pub fn answer<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(error) = &result {
        set_status(error);
    }
    result
}

fn is_plain_form_post() -> bool {
    use_context::<Parts>().is_some_and(|parts| plain_form_referer(&parts.headers).is_some())
}

/// For a browser's plain HTML form post (JavaScript off), the page it came from: Leptos answers
/// such a post with a redirect back there, carrying any error in the URL.
pub fn plain_form_referer(headers: &HeaderMap) -> Option<&str> {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    accepts_html
        .then(|| headers.get(header::REFERER)?.to_str().ok())
        .flatten()
}

/// The page's policy: our own scripts (the inline hydration script by this response's nonce),
/// the wasm, our stylesheet, and nothing from elsewhere.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// Sets the page's Content-Security-Policy, with the nonce Leptos puts on its inline scripts.
pub fn set_page_policy() {
    let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
    else {
        return;
    };
    if let Ok(policy) = HeaderValue::from_str(&page_policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
    }
}
