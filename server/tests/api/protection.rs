//! Nothing let in: security headers, cross-site posts, idempotent retries, rate limits, and the
//! server-wide limits, against the real server over HTTP.

use crate::common::{Gate, Kind, TestDb, TestServer, ids, on_both_stores, unpooled_client};
use app::feed::Feed;
use app::line::{Line, NewLine};
use app::room::Room;
use app::store::{ChatStore, StoreError};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::sqlite::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn every_response_carries_security_headers_and_the_page_a_nonce_policy() {
    let server = TestServer::start().await;
    let page = server.client.get(server.url("/")).send().await.unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let html = page.text().await.unwrap();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page policy has a nonce");
    assert!(nonce.len() >= 16);
    for directive in [
        "'wasm-unsafe-eval'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    // Every inline script carries this response's nonce.
    let inline_scripts = html.matches("<script").count();
    assert!(inline_scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        inline_scripts,
        "{html}"
    );

    // A second page gets a different nonce.
    let again = server.client.get(server.url("/")).send().await.unwrap();
    assert_ne!(
        again.headers()["content-security-policy"].to_str().unwrap(),
        policy
    );

    for path in ["/api/lines", "/favicon.svg", "/no/such/page"] {
        let res = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(
            res.headers().contains_key("content-security-policy"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn posts_from_another_site_are_refused_and_plain_clients_are_served() {
    let server = TestServer::start().await;
    let post = |headers: Vec<(&'static str, String)>| {
        let mut request = server
            .client
            .post(server.url("/api/send"))
            .form(&[("screenname", "ann"), ("text", "hi")]);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    for headers in [
        vec![("sec-fetch-site", "cross-site".to_owned())],
        vec![("origin", "https://evil.example".to_owned())],
        vec![("origin", "null".to_owned())],
    ] {
        let res = post(headers.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{headers:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["kind"], "forbidden");
    }
    let same_site = vec![
        ("origin", server.base.clone()),
        ("sec-fetch-site", "same-origin".to_owned()),
    ];
    assert_eq!(post(same_site).await.unwrap().status(), StatusCode::OK);
    assert_eq!(post(vec![]).await.unwrap().status(), StatusCode::OK);
    let (_, batch) = server.poll("").await;
    assert_eq!(ids(&batch).len(), 2);
}

on_both_stores!(a_repeated_idempotency_key_stores_one_line);

async fn a_repeated_idempotency_key_stores_one_line(kind: Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::builder().on(&db).start().await;
    let send = |text: &'static str, key: &'static str| {
        server.send_owned(vec![
            ("screenname", "ann"),
            ("text", text),
            ("idempotency_key", key),
        ])
    };
    let (status, first) = send("once", "key-1").await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = send("once", "key-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);

    let (status, conflict) = send("different", "key-1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(conflict["kind"], "conflict");
    assert!(
        conflict["message"]
            .as_str()
            .unwrap()
            .contains("idempotency_key")
    );

    let (status, bad) = send("once", "not a key!").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["message"].as_str().unwrap().contains("idempotency_key"));

    let (_, batch) = server.poll("").await;
    assert_eq!(ids(&batch), [first["id"].as_i64().unwrap()]);
}

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

/// The real store, whose history reads (polls from memory never reach it) wait at `gate`
/// until the test opens it.
struct StalledReads {
    inner: SqliteStore,
    gate: Gate,
}

#[async_trait::async_trait]
impl ChatStore for StalledReads {
    async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        self.inner.append(line).await
    }
    async fn since(&self, room: &Room, after: i64, limit: usize) -> Result<Vec<Line>, StoreError> {
        self.inner.since(room, after, limit).await
    }
    async fn before(
        &self,
        room: &Room,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Line>, StoreError> {
        self.gate.pass().await;
        self.inner.before(room, before, limit).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    fn feed(&self) -> &Arc<Feed> {
        self.inner.feed()
    }
}

fn stalled_reads(dir: &tempfile::TempDir) -> Arc<StalledReads> {
    Arc::new(StalledReads {
        inner: SqliteStore::open(&dir.path().join("chat.sqlite3")).unwrap(),
        gate: Gate::closed(),
    })
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
    store.gate.arrived(1).await;
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

    store.gate.open();
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
    assert_eq!(store.gate.arrivals(), 1);
}

#[tokio::test]
async fn pages_and_answers_are_compressed_and_revalidated() {
    let server = TestServer::start().await;
    for i in 0..50 {
        let text = format!("line number {i}");
        server.send(&[("screenname", "ann"), ("text", &text)]).await;
    }
    let page = server
        .client
        .get(server.url("/"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["content-encoding"], "br");
    assert_eq!(page.headers()["cache-control"], "private, no-cache");
    let poll = server
        .client
        .get(server.url("/api/lines?after=0"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(poll.headers()["content-encoding"], "gzip");
    // Without asking, plain.
    let plain = server.client.get(server.url("/")).send().await.unwrap();
    assert!(!plain.headers().contains_key("content-encoding"));
    assert!(plain.text().await.unwrap().contains("line number 49"));
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
    store.gate.arrived(4).await;
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
    store.gate.open();
    for request in flood {
        assert_eq!(request.await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(get_as("198.51.100.66", "/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn static_files_vary_by_encoding_and_answer_304_when_unchanged() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(site.path().join("pkg/chat.abc123.js"), "plain();").unwrap();
    std::fs::write(site.path().join("pkg/chat.abc123.js.br"), "brotli bytes").unwrap();
    let server = TestServer::builder().site_root(site.path()).start().await;
    let get = |path: &'static str, encoding: Option<&'static str>| {
        let mut request = server.client.get(server.url(path));
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    // Precompressed for those who ask, plain for those who do not: both say they vary.
    let br = get("/pkg/chat.abc123.js", Some("br")).await.unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["vary"], "accept-encoding");
    let plain = get("/pkg/chat.abc123.js", None).await.unwrap();
    assert!(!plain.headers().contains_key("content-encoding"));
    assert_eq!(plain.headers()["vary"], "accept-encoding");
    assert_eq!(plain.text().await.unwrap(), "plain();");

    // Revalidation: unchanged is a 304 without the body.
    let first = get("/favicon.svg", None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let modified = first.headers()["last-modified"].clone();
    let again = server
        .client
        .get(server.url("/favicon.svg"))
        .header("if-modified-since", modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());
    // Anything else is still the page's 404.
    let missing = get("/pkg/nothing.js", None).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rebinding_host_name_is_refused_421() {
    let server = TestServer::start().await;
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let with_host = |host: String| {
        server
            .client
            .get(server.url("/api/lines?after=0"))
            .header("host", host)
            .send()
    };
    let evil = with_host(format!("rebind.attacker.example:{port}"))
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::MISDIRECTED_REQUEST);
    let body: Value = evil.json().await.unwrap();
    assert_eq!(body["kind"], "misdirected_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--allowed-hosts")
    );
    for local in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        assert_eq!(with_host(local).await.unwrap().status(), StatusCode::OK);
    }
    // Configured names only, when given.
    let named = TestServer::builder()
        .config(|config| config.allowed_hosts = vec!["chat.example".into()])
        .start()
        .await;
    let res = named
        .client
        .get(named.url("/api/lines"))
        .header("host", "chat.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = named
        .client
        .get(named.url("/api/lines"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
}
