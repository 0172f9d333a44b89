//! A corpus of bad requests to every endpoint: each is answered 4xx with a readable message,
//! the server stays up, and the stored lines are unchanged.

use crate::common::{Kind, TestDb, TestServer, on_both_stores, unpooled_client};
use reqwest::{Method, StatusCode};

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn get(what: &'static str, path: impl Into<String>) -> Case {
    Case {
        what,
        method: Method::GET,
        path: path.into(),
        content_type: None,
        body: vec![],
        headers: vec![],
    }
}

fn post_form(what: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        what,
        method: Method::POST,
        path: "/api/send".into(),
        content_type: Some("application/x-www-form-urlencoded"),
        body: body.into(),
        headers: vec![],
    }
}

fn corpus() -> Vec<Case> {
    let mut cases = vec![
        post_form("empty body", ""),
        post_form("empty fields", "screenname=&text="),
        post_form("blank name", "screenname=%20%20&text=hi"),
        post_form(
            "41-character name",
            format!("screenname={}&text=hi", "n".repeat(41)),
        ),
        post_form(
            "101-character text",
            format!("screenname=a&text={}", "t".repeat(101)),
        ),
        post_form("NUL in text", "screenname=a&text=a%00b"),
        post_form("escape sequence in text", "screenname=a&text=%1B%5B31mred"),
        post_form("newline in name", "screenname=a%0Ab&text=hi"),
        post_form(
            "right-to-left override in name",
            "screenname=%E2%80%AEnna&text=hi",
        ),
        post_form("zero-width space in name", "screenname=a%E2%80%8Bb&text=hi"),
        post_form("byte-order mark as name", "screenname=%EF%BB%BF&text=hi"),
        post_form("invalid UTF-8", "screenname=a&text=%FF%FE"),
        post_form("raw invalid UTF-8", b"screenname=a&text=\xff\xfe".to_vec()),
        post_form("truncated percent-encoding", "screenname=a&text=100%"),
        post_form("bad percent-encoding", "screenname=a&text=%ZZ"),
        post_form("duplicate field", "screenname=a&text=one&text=two"),
        post_form("unknown field", "screenname=a&text=hi&admin=true"),
        post_form(
            "bad idempotency key",
            "screenname=a&text=hi&idempotency_key=no%20spaces",
        ),
        post_form(
            "65-character idempotency key",
            format!("screenname=a&text=hi&idempotency_key={}", "k".repeat(65)),
        ),
        post_form(
            "1 MB body",
            format!("screenname=a&text={}", "x".repeat(1 << 20)),
        ),
        Case {
            content_type: Some("application/json"),
            ..post_form(
                "JSON instead of a form",
                r#"{"screenname":"a","text":"hi"}"#,
            )
        },
        Case {
            content_type: Some("text/plain"),
            ..post_form("text/plain form", "screenname=a&text=hi")
        },
        Case {
            content_type: None,
            ..post_form("no content type", "screenname=a&text=hi")
        },
        Case {
            content_type: Some("multipart/form-data; boundary=x"),
            ..post_form("multipart", "--x--")
        },
        get("send by GET", "/api/send?screenname=a&text=hi"),
        get("letters for after", "/api/lines?after=abc"),
        get("fraction for after", "/api/lines?after=1.5"),
        get("negative after", "/api/lines?after=-1"),
        get("huge after", "/api/lines?after=99999999999999999999999999"),
        get("zero limit", "/api/lines?limit=0"),
        get("negative limit", "/api/lines?limit=-5"),
        get("negative wait", "/api/lines?wait=-1"),
        get("fractional wait", "/api/lines?wait=0.5"),
        get("letters for wait", "/api/lines?wait=soon"),
        get("after and before", "/api/lines?after=1&before=5"),
        get("wait with before", "/api/lines?before=5&wait=3"),
        get("bad room", "/api/lines?room=No%20Such"),
        get("room with capitals", "/api/lines?room=Dev"),
        get("bad room for the snapshot", "/api/snapshot?room=-x"),
        get("letters for before", "/api/snapshot?before=abc"),
        post_form("bad room for a post", "screenname=a&text=hi&room=a_b"),
        Case {
            method: Method::POST,
            ..get("poll by POST", "/api/lines?after=0")
        },
        Case {
            method: Method::POST,
            ..get("snapshot by POST", "/api/snapshot")
        },
        Case {
            method: Method::DELETE,
            ..get("rooms by DELETE", "/api/rooms")
        },
        Case {
            method: Method::PUT,
            ..post_form("send by PUT", "screenname=a&text=hi")
        },
        get("duplicate after", "/api/lines?after=1&after=2"),
        get("unknown poll field", "/api/lines?after=1&since=2"),
        get("invalid UTF-8 in query", "/api/lines?after=%FF"),
        get("bad percent-encoding in query", "/api/lines?after=%G0"),
        get("unknown field on snapshot", "/api/snapshot?x=1"),
        get("unknown API function", "/api/nothing-here"),
        get(
            "very long URL",
            format!("/api/lines?after={}", "9".repeat(20_000)),
        ),
    ];
    let mut long_header = get("very long header", "/api/lines");
    long_header.headers.push(("x-long", "h".repeat(40_000)));
    cases.push(long_header);
    let mut many_headers = get("very many headers", "/api/lines");
    many_headers
        .headers
        .extend((0..200).map(|_| ("x-many", "m".repeat(100))));
    cases.push(many_headers);
    cases
}

on_both_stores!(every_bad_request_gets_a_readable_4xx_and_changes_nothing);

async fn every_bad_request_gets_a_readable_4xx_and_changes_nothing(kind: Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::builder().on(&db).start().await;
    let (status, _) = server
        .send(&[("screenname", "ann"), ("text", "kept")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = server.poll("").await;

    let corpus = corpus();
    let mut not_4xx = Vec::new();
    // Each case on a connection of its own (the 1 MB body closes its connection).
    let client = unpooled_client();
    for case in &corpus {
        let mut request = client
            .request(case.method.clone(), server.url(&case.path))
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let res = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.what));
        let status = res.status();
        if !status.is_client_error() {
            not_4xx.push(format!("{}: {status}", case.what));
            continue;
        }
        let res_allow = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = res.text().await.unwrap();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(
                res_allow.is_some_and(|allow| ["GET", "POST"].contains(&allow.as_str())),
                "{}: 405 names the method to use",
                case.what
            );
        }
        if case.path.starts_with("/api/") && !matches!(status.as_u16(), 414 | 431) {
            let json: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{}: not JSON: {body}", case.what));
            let message = json["message"].as_str().unwrap_or_default();
            assert!(
                message.len() > 10,
                "{}: unreadable message {json}",
                case.what
            );
        }
    }
    assert_eq!(
        not_4xx,
        Vec::<String>::new(),
        "every bad request is a 4xx, none a 5xx"
    );
    println!("{} bad requests, all 4xx, no 5xx", corpus.len());

    let (status, after) = server.poll("").await;
    assert_eq!(status, StatusCode::OK, "the server is still up");
    assert_eq!(after, before, "the stored lines are unchanged");
}
