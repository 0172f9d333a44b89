//! The page itself: rendering never waits on anything but the store.

use crate::common::TestServer;
use app::store::Backend;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, COOKIE};
use server::config::Config;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Building a router (as every test server does, in this same process) once listed the page's
/// routes by rendering the app with resource loading switched off process-wide: a page rendered
/// meanwhile on another thread waited for its data until the request timed out (503, empty).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_other_servers_are_built() {
    let server = TestServer::builder()
        .config(|config| config.request_timeout = 5)
        .start()
        .await;
    server
        .send(&[("screenname", "ann"), ("text", "still here")])
        .await;

    let building = Arc::new(AtomicBool::new(true));
    let builder = {
        let building = building.clone();
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend {
            store: Arc::new(crate::common::sqlite_store(
                &dir.path().join("other.sqlite3"),
            )),
            poll_ms: 2000,
            history: 50,
        };
        std::thread::spawn(move || {
            // Another test's runtime, as when tests run side by side.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _inside = runtime.enter();
            let mut built = 0;
            while building.load(Ordering::Relaxed) || built == 0 {
                let config = Config::defaults();
                drop(server::router(
                    &config,
                    server::leptos_options(),
                    backend.clone(),
                ));
                built += 1;
            }
            drop(dir);
            built
        })
    };
    for i in 0..40 {
        // A reader of their own each time: a page is kept per reader, and this one must render.
        let res = server
            .client
            .get(server.url("/"))
            .header(COOKIE, reader(i))
            .send();
        let res = res.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("still here"));
    }
    building.store(false, Ordering::Relaxed);
    assert!(builder.join().unwrap() > 0);
}

/// leptos_meta read the title for the page's `<head>` after rendering, outside the request's
/// reactive arena; a reactive title panicked there (the connection closed with no answer)
/// when the request's task resumed on a worker thread that had never rendered a page. The
/// shell renders the title itself now; this still holds every worker of a fresh runtime (as a
/// freshly started server has) to a whole page.
#[test]
fn the_first_pages_of_a_fresh_runtime_render_whole() {
    for _ in 0..30 {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(8)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = TestServer::start().await;
            for i in 0..3 {
                let res = server.client.get(server.url("/")).header(COOKIE, reader(i));
                let res = res.send().await;
                let res = res.expect("an answer, not a closed connection");
                assert_eq!(res.status(), StatusCode::OK);
                let page = res.text().await.unwrap();
                assert!(page.contains("<title>#general · Chat</title>"), "{page}");
            }
            server.stop().await;
        });
    }
}

/// Each kind of page names itself in the tab: the title is rendered with the page, from its
/// address (the browser then keeps a chat's title counting unread lines).
#[tokio::test]
async fn every_page_has_its_title() {
    let server = TestServer::start().await;
    for (path, status, title) in [
        ("/", StatusCode::OK, "#general · Chat"),
        ("/r/dev-ops", StatusCode::OK, "#dev-ops · Chat"),
        ("/r/-bad-", StatusCode::NOT_FOUND, "No such room · Chat"),
        ("/elsewhere", StatusCode::NOT_FOUND, "Not found · Chat"),
    ] {
        let res = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        let page = res.text().await.unwrap();
        assert_eq!(page.matches("<title>").count(), 1, "{path}: {page}");
        assert!(
            page.contains(&format!("<title>{title}</title>")),
            "{path}: {page}"
        );
    }
}

/// The name cookie of reader `i`: pages are kept per remembered name.
fn reader(i: usize) -> String {
    format!("chat_name=reader{i}")
}

/// The nonce a response's policy names.
fn nonce_of(res: &reqwest::Response) -> String {
    let policy = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    app::csp::nonce_of(policy).expect("a nonce").to_owned()
}

/// A page and the nonce its policy names.
async fn page(server: &TestServer, cookie: Option<&str>) -> (String, String) {
    let mut request = server.client.get(server.url("/"));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let res = request.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let nonce = nonce_of(&res);
    (res.text().await.unwrap(), nonce)
}

/// A page is rendered once and then served from memory until a line arrives, per reader's
/// name, and every response still has a nonce of its own.
#[tokio::test]
async fn a_kept_page_follows_every_line_and_each_readers_name() {
    let server = TestServer::start().await;
    server
        .send(&[("screenname", "ann"), ("text", "first")])
        .await;
    let (one, nonce) = page(&server, None).await;
    let (again, other) = page(&server, None).await;
    assert!(one.contains("first"));
    assert_ne!(nonce, other, "each response has its own nonce");
    assert_eq!(again.matches(&format!("nonce=\"{other}\"")).count(), 4);
    assert_eq!(one.replace(&nonce, "N"), again.replace(&other, "N"));

    // A line, even one that quotes a nonce it has seen, shows at once and exactly as written.
    let quoted = format!("nonce={nonce}");
    server
        .send(&[("screenname", "bob"), ("text", &quoted)])
        .await;
    let (after, fresh) = page(&server, None).await;
    assert!(after.contains(&quoted), "{after}");
    assert_ne!(fresh, nonce);
    let (kept, _) = page(&server, None).await;
    assert!(kept.contains(&quoted), "{kept}");

    // A line in another room lists that room on this page too.
    let dev = [("screenname", "ann"), ("text", "hi"), ("room", "dev")];
    server.send(&dev).await;
    assert!(page(&server, None).await.0.contains("href=\"/r/dev\""));

    // Each reader sees the name they are remembered by, and no one else's.
    let named = |name: &str| format!("value=\"{name}\"");
    let (zed, _) = page(&server, Some("chat_name=zed")).await;
    let (amy, _) = page(&server, Some("chat_name=amy")).await;
    let (nobody, _) = page(&server, None).await;
    assert!(zed.contains(&named("zed")) && !zed.contains(&named("amy")));
    assert!(amy.contains(&named("amy")) && !amy.contains(&named("zed")));
    assert!(!nobody.contains(&named("zed")) && !nobody.contains(&named("amy")));

    // In gzip (joined from pieces compressed once), the same page with a nonce of its own.
    let res = server
        .client
        .get(server.url("/"))
        .header(COOKIE, "chat_name=zed");
    let res = res
        .header(ACCEPT_ENCODING, "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");
    let nonce = nonce_of(&res);
    let zipped = res.bytes().await.unwrap();
    let mut text = String::new();
    let mut decoder = flate2::read::GzDecoder::new(&zipped[..]);
    std::io::Read::read_to_string(&mut decoder, &mut text).expect("valid gzip");
    let (plain, plain_nonce) = page(&server, Some("chat_name=zed")).await;
    assert_ne!(nonce, plain_nonce);
    assert_eq!(text.replace(&nonce, "N"), plain.replace(&plain_nonce, "N"));
}
