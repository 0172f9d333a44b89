//! The page itself: rendering never waits on anything but the store.

use crate::common::TestServer;
use app::store::Backend;
use reqwest::StatusCode;
use server::config::Config;
use server::sqlite::SqliteStore;
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
            store: Arc::new(SqliteStore::open(&dir.path().join("other.sqlite3")).unwrap()),
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
    for _ in 0..40 {
        let res = server.client.get(server.url("/")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("still here"));
    }
    building.store(false, Ordering::Relaxed);
    assert!(builder.join().unwrap() > 0);
}

/// Leptos reads the title for the page's `<head>` after rendering, outside the request's
/// reactive arena; a reactive title panicked there (the connection closed with no answer)
/// when the request's task resumed on a worker thread that had never rendered a page. Each
/// round is a fresh runtime of many workers, as a freshly started server is.
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
            for _ in 0..3 {
                let res = server.client.get(server.url("/")).send().await;
                let res = res.expect("an answer, not a closed connection");
                assert_eq!(res.status(), StatusCode::OK);
                let page = res.text().await.unwrap();
                assert!(page.contains("<title>#general · Chat</title>"), "{page}");
            }
            server.stop().await;
        });
    }
}
