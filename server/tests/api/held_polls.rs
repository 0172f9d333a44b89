//! Held polls (`wait`): answered as soon as a line is committed, empty when the wait runs out,
//! at once when the server stops; never counted against the in-flight cap.

use crate::common::{TestServer, ids};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Waits until the server holds `count` polls.
async fn held(server: &TestServer, count: usize) {
    let feed = server.store.feed().clone();
    let waiting = async {
        while feed.held() < count {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    // Bounds a broken run only.
    tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .unwrap_or_else(|_| panic!("{} of {count} polls held after 60 s", feed.held()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_poll_is_answered_by_the_next_line() {
    let server = Arc::new(TestServer::start().await);
    let (_, first) = server
        .send(&[("screenname", "ann"), ("text", "before")])
        .await;
    let after = first["id"].as_i64().unwrap();
    let poll = tokio::spawn({
        let server = server.clone();
        async move {
            let asked = Instant::now();
            let answer = server.poll(&format!("?after={after}&wait=30")).await;
            (answer, asked.elapsed())
        }
    });
    held(&server, 1).await;
    let (_, line) = server.send(&[("screenname", "bob"), ("text", "now")]).await;
    let ((status, batch), took) = poll.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch["lines"], json!([line]), "exactly the new line");
    assert_eq!(batch["cursor"], line["id"]);
    // Answered by the post, not by the wait running out (the benchmark measures how fast).
    assert!(took < Duration::from_secs(29), "took {took:?}");
    assert_eq!(server.store.feed().held(), 0);
}

#[tokio::test]
async fn a_held_poll_with_lines_waiting_answers_at_once() {
    let server = TestServer::start().await;
    let (_, line) = server
        .send(&[("screenname", "ann"), ("text", "waiting")])
        .await;
    let (status, batch) = server.poll("?after=0&wait=30").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch["lines"], json!([line]));
}

#[tokio::test]
async fn a_held_poll_that_waits_out_answers_the_empty_batch() {
    let server = TestServer::start().await;
    let asked = Instant::now();
    let (status, batch) = server.poll("?after=0&wait=1").await;
    let took = asked.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch, json!({"lines": [], "changes": [], "cursor": 0}));
    assert!(
        took >= Duration::from_secs(1),
        "answered after {took:?}, before its wait"
    );
}

#[tokio::test]
async fn wait_is_capped_and_malformed_waits_are_400() {
    let server = Arc::new(TestServer::start().await);
    for query in [
        "?wait=-1",
        "?wait=1.5",
        "?wait=soon",
        "?wait=1e3",
        "?wait=%2B1",
    ] {
        let (status, body) = server.poll(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["kind"], "bad_request");
        assert!(body["message"].as_str().unwrap().contains("wait"), "{body}");
    }
    // Far above the cap: accepted (served as 30 s) and answered by the next line.
    let poll = tokio::spawn({
        let server = server.clone();
        async move {
            server
                .poll(&format!("?after=0&wait={}", "9".repeat(30)))
                .await
        }
    });
    held(&server, 1).await;
    server.send(&[("screenname", "ann"), ("text", "hi")]).await;
    let (status, batch) = poll.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&batch).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_held_polls_do_not_shed_other_requests() {
    // More held polls than requests may be in flight: they are not requests in flight.
    let server = Arc::new(
        TestServer::builder()
            .config(|config| config.max_in_flight = 64)
            .start()
            .await,
    );
    const HELD: usize = 1500;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let polls: Vec<_> = (0..HELD)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/api/lines?after=0&wait=30"));
            tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
        })
        .collect();
    held(&server, HELD).await;
    let (status, _) = server.poll("?after=0").await;
    assert_eq!(status, StatusCode::OK, "a normal poll");
    let (status, line) = server
        .send(&[("screenname", "ann"), ("text", "wake")])
        .await;
    assert_eq!(status, StatusCode::OK, "a post: {line}");
    let page = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "a page");
    for poll in polls {
        assert_eq!(poll.await.unwrap(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_polls_are_answered_at_once_not_refused() {
    let server = Arc::new(
        TestServer::builder()
            .config(|config| config.max_held_polls = 1)
            .start()
            .await,
    );
    let first = tokio::spawn({
        let server = server.clone();
        async move { server.poll("?after=0&wait=30").await }
    });
    held(&server, 1).await;
    let (status, batch) = server.poll("?after=0&wait=30").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        batch,
        json!({"lines": [], "changes": [], "cursor": 0}),
        "as if it had not asked to wait"
    );
    server.send(&[("screenname", "ann"), ("text", "x")]).await;
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_answers_every_held_poll_at_once() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let polls: Vec<_> = (0..200)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/api/lines?after=0&wait=30"));
            tokio::spawn(async move {
                let res = client.get(url).send().await.unwrap();
                (res.status(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    held(&server, 200).await;
    let asked = Instant::now();
    server.stop().await;
    for poll in polls {
        let (status, batch) = poll.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(batch, json!({"lines": [], "changes": [], "cursor": 0}));
    }
    // Nothing waits out its 30 s: the promise is a stop within 5 s.
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = TestServer::builder()
        .config(|config| config.header_read_timeout = 1)
        .start()
        .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut rest = Vec::new();
    // Closed after about a second; 30 s only bounds a failing run.
    let closed = tokio::time::timeout(Duration::from_secs(30), silent.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "a silent connection was still open after 30 s"
    );
    // A keep-alive connection between requests is a silent one too, and a working one before.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /api/lines HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), idle.read_to_end(&mut answer)).await;
    assert!(
        closed.is_ok(),
        "an idle connection was still open after 30 s"
    );
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
