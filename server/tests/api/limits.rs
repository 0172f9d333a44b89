//! The server-wide limits: oversize bodies, headers and URLs refused, slow clients cut off,
//! overload shed and requests out of time answered 503.

use crate::common::{TestServer, ids, stalled_reads, unpooled_client};
use app::store::StoreError;
use reqwest::StatusCode;
use serde_json::Value;
use server::testing::hooked_store::{Call, Hook, HookedStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn oversize_bodies_headers_and_urls_are_refused_with_4xx() {
    let server = TestServer::start().await;
    // The oversize body closes its connection: each request on a connection of its own.
    let client = unpooled_client();
    let big = "x".repeat(1024 * 1024);
    let res = client
        .post(server.url("/api/send"))
        .form(&[("screenname", "ann"), ("text", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["kind"], "too_large");

    let res = client
        .get(server.url("/api/lines"))
        .header("x-padding", "y".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    let long_url = format!(
        "GET /api/lines?after=0&junk={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "z".repeat(64 * 1024)
    );
    let status = raw_status(&server, long_url.as_bytes()).await;
    assert!((400..500).contains(&status), "{status}");

    // Still serving, nothing stored.
    let (status, batch) = server.poll("").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ids(&batch).is_empty());
}

/// Sends `request` as raw bytes and returns the status code of the answer.
async fn raw_status(server: &TestServer, request: &[u8]) -> u16 {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

#[tokio::test]
async fn a_slow_client_is_cut_off() {
    let server = TestServer::builder()
        .config(|config| config.header_read_timeout = 1)
        .start()
        .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /api/lines HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // ...and never finishes its headers. The server closes the connection.
    let mut rest = Vec::new();
    // Closed after about a second; 30 s only bounds a failing run.
    let closed = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was still open after 30 s");
    let (status, _) = server.poll("").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn overload_is_shed_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let store = stalled_reads(&dir);
    let server = Arc::new(
        TestServer::builder()
            .store(store.clone())
            .config(|config| config.max_in_flight = 1)
            .start()
            .await,
    );
    let first = {
        let server = server.clone();
        tokio::spawn(async move { server.poll("?before=1000").await })
    };
    // The one slot is taken until the gate opens.
    store.hook.gate.arrived(1).await;
    let shed = server
        .client
        .get(server.url("/api/snapshot")) // another route: the cap is server-wide
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(shed.headers().contains_key("retry-after"));
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["kind"], "unavailable");

    store.hook.gate.open();
    let (status, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.poll("?before=1000").await;
    assert_eq!(status, StatusCode::OK, "the slot is free again");
}

#[tokio::test]
async fn a_request_out_of_time_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let store = stalled_reads(&dir);
    let server = TestServer::builder()
        .store(store.clone())
        .config(|config| config.request_timeout = 1)
        .start()
        .await;
    // The gate never opens: the server's doing, so 503, to be retried.
    let (status, body) = server.poll("?before=1000").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["kind"], "unavailable");
    assert_eq!(store.hook.gate.arrivals(), 1);
}

/// A post whose body stalls holds its place in flight only until the request's time limit: it
/// is answered 408, and the slot is free again. A body that trickles in is cut off the same way
/// (the deadline is for the whole body, not for the gap between two bytes).
#[tokio::test]
async fn a_post_whose_body_stalls_is_answered_408_and_frees_its_slot() {
    let server = TestServer::builder()
        .config(|config| {
            config.request_timeout = 1;
            config.max_in_flight = 2;
            config.rate_limit_exempt = vec![];
        })
        .start()
        .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let head = "POST /api/send HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n";
    // What the server answers a post whose body stops after a few bytes, or goes on one byte
    // every 100 ms; `Err` when it cut the connection before the answer could be read (a
    // trickling client's unread bytes make the close a reset).
    let stall = |trickle: bool| {
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(b"screenname=ann&text").await.unwrap();
            let mut answer = Vec::new();
            let read = async {
                let mut chunk = [0u8; 1024];
                loop {
                    tokio::select! {
                        read = stream.read(&mut chunk) => match read? {
                            0 => return Ok::<_, std::io::Error>(()),
                            n => answer.extend_from_slice(&chunk[..n]),
                        },
                        () = tokio::time::sleep(Duration::from_millis(100)), if trickle => {
                            stream.write_all(b"x").await?;
                        }
                    }
                }
            };
            // Answered after about a second; 30 s only bounds a failing run.
            let ended = tokio::time::timeout(Duration::from_secs(30), read)
                .await
                .expect("the stalled post was ended");
            ended.map(|()| String::from_utf8_lossy(&answer).into_owned())
        }
    };
    let (stalled, trickled) = tokio::join!(stall(false), stall(true));
    let stalled = stalled.unwrap();
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    assert!(stalled.contains(r#""kind":"request_timeout""#), "{stalled}");
    if let Ok(trickled) = trickled {
        assert!(trickled.starts_with("HTTP/1.1 408"), "{trickled}");
    }
    // Both slots are free again.
    let (status, _) = server.send(&[("screenname", "ann"), ("text", "hi")]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, batch) = server.poll("").await;
    assert_eq!(
        ids(&batch).len(),
        1,
        "nothing of the stalled posts was stored"
    );
}

/// Counts the store's pings.
struct CountPings(AtomicUsize);

#[async_trait::async_trait]
impl Hook for CountPings {
    async fn before(&self, call: Call) -> Result<(), StoreError> {
        if call == Call::Ping {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// `/readyz` reads the last answer of one task that checks the store at most once a second: a
/// flood of checks is not a flood of store queries (on PostgreSQL, of pooled connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_readiness_checks_costs_the_store_one_query_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let inner = crate::common::sqlite_store(&dir.path().join("chat.sqlite3"));
    let store = HookedStore::new(Arc::new(inner), CountPings(AtomicUsize::new(0)));
    let server = Arc::new(TestServer::builder().store(store.clone()).start().await);
    let started = Instant::now();
    let checks: Vec<_> = (0..200)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                let answer = server
                    .client
                    .get(server.url("/readyz"))
                    .send()
                    .await
                    .unwrap();
                answer.status()
            })
        })
        .collect();
    for check in checks {
        assert_eq!(check.await.unwrap(), StatusCode::OK);
    }
    let seconds = started.elapsed().as_secs() as usize;
    let pings = store.hook.0.load(Ordering::SeqCst);
    assert!(
        pings <= seconds + 2,
        "{pings} store queries for 200 checks in {seconds} s"
    );
}
