//! The real server on a random port with a temporary database, driven over HTTP.

use crate::common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn assert_line_shape(line: &Value, id: i64, screenname: &str, text: &str) {
    assert_eq!(line["id"], json!(id));
    assert_eq!(line["screenname"], json!(screenname));
    assert_eq!(line["text"], json!(text));
    let created = line["created"].as_str().expect("created is a string");
    assert!(
        created.len() == 20 && created.ends_with('Z') && &created[10..11] == "T",
        "created is RFC 3339 UTC: {created}"
    );
    assert_eq!(
        line.as_object().unwrap().len(),
        4,
        "no other fields: {line}"
    );
}

#[tokio::test]
async fn post_then_poll_over_http() {
    let server = TestServer::start().await;

    let (status, empty) = server.poll("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"lines": [], "changes": [], "cursor": 0}));

    let (status, line) = server
        .send(&[("screenname", " ann "), ("text", "hi there")])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_line_shape(&line, 1, "ann", "hi there");
    server
        .send(&[("screenname", "bob"), ("text", "hello")])
        .await;

    let (status, batch) = server.poll("?after=0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch["cursor"], json!(2));
    let lines = batch["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], line);
    assert_line_shape(&lines[1], 2, "bob", "hello");

    let (_, after_one) = server.poll("?after=1&limit=5").await;
    assert_eq!(after_one["cursor"], json!(2));
    assert_eq!(after_one["lines"].as_array().unwrap().len(), 1);

    let (_, limited) = server.poll("?after=0&limit=1").await;
    assert_eq!(limited["cursor"], json!(1));

    // Nothing newer: no lines, and the cursor stays where it was.
    let (status, none) = server.poll("?after=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!({"lines": [], "changes": [], "cursor": 2}));
}

#[tokio::test]
async fn invalid_posts_are_400_with_a_readable_message_and_store_nothing() {
    let server = TestServer::start().await;
    let long_name = "😀".repeat(41);
    let long_text = "x".repeat(101);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("screenname", ""), ("text", "hi")],
            "Screen name is empty.",
        ),
        (
            &[("screenname", "   "), ("text", "hi")],
            "Screen name is empty.",
        ),
        (
            &[("screenname", &long_name), ("text", "hi")],
            "Screen name is 41 characters long; the limit is 40.",
        ),
        (&[("screenname", "ann"), ("text", "")], "Message is empty."),
        (
            &[("screenname", "ann"), ("text", &long_text)],
            "Message is 101 characters long; the limit is 100.",
        ),
        (
            &[("screenname", "ann"), ("text", "a\nb")],
            "Message contains a control character",
        ),
        (
            &[("screenname", "ann\u{202E}"), ("text", "hi")],
            "Screen name contains an invisible",
        ),
        (&[("text", "hi")], "Invalid request"),
        (&[("screenname", "ann")], "Invalid request"),
    ];
    for (form, expected) in cases {
        let (status, body) = server.send(form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {body}");
        assert_eq!(body["kind"], json!("bad_request"), "{form:?}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(expected), "{form:?}: {message}");
    }
    let (_, batch) = server.poll("").await;
    assert_eq!(batch["lines"], json!([]));
}

#[tokio::test]
async fn malformed_poll_parameters_are_400() {
    let server = TestServer::start().await;
    for query in [
        "?after=abc",
        "?after=1.5",
        "?after=-1",
        "?after=99999999999999999999999",
        "?limit=0",
        "?limit=-3",
        "?limit=many",
    ] {
        let (status, body) = server.poll(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["kind"], json!("bad_request"), "{query}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    // A limit above the cap is served, capped, however large.
    for limit in ["100000", "99999999999999999999999"] {
        let (status, _) = server.poll(&format!("?after=0&limit={limit}")).await;
        assert_eq!(status, StatusCode::OK, "limit={limit}");
    }
}

#[tokio::test]
async fn page_is_rendered_with_the_lines_as_text() {
    let server = TestServer::start().await;
    server
        .send(&[
            ("screenname", "mallory"),
            ("text", "<img src=x onerror=alert(1)>"),
        ])
        .await;
    let res = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="chatbox""#), "{html}");
    assert!(html.contains(r#"data-cursor="1""#), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<img src=x"),
        "user text must not become HTML"
    );
}

#[tokio::test]
async fn plain_form_posts_redirect_back_to_the_page() {
    let server = TestServer::start().await;
    let post = |text: &'static str| {
        server
            .client
            .post(server.url("/api/send"))
            .header("accept", "text/html")
            .header("referer", server.url("/"))
            .form(&[("screenname", "ann"), ("text", text)])
            .send()
    };
    let ok = post("no script here").await.unwrap();
    assert_eq!(ok.status(), StatusCode::FOUND);
    let location = ok.headers()["location"].to_str().unwrap();
    assert_eq!(location.trim_end_matches('?'), server.url("/"));

    // An invalid post returns to the page with the error, which the page shows by the form.
    let bad = post("").await.unwrap();
    assert_eq!(bad.status(), StatusCode::FOUND);
    let location = bad.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("__err="), "{location}");
    let page = server.text(&location).await;
    assert!(page.contains("Message is empty."), "{page}");

    // A second error in a row, sent from the page that shows the first: the page comes back
    // with the second only, whichever layer refused it (the server function, the field check).
    for (form, error) in [
        (
            vec![("screenname", "ann"), ("text", " ")],
            "Message is empty.",
        ),
        (
            vec![("screenname", ""), ("text", "hi")],
            "Screen name is empty.",
        ),
        (
            vec![("screenname", "ann"), ("text", "hi"), ("admin", "1")],
            "Unknown field",
        ),
    ] {
        let again = server
            .client
            .post(server.url("/api/send"))
            .header("accept", "text/html")
            .header("referer", &location)
            .form(&form)
            .send()
            .await
            .unwrap();
        let back = again.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(back.matches("__err=").count(), 1, "{back}");
        assert_eq!(back.matches("__path=").count(), 1, "{back}");
        let page = server.text(&back).await;
        assert!(page.contains(error), "{error}: {page}");
    }

    let (_, batch) = server.poll("").await;
    assert_eq!(batch["lines"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_empty_poll_answered_from_memory_looks_like_any_other_answer() {
    let server = TestServer::start().await;
    server.send(&[("screenname", "ann"), ("text", "one")]).await;
    let get = |query: &'static str| {
        server
            .client
            .get(server.url(&format!("/api/lines{query}")))
            .send()
    };
    let full = get("?after=0").await.unwrap(); // a line to return: the server function answers
    let fast = get("?after=1").await.unwrap(); // nothing newer: answered from memory
    assert_eq!(
        (full.status(), fast.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    for name in [
        "content-type",
        "cache-control",
        "content-security-policy",
        "x-content-type-options",
    ] {
        assert_eq!(full.headers().get(name), fast.headers().get(name), "{name}");
    }
    assert_eq!(
        fast.json::<Value>().await.unwrap(),
        json!({"lines": [], "changes": [], "cursor": 1})
    );
}

#[tokio::test]
async fn a_post_remembers_the_name_and_the_page_prefills_it() {
    let server = TestServer::start().await;
    let res = server
        .client
        .post(server.url("/api/send"))
        .form(&[("screenname", "Zoë Smith"), ("text", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = crate::common::cookie_set(&res, "chat_name").expect("the name is remembered");
    assert!(
        cookie.starts_with("chat_name=Zo%C3%AB%20Smith;"),
        "{cookie}"
    );
    assert!(
        cookie.contains("SameSite=Lax") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let value = cookie.split(';').next().unwrap();
    let page = server
        .client
        .get(server.url("/"))
        .header("cookie", value)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"value="Zoë Smith""#),
        "the form is pre-filled"
    );
    // Over HTTPS (a proxy says so), the cookie is Secure.
    let secure = server
        .client
        .post(server.url("/api/send"))
        .header("x-forwarded-proto", "https")
        .form(&[("screenname", "ann"), ("text", "hi")])
        .send()
        .await
        .unwrap();
    assert!(
        secure.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
    // A failed post remembers nothing.
    let bad = server
        .client
        .post(server.url("/api/send"))
        .form(&[("screenname", "bob"), ("text", "")])
        .send()
        .await
        .unwrap();
    assert!(!bad.headers().contains_key("set-cookie"));
}
