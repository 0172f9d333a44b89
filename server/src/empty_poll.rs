//! Polls the feed can answer are answered here from its memory, ahead of the server-function
//! machinery and the protective layers, with the server function's own body: the empty poll
//! (the most frequent request by far, "anything after my cursor?" "no") without even
//! allocating, a poll with recent lines, and a held poll, which waits here with nothing but
//! its connection and a watch (ten thousand of them fit in little memory). An answer from
//! memory cannot overload anything. Anything else (history, a cursor older than memory, a
//! malformed poll) takes the full path, which answers it, or explains the error, exactly as
//! the API contract says.

use crate::api_fields::{POLL_FIELDS, decode_fields};
use app::api::{Batch, Cursor, LinesSince, PollParams};
use app::feed::Feed;
use app::room::Room;
use axum::extract::{Request, State};
use axum::http::{Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::server_fn::ServerFn;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

static GENERAL: LazyLock<Room> = LazyLock::new(Room::general);

/// As every answer but the hashed assets (`caching`): never reused unchecked.
const HEADERS: [(header::HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "application/json"),
    (header::CACHE_CONTROL, "no-cache"),
];

/// The empty poll that asks for no wait, outermost: nothing else runs for it.
pub async fn empty(State(feed): State<Arc<Feed>>, request: Request, next: Next) -> Response {
    if request.method() == Method::GET
        && request.uri().path() == LinesSince::PATH
        && let Some(after) = empty_poll_after(request.uri(), &feed)
    {
        return (HEADERS, empty_batch_json(after)).into_response();
    }
    next.run(request).await
}

/// Any other poll memory can answer, held or not; inside compression and the protective
/// limits (which let held polls through uncounted).
pub async fn from_memory(State(feed): State<Arc<Feed>>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET || request.uri().path() != LinesSince::PATH {
        return next.run(request).await;
    }
    let params = poll_params(request.uri().query().unwrap_or(""));
    if let Some(PollParams {
        room,
        cursor: Cursor::After(after),
        limit,
        wait,
    }) = params
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

/// `after`, when `uri` is a valid poll that asks for no wait and whose answer is empty because
/// nothing in its room is newer.
fn empty_poll_after(uri: &Uri, feed: &Feed) -> Option<i64> {
    let query = uri.query().unwrap_or("");
    if let Some(after) = plain_poll_after(query) {
        return (after >= feed.newest(&GENERAL)).then_some(after);
    }
    let params = poll_params(query)?;
    match params.cursor {
        Cursor::After(after) if params.wait == 0 && after >= feed.newest(&params.room) => {
            Some(after)
        }
        _ => None,
    }
}

/// The poll's parameters, decoded as strictly as the full path does; `None` when malformed.
pub fn poll_params(query: &str) -> Option<PollParams> {
    let fields = decode_fields(query.as_bytes(), POLL_FIELDS).ok()?;
    let field = |name| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    PollParams::parse(
        field("room"),
        field("after"),
        field("before"),
        field("limit"),
        field("wait"),
    )
    .ok()
}

/// The common query of other clients, `after=<digits>` perhaps with `&limit=<digits>` (the
/// default room, no wait), read without allocating.
fn plain_poll_after(query: &str) -> Option<i64> {
    let digits = |v: &str| !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit());
    let mut fields = query.split('&');
    let after = fields
        .next()?
        .strip_prefix("after=")
        .filter(|v| digits(v))?;
    if let Some(limit) = fields.next() {
        let limit = limit.strip_prefix("limit=").filter(|v| digits(v))?;
        if limit.bytes().all(|b| b == b'0') {
            return None; // a 400 on the full path
        }
    }
    fields.next().is_none().then(|| after.parse().ok())?
}

/// `Batch::new(after, vec![])` as JSON, written directly (the test below holds it to serde's).
fn empty_batch_json(after: i64) -> String {
    format!(r#"{{"lines":[],"cursor":{after}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::api::Batch;
    use app::feed::Posted;
    use app::line::Line;

    fn feed_with(room: &str, id: i64) -> Feed {
        let feed = Feed::empty();
        let line = Line {
            id,
            screenname: "ann".into(),
            text: "hi".into(),
            created: "2026-11-23T10:00:00Z".into(),
        };
        feed.publish(vec![Posted {
            room: Room::parse(room).unwrap(),
            line,
        }]);
        feed
    }

    fn after(query: &str, feed: &Feed) -> Option<i64> {
        let uri: Uri = format!("/api/lines?{query}").parse().unwrap();
        empty_poll_after(&uri, feed)
    }

    #[test]
    fn the_answer_is_the_full_paths_json() {
        for after in [0, 7, i64::MAX] {
            let serde = serde_json::to_string(&Batch::new(after, vec![])).unwrap();
            assert_eq!(empty_batch_json(after), serde);
        }
    }

    #[test]
    fn the_plain_query_reads_like_the_decoded_one() {
        for query in ["after=5", "after=5&limit=20", "after=0&limit=500"] {
            let decoded = poll_params(query).unwrap();
            assert_eq!(
                plain_poll_after(query).map(Cursor::After),
                Some(decoded.cursor)
            );
        }
        for other in [
            "limit=2&after=5",
            "after=%35",
            "after=5&limit=2&x=1",
            "after=",
            "after=5&",
            "after=5&limit=0",
            "after=5&wait=3",
        ] {
            assert_eq!(plain_poll_after(other), None, "{other}");
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
