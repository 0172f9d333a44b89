//! Server side: the page's Content-Security-Policy, which names the nonce Leptos puts on the
//! inline hydration script of each response.

use http::{HeaderValue, header};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

/// The page's policy: our own scripts (the inline hydration script by this response's nonce),
/// the wasm, our stylesheet, and nothing from elsewhere.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// The nonce a page policy names.
pub fn nonce_of(policy: &str) -> Option<&str> {
    let nonce = policy.split("'nonce-").nth(1)?.split('\'').next()?;
    (!nonce.is_empty()).then_some(nonce)
}

/// Sets the page's Content-Security-Policy on the response being rendered.
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_nonce_is_read_back_from_the_policy() {
        let policy = super::page_policy("abc_-9");
        assert_eq!(super::nonce_of(&policy), Some("abc_-9"));
        assert_eq!(super::nonce_of("script-src 'self'"), None);
        assert_eq!(super::nonce_of("script-src 'nonce-'"), None);
    }
}
