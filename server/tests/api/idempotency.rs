//! Retries never duplicate: a repeated idempotency key stores one line, on both stores.

use crate::common::{Kind, TestDb, TestServer, ids, on_both_stores};
use reqwest::StatusCode;

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
