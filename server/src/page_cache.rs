//! Rendered pages, kept until a line or a change changes them. A room's page follows from the
//! lines (the active rooms follow from them too), the reader's remembered name and identity,
//! nothing else: so it is rendered once per path, name and identity while nothing arrives, and
//! served from memory meanwhile. A deletion drops every page rendered before it at once, so no
//! erased text stays in memory.
//!
//! Every response still gets its own Content-Security-Policy nonce: a page is kept as the text
//! between the places of the nonce it was rendered with (random, drawn after every line in it
//! was stored, so no line can contain it), and joined with a fresh nonce for each response. To a
//! client that takes gzip, the page goes in gzip joined from pieces compressed once (`gzip.rs`):
//! compressing each response took half the time of serving a kept page.

mod gzip;

use app::feed::Feed;
use app::location::{Location, Page as PageAt};
use app::screen_name;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, response::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gzip::Gzip;
use leptos::nonce::Nonce;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Pages kept at most (a few tens of KB each): one per room and remembered name in use; past
/// it, outdated pages go, then the least recently used.
const MAX_PAGES: usize = 512;

/// A rendered page is buffered whole to be kept; the page with the longest lines is far below.
const MAX_PAGE_BYTES: usize = 4 << 20;

pub struct PageCache {
    feed: Arc<Feed>,
    pages: Mutex<Pages>,
}

/// The pages kept, each with when it was last used (a count of uses of the cache).
#[derive(Default)]
struct Pages {
    kept: HashMap<Key, (Arc<Page>, u64)>,
    uses: u64,
}

/// What a page depends on besides the lines.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    path: String,
    name: Option<String>,
    /// The reader's identity secret, as the store sees it (the page shows what it holds).
    identity: Option<app::identity::Presented>,
}

/// A rendered page, split where its nonce was.
struct Page {
    /// The newest line of all when it was rendered: a newer line may change it.
    version: i64,
    headers: HeaderMap,
    pieces: Vec<Bytes>,
    /// Compressed at the first client that takes gzip (`None` inside: it could not be).
    gzip: OnceLock<Option<Gzip>>,
}

impl PageCache {
    pub fn new(feed: Arc<Feed>) -> Arc<Self> {
        let mut erasures = feed.erasures();
        let cache = Arc::new(Self {
            feed,
            pages: Mutex::default(),
        });
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            while erasures.changed().await.is_ok() {
                let Some(cache) = weak.upgrade() else { break };
                cache.drop_outdated();
            }
        });
        cache
    }

    /// Forgets every page older than the newest event (after a deletion: they may show it).
    fn drop_outdated(&self) {
        let current = self.feed.newest_overall();
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        pages.kept.retain(|_, (page, _)| page.version == current);
    }

    fn get(&self, key: &Key, version: i64) -> Option<Arc<Page>> {
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        pages.uses += 1;
        let now = pages.uses;
        let (page, used) = pages
            .kept
            .get_mut(key)
            .filter(|entry| entry.0.version == version)?;
        *used = now;
        Some(page.clone())
    }

    /// Keeps `page` if no line came while it was rendered (an older page is of no more use).
    fn keep(&self, key: Key, page: Arc<Page>) {
        let current = self.feed.newest_overall();
        if page.version != current {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        pages.uses += 1;
        let now = pages.uses;
        let kept = &mut pages.kept;
        if kept.len() >= MAX_PAGES && !kept.contains_key(&key) {
            // Outdated pages go first; if every page is current, the one least recently used
            // (so that one client rotating its name cookie cannot empty everyone's pages).
            kept.retain(|_, (page, _)| page.version == current);
            if kept.len() >= MAX_PAGES
                && let Some(oldest) = kept
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(key, _)| key.clone())
            {
                kept.remove(&oldest);
            }
        }
        kept.insert(key, (page, now));
    }
}

