//! Answers are compressed, and revalidated or kept as their kind allows.

use crate::common::TestServer;
use reqwest::StatusCode;

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
