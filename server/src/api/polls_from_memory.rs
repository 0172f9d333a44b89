//! Polls answered from the feed's memory, with the server function's own body, in two layers
//! (their places: `edge`'s layer order). [`empty`], the empty poll that asks for no wait (the
//! most frequent request by far, "anything after my cursor?" "no"), just inside the host check:
//! nothing else runs for it. [`from_memory`], every other poll memory can answer, recent lines
//! or a held poll, which waits here with nothing but its connection and a watch; inside the
//! limits and compression. Anything else (history, a cursor older than memory, a malformed
//! poll) takes the full path, which answers it, or explains the error, as the API contract says.

use super::contract::ApiRequest;
use app::api::{Batch, Cursor, PollParams};
use app::feed::Feed;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// As every answer but the hashed assets (`cache_headers`): never reused unchecked.
const HEADERS: [(header::HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "application/json"),
    (header::CACHE_CONTROL, "no-cache"),
];

/// The empty poll that asks for no wait, outermost: nothing else runs for it.
pub async fn empty(State(feed): State<Arc<Feed>>, mut request: Request, next: Next) -> Response {
    let after = ApiRequest::read(&mut request)
        .poll()
        .and_then(|params| empty_after(params, &feed));
    match after {
        Some(after) => (HEADERS, empty_batch_json(after)).into_response(),
        None => next.run(request).await,
    }
}

/// Any other poll memory can answer, held or not; inside compression and the protective
/// limits (which let held polls through uncounted).
pub async fn from_memory(
    State(feed): State<Arc<Feed>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(PollParams {
        room,
        cursor: Cursor::After(after),
        limit,
        wait,
    }) = ApiRequest::read(&mut request).poll().cloned()
    {
        let wait = Duration::from_secs(u64::from(wait));
        if let Some(lines) = feed.poll(&room, after, limit as usize, wait).await {
            let batch = Batch::new(after, lines);
            let json = serde_json::to_string(&batch).expect("a batch serialises");
            return (HEADERS, json).into_response();
        }
    }
    next.run(request).await
}

/// `after`, when `params` ask for no wait and the answer is empty because nothing in the
/// room is newer.
fn empty_after(params: &PollParams, feed: &Feed) -> Option<i64> {
    match params.cursor {
        Cursor::After(after) if params.wait == 0 && after >= feed.newest(&params.room) => {
            Some(after)
        }
        _ => None,
    }
}

/// `Batch::new(after, vec![])` as JSON, written directly (the test below holds it to serde's).
fn empty_batch_json(after: i64) -> String {
    format!(r#"{{"lines":[],"changes":[],"cursor":{after}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::contract::poll_params;
    use app::feed::Posted;
    use app::line::Line;
    use app::room::Room;

    fn feed_with(room: &str, id: i64) -> Feed {
        let feed = Feed::empty();
        let line = Line::new(id, "ann", "hi", "2026-11-23T10:00:00Z");
        feed.publish(vec![Posted::line(Room::parse(room).unwrap(), line)]);
        feed
    }

    fn after(query: &str, feed: &Feed) -> Option<i64> {
        empty_after(&poll_params(query).ok()?, feed)
    }

    #[test]
    fn the_answer_is_the_full_paths_json() {
        for after in [0, 7, i64::MAX] {
            let serde = serde_json::to_string(&Batch::new(after, vec![])).unwrap();
            assert_eq!(empty_batch_json(after), serde);
        }
    }

    #[test]
    fn only_valid_unheld_polls_with_nothing_newer_in_their_room_are_answered_here() {
        let feed = feed_with("general", 7);
        assert_eq!(after("after=7", &feed), Some(7));
        assert_eq!(after("after=9&limit=20", &feed), Some(9));
        assert_eq!(after("after=6", &feed), None, "line 7 is newer");
        assert_eq!(after("after=7&wait=0", &feed), Some(7));
        assert_eq!(
            after("after=7&wait=5", &feed),
            None,
            "held: the full path waits"
        );
        assert_eq!(after("room=dev&after=0", &feed), Some(0), "another room");
        assert_eq!(after("", &Feed::empty()), Some(0));
        assert_eq!(after("before=5", &feed), None, "history");
        for malformed in [
            "after=x",
            "after=-1",
            "limit=0",
            "after=1&after=2",
            "since=1",
            "after=%FF",
            "room=Nope",
        ] {
            assert_eq!(after(malformed, &Feed::empty()), None, "{malformed}");
        }
    }
}
