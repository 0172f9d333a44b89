//! The reader's screen name, remembered between visits in a cookie (so the server pre-fills the
//! form, with JavaScript or without): set when a post succeeds, for a year, `SameSite=Lax`,
//! `Secure` when the page is served over HTTPS.

/// The cookie's name.
pub const COOKIE: &str = "chat_name";
/// A year, in seconds.
const LIFETIME_SECS: u32 = 365 * 24 * 60 * 60;

/// The `Set-Cookie` value that remembers `name`.
pub fn set_cookie(name: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={}; Path=/; Max-Age={LIFETIME_SECS}; SameSite=Lax{secure}",
        crate::percent::encode(name)
    )
}

/// The remembered name in a `Cookie` header, if there is a valid one.
pub fn from_cookie_header(header: &str) -> Option<String> {
    let value = header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == COOKIE).then_some(value))?;
    let name = crate::percent::decode(value)?;
    crate::line::check_screenname(&name).ok().map(str::to_owned)
}

/// Server side: the name remembered by this request's cookie, and remembering a name on the
/// response being made.
#[cfg(feature = "ssr")]
pub mod request {
    use http::{HeaderMap, HeaderValue, header, request::Parts};
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;

    /// The name remembered by the page being rendered.
    pub fn remembered() -> Option<String> {
        in_headers(&use_context::<Parts>()?.headers)
    }

    /// The name remembered by a request's cookies (also what a kept page is kept under).
    pub fn in_headers(headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(super::from_cookie_header)
    }

    pub fn remember(name: &str) {
        let (Some(response), Some(parts)) =
            (use_context::<ResponseOptions>(), use_context::<Parts>())
        else {
            return;
        };
        if let Ok(cookie) = HeaderValue::from_str(&super::set_cookie(name, is_https(&parts))) {
            response.append_header(header::SET_COOKIE, cookie);
        }
    }

    /// Whether the page was served over HTTPS: a proxy that terminates TLS says so, and a
    /// browser's `Origin` and `Referer` name the scheme.
    pub fn is_https(parts: &Parts) -> bool {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        header("x-forwarded-proto") == Some("https")
            || header("origin").is_some_and(|o| o.starts_with("https://"))
            || header("referer").is_some_and(|r| r.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_survives_the_cookie() {
        for name in ["ann", "Ann Smith", "Zoë 😀", "a;b=c,d"] {
            let cookie = set_cookie(name, false);
            let value = cookie.split(';').next().unwrap();
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"%_=".contains(&b))
            );
            assert_eq!(
                from_cookie_header(&format!("other=1; {value}")).as_deref(),
                Some(name)
            );
        }
    }

    #[test]
    fn the_cookie_lasts_a_year_and_is_secure_over_https() {
        let cookie = set_cookie("ann", true);
        assert!(cookie.contains("Max-Age=31536000"), "{cookie}");
        assert!(
            cookie.contains("SameSite=Lax") && cookie.ends_with("; Secure"),
            "{cookie}"
        );
        assert!(!set_cookie("ann", false).contains("Secure"));
    }

    #[test]
    fn a_forged_cookie_is_not_a_name() {
        assert_eq!(
            from_cookie_header("chat_name=a%0Ab"),
            None,
            "a control character"
        );
        assert_eq!(from_cookie_header("chat_name=%FF"), None, "not UTF-8");
        assert_eq!(from_cookie_header("chat_name="), None, "empty");
        assert_eq!(from_cookie_header("chat_name=%ZZ"), None);
        assert_eq!(from_cookie_header("other=ann"), None);
    }
}
