//! The empty poll, the most frequent request by far ("anything after my cursor?" "no"), is
//! answered here from the store's in-memory high-water mark, before the server-function
//! machinery and the protective layers: an answer from memory cannot overload anything.
//! Anything unusual (a poll with lines to return, a malformed one) takes the full path, which
//! answers it, or explains the error, exactly as the API contract says.

use crate::api_input::{POLL_FIELDS, decode_fields};
use app::api::{LinesSince, PollParams};
use app::backend::ChatStore;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::server_fn::ServerFn;
use std::sync::Arc;

pub async fn answer_empty_polls(
    State(store): State<Arc<dyn ChatStore>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET && request.uri().path() == LinesSince::PATH {
        let after = store
            .newest_id()
            .and_then(|newest| empty_poll_after(request.uri().query().unwrap_or(""), newest));
        if let Some(after) = after {
            let headers = [
                (header::CONTENT_TYPE, "application/json"),
                // As every answer but the hashed assets (`caching`): never reused unchecked.
                (header::CACHE_CONTROL, "no-cache"),
            ];
            return (headers, empty_batch_json(after)).into_response();
        }
    }
    next.run(request).await
}

/// `after`, when `query` is a valid poll whose answer is empty because nothing is newer than
/// `newest`.
fn empty_poll_after(query: &str, newest: i64) -> Option<i64> {
    let (after, limit) = plain_poll_query(query).or_else(|| decoded_poll_query(query))?;
    let params = PollParams::parse(after, limit).ok()?;
    (params.after >= newest).then_some(params.after)
}

/// The common query, `after=<digits>` (perhaps with `&limit=<digits>`), read without allocating.
fn plain_poll_query(query: &str) -> Option<(Option<i64>, Option<u32>)> {
    let digits = |v: &str| !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit());
    let mut fields = query.split('&');
    let after = fields
        .next()?
        .strip_prefix("after=")
        .filter(|v| digits(v))?;
    let limit = match fields.next() {
        None => None,
        Some(field) => Some(
            field
                .strip_prefix("limit=")
                .filter(|v| digits(v))?
                .parse()
                .ok()?,
        ),
    };
    fields
        .next()
        .is_none()
        .then(|| Some((Some(after.parse().ok()?), limit)))?
}

/// Any other query, decoded as strictly as the full path does.
fn decoded_poll_query(query: &str) -> Option<(Option<i64>, Option<u32>)> {
    let (mut after, mut limit) = (None, None);
    for (name, value) in decode_fields(query.as_bytes(), POLL_FIELDS).ok()? {
        let value = Some(value).filter(|v| !v.is_empty());
        match name.as_str() {
            "after" => after = value.map(|v| v.parse::<i64>()).transpose().ok()?,
            _ => limit = value.map(|v| v.parse::<u32>()).transpose().ok()?,
        }
    }
    Some((after, limit))
}

/// `Batch::new(after, vec![])` as JSON, written directly (the test below holds it to serde's).
fn empty_batch_json(after: i64) -> String {
    format!(r#"{{"lines":[],"cursor":{after}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::api::Batch;

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
            assert_eq!(
                plain_poll_query(query),
                decoded_poll_query(query),
                "{query}"
            );
        }
        for other in [
            "limit=2&after=5",
            "after=%35",
            "after=5&limit=2&x=1",
            "after=",
            "after=5&",
        ] {
            assert_eq!(plain_poll_query(other), None, "{other}");
        }
    }

    #[test]
    fn only_valid_polls_with_nothing_newer_are_answered_here() {
        assert_eq!(empty_poll_after("after=7", 7), Some(7));
        assert_eq!(empty_poll_after("after=9&limit=20", 7), Some(9));
        assert_eq!(empty_poll_after("after=6", 7), None, "line 7 is newer");
        assert_eq!(empty_poll_after("", 0), Some(0));
        assert_eq!(empty_poll_after("", 3), None);
        for malformed in [
            "after=x",
            "after=-1",
            "limit=0",
            "after=1&after=2",
            "since=1",
            "after=%FF",
        ] {
            assert_eq!(empty_poll_after(malformed, 0), None, "{malformed}");
        }
    }
}
