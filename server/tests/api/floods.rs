//! One client cannot drown out the others: the post rate per address, and the cap on what one
//! client has in flight.

use crate::common::{TestServer, ids, stalled_reads};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_flood_from_one_address_is_limited_and_nobody_else_notices() {
    // Behind a trusted proxy on loopback, with no exempt addresses.
    let server = Arc::new(
        TestServer::builder()
            .config(|config| {
                config.trusted_proxy = vec!["127.0.0.1/32".parse().unwrap()];
                config.rate_limit_exempt = vec!["192.0.2.255/32".parse().unwrap()];
                // One post a minute after the burst: however slow the machine, the flood
                // below is over long before a second allowance comes back.
                config.post_rate = 1;
                config.post_burst = 10;
            })
            .start()
            .await,
    );
    let post_as = |client: &'static str, text: String| {
        let server = server.clone();
        async move {
            server
                .client
                .post(server.url("/api/send"))
                .header("x-forwarded-for", client)
                .form(&[("screenname", "flood"), ("text", text.as_str())])
                .send()
                .await
                .unwrap()
        }
    };

    let poller = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..50 {
                statuses.push(server.poll("?after=0&limit=1").await.0);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            statuses
        })
    };

    let mut accepted = 0;
    let mut limited = None;
    let flood = Instant::now();
    for i in 0..200 {
        let res = post_as("198.51.100.66", format!("flood {i}")).await;
        match res.status() {
            StatusCode::OK => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => limited = Some(res),
            other => panic!("unexpected {other}"),
        }
    }
    // The burst, and one more for each minute the flood took (none, unless the machine is
    // stalled).
    let refills = flood.elapsed().as_secs() / 60;
    assert_eq!(accepted, 10 + refills, "accepted {accepted}");
    let limited = limited.expect("the flood was limited");
    let retry_after: u32 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["kind"], "rate_limited");
    assert_eq!(body["retry_after"], json!(retry_after));
    assert!(body["message"].as_str().unwrap().starts_with("Slow down"));

    // A browser without JavaScript is sent back to the page, which shows why.
    let no_script = server
        .client
        .post(server.url("/api/send"))
        .header("x-forwarded-for", "198.51.100.66")
        .header("accept", "text/html")
        .header("referer", server.url("/"))
        .form(&[("screenname", "flood"), ("text", "one more")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_script.status(), StatusCode::SEE_OTHER);
    let back = no_script.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&server.url("/?")) && back.contains("__err="),
        "{back}"
    );
    let page = server.text(&back).await;
    assert!(
        page.contains("Slow down: you can send again in"),
        "the page shows it"
    );

    // Someone else, behind the same proxy, posts as usual; polls never noticed.
    assert_eq!(
        post_as("203.0.113.5", "hello".into()).await.status(),
        StatusCode::OK
    );
    assert!(poller.await.unwrap().iter().all(|s| *s == StatusCode::OK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_every_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = stalled_reads(&dir);
    let server = Arc::new(
        TestServer::builder()
            .store(store.clone())
            .config(|config| {
                config.trusted_proxy = vec!["127.0.0.1/32".parse().unwrap()];
                config.rate_limit_exempt = vec!["192.0.2.255/32".parse().unwrap()];
                config.max_in_flight_per_client = 4;
            })
            .start()
            .await,
    );
    let get_as = |client: &'static str, path: &'static str| {
        let server = server.clone();
        async move {
            server
                .client
                .get(server.url(path))
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap()
        }
    };
    // The flooder's slow requests (history reads, stalled) fill its share...
    let flood: Vec<_> = (0..4)
        .map(|_| tokio::spawn(get_as("198.51.100.66", "/api/lines?before=1000")))
        .collect();
    store.hook.gate.arrived(4).await;
    // ...so its next one is refused at once,
    let refused = get_as("198.51.100.66", "/").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    // while someone else behind the same proxy is served as usual.
    assert_eq!(get_as("203.0.113.5", "/").await.status(), StatusCode::OK);
    assert_eq!(
        get_as("203.0.113.5", "/api/lines?after=0").await.status(),
        StatusCode::OK
    );
    store.hook.gate.open();
    for request in flood {
        assert_eq!(request.await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(get_as("198.51.100.66", "/").await.status(), StatusCode::OK);
}

/// A poll is held only when it will really wait: one that asks to wait but has lines to
/// answer at once is an ordinary request, inside its client's cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_asks_to_wait_but_is_answered_at_once_counts_against_the_caps() {
    let dir = tempfile::tempdir().unwrap();
    let store = stalled_reads(&dir);
    let server = Arc::new(
        TestServer::builder()
            .store(store.clone())
            .config(|config| {
                config.rate_limit_exempt = vec![];
                config.post_rate = 0;
                config.max_in_flight_per_client = 1;
            })
            .start()
            .await,
    );
    let (status, line) = server.send(&[("screenname", "ann"), ("text", "hi")]).await;
    assert_eq!(status, StatusCode::OK);
    let newest = line["id"].as_i64().unwrap();
    // The client's one slot, taken by a history read that stalls.
    let stalled = {
        let server = server.clone();
        tokio::spawn(async move { server.poll("?before=1000").await })
    };
    store.hook.gate.arrived(1).await;
    // `wait=1` with a line to answer: not held, so refused like any request past the cap.
    let (status, body) = server.poll("?after=0&limit=500&wait=1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // A poll that will really wait is held, outside the cap, and answered when its wait ends.
    let (status, body) = server.poll(&format!("?after={newest}&wait=1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cursor"], newest);
    store.hook.gate.open();
    assert_eq!(stalled.await.unwrap().0, StatusCode::OK);
}

/// Held polls past one client's share are answered at once (as past `--max-held-polls`), and
/// another client's are still held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_every_poll() {
    let server = Arc::new(
        TestServer::builder()
            .config(|config| {
                config.trusted_proxy = vec!["127.0.0.1/32".parse().unwrap()];
                config.rate_limit_exempt = vec![];
                config.post_rate = 0;
                config.max_held_polls_per_client = 2;
            })
            .start()
            .await,
    );
    let held_as = |client: &'static str| {
        let server = server.clone();
        async move {
            let answer = server
                .client
                .get(server.url("/api/lines?after=0&wait=30"))
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(held_as("198.51.100.66")))
        .collect();
    let store = server.store.clone();
    while store.feed().held() < 2 {
        tokio::task::yield_now().await;
    }
    // The third is answered at once, empty.
    let (status, third) = held_as("198.51.100.66").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ids(&third).is_empty());
    // Someone else's poll is held (the line below answers it).
    let other = tokio::spawn(held_as("203.0.113.5"));
    while store.feed().held() < 3 {
        tokio::task::yield_now().await;
    }
    let (status, _) = server.send(&[("screenname", "ann"), ("text", "hi")]).await;
    assert_eq!(status, StatusCode::OK);
    for poll in held.into_iter().chain([other]) {
        let (status, batch) = poll.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&batch).len(), 1, "answered by the line");
    }
}

/// One address cannot take every connection: past its share it is answered 429 and closed,
/// while another address still gets in.
#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let server = TestServer::builder()
        .config(|config| {
            config.rate_limit_exempt = vec![];
            config.max_connections = 4;
            config.max_connections_per_client = 2;
        })
        .start()
        .await;
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let connect_from = |local: &str| {
        let local: std::net::SocketAddr = format!("{local}:0").parse().unwrap();
        async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(local).unwrap();
            socket.connect(addr).await.unwrap()
        }
    };
    // The flooder's two connections, open and idle...
    let _kept = [
        connect_from("127.0.0.2").await,
        connect_from("127.0.0.2").await,
    ];
    // What a connection is answered to one last request, up to its close.
    let answer = |mut stream: tokio::net::TcpStream| async move {
        stream
            .write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        // 30 s only bounds a failing run.
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
            .await
            .expect("answered and closed")
            .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    // ...so its third is told why, and closed,
    let third = answer(connect_from("127.0.0.2").await).await;
    assert!(third.starts_with("HTTP/1.1 429"), "{third}");
    // while a polite client from another address is served.
    let polite = answer(connect_from("127.0.0.3").await).await;
    assert!(polite.starts_with("HTTP/1.1 200"), "{polite}");
}
