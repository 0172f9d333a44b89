//! Rooms over HTTP: each room's pollers see exactly their room's lines, once, in order; history
//! pages back through every line once; the room list; canonical room addresses.

use crate::common::{TestServer, ids};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const ROOMS: [&str; 4] = ["general", "dev", "ops", "random-1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_rooms_pollers_see_exactly_their_rooms_lines_in_order() {
    let server = Arc::new(TestServer::start().await);
    // Two writers per room, posting at once.
    let writers: Vec<_> = ROOMS
        .iter()
        .flat_map(|room| [(*room, 0), (*room, 1)])
        .map(|(room, w)| {
            let server = server.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..150 {
                    let text = format!("{room} {w} {i}");
                    let (status, line) = server
                        .send(&[("screenname", "w"), ("text", &text), ("room", room)])
                        .await;
                    assert_eq!(status, StatusCode::OK, "{line}");
                    ids.push(line["id"].as_i64().unwrap());
                }
                (room, ids)
            })
        })
        .collect();
    // A held poller per room, following its cursor while the writers write.
    let pollers: Vec<_> = ROOMS
        .iter()
        .map(|room| {
            let server = server.clone();
            tokio::spawn(async move {
                let (mut cursor, mut seen) = (0, Vec::new());
                while seen.len() < 300 {
                    let (status, batch) = server
                        .poll(&format!("?room={room}&after={cursor}&limit=37&wait=5"))
                        .await;
                    assert_eq!(status, StatusCode::OK, "{batch}");
                    cursor = batch["cursor"].as_i64().unwrap();
                    seen.extend(ids(&batch));
                }
                (*room, seen)
            })
        })
        .collect();
    let mut posted: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for writer in writers {
        let (room, ids) = writer.await.unwrap();
        posted.entry(room).or_default().extend(ids);
    }
    for poller in pollers {
        let (room, seen) = poller.await.unwrap();
        let expected: Vec<i64> = posted[room].iter().copied().collect();
        assert_eq!(
            seen, expected,
            "room {room}: its lines, each once, in order"
        );
    }
    // Every room is listed, newest activity first.
    let rooms = server.get_json("/api/rooms").await;
    let listed = rooms["rooms"].as_array().unwrap();
    assert_eq!(listed.len(), ROOMS.len());
    let newest: Vec<i64> = listed
        .iter()
        .map(|r| r["newest_id"].as_i64().unwrap())
        .collect();
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "{newest:?}");
    for room in listed {
        let name = room["name"].as_str().unwrap();
        assert_eq!(room["newest_id"], json!(posted[name].last().unwrap()));
        assert!(room["newest_at"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn history_pages_back_through_every_line_once() {
    let server = TestServer::start().await;
    let mut all = Vec::new();
    for i in 0..1000 {
        let room = if i % 3 == 0 { "elsewhere" } else { "deep" };
        let (_, line) = server
            .send(&[
                ("screenname", "h"),
                ("text", &format!("{i}")),
                ("room", room),
            ])
            .await;
        if room == "deep" {
            all.push(line["id"].as_i64().unwrap());
        }
    }
    // From the newest backwards, in pages of 37, each page oldest first.
    let (mut before, mut pages) = (i64::MAX, Vec::new());
    loop {
        let (status, batch) = server
            .poll(&format!("?room=deep&before={before}&limit=37"))
            .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        let page = ids(&batch);
        assert!(page.windows(2).all(|w| w[0] < w[1]), "oldest first");
        before = batch["cursor"].as_i64().unwrap();
        let last = page.len() < 37;
        if !page.is_empty() {
            assert_eq!(before, page[0], "the cursor is the oldest line returned");
        }
        pages.push(page);
        if last {
            break;
        }
    }
    let seen: Vec<i64> = pages.into_iter().rev().flatten().collect();
    assert_eq!(seen, all, "every line of the room, once, in order");
    // Nothing before the first line: the cursor stays.
    let (_, empty) = server.poll(&format!("?room=deep&before={}", all[0])).await;
    assert_eq!(empty, json!({"lines": [], "changes": [], "cursor": all[0]}));
}

#[tokio::test]
async fn room_addresses_are_canonical() {
    let server = TestServer::start().await;
    let get = |path: &'static str| server.client.get(server.url(path)).send();
    let general = get("/r/general").await.unwrap();
    assert_eq!(general.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(general.headers()["location"], "/");
    let capitals = get("/r/Dev-Ops?before=5").await.unwrap();
    assert_eq!(capitals.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(capitals.headers()["location"], "/r/dev-ops?before=5");
    // Read as the page reads it: percent-escapes decoded.
    // Every spelling of a room's path but its own goes to it, so one room is one kept page.
    for (escaped, to) in [
        ("/r/DE%56", "/r/dev"),
        ("/r/%67eneral", "/"),
        ("/r/de%76", "/r/dev"),
        ("/r/%64%65%76", "/r/dev"),
    ] {
        let res = get(escaped).await.unwrap();
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT, "{escaped}");
        assert_eq!(res.headers()["location"], to);
    }
    let page = get("/r/dev-ops").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("#dev-ops"));
    // A page the snapshot refuses says why, with the status of its error.
    let bad = get("/r/dev-ops?before=abc").await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("class=\"load-error\""));
    let invalid = get("/r/no_such-room-").await.unwrap();
    assert_eq!(invalid.status(), StatusCode::NOT_FOUND);
    assert!(invalid.text().await.unwrap().contains("1 to 32 characters"));
    // The room form without JavaScript.
    let go = get("/go?room=%20Some-Where%20").await.unwrap();
    assert_eq!(go.status(), StatusCode::SEE_OTHER);
    assert_eq!(go.headers()["location"], "/r/some-where");
    // A failed request creates no room.
    let (status, _) = server
        .send(&[("screenname", "a"), ("text", ""), ("room", "never")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let rooms = server.get_json("/api/rooms").await;
    assert_eq!(rooms, json!({"rooms": []}));
}

/// New rooms have a rate of their own per client, so that one client cannot fill the room
/// list (and memory) with rooms; posting in rooms that have lines is not counted.
#[tokio::test]
async fn one_client_cannot_make_rooms_without_end() {
    let server = TestServer::builder()
        .config(|config| {
            config.rate_limit_exempt = vec![];
            config.post_rate = 0;
            config.room_rate = 2;
        })
        .start()
        .await;
    let post = |room: &'static str| {
        server.send_owned(vec![("screenname", "ann"), ("text", "hi"), ("room", room)])
    };
    assert_eq!(post("one").await.0, StatusCode::OK);
    assert_eq!(post("two").await.0, StatusCode::OK);
    let (status, refused) = post("three").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused["message"].as_str().unwrap().contains("new rooms"),
        "{refused}"
    );
    for existing in ["one", "two", ""] {
        assert_eq!(post(existing).await.0, StatusCode::OK, "{existing}");
    }
    let rooms = server.get_json("/api/rooms").await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 3, "{rooms}");
}
