//! Edits and deletions over HTTP: who may make them, their answers, and how the poll, the
//! page and a retried send see them.

use crate::common::{TestServer, ids};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::storage::sqlite::SqliteStore;
use std::sync::Arc;

fn id_of(line: &Value) -> String {
    line["id"].as_i64().unwrap().to_string()
}

#[tokio::test]
async fn the_poster_edits_and_deletes_and_everyone_sees_the_changes() {
    let server = TestServer::builder().holding_names().start().await;
    let (ann, bob) = (server.browser(), server.browser());
    let (_, first) = ann.send("ann", "helo").await;
    let (_, keyed) = ann
        .post(
            "/api/send",
            &[
                ("screenname", "ann"),
                ("text", "regret"),
                ("idempotency_key", "k-1"),
            ],
        )
        .await;
    bob.send("bob", "hi").await;
    let (first_id, keyed_id) = (id_of(&first), id_of(&keyed));

    let fix = [("id", first_id.as_str()), ("text", "hello")];
    let (status, body) = bob.post("/api/edit", &fix).await;
    assert_eq!(
        (status, &body["kind"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (status, edited) = ann.post("/api/edit", &fix).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["kind"], "edited");
    assert_eq!(edited["line"], first["id"]);
    assert_eq!(edited["text"], "hello");
    let (status, body) = ann
        .post("/api/edit", &[("id", "999999"), ("text", "x")])
        .await;
    assert_eq!(
        (status, &body["kind"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, _) = ann.post("/api/edit", &[("id", "x"), ("text", "x")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = ann
        .post("/api/edit", &[("id", &first_id), ("text", " ")])
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an edit follows a line's rules: {body}"
    );

    let gone = [("id", keyed_id.as_str())];
    assert_eq!(
        bob.post("/api/delete", &gone).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, deleted) = ann.post("/api/delete", &gone).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["kind"], "deleted");
    assert!(deleted.get("text").is_none());
    assert_eq!(
        ann.post("/api/delete", &gone).await.1,
        deleted,
        "the first deletion"
    );

    // The poll: lines as they are now, then the changes, the cursor past both.
    let (_, batch) = server.poll("?after=0").await;
    assert_eq!(batch["lines"][0]["text"], "hello");
    assert_eq!(batch["lines"][0]["edited"], edited["at"]);
    assert_eq!(
        batch["lines"].as_array().unwrap().len(),
        2,
        "deleted lines are left out"
    );
    assert_eq!(batch["changes"], json!([edited, deleted]));
    assert_eq!(batch["cursor"], deleted["id"]);
    let (_, after) = server.poll(&format!("?after={}", first["id"])).await;
    assert_eq!(after["changes"], json!([edited, deleted]));
    // The rooms' newest ids count changes.
    let rooms = server.get_json("/api/rooms").await;
    assert_eq!(rooms["rooms"][0]["newest_id"], deleted["id"]);
    // Erased from the page, and a retried send of it is gone.
    let page = server.text(&server.url("/")).await;
    assert!(!page.contains("regret") && page.contains("hello"), "{page}");
    let (status, body) = ann
        .post(
            "/api/send",
            &[
                ("screenname", "ann"),
                ("text", "regret"),
                ("idempotency_key", "k-1"),
            ],
        )
        .await;
    assert_eq!((status, &body["kind"]), (StatusCode::GONE, &json!("gone")));
    // Without an identity, nothing is anyone's to change.
    let (status, _) = server
        .browser()
        .post("/api/delete", &[("id", &first_id)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_held_poll_is_woken_by_a_change() {
    let server = TestServer::builder().holding_names().start().await;
    let ann = server.browser();
    let (_, line) = ann.send("ann", "soon gone").await;
    let cursor = line["id"].as_i64().unwrap();
    let held = tokio::spawn({
        let (client, url) = (
            server.client.clone(),
            server.url(&format!("/api/lines?after={cursor}&wait=30")),
        );
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    // Held once the server counts it.
    while server.store.feed().held() == 0 {
        tokio::task::yield_now().await;
    }
    let (_, deleted) = ann.post("/api/delete", &[("id", &id_of(&line))]).await;
    let batch = held.await.unwrap();
    assert_eq!(batch["changes"], json!([deleted]));
    assert_eq!(ids(&batch), Vec::<i64>::new());
}

#[tokio::test]
async fn deleting_from_a_plain_form_goes_back_to_the_page() {
    let server = TestServer::builder().holding_names().start().await;
    let ann = server.browser();
    let (_, line) = ann.send("ann", "bye").await;
    let res = ann
        .client
        .post(server.url("/api/delete"))
        .header("accept", "text/html")
        .header("referer", server.url("/"))
        .form(&[("id", id_of(&line).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap();
    assert_eq!(back.trim_end_matches('?'), server.url("/"));
    let (_, batch) = server.poll("").await;
    assert_eq!(ids(&batch), Vec::<i64>::new());
}

#[tokio::test]
async fn an_edit_after_the_window_is_refused() {
    use server::storage::post_queue::Options;
    use server::storage::rules::Rules;
    use std::sync::atomic::{AtomicI64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(1_796_000_000_000));
    let clock = now.clone();
    let rules = Rules {
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
        ..Rules::default()
    };
    let options = Options {
        rules,
        ..Options::default()
    };
    let store = SqliteStore::open_with(&dir.path().join("chat.sqlite3"), options).unwrap();
    let server = TestServer::builder().store(Arc::new(store)).start().await;
    let ann = server.browser();
    let (_, line) = ann.send("ann", "helo").await;
    now.fetch_add(15 * 60 * 1000 + 1, Ordering::SeqCst);
    let (status, body) = ann
        .post("/api/edit", &[("id", &id_of(&line)), ("text", "hello")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["kind"], "edit_window_closed");
    // Deleting has no window.
    assert_eq!(
        ann.post("/api/delete", &[("id", &id_of(&line))]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_page_offers_edit_and_delete_on_the_readers_own_lines_only() {
    let server = TestServer::builder().holding_names().start().await;
    let (ann, bob) = (server.browser(), server.browser());
    let (_, mine) = ann.send("ann", "mine").await;
    let (_, theirs) = bob.send("bob", "theirs").await;
    let page = |browser: &crate::common::Browser| {
        let (client, url) = (browser.client.clone(), server.url("/"));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let actions_of = |line: &Value| format!(r#"name="id" value="{}""#, line["id"]);
    let anns = page(&ann).await;
    assert!(anns.contains(&actions_of(&mine)), "{anns}");
    assert!(!anns.contains(&actions_of(&theirs)));
    let bobs = page(&bob).await;
    assert!(bobs.contains(&actions_of(&theirs)) && !bobs.contains(&actions_of(&mine)));
    // A reader without an identity is offered none, and pages are kept per identity.
    let nobody = page(&server.browser()).await;
    assert!(!nobody.contains(r#"action="/api/edit""#));
    assert!(page(&ann).await.contains(&actions_of(&mine)));
}
