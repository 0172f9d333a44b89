//! Which page a URL asks for: `/` is #general, `/r/<name>` a room (or a name that cannot be
//! one), anything else is not found; `?before=<id>` asks for the history before a line, and
//! `__path` with `__err` carry the error a plain form post (JavaScript off) came back with.
//! Read from the request on the server and from the address bar in the browser by the same
//! rules, so that the rendered page and the hydrated one agree (the page has no client-side
//! router: there are two paths to tell apart, and the router was a sixth of the wasm).

/// What a URL asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub page: Page,
    /// `before` from the query, as written (the snapshot's parsing says what it may be).
    pub before: Option<String>,
    /// The server function's path and the encoded error that a plain form post (JavaScript
    /// off) was sent back to the page with.
    pub form_error: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    General,
    /// `/r/<name>`, the name percent-decoded.
    Room(String),
    NotFound,
}

impl Location {
    /// `path` and `query` (without its `?`) of a URL. What cannot be percent-decoded is taken
    /// as written (and then is no room name, or no line id, with the error that says so).
    pub fn parse(path: &str, query: Option<&str>) -> Self {
        let page = if path == "/" {
            Page::General
        } else {
            match path.strip_prefix("/r/") {
                Some(name) if !name.is_empty() && !name.contains('/') => Page::Room(decoded(name)),
                _ => Page::NotFound,
            }
        };
        let param = |name: &str| param(query.unwrap_or_default(), name);
        Self {
            page,
            before: param("before"),
            form_error: param("__path").zip(param("__err")),
        }
    }

    /// The page being rendered (on the server) or hydrated (in the browser).
    pub fn current() -> Self {
        #[cfg(feature = "ssr")]
        if let Some(parts) = leptos::prelude::use_context::<http::request::Parts>() {
            return Self::parse(parts.uri.path(), parts.uri.query());
        }
        #[cfg(feature = "hydrate")]
        {
            let location = leptos::prelude::window().location();
            let path = location.pathname().unwrap_or_default();
            let search = location.search().unwrap_or_default();
            let query = search.strip_prefix('?').filter(|query| !query.is_empty());
            return Self::parse(&path, query);
        }
        #[allow(unreachable_code)]
        Self::parse("/", None)
    }
}

/// The first value of `name` in a form-encoded query.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decoded(&key.replace('+', " ")) == name).then(|| decoded(&value.replace('+', " ")))
    })
}

fn decoded(text: &str) -> String {
    crate::percent::decode(text).unwrap_or_else(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(path: &str) -> Page {
        Location::parse(path, None).page
    }

    #[test]
    fn paths_name_the_page() {
        assert_eq!(page("/"), Page::General);
        assert_eq!(page("/r/dev"), Page::Room("dev".into()));
        assert_eq!(page("/r/no%20way%C3%A9"), Page::Room("no wayé".into()));
        assert_eq!(
            page("/r/bad%FF"),
            Page::Room("bad%FF".into()),
            "taken as written"
        );
        for missing in ["/r/", "/r/a/b", "/x", "/r", "", "/api/lines"] {
            assert_eq!(page(missing), Page::NotFound, "{missing}");
        }
    }

    #[test]
    fn before_comes_from_the_query() {
        let at = |query| Location::parse("/r/dev", Some(query)).before;
        assert_eq!(at("before=41"), Some("41".into()));
        assert_eq!(at("x=1&before=%34%31&y"), Some("41".into()));
        assert_eq!(at("before="), Some(String::new()));
        assert_eq!(at("after=3"), None);
        assert_eq!(Location::parse("/", None).before, None);
    }

    #[test]
    fn a_form_error_needs_its_path_and_error() {
        let error = |query| Location::parse("/", Some(query)).form_error;
        assert_eq!(
            error("__path=%2Fapi%2Fsend&__err=eyJr%3D"),
            Some(("/api/send".into(), "eyJr=".into()))
        );
        assert_eq!(error("__err=eyJr"), None);
        assert_eq!(
            error("a+b=c+d&__path=x&__err=y"),
            Some(("x".into(), "y".into()))
        );
    }
}
