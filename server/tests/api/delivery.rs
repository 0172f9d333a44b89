//! Exactly-once, in-order delivery through the cursor, under concurrency and across restarts.

use crate::common::{Kind, TestDb, TestServer, ids, on_both_stores};
use reqwest::StatusCode;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WRITERS: usize = 20;
const POSTS_EACH: usize = 500;
const POLLERS: usize = 20;

/// A short random pause, so that writers and pollers interleave differently on every run.
async fn jitter(rng: &mut fastrand::Rng) {
    tokio::time::sleep(Duration::from_micros(rng.u64(0..2_000))).await;
}

on_both_stores!(
    concurrent_writers_and_pollers_see_every_line_once_in_order,
    concurrent_writers_and_held_pollers_see_every_line_once_in_order,
    acknowledged_lines_survive_a_restart_and_a_kept_cursor_resumes_exactly,
);

async fn concurrent_writers_and_pollers_see_every_line_once_in_order(kind: Kind) {
    delivery(kind, "").await;
}

async fn concurrent_writers_and_held_pollers_see_every_line_once_in_order(kind: Kind) {
    delivery(kind, "&wait=2").await;
}

/// Writers post while pollers follow the cursor with random limits, each poll with `wait`.
async fn delivery(kind: Kind, wait: &'static str) {
    let db = TestDb::new(kind).await;
    let server = Arc::new(TestServer::builder().on(&db).start().await);
    let writing = Arc::new(AtomicBool::new(true));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let server = server.clone();
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(w as u64);
                let mut acknowledged = Vec::with_capacity(POSTS_EACH);
                for i in 0..POSTS_EACH {
                    let text = format!("writer {w} line {i}");
                    let (status, line) = server.send(&[("screenname", "w"), ("text", &text)]).await;
                    assert_eq!(status, StatusCode::OK, "{line}");
                    acknowledged.push(line["id"].as_i64().unwrap());
                    jitter(&mut rng).await;
                }
                acknowledged
            })
        })
        .collect();

    let pollers: Vec<_> = (0..POLLERS)
        .map(|p| {
            let (server, writing) = (server.clone(), writing.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(1000 + p as u64);
                let (mut cursor, mut seen) = (0, Vec::new());
                loop {
                    // Whether the writers were done *before* this poll: then an empty answer
                    // means the poller has everything.
                    let done = !writing.load(Ordering::SeqCst);
                    let limit = rng.u32(1..=150);
                    let (status, batch) = server
                        .poll(&format!("?after={cursor}&limit={limit}{wait}"))
                        .await;
                    assert_eq!(status, StatusCode::OK, "{batch}");
                    let got = ids(&batch);
                    assert!(got.len() <= limit as usize);
                    cursor = batch["cursor"].as_i64().unwrap();
                    if got.is_empty() && done {
                        return seen;
                    }
                    seen.extend(got);
                    jitter(&mut rng).await;
                }
            })
        })
        .collect();

    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    writing.store(false, Ordering::SeqCst);
    assert_eq!(acknowledged.len(), WRITERS * POSTS_EACH);
    let all: Vec<i64> = acknowledged.into_iter().collect();

    for poller in pollers {
        let seen = tokio::time::timeout(Duration::from_secs(120), poller)
            .await
            .expect("a poller never caught up")
            .unwrap();
        // Every line, each once, in id order: exactly the acknowledged ones.
        assert_eq!(seen, all);
    }
}

async fn acknowledged_lines_survive_a_restart_and_a_kept_cursor_resumes_exactly(kind: Kind) {
    let db = TestDb::new(kind).await;
    let before = TestServer::builder().on(&db).start().await;
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let (status, line) = before
            .send(&[("screenname", "ann"), ("text", &format!("{i}"))])
            .await;
        assert_eq!(status, StatusCode::OK);
        acknowledged.push(line["id"].as_i64().unwrap());
    }
    // A reader has the first three lines when the server goes down...
    let (_, batch) = before.poll("?after=0&limit=3").await;
    let cursor = batch["cursor"].as_i64().unwrap();
    assert_eq!(cursor, acknowledged[2]);
    before.stop().await;

    // ...and comes back to a restarted server with its cursor, while others keep posting.
    let after = TestServer::builder().on(&db).start().await;
    let (status, line) = after
        .send(&[("screenname", "bob"), ("text", "later")])
        .await;
    assert_eq!(status, StatusCode::OK);
    acknowledged.push(line["id"].as_i64().unwrap());

    let (_, all) = after.poll("?after=0").await;
    assert_eq!(ids(&all), acknowledged);
    let (_, missed) = after.poll(&format!("?after={cursor}")).await;
    assert_eq!(ids(&missed), acknowledged[3..]);
    after.stop().await;
}
