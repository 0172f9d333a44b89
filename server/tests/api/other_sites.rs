//! Nothing let in from other sites: security headers on every response, posts from another
//! site's page refused, host names this server does not answer for refused, against the real
//! server over HTTP.

use crate::common::{TestServer, ids};
use reqwest::StatusCode;
use serde_json::Value;

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
    // Bound to every address, the same by default: a rebinding name reaches a LAN address too.
    let everywhere = TestServer::builder()
        .config(|config| config.addr = Some("0.0.0.0:0".parse().unwrap()))
        .start()
        .await;
    let port = everywhere.base.rsplit(':').next().unwrap().to_owned();
    for (host, status) in [
        (
            format!("rebind.attacker.example:{port}"),
            StatusCode::MISDIRECTED_REQUEST,
        ),
        (
            format!("[::1]evil.example:{port}"),
            StatusCode::MISDIRECTED_REQUEST,
        ),
        (format!("192.168.1.20:{port}"), StatusCode::OK),
        (format!("localhost:{port}"), StatusCode::OK),
    ] {
        let res = everywhere
            .client
            .get(everywhere.url("/api/lines"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{host}");
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