/// Serves a page from memory when it is kept and current; otherwise renders it and keeps it.
pub async fn serve(State(cache): State<Arc<PageCache>>, request: Request, next: Next) -> Response {
    let Some(key) = page_key(&request) else {
        return next.run(request).await;
    };
    let gzip = accepts_gzip(request.headers());
    // Read before rendering: a line published meanwhile makes this version outdated, never a
    // page that lacks a line current.
    let version = cache.feed.newest_overall();
    if let Some(page) = cache.get(&key, version) {
        return page.respond(gzip);
    }
    let (parts, body) = next.run(request).await.into_parts();
    let Some(nonce) = keepable(&parts) else {
        return Response::from_parts(parts, body);
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_PAGE_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Some(page) = Page::new(version, parts.headers.clone(), &body, &nonce) else {
        return Response::from_parts(parts, Body::from(body));
    };
    let page = Arc::new(page);
    cache.keep(key, page.clone());
    page.respond(gzip)
}

/// The key of a request for a room's page; `None` for anything else (a page of history or
/// with an error to show has a query, and is rendered each time).
fn page_key(request: &Request) -> Option<Key> {
    let uri = request.uri();
    let path = uri.path();
    let page = Location::parse(path, None).page != PageAt::NotFound;
    if request.method() != Method::GET || !page || uri.query().is_some() {
        return None;
    }
    Some(Key {
        path: path.to_owned(),
        // Read as the page reads them, so a page is kept under the name and identity it shows.
        name: screen_name::request::in_headers(request.headers()),
        identity: app::identity::in_headers(request.headers()).map(|s| s.presented()),
    })
}

/// Whether the client takes gzip (`Accept-Encoding`: named with a weight above 0, or `*`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut wildcard = false;
    let codings = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for coding in codings {
        let mut params = coding.split(';');
        let name = params.next().unwrap_or("").trim();
        let weight = params
            .filter_map(|param| {
                let (name, value) = param.trim().split_once('=')?;
                name.eq_ignore_ascii_case("q").then_some(value)
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case("gzip") {
            return weight > 0.0;
        }
        wildcard |= name == "*" && weight > 0.0;
    }
    wildcard
}

/// The nonce of a whole, successful page (one with a nonce policy): what can be kept.
fn keepable(parts: &Parts) -> Option<String> {
    let html = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if parts.status != StatusCode::OK || !html {
        return None;
    }
    let policy = parts.headers.get(header::CONTENT_SECURITY_POLICY)?;
    app::csp::nonce_of(policy.to_str().ok()?).map(str::to_owned)
}

impl Page {
    /// `None` when the body is not text (never so for a rendered page).
    fn new(version: i64, mut headers: HeaderMap, body: &Bytes, nonce: &str) -> Option<Self> {
        headers.remove(header::CONTENT_SECURITY_POLICY);
        headers.remove(header::CONTENT_LENGTH);
        let text = std::str::from_utf8(body).ok()?;
        let mut pieces = Vec::new();
        let mut start = 0;
        for (at, _) in text.match_indices(nonce) {
            pieces.push(body.slice(start..at));
            start = at + nonce.len();
        }
        pieces.push(body.slice(start..));
        Some(Self {
            version,
            headers,
            gzip: OnceLock::new(),
            pieces,
        })
    }

    /// The page with a fresh nonce in its body and policy; in gzip if `gzip`.
    fn respond(&self, gzip: bool) -> Response {
        let nonce = Nonce::new();
        // Never a page without its policy (a nonce is always a valid header value).
        let Ok(policy) = HeaderValue::from_str(&app::csp::page_policy(&nonce)) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut headers = self.headers.clone();
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        let zipped = gzip
            .then(|| {
                let compressed = self.gzip.get_or_init(|| Gzip::compress(&self.pieces));
                compressed.as_ref()?.join(&self.pieces, &nonce)
            })
            .flatten();
        let body = match zipped {
            Some(zipped) => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                zipped
            }
            None => self.text(&nonce),
        };
        let mut response = Response::new(Body::from(body));
        *response.headers_mut() = headers;
        response
    }

    /// The page's text with `nonce` in its places.
    fn text(&self, nonce: &str) -> Vec<u8> {
        let length = self.pieces.iter().map(Bytes::len).sum::<usize>()
            + nonce.len() * (self.pieces.len() - 1);
        let mut text = Vec::with_capacity(length);
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                text.extend_from_slice(nonce.as_bytes());
            }
            text.extend_from_slice(piece);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(version: i64, body: &'static str, nonce: &str) -> Page {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        Page::new(
            version,
            headers,
            &Bytes::from_static(body.as_bytes()),
            nonce,
        )
        .unwrap()
    }

    async fn body_and_nonce(response: Response) -> (Vec<u8>, String) {
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let nonce = app::csp::nonce_of(&policy).unwrap().to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
        (body.unwrap().to_vec(), nonce)
    }

    #[tokio::test]
    async fn each_response_gets_a_fresh_nonce_in_every_place() {
        let kept = page(
            1,
            r#"<script nonce="N0">a</script><p>x</p><script nonce="N0">"#,
            "N0",
        );
        let (first, one) = body_and_nonce(kept.respond(false)).await;
        let (second, other) = body_and_nonce(kept.respond(false)).await;
        assert_ne!(one, other);
        for (body, nonce) in [(first, one), (second, other)] {
            assert_eq!(
                String::from_utf8(body).unwrap(),
                format!(r#"<script nonce="{nonce}">a</script><p>x</p><script nonce="{nonce}">"#)
            );
        }
    }

    #[tokio::test]
    async fn a_client_that_takes_gzip_gets_the_same_page_in_gzip() {
        let kept = page(1, r#"<script nonce="N0">a</script><p>x</p>"#, "N0");
        let response = kept.respond(true);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
        let (zipped, nonce) = body_and_nonce(response).await;
        let mut text = String::new();
        let mut decoder = flate2::read::GzDecoder::new(&zipped[..]);
        std::io::Read::read_to_string(&mut decoder, &mut text).unwrap();
        assert_eq!(
            text,
            format!(r#"<script nonce="{nonce}">a</script><p>x</p>"#)
        );
    }

    #[test]
    fn gzip_is_taken_when_named_with_a_weight_or_by_a_wildcard() {
        let accepts = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            accepts_gzip(&headers)
        };
        assert!(accepts("gzip, deflate, br, zstd"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("br"));
        assert!(!accepts("gzip;q=0, br"));
        assert!(!accepts("gzip; q=0.0, *"), "named with weight 0: refused");
        assert!(!accepts("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn only_whole_successful_pages_with_a_nonce_policy_are_kept() {
        let response = |status: StatusCode, kind: &'static str, policy: Option<&'static str>| {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            if let Some(policy) = policy {
                let policy = HeaderValue::from_static(policy);
                headers.insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            response.into_parts().0
        };
        let html = "text/html; charset=utf-8";
        let policy = Some("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'");
        let ok = response(StatusCode::OK, html, policy);
        assert_eq!(keepable(&ok).as_deref(), Some("abc"));
        assert_eq!(
            keepable(&response(StatusCode::NOT_FOUND, html, policy)),
            None
        );
        assert_eq!(
            keepable(&response(StatusCode::OK, "application/json", policy)),
            None
        );
        assert_eq!(keepable(&response(StatusCode::OK, html, None)), None);
        let no_nonce = Some("script-src 'self'");
        assert_eq!(keepable(&response(StatusCode::OK, html, no_nonce)), None);
    }

    /// Publishes line `id` to `feed`.
    fn line(feed: &Feed, id: i64) {
        let line = app::line::Line::new(id, "ann", &format!("line {id}"), "2026-11-26T10:00:00Z");
        let room = app::room::Room::general();
        feed.publish(vec![app::feed::Posted::line(room, line)]);
    }

    #[tokio::test]
    async fn a_deletion_drops_every_page_rendered_before_it() {
        let feed = Arc::new(Feed::empty());
        let cache = PageCache::new(feed.clone());
        line(&feed, 1);
        let key = Key {
            path: "/".to_owned(),
            name: None,
            identity: None,
        };
        cache.keep(key.clone(), Arc::new(page(1, "shows line 1", "N")));
        let mut erasures = feed.erasures();
        let deletion = app::change::Change {
            id: 2,
            line: 1,
            kind: app::change::ChangeKind::Deleted,
            text: None,
            at: "2026-11-26T10:01:00Z".into(),
        };
        feed.publish(vec![app::feed::Posted::change(
            app::room::Room::general(),
            deletion,
        )]);
        erasures.changed().await.unwrap();
        // The cache's watcher runs on this (one-threaded) runtime whenever the test yields.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(
            cache.pages.lock().unwrap().kept.is_empty(),
            "dropped, not just outdated"
        );
    }

    #[tokio::test]
    async fn pages_kept_stay_current_and_bounded_and_outdated_ones_go_first() {
        let feed = Arc::new(Feed::empty());
        let cache = PageCache::new(feed.clone());
        let key = |i: usize| Key {
            path: "/".to_owned(),
            name: Some(format!("reader{i}")),
            identity: None,
        };
        line(&feed, 1);
        cache.keep(key(0), Arc::new(page(1, "old", "N")));
        line(&feed, 2);
        cache.keep(key(1), Arc::new(page(1, "rendered before line 2", "N")));
        assert!(
            cache.get(&key(1), 1).is_none(),
            "not kept: a line came meanwhile"
        );
        for i in 1..MAX_PAGES {
            cache.keep(key(i), Arc::new(page(2, "current", "N")));
        }
        cache.keep(key(MAX_PAGES), Arc::new(page(2, "current", "N")));
        let kept = |i| cache.pages.lock().unwrap().kept.contains_key(&key(i));
        assert_eq!(cache.pages.lock().unwrap().kept.len(), MAX_PAGES);
        assert!(!kept(0), "the outdated page went first");
        assert!(cache.get(&key(1), 2).is_some());
        // Full of current pages: one more costs one page, the least recently used (not 1,
        // just read), never all of them.
        cache.keep(key(MAX_PAGES + 1), Arc::new(page(2, "current", "N")));
        assert_eq!(cache.pages.lock().unwrap().kept.len(), MAX_PAGES);
        assert!(kept(1) && kept(MAX_PAGES) && kept(MAX_PAGES + 1));
        assert!(!kept(2), "the least recently used went");
        assert!((3..MAX_PAGES).all(kept), "the others stay");
        assert!(cache.get(&key(1), 3).is_none(), "a newer line outdates it");
    }
}
